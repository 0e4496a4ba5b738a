/**
 * Run a workflow update, again while the product is not ready to decide: for a moment after it
 * continues as new, a run checks its carried state and reads mesh.yaml before it takes decisions
 * (`NotReady`), and a fresh proposal waits for the critic's review before it can be approved or
 * rejected (`UnderReview`, src/domain/permissions.ts). A client tries again rather than failing the
 * person; `onWait` hears once that it is waiting, and why.
 */
export async function executeWhenReady<T>(
  update: () => Promise<T>,
  options: { timeoutMs?: number; delayMs?: number; onWait?: (reason: string) => void } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  const delayMs = options.delayMs ?? 200;
  let told = false;
  for (;;) {
    try {
      return await update();
    } catch (error) {
      const reason = waitReason(error);
      if (reason === undefined || Date.now() >= deadline) throw error;
      if (!told) options.onWait?.(reason);
      told = true;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

function waitReason(error: unknown): string | undefined {
  const cause = (error as { cause?: { type?: unknown; message?: unknown } } | null)?.cause;
  if (cause?.type !== 'NotReady' && cause?.type !== 'UnderReview') return undefined;
  return typeof cause.message === 'string' ? cause.message : String(cause.type);
}
