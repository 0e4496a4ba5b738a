import type { Client } from '@temporalio/client';
import type { InjectedSinks, RuntimeOptions } from '@temporalio/worker';
import { Runtime } from '@temporalio/worker';
import type { MeshloopMetricsSink } from '../domain/product-metrics';
import { meshloopSearchAttributes } from '../domain/search-attributes';
import { isTerminal, stages } from '../domain/lifecycle';
import type { Logger } from '../log';
import { histogramBuckets, MeshloopMetrics } from './meshloop-metrics';

/**
 * The worker's Prometheus endpoint: the Temporal SDK's exporter serves the SDK's own metrics
 * (`temporal_…`) and Meshloop's (`meshloop_…`, made on the same meter) at
 * http://127.0.0.1:<port>/metrics. The Runtime is process-wide and installed once, before any
 * worker or connection: `installWorkerRuntime` (workers/orchestration.ts) passes these options.
 */
export function prometheusTelemetry(
  port: number,
): NonNullable<RuntimeOptions['telemetryOptions']>['metrics'] {
  return {
    metricPrefix: 'temporal_',
    prometheus: {
      bindAddress: `127.0.0.1:${port}`,
      countersTotalSuffix: true,
      unitSuffix: true,
      useSecondsForDurations: true,
      histogramBucketOverrides: { ...histogramBuckets },
    },
  };
}

let processMetrics: MeshloopMetrics | undefined;

/**
 * Meshloop's metrics for this process, on the installed Runtime's meter (created on first use, so
 * label caps hold across every worker of the process). A Runtime installed without an exporter
 * (as the tests' root hook installs it) has a no-op meter: the counting costs nothing there.
 */
export function workerMetrics(): MeshloopMetrics {
  processMetrics ??= new MeshloopMetrics(Runtime.instance().metricMeter);
  return processMetrics;
}

/**
 * The sink product workflows report their metric updates through (workflows/product/observe.ts).
 * Not called on replay; what arrives is parsed and bounded before it counts. Replay workers and
 * test workers register it too (with no metrics it just drops the calls).
 */
export function productMetricsSinks(
  metrics: MeshloopMetrics | undefined,
  log?: Logger,
): InjectedSinks<MeshloopMetricsSink> {
  return {
    meshloopMetrics: {
      productUpdates: {
        fn: (info, updates) => {
          const done = metrics?.productUpdates(updates);
          if (done && !done.ok)
            log?.warn('metric updates from a workflow ignored', {
              workflowId: info.workflowId,
              reason: done.reason,
            });
        },
        callDuringReplay: false,
      },
    },
  };
}

/**
 * Keep `meshloop_products{stage}` current: how many product workflows run in each stage, counted
 * by Temporal's visibility (every worker reports the same mesh-wide figures: aggregate with max).
 * Ended stages (retired, rejected, …) are not counted: their workflows have closed.
 */
export function startStageGauge(
  client: Client,
  metrics: MeshloopMetrics,
  options: { intervalMs: number; log: Logger; workflowType: string },
): { stop: () => void } {
  let stopped = false;
  let warned = false;
  let timer: NodeJS.Timeout | undefined;
  const refresh = async () => {
    for (const stage of stages.filter((s) => !isTerminal(s))) {
      if (stopped) return;
      const query =
        `WorkflowType = '${options.workflowType}' AND ExecutionStatus = 'Running' AND ` +
        `${meshloopSearchAttributes.stage.name} = '${stage}'`;
      const { count } = await client.workflow.count(query);
      metrics.productsInStage(stage, count);
    }
  };
  const loop = () => {
    refresh()
      .catch((error: unknown) => {
        // Once as a warning (visibility down, or without counts), then quietly while it lasts.
        const fields = { error: error instanceof Error ? error.message : String(error) };
        if (warned) options.log.debug('products by stage not counted', fields);
        else options.log.warn('products by stage not counted; trying again every interval', fields);
        warned = true;
      })
      .finally(() => {
        if (!stopped) timer = setTimeout(loop, options.intervalMs);
      });
  };
  loop();
  return {
    stop: () => {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
