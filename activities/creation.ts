import { Context } from '@temporalio/activity';
import type { Kafka } from 'kafkajs';
import { FlinkRestClient, SqlGatewayClient } from '../src/adapters/flink';
import { createKafkaClient } from '../src/adapters/kafka/client';
import type { MeshloopConfig } from '../src/config';
import { inputBindingsOf } from '../src/creation/inputs';
import { upstreamLookupFor } from './creation-guard';
import { ProductJobs } from '../src/creation/product-jobs';
import type {
  CreationActivities as CreationContract,
  DeployResult,
  ProductJobInput,
  ProductJobStatus,
  StopResult,
} from '../src/domain/creation';
import { InvalidSpecError } from '../src/domain/errors';
import { productIdOf } from '../src/domain/spec';
import type { Logger } from '../src/log';
import { translatingFailures } from './failures';

/** Heartbeat when running as an activity; a no-op when called directly (scripts, benches). */
function heartbeat(step: string): void {
  try {
    Context.current().heartbeat(step);
  } catch {
    // Not inside an activity.
  }
}

/** Heartbeat every few seconds while a long step runs (planning a job takes seconds to a minute). */
async function heartbeating<T>(step: string, work: () => Promise<T>): Promise<T> {
  heartbeat(step);
  const timer = setInterval(() => heartbeat(step), 5_000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/**
 * The creation agent's side effects: a product's Flink SQL job deployed (found by name when it
 * runs already), described for the watcher, and stopped with a savepoint. Keyed by product id and
 * revision, safe to repeat.
 */
export function createCreationActivities(deps: {
  jobs: ProductJobs;
  /** The catalog (product inputs read the topic and schema of the product they name). */
  kafka: Kafka;
  catalogTopic?: string;
  log: Logger;
}) {
  const checked = (input: ProductJobInput) => {
    if (productIdOf(input.spec) !== input.productId) {
      throw new InvalidSpecError('creation input', [
        `spec is for ${productIdOf(input.spec)}, not ${input.productId}`,
      ]);
    }
    return input;
  };

  return {
    /** Submit the product's job (or find the running one of this revision). */
    async deployProductJob(
      input: ProductJobInput & { savepoint?: string; fromScratch?: boolean },
    ): Promise<DeployResult> {
      const { productId, revision, spec } = checked(input);
      heartbeat('resolving inputs');
      const { bindings: inputs, problems } = inputBindingsOf(spec, await upstreamLookupFor(spec, deps));
      if (problems.length > 0) throw new InvalidSpecError('the product inputs cannot be read', problems);
      const result = await heartbeating('deploying', () =>
        deps.jobs.deploy({
          productId,
          revision,
          spec,
          inputs,
          savepoint: input.savepoint,
          fromScratch: input.fromScratch,
        }),
      );
      deps.log.info(result.started ? 'product job deployed' : 'product job already running', {
        productId,
        revision,
        jobId: result.jobId,
        attempt: attemptOrUndefined(),
      });
      return result;
    },

    /** The job's state, Flink's root exception, restarts, slot wait and rejected input records. */
    async describeProductJob(input: ProductJobInput): Promise<ProductJobStatus> {
      return deps.jobs.describe(checked(input));
    },

    /** Stop with a savepoint when running (its location is returned), cancel otherwise. */
    async stopProductJob(input: ProductJobInput & { drain?: boolean }): Promise<StopResult> {
      return heartbeating('stopping', () => deps.jobs.stop({ ...checked(input), drain: input.drain }));
    },
  };
}

function attemptOrUndefined(): number | undefined {
  try {
    return Context.current().info.attempt;
  } catch {
    return undefined;
  }
}

export type CreationActivities = ReturnType<typeof createCreationActivities>;

// The workflow calls these through the contract in src/domain/creation.ts: they must fit it.
type FitsContract = CreationActivities extends Omit<CreationContract, 'checkProductSql'> ? true : never;
const fitsContract: FitsContract = true;
void fitsContract;

/** The activities as the worker registers them: Flink and Kafka from the configuration. */
export function createCreationActivitiesFromConfig(
  config: MeshloopConfig,
  log: Logger,
  options: { kafka?: Kafka; catalogTopic?: string } = {},
) {
  const kafka =
    options.kafka ?? createKafkaClient({ brokers: config.kafka.brokers, clientId: 'meshloop-creation', log });
  const jobs = new ProductJobs({
    gateway: new SqlGatewayClient({ url: config.flink.sqlGatewayUrl, log }),
    rest: new FlinkRestClient({ url: config.flink.restUrl }),
    kafka,
    kafkaBootstrapServers: config.flink.kafkaBootstrapServers,
    flinkUiUrl: config.flink.restUrl,
    log,
    heartbeat,
  });
  return translatingFailures(
    createCreationActivities({
      jobs,
      kafka,
      ...(options.catalogTopic ? { catalogTopic: options.catalogTopic } : {}),
      log,
    }),
  );
}
