import fsp from 'node:fs/promises';

/**
 * Resident memory and CPU time of process trees, from /proc (Linux). A local-stack service runs as a
 * sandbox wrapper (`unshare`, then `sh`, then `java`), so a service's cost is its whole tree.
 */

export type ProcSample = Readonly<{
  pid: number;
  ppid: number;
  rssKb: number;
  cpuTicks: number;
  threads: number;
}>;

/**
 * One `/proc/<pid>/stat` line: the command may hold spaces and parentheses, so fields are counted from
 * the last `)`. Field 4 is the parent pid, 14 and 15 user and system time in clock ticks, 20 threads.
 */
export function parseStat(line: string): { ppid: number; cpuTicks: number; threads: number } {
  const end = line.lastIndexOf(')');
  if (end < 0) throw new Error(`not a /proc stat line: ${line.slice(0, 80)}`);
  // After ") ": state(3) ppid(4) ... utime(14) stime(15) ... num_threads(20).
  const rest = line
    .slice(end + 2)
    .trim()
    .split(/\s+/);
  const field = (n: number) => Number(rest[n - 3]);
  const ppid = field(4);
  const cpuTicks = field(14) + field(15);
  const threads = field(20);
  if (![ppid, cpuTicks, threads].every(Number.isFinite)) {
    throw new Error(`a /proc stat line without numbers where expected: ${line.slice(0, 80)}`);
  }
  return { ppid, cpuTicks, threads };
}

/** `VmRSS` of a `/proc/<pid>/status` text, in kB (0 for a kernel thread or a zombie, which have none). */
export function parseRssKb(status: string): number {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return match ? Number(match[1]) : 0;
}

async function sample(pid: number): Promise<ProcSample | undefined> {
  try {
    const [stat, status] = await Promise.all([
      fsp.readFile(`/proc/${pid}/stat`, 'utf8'),
      fsp.readFile(`/proc/${pid}/status`, 'utf8'),
    ]);
    return { pid, ...parseStat(stat), rssKb: parseRssKb(status) };
  } catch {
    return undefined; // gone between the listing and the read
  }
}

/** Every process on the machine, once. */
export async function allProcesses(): Promise<ProcSample[]> {
  const pids = (await fsp.readdir('/proc')).filter((name) => /^\d+$/.test(name)).map(Number);
  const samples = await Promise.all(pids.map(sample));
  return samples.filter((s): s is ProcSample => s !== undefined);
}

/** The processes of `root`'s tree (itself and its descendants) in a snapshot. */
export function treeOf(root: number, snapshot: readonly ProcSample[]): ProcSample[] {
  const children = new Map<number, ProcSample[]>();
  for (const proc of snapshot) children.set(proc.ppid, [...(children.get(proc.ppid) ?? []), proc]);
  const out: ProcSample[] = [];
  const queue = snapshot.filter((proc) => proc.pid === root);
  while (queue.length > 0) {
    const proc = queue.shift()!;
    out.push(proc);
    queue.push(...(children.get(proc.pid) ?? []));
  }
  return out;
}

export type TreeUsage = Readonly<{ rssMb: number; cpuTicks: number; threads: number; processes: number }>;

export function treeUsage(root: number, snapshot: readonly ProcSample[]): TreeUsage {
  const tree = treeOf(root, snapshot);
  return {
    rssMb: tree.reduce((sum, proc) => sum + proc.rssKb, 0) / 1024,
    cpuTicks: tree.reduce((sum, proc) => sum + proc.cpuTicks, 0),
    threads: tree.reduce((sum, proc) => sum + proc.threads, 0),
    processes: tree.length,
  };
}

/** Clock ticks per second (`getconf CLK_TCK`): 100 on every Linux we run on. */
export const CLOCK_TICKS = 100;

/** Percent of one core a tree used between two snapshots `seconds` apart. */
export function cpuPercent(before: TreeUsage, after: TreeUsage, seconds: number): number {
  if (seconds <= 0) throw new Error('a CPU window must last some time');
  return (((after.cpuTicks - before.cpuTicks) / CLOCK_TICKS) * 100) / seconds;
}
