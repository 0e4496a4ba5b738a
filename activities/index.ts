import type { Kafka, Producer } from 'kafkajs';
import type { Logger } from '../src/log';
import { translatingFailures } from './failures';
import { createKafkaActivities } from './kafka';
import { createNotificationActivities } from './notifications';

export type ActivityDependencies = Readonly<{
  kafka: Kafka;
  producer: Producer;
  log: Logger;
  catalogTopic?: string;
}>;

/** Every activity the orchestration worker registers; workflows type their proxies with this. */
export function createActivities(deps: ActivityDependencies) {
  return translatingFailures({
    ...createKafkaActivities(deps),
    ...createNotificationActivities(deps),
  });
}

export type MeshloopActivities = ReturnType<typeof createActivities>;
