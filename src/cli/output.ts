/**
 * What a terminal would act on rather than show: C0 controls (escape sequences, carriage return,
 * backspace, bell, newline), DEL, C1 controls (a single-byte CSI among them), the line and paragraph
 * separators, and the bidirectional overrides and isolates that reorder what follows them.
 */
const terminalControl =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c]/g;

const named: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t', '\u001b': '\\e' };

/**
 * Text from a spec, a message or a job (anyone's words) as one visible line: every control
 * character shown as an escape (`\r`, `\n`, `\t`, `\e`, `\u202e`), a backslash as `\\` so the two
 * cannot be confused. Text that has no control characters is shown as it is, backslashes too.
 */
export function visible(text: string): string {
  terminalControl.lastIndex = 0;
  if (!terminalControl.test(text)) return text;
  terminalControl.lastIndex = 0;
  return text
    .replace(/\\/g, '\\\\')
    .replace(
      terminalControl,
      (char) => named[char] ?? `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
    );
}

/** Plain text for people: aligned columns, every cell made visible. */
export function table(input: ReadonlyArray<readonly string[]>): string {
  const rows = input.map((row) => row.map(visible));
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  '),
    )
    .join('\n');
}

/** Progress lines go to stderr so stdout stays clean for piping. */
export const progressLine = (message: string) => process.stderr.write(`  … ${message}\n`);

/**
 * A command's answer on stdout: with `--json` the value as JSON (indented, one trailing newline),
 * otherwise the text for people. Every command prints through here (or `printJson`), so the two
 * stay side by side and `--json` means the same everywhere.
 */
export function printResult(json: boolean | undefined, value: unknown, text: () => string): void {
  if (json) printJson(value);
  else process.stdout.write(`${text()}\n`);
}

/** A value as JSON on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Settles once stdout and stderr have handed everything written to them to the OS. A pipe whose
 * reader is slow takes writes asynchronously: exiting before this resolves cuts the output (at
 * 64 KB, the pipe's buffer).
 */
export async function outputDrained(): Promise<void> {
  for (const stream of [process.stdout, process.stderr])
    while (stream.writableLength > 0 && !stream.destroyed)
      await new Promise((resolve) => setTimeout(resolve, 5));
}
