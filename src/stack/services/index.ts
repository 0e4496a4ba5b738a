import type { ServiceDefinition } from '../types';
import { kafkaService } from './kafka';
import { temporalService } from './temporal';

/** Every service `meshloop stack` manages, in start order. */
export const stackServices: readonly ServiceDefinition[] = [temporalService, kafkaService];
