import { InvalidSpecError } from '../src/domain/errors';
import type {
  MaterializationPlan,
  MeshMaterializationDefaults,
  WriteMode,
} from '../src/domain/materialization';
import { materializationPlanOf } from '../src/domain/materialization';
import type { ProductSpec } from '../src/domain/spec';
import { productIdOf } from '../src/domain/spec';
import type { LineageEmitter } from '../src/lineage';
import type { Logger } from '../src/log';
import type { Materializers } from '../src/materialize';
import { activityAttempt, heartbeating } from './heartbeat';
import type { MaterializationStatus, Materializer } from '../src/materialize/types';

/** What every materialization activity is given: the product's spec at one revision (small). */
export type MaterializationInput = Readonly<{ productId: string; revision: number; spec: ProductSpec }>;

/**
 * Kafka → Iceberg side effects of a product's life, through whichever provider the mesh (or the
 * spec) chose. Each is keyed by the product id and revision and safe to repeat: the table is found
 * by name, the Flink job by its name, Tableflow's 409 is success.
 */
export function createMaterializationActivities(deps: {
  materializers: Materializers;
  defaults: MeshMaterializationDefaults;
  log: Logger;
  /** OpenLineage run events of each materialization (START, RUNNING, COMPLETE/FAIL, ABORT). */
  lineage?: LineageEmitter;
}) {
  const { lineage } = deps;
  const planOf = (input: MaterializationInput): { plan: MaterializationPlan; materializer: Materializer } => {
    if (productIdOf(input.spec) !== input.productId) {
      throw new InvalidSpecError('materialization input', [
        `spec is for ${productIdOf(input.spec)}, not ${input.productId}`,
      ]);
    }
    const plan = materializationPlanOf(input.spec, input.revision, deps.defaults);
    const materializer = deps.materializers[plan.provider];
    if (!materializer) {
      throw new InvalidSpecError('materialization', [
        `materialization.provider: '${plan.provider}' is not configured on this worker (Tableflow needs CONFLUENT_CLOUD_API_KEY, CONFLUENT_CLOUD_API_SECRET, MESHLOOP_TABLEFLOW_ENVIRONMENT_ID and MESHLOOP_TABLEFLOW_KAFKA_CLUSTER_ID)`,
      ]);
    }
    return { plan, materializer };
  };

  return {
    /** Create the product's table (or find it, or add the revision's new nullable columns). */
    async createIcebergTable(input: MaterializationInput): Promise<{
      provider: MaterializationPlan['provider'];
      table: string;
      tableUuid?: string;
      created: boolean;
      addedColumns: readonly string[];
      writeMode: WriteMode;
    }> {
      const { plan, materializer } = planOf(input);
      const result = await materializer.ensureTable(plan);
      return {
        provider: plan.provider,
        table: result.table,
        tableUuid: result.id,
        created: result.created,
        addedColumns: result.addedColumns,
        writeMode: plan.writeMode,
      };
    },

    /** Start the job (or enable Tableflow); a running one of this revision is returned, not doubled. */
    async startMaterialization(input: MaterializationInput & { savepoint?: string }): Promise<{
      provider: MaterializationPlan['provider'];
      id: string;
      name: string;
      started: boolean;
      url?: string;
    }> {
      const { plan, materializer } = planOf(input);
      const result = await heartbeating('starting', () =>
        materializer.start(plan, { savepoint: input.savepoint }),
      );
      deps.log.info(result.started ? 'materialization started' : 'materialization already running', {
        productId: plan.productId,
        revision: plan.revision,
        provider: plan.provider,
        id: result.id,
        attempt: activityAttempt(),
      });
      await lineage?.materializationStarted({ plan, jobId: result.id });
      return { provider: plan.provider, ...result };
    },

    /** Stop it (Flink: with a savepoint, returned for the next revision; Tableflow: disable). */
    async stopMaterialization(
      input: MaterializationInput & { drain?: boolean },
    ): Promise<{ stopped: boolean; savepoint?: string }> {
      const { plan, materializer } = planOf(input);
      // The run that ends is the running job's (looked up only with lineage on).
      const running = lineage ? await materializer.describe(plan).catch(() => undefined) : undefined;
      const result = await heartbeating('stopping', () => materializer.stop(plan, { drain: input.drain }));
      const jobId = running?.jobId ?? (plan.provider === 'tableflow' ? plan.topic : undefined);
      if (lineage && jobId && result.stopped) await lineage.materializationStopped({ plan, jobId });
      return result;
    },

    /** The table's current snapshot, row count, last commit, the job's state and bad records. */
    async describeIcebergTable(input: MaterializationInput): Promise<MaterializationStatus> {
      const { plan, materializer } = planOf(input);
      const status = await materializer.describe(plan);
      await lineage?.materializationLooked(plan, status);
      return status;
    },
  };
}

export type MaterializationActivities = ReturnType<typeof createMaterializationActivities>;
