import type { Kafka } from 'kafkajs';
import type { SqlGuardDependencies } from '../src/creation/guard';
import { checkSpecSql } from '../src/creation/guard';
import { inputBindingsOf } from '../src/creation/inputs';
import type { ProductJobs } from '../src/creation/product-jobs';
import type {
  ColumnLineage,
  DeployResult,
  InputBinding,
  ProductJobInput,
  ProductJobStatus,
  StopResult,
} from '../src/domain/creation';
import { InvalidSpecError } from '../src/domain/errors';
import { productIdOf } from '../src/domain/spec';
import type { LineageEmitter } from '../src/lineage';
import type { Logger } from '../src/log';
import { upstreamLookupFor } from './creation-guard';
import { activityAttempt, heartbeat, heartbeating } from './heartbeat';

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
  /** OpenLineage run events of each deployment (START, RUNNING, COMPLETE/FAIL, ABORT). */
  lineage?: LineageEmitter;
  /** Runs the guard again for a deployment's column lineage when this worker did not check the revision. */
  sqlGuard?: Omit<SqlGuardDependencies, 'log'>;
}) {
  const checked = (input: ProductJobInput) => {
    if (productIdOf(input.spec) !== input.productId) {
      throw new InvalidSpecError('creation input', [
        `spec is for ${productIdOf(input.spec)}, not ${input.productId}`,
      ]);
    }
    return input;
  };

  const { lineage } = deps;
  /** The inputs the job reads: remembered from the guard, else resolved as the deployment does. */
  const bindingsOf = async (input: ProductJobInput): Promise<readonly InputBinding[]> => {
    const remembered = lineage?.guardFacts(input.productId, input.revision, input.spec.sql);
    if (remembered) return remembered.bindings;
    return inputBindingsOf(input.spec, await upstreamLookupFor(input.spec, deps)).bindings;
  };
  /** The guard's column lineage of the revision: remembered, else from the guard run once more. */
  const lineageOf = async (input: ProductJobInput): Promise<readonly ColumnLineage[] | undefined> => {
    const remembered = lineage?.guardFacts(input.productId, input.revision, input.spec.sql);
    if (remembered || !deps.sqlGuard) return remembered?.lineage;
    const checked = await checkSpecSql(
      { ...deps.sqlGuard, log: deps.log },
      input.spec,
      await upstreamLookupFor(input.spec, deps),
    ).catch(() => undefined);
    return checked?.ok ? checked.lineage : undefined;
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
        attempt: activityAttempt(),
      });
      if (lineage) {
        const columnLineage = await lineageOf(input);
        await lineage.creationStarted({
          productId,
          revision,
          spec,
          bindings: inputs,
          ...(columnLineage ? { lineage: columnLineage } : {}),
          jobId: result.jobId,
        });
      }
      return result;
    },

    /** The job's state, Flink's root exception, restarts, slot wait and rejected input records. */
    async describeProductJob(input: ProductJobInput): Promise<ProductJobStatus> {
      const status = await deps.jobs.describe(checked(input));
      if (lineage) {
        const bindings = await bindingsOf(input).catch(() => []);
        await lineage.creationLooked({ ...input, bindings }, status);
      }
      return status;
    },

    /**
     * The newest retained checkpoint of a product's jobs (creation or materialization, newest job
     * first): Flink's checkpoint history while it knows the job, else the checkpoint directory on
     * disk (a restarted JobManager forgot the job). Undefined when none was kept.
     */
    async latestRetainedCheckpoint(input: {
      productId: string;
      jobIds: readonly string[];
    }): Promise<{ path: string; jobId: string; found: 'flink' | 'disk' } | undefined> {
      const jobIds = input.jobIds.slice(0, 10).filter((id) => /^[0-9a-f]{32}$/.test(id));
      return deps.jobs.latestRetainedCheckpoint(jobIds);
    },

    /** Stop with a savepoint when running (its location is returned), cancel otherwise. */
    async stopProductJob(input: ProductJobInput & { drain?: boolean }): Promise<StopResult> {
      // The run that ends is the live job's: its id names the run (looked up only with lineage on).
      const running = lineage
        ? (await deps.jobs.jobsOf(checked(input)).catch(() => undefined))?.live[0]
        : undefined;
      const result = await heartbeating('stopping', () =>
        deps.jobs.stop({ ...checked(input), drain: input.drain }),
      );
      if (lineage && running && result.stopped) {
        const bindings = await bindingsOf(input).catch(() => []);
        await lineage.creationStopped({ ...input, bindings, jobId: running.jid });
      }
      return result;
    },
  };
}
