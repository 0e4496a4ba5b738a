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
  const handle = client.schedule.getHandle(scheduleId);
  await handle.update((previous) => ({
    ...previous,
    spec: { intervals: [{ every: intervalMs }] },
    action,
  }));
  // The server applies an update asynchronously, and a pause sent before it lands can be undone by
  // it (the update carries the whole schedule, its state included): return once it shows.
  await waitUntil(async () => (await handle.describe()).spec.intervals?.[0]?.every === intervalMs, {
    timeoutMs: 10_000,
    intervalMs: 100,
  });
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
  // The server applies a pause asynchronously, and a schedule update in flight can undo it (it
  // carries the whole schedule): send it again until a describe shows it (pausing twice is harmless).
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      if (paused) await handle.pause(note);
      else await handle.unpause(note);
    } catch (error) {
      if (!(error instanceof ScheduleNotFoundError) || paused) throw error;
      await ensureDiscoverySchedule(client, config, { scheduleId });
      return;
    }
    const shown = await waitUntil(
      async () => (await describeDiscoverySchedule(client, scheduleId))?.paused === paused,
      { timeoutMs: 5_000, intervalMs: 100 },
    );
    if (shown === 'ready') return;
  }
  throw new Error(
    `the discovery schedule ${scheduleId} still shows ${paused ? 'running' : 'paused'} after three tries; ` +
      'check it with `meshloop discover --status` and try again',
  );
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
