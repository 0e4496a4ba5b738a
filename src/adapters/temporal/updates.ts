/**
 * Run a workflow update, again while the product answers `NotReady`: for a moment after it
 * continues as new, a run checks its carried state and reads mesh.yaml before it takes decisions
 * (src/domain/permissions.ts `notReady`), so a client tries again rather than failing the person.
 */
export async function executeWhenReady<T>(
  update: () => Promise<T>,
  options: { attempts?: number; delayMs?: number } = {},
): Promise<T> {
  const attempts = options.attempts ?? 100;
  const delayMs = options.delayMs ?? 100;
  for (let attempt = 1; ; attempt++) {
    try {
      return await update();
    } catch (error) {
      if (!isNotReady(error) || attempt >= attempts) throw error;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}

function isNotReady(error: unknown): boolean {
  const cause = (error as { cause?: { type?: unknown } } | null)?.cause;
  return cause?.type === 'NotReady';
}
