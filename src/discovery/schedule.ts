import type { Client } from '@temporalio/client';
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy } from '@temporalio/client';
import type { MeshloopConfig } from '../config';
import { waitUntil } from '../stack/probe';
import type { DiscoveryInput } from '../domain/discovery';
import { discoveryWorkflowType } from '../domain/discovery';

/** The one discovery schedule of a namespace. */
export const DISCOVERY_SCHEDULE_ID = 'meshloop-discovery';

export function discoveryInputOf(config: MeshloopConfig, overrides: DiscoveryInput = {}): DiscoveryInput {
  return {
    maxMessages: config.discovery.maxMessages,
    maxBytes: config.discovery.maxBytes,
    sampleDeadlineMs: config.discovery.sampleDeadlineMs,
    ...overrides,
  };
}

/**
 * Create the discovery schedule, or bring an existing one to the configured interval and input.
 * Overlapping runs are skipped: a slow run is never joined by a second one.
 */
export async function ensureDiscoverySchedule(
  client: Client,
  config: MeshloopConfig,
  options: { intervalMs?: number; input?: DiscoveryInput; scheduleId?: string; taskQueue?: string } = {},
): Promise<{ created: boolean; intervalMs: number }> {
  const scheduleId = options.scheduleId ?? DISCOVERY_SCHEDULE_ID;
  const intervalMs = options.intervalMs ?? config.discovery.intervalMs;
  const action = {
    type: 'startWorkflow' as const,
    workflowType: discoveryWorkflowType,
    workflowId: `${scheduleId}-run`,
    taskQueue: options.taskQueue ?? config.temporal.taskQueue,
    args: [discoveryInputOf(config, options.input)],
  };
  try {
    await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: intervalMs }] },
      action,
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1m' },
    });
    return { created: true, intervalMs };
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
  await client.schedule.getHandle(scheduleId).update((previous) => ({
    ...previous,
    spec: { intervals: [{ every: intervalMs }] },
    action,
  }));
  return { created: false, intervalMs };
}

/** Pause or resume the schedule; resuming creates it first when it does not exist yet. */
export async function setDiscoveryPaused(
  client: Client,
  config: MeshloopConfig,
  paused: boolean,
  note: string,
  scheduleId = DISCOVERY_SCHEDULE_ID,
): Promise<void> {
  const handle = client.schedule.getHandle(scheduleId);
  try {
    if (paused) await handle.pause(note);
    else await handle.unpause(note);
  } catch (error) {
    if (!(error instanceof ScheduleNotFoundError) || paused) throw error;
    await ensureDiscoverySchedule(client, config, { scheduleId });
  }
  // The server applies a pause to the schedule asynchronously: a describe right after may still show
  // the old state. Return once it shows the new one (bounded), so `--status` after `--pause` agrees.
  await waitUntil(async () => (await describeDiscoverySchedule(client, scheduleId))?.paused === paused, {
    timeoutMs: 10_000,
    intervalMs: 100,
  });
}

export async function describeDiscoverySchedule(client: Client, scheduleId = DISCOVERY_SCHEDULE_ID) {
  try {
    const description = await client.schedule.getHandle(scheduleId).describe();
    return {
      paused: description.state.paused,
      note: description.state.note,
      nextRuns: description.info.nextActionTimes.slice(0, 3).map((d) => d.toISOString()),
      recentRuns: description.info.recentActions.length,
    };
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) return undefined;
    throw error;
  }
}
