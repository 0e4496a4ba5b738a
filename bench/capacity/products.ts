import type { ProductSpec } from '../../src/domain/spec';

/** The products the bench runs: `count` copies of the planner's demo proposals, round robin. */
export function productCopies(planned: readonly ProductSpec[], count: number): ProductSpec[] {
  if (planned.length === 0) throw new Error('the planner proposed no product for the demo seed');
  return Array.from({ length: count }, (_, i) => {
    const base = planned[i % planned.length]!;
    const name = `${base.name}_c${String(i + 1).padStart(2, '0')}`;
    return {
      ...base,
      name,
      outputTopic: { ...base.outputTopic, name: `${base.domain}.${name}` },
    };
  });
}

export type CapacityOptions = Readonly<{
  products: number;
  /** Records per second written to each input topic. */
  rate: number;
  /** Seconds each measurement (idle, loaded) lasts. */
  window: number;
  /** Seconds the products run, all active, before the loaded measurement. */
  settle: number;
  /** How long every product may take to be active with both jobs running. */
  activeTimeoutS: number;
  json: boolean;
  keep: boolean;
}>;

const usage =
  'usage: npm run bench:capacity -- [--products N] [--rate records/s per input topic] [--window s] [--settle s] [--active-timeout s] [--json] [--keep]';

/** The command line, checked: a wrong option says which and what it takes. */
export function parseCapacityArgs(args: readonly string[]): CapacityOptions {
  const numbers: Record<string, { value: number; min: number; max: number }> = {
    '--products': { value: 24, min: 1, max: 64 },
    '--rate': { value: 5, min: 1, max: 1000 },
    '--window': { value: 60, min: 5, max: 3600 },
    '--settle': { value: 60, min: 0, max: 3600 },
    '--active-timeout': { value: 900, min: 60, max: 7200 },
  };
  let json = false;
  let keep = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--json') json = true;
    else if (arg === '--keep') keep = true;
    else if (arg in numbers) {
      const spec = numbers[arg]!;
      const value = Number(args[++i]);
      if (!Number.isInteger(value) || value < spec.min || value > spec.max) {
        throw new Error(
          `${arg} takes a whole number from ${spec.min} to ${spec.max}, not ${args[i] ?? 'nothing'}\n${usage}`,
        );
      }
      spec.value = value;
    } else throw new Error(`unknown option ${arg}\n${usage}`);
  }
  return {
    products: numbers['--products']!.value,
    rate: numbers['--rate']!.value,
    window: numbers['--window']!.value,
    settle: numbers['--settle']!.value,
    activeTimeoutS: numbers['--active-timeout']!.value,
    json,
    keep,
  };
}
