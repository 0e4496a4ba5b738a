import type { Client } from '@temporalio/client';
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import type { AnalysisInput, ScheduleState } from '../src/domain/analysis';
import { analysisScheduleIdOf, analysisWorkflowType, DEFAULT_ANALYSIS_EVERY } from '../src/domain/analysis';
import { parseDuration } from '../src/domain/duration';
import type { Logger } from '../src/log';

export type AnalysisScheduleDependencies = Readonly<{ client: Client; taskQueue: string; log: Logger }>;

/**
 * One Temporal Schedule per product, `analysis:<product id>`, starting `analysisWorkflow` every
 * interval; a cycle still running when the next is due makes that one skip. Every act is
 * idempotent: creating an existing schedule brings it to the interval, pausing a paused one or
 * deleting a missing one is fine, so the product workflow can repeat them on retry or replay.
 */
export function createAnalysisScheduleActivities(deps: AnalysisScheduleDependencies) {
  const { client, log } = deps;
  const handleOf = (productId: string) => client.schedule.getHandle(analysisScheduleIdOf(productId));

  return {
    async ensureTemporalAnalysisSchedule(input: {
      productId: string;
      every?: string;
      /** Create it paused (a product that is not active yet). */
      paused?: boolean;
    }): Promise<{ scheduleId: string; created: boolean; everyMs: number }> {
      const scheduleId = analysisScheduleIdOf(input.productId);
      const everyMs = parseDuration(input.every ?? DEFAULT_ANALYSIS_EVERY) ?? 3_600_000;
      const args: [AnalysisInput] = [{ productId: input.productId }];
      const action = {
        type: 'startWorkflow' as const,
        workflowType: analysisWorkflowType,
        workflowId: `${scheduleId}-cycle`,
        taskQueue: deps.taskQueue,
        args,
      };
      try {
        await client.schedule.create({
          scheduleId,
          spec: { intervals: [{ every: everyMs }] },
          action,
          policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1m' },
          state: input.paused ? { paused: true, note: 'created paused' } : {},
        });
        log.info('analysis schedule created', { scheduleId, everyMs });
        return { scheduleId, created: true, everyMs };
      } catch (error) {
        if (!(error instanceof ScheduleAlreadyRunning)) throw error;
      }
      await handleOf(input.productId).update((previous) => ({
        ...previous,
        spec: { intervals: [{ every: everyMs }] },
        action,
      }));
      return { scheduleId, created: false, everyMs };
    },

    /**
     * Run a cycle now (the product's first, soon after its table's first commit); the schedule's
     * overlap policy applies, so a cycle already running is not joined by a second. False when the
     * schedule is missing or paused: nothing runs.
     */
    async triggerTemporalAnalysisSchedule(input: { productId: string }): Promise<boolean> {
      const handle = handleOf(input.productId);
      try {
        if ((await handle.describe()).state.paused) return false;
        await handle.trigger();
        log.info('analysis cycle triggered', { scheduleId: analysisScheduleIdOf(input.productId) });
        return true;
      } catch (error) {
        if (error instanceof ScheduleNotFoundError) return false;
        throw error;
      }
    },

    /** Pause (degraded, deprecated); `note` says why, in the Temporal UI. False when there is none. */
    async pauseTemporalAnalysisSchedule(input: { productId: string; note: string }): Promise<boolean> {
      try {
        await handleOf(input.productId).pause(input.note.slice(0, 500));
        return true;
      } catch (error) {
        if (error instanceof ScheduleNotFoundError) return false;
        throw error;
      }
    },

    /** Resume (back to active). False when there is none: ensure it instead. */
    async resumeTemporalAnalysisSchedule(input: { productId: string; note: string }): Promise<boolean> {
      try {
        await handleOf(input.productId).unpause(input.note.slice(0, 500));
        return true;
      } catch (error) {
        if (error instanceof ScheduleNotFoundError) return false;
        throw error;
      }
    },

    /** Delete (retired). False when it was already gone. */
    async deleteTemporalAnalysisSchedule(input: { productId: string }): Promise<boolean> {
      try {
        await handleOf(input.productId).delete();
        log.info('analysis schedule deleted', { scheduleId: analysisScheduleIdOf(input.productId) });
        return true;
      } catch (error) {
        if (error instanceof ScheduleNotFoundError) return false;
        throw error;
      }
    },

    async describeTemporalAnalysisSchedule(input: { productId: string }): Promise<ScheduleState> {
      try {
        const description = await handleOf(input.productId).describe();
        const interval = description.spec.intervals?.[0]?.every;
        return {
          exists: true,
          paused: description.state.paused,
          note: description.state.note,
          everyMs: typeof interval === 'number' ? interval : undefined,
        };
      } catch (error) {
        if (error instanceof ScheduleNotFoundError) return { exists: false };
        throw error;
      }
    },
  };
}
