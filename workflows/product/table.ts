import type { MaterializationLook, ProductMaterialization } from '../../src/domain/materialization';
import type { ProductSpec } from '../../src/domain/spec';
import { jobControl, jobWatching, provisioning } from './proxies';

/**
 * The side effects of a product's Iceberg table (Tableflow's job): create or evolve the table, start
 * the materialization that keeps it current from the product's topic, look at it, stop it. The
 * workflow's DataProduct decides what each outcome means for the stage; these only act and report.
 */

type RevisionInput = Readonly<{ productId: string; revision: number; spec: ProductSpec }>;

const nowIso = () => new Date(Date.now()).toISOString();

/** Ended: nothing to stop. */
const isEnded = (materialization: ProductMaterialization) =>
  materialization.savepoint !== undefined || ['FINISHED', 'CANCELED'].includes(materialization.state);

export type TableDeployment = Readonly<{
  materialization: ProductMaterialization;
  created: boolean;
  addedColumns: readonly string[];
  startedFrom: string;
}>;

/**
 * Materialize the spec's revision: whatever ran before (an earlier revision, or this one when an
 * operator redeploys) is stopped with a savepoint first; the table is created, found, or given the
 * revision's new nullable columns; the materialization starts from the savepoint (Flink) or is
 * enabled (Tableflow). Called after the product's own job runs, so the topic exists and fills.
 */
export async function materializeRevision(
  input: RevisionInput,
  previous: ProductMaterialization | undefined,
): Promise<TableDeployment> {
  let savepoint = previous?.savepoint;
  // Tableflow is not stopped for a new revision: enabling again (409) updates its settings, and a
  // disabled Tableflow topic loses its table.
  if (previous && !isEnded(previous) && previous.provider === 'flink') {
    const stopped = await jobControl.stopMaterialization({ ...input, revision: previous.revision });
    savepoint = stopped.savepoint ?? savepoint;
  }
  const table = await provisioning.createIcebergTable(input);
  const started = await jobControl.startMaterialization({ ...input, ...(savepoint ? { savepoint } : {}) });
  const look = await jobWatching.describeIcebergTable(input);
  const materialization: ProductMaterialization = {
    provider: table.provider,
    table: table.table,
    ...(table.tableUuid ? { uuid: table.tableUuid } : {}),
    writeMode: table.writeMode,
    revision: input.revision,
    schema: {
      fields: input.spec.schema.fields.map(({ name, type, nullable }) => ({ name, type, nullable })),
      key: [...input.spec.schema.key],
    },
    jobName: started.name,
    jobId: started.id,
    ...(started.url ? { url: started.url } : {}),
    state: look.state,
    ...(look.failure ? { failure: look.failure } : {}),
    badRecords: look.badRecords,
    // What is already in the dead-letter table was dealt with by whoever redeployed.
    acknowledgedBadRecords: look.badRecords,
    status: look.table,
    checkedAt: nowIso(),
  };
  const startedFrom = !started.started
    ? 'already running'
    : savepoint
      ? `the savepoint of revision ${previous?.revision ?? input.revision} (${savepoint})`
      : previous
        ? "the topic's committed offsets"
        : 'the beginning of the topic';
  return { materialization, created: table.created, addedColumns: table.addedColumns, startedFrom };
}

/** Look at the table and its materialization once. */
export function lookAtTable(input: RevisionInput): Promise<MaterializationLook> {
  return jobWatching.describeIcebergTable(input);
}

/**
 * Stop the materialization (Flink: with a savepoint); undefined when it had ended. Tableflow is
 * disabled only on retirement (`retiring`): a deprecated product's table stays readable and current.
 */
export async function stopTable(
  input: RevisionInput,
  materialization: ProductMaterialization,
  retiring: boolean,
): Promise<{ stopped: boolean; savepoint?: string } | undefined> {
  if (isEnded(materialization)) return undefined;
  if (materialization.provider === 'tableflow' && !retiring) return undefined;
  return jobControl.stopMaterialization({ ...input, revision: materialization.revision });
}
