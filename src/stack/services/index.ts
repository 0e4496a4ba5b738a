import type { ServiceDefinition } from '../types';
import { flinkJobManagerService, flinkSqlGatewayService, flinkTaskManagerService } from './flink';
import { icebergService } from './iceberg';
import { kafkaService } from './kafka';
import { schemaRegistryService } from './schema-registry';
import { temporalService } from './temporal';

/** Every service `meshloop stack` manages, in start order. */
export const stackServices: readonly ServiceDefinition[] = [
  temporalService,
  kafkaService,
  schemaRegistryService,
  icebergService,
  flinkJobManagerService,
  flinkTaskManagerService,
  flinkSqlGatewayService,
];
