/**
 * SLURM's command-line tools as the interface to the scheduler: sbatch, squeue, scancel and scontrol,
 * run as subprocesses. A tool that fails raises SlurmError with its own stderr, verbatim
 * ("sbatch: error: invalid partition specified: gpu"), so the message names what to fix.
 * Nothing here needs slurmdbd: squeue reports finished jobs for MinJobAge seconds (300 by default),
 * which is how the executor learns how a task ended.
 */
import { execFile } from 'node:child_process';

/** A SLURM tool failed: the message is its stderr as printed. */
export class SlurmError extends Error {
  constructor(
    readonly tool: string,
    message: string,
  ) {
    super(message);
    this.name = 'SlurmError';
  }
}

/**
 * Runs a SLURM tool; resolves its stdout.
 * @throws SlurmError with the tool's stderr verbatim (or how it failed when it printed nothing),
 *   and a hint when the tool is not installed
 */
export function slurmTool(tool: string, args: readonly string[], o: { timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(tool, args, { timeout: o.timeoutMs ?? 120_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve(stdout);
      const e = err as NodeJS.ErrnoException & { code?: string | number; killed?: boolean };
      if (e.code === 'ENOENT') return reject(new SlurmError(tool, `${tool}: not found on PATH: is SLURM's client (slurm-client) installed on this machine?`));
      const text = stderr.trim() || stdout.trim();
      reject(new SlurmError(tool, text || `${tool} ${e.killed ? 'timed out' : `exited with code ${e.code}`}`));
    });
  });
}

/** Job states after which a job will not run again. Anything else (PENDING, RUNNING, REQUEUED, COMPLETING, ...) is in flight. */
export const FINAL_STATES: ReadonlySet<string> = new Set([
  'COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE', 'SPECIAL_EXIT', 'REVOKED', 'PREEMPTED',
]);

/** One job or array task as squeue reports it. */
export interface TaskState {
  /** JOB or ARRAYJOB_TASK. */
  id: string;
  /** PENDING, RUNNING, COMPLETED, CANCELLED, ... */
  state: string;
  /** Why it is pending, or None. */
  reason: string;
  /** The node it runs on ('' while pending). */
  node: string;
}

const SQUEUE_FORMAT = '%i|%T|%r|%N';

/** Parses `squeue -h -o '%i|%T|%r|%N'` output. */
export function parseSqueue(text: string): TaskState[] {
  return text.split('\n').filter((l) => l.trim() !== '').map((line) => {
    const [id = '', state = '', reason = '', node = ''] = line.trim().split('|');
    // "CANCELLED by 0" in some versions: the state is the first word.
    return { id, state: state.split(' ')[0]!, reason, node };
  });
}

/**
 * Every task of the given jobs, finished ones included while SLURM still knows them (MinJobAge),
 * array tasks one per line.
 * @throws SlurmError (squeue's message) except for unknown job ids, which are left out
 */
export async function squeue(jobs: readonly string[]): Promise<Map<string, TaskState>> {
  if (jobs.length === 0) return new Map();
  let text: string;
  try {
    text = await slurmTool('squeue', ['-h', '-r', '--states=all', '-j', jobs.join(','), '-o', SQUEUE_FORMAT]);
  } catch (err) {
    if (err instanceof SlurmError && /Invalid job id/i.test(err.message)) return new Map();
    throw err;
  }
  return new Map(parseSqueue(text).map((t) => [t.id, t]));
}

/**
 * Whether a job still runs or will (not in a final state); false for a job squeue no longer knows.
 * Undefined when SLURM's tools are not on this machine (a lock's owner then cannot be judged).
 * @throws SlurmError for squeue's other errors (e.g. the controller cannot be reached)
 */
export async function jobAlive(job: string): Promise<boolean | undefined> {
  let tasks: Map<string, TaskState>;
  try {
    tasks = await squeue([job]);
  } catch (err) {
    if (err instanceof SlurmError && /not found on PATH/.test(err.message)) return undefined;
    throw err;
  }
  const t = tasks.get(job);
  return t !== undefined && !FINAL_STATES.has(t.state);
}

/**
 * Submits a batch script.
 * @returns the job id (of the array)
 * @throws SlurmError with sbatch's message
 */
export async function sbatch(args: readonly string[], script: string): Promise<string> {
  const out = (await slurmTool('sbatch', ['--parsable', ...args, script])).trim();
  const id = out.split('\n').at(-1)!.split(';')[0]!.trim();
  if (!/^\d+$/.test(id)) throw new SlurmError('sbatch', `sbatch printed no job id: ${out}`);
  return id;
}

/** Cancels jobs (scancel). @throws SlurmError with scancel's message */
export async function scancel(jobs: readonly string[]): Promise<void> {
  await slurmTool('scancel', [...jobs]);
}

/** Puts a job back in the queue (scontrol requeue): SLURM restarts it later under the same id. @throws SlurmError */
export async function requeue(job: string): Promise<void> {
  await slurmTool('scontrol', ['requeue', job]);
}

/**
 * Seconds in a SLURM duration: "MM:SS", "HH:MM:SS", "D-HH:MM:SS", "D-HH" or minutes alone; null
 * for UNLIMITED, NOT_SET, INVALID and anything else.
 */
export function parseDuration(text: string): number | null {
  const t = text.trim();
  const m = /^(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?$/.exec(t);
  if (!m) return null;
  const [, days, a, b, c] = m;
  const d = Number(days ?? 0) * 86400;
  if (days !== undefined) {
    // D-HH, D-HH:MM, D-HH:MM:SS
    return d + Number(a) * 3600 + Number(b ?? 0) * 60 + Number(c ?? 0);
  }
  if (c !== undefined) return Number(a) * 3600 + Number(b) * 60 + Number(c);
  if (b !== undefined) return Number(a) * 60 + Number(b);
  return Number(a) * 60;
}

/**
 * Seconds until the job's time limit (squeue %L), or null when it has none or SLURM cannot say.
 * @param job one job or array task (ARRAYJOB_TASK): an array's id would list every task
 * @throws SlurmError
 */
export async function timeLeft(job: string): Promise<number | null> {
  const lines = (await slurmTool('squeue', ['-h', '-j', job, '-o', '%L'])).trim().split('\n');
  return lines.length === 1 ? parseDuration(lines[0]!) : null;
}

/** True when a SLURM controller answers here (sinfo runs and reports a node). */
export async function slurmReachable(): Promise<boolean> {
  try {
    return (await slurmTool('sinfo', ['-h', '-o', '%T'], { timeoutMs: 15_000 })).trim() !== '';
  } catch {
    return false;
  }
}
