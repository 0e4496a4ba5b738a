import type { ServiceDefinition } from '../types';
import { flinkJobManagerService, flinkSqlGatewayService, flinkTaskManagerService } from './flink';
import { icebergService } from './iceberg';
import { kafkaService } from './kafka';
import { temporalService } from './temporal';

/** Every service `meshloop stack` manages, in start order. */
export const stackServices: readonly ServiceDefinition[] = [
  temporalService,
  kafkaService,
  icebergService,
  flinkJobManagerService,
  flinkTaskManagerService,
  flinkSqlGatewayService,
];
