import type { Kafka, Producer } from 'kafkajs';
import type { Logger } from '../src/log';
import { translatingFailures } from './failures';
import { createKafkaActivities } from './kafka';
import { createMeshActivities } from './mesh';
import { createNotificationActivities } from './notifications';

export type ActivityDependencies = Readonly<{
  kafka: Kafka;
  producer: Producer;
  log: Logger;
  /** mesh.yaml: read at each decision for who may approve and operate. */
  meshFile: string;
  catalogTopic?: string;
}>;

/** Every activity the orchestration worker registers; workflows type their proxies with this. */
export function createActivities(deps: ActivityDependencies) {
  return translatingFailures({
    ...createKafkaActivities(deps),
    ...createNotificationActivities(deps),
    ...createMeshActivities(deps),
  });
}

export type MeshloopActivities = ReturnType<typeof createActivities>;
