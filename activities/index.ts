import type { WebClient } from '@slack/web-api';
import type { Kafka, Producer } from 'kafkajs';
import type { Logger } from '../src/log';
import { translatingFailures } from './failures';
import { createKafkaActivities } from './kafka';
import { createMeshActivities } from './mesh';
import { createNotificationActivities } from './notifications';
import { createSlackActivities } from './slack';

export type ActivityDependencies = Readonly<{
  kafka: Kafka;
  producer: Producer;
  log: Logger;
  /** mesh.yaml: read at each decision for who may approve and operate. */
  meshFile: string;
  catalogTopic?: string;
  /** Absent without a Slack app configured: proposal messages are then skipped. */
  slack?: WebClient;
}>;

/** Every activity the orchestration worker registers; workflows type their proxies with this. */
export function createActivities(deps: ActivityDependencies) {
  return translatingFailures({
    ...createKafkaActivities(deps),
    ...createNotificationActivities(deps),
    ...createMeshActivities(deps),
    ...createSlackActivities(deps),
  });
}

export type MeshloopActivities = ReturnType<typeof createActivities>;
