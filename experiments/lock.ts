/**
 * Locks that keep a cell, or a job directory several cells share, from running twice at once: a file
 * `X.lock` beside what it guards (a cell's record results/ID.json, a step's run directory), created
 * exclusively (O_EXCL, which NFS v3+ honours), naming its owner: the SLURM job (ARRAYJOB_TASK) when
 * there is one, the host and the process.
 *
 * A lock is stale, and is taken over, when its owner is gone: a SLURM job that squeue no longer
 * reports as pending or running (a requeued job is pending: it comes back), or without a job a
 * process on this host that no longer exists. A lock naming the caller's own job is the caller's:
 * SLURM never runs one job twice at once, so it was left by this job's earlier run (a requeue).
 * A lock held without a job by a process on another host cannot be judged and counts as held.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** Who holds a lock. */
export interface LockOwner {
  /** The SLURM job (ARRAYJOB_TASK for an array task), or null outside SLURM. */
  job: string | null;
  host: string;
  pid: number;
  /** ISO time the lock was taken. */
  since: string;
}

/** Whether a SLURM job still runs or will run (pending, running, requeued); undefined when unknown. */
export type JobAlive = (job: string) => Promise<boolean | undefined>;

/** The owner this process would write: its SLURM job if it runs in one. */
export function currentOwner(env: NodeJS.ProcessEnv = process.env): LockOwner {
  const array = env['SLURM_ARRAY_JOB_ID'] && env['SLURM_ARRAY_TASK_ID'] ? `${env['SLURM_ARRAY_JOB_ID']}_${env['SLURM_ARRAY_TASK_ID']}` : null;
  return { job: array ?? env['SLURM_JOB_ID'] ?? null, host: os.hostname(), pid: process.pid, since: new Date().toISOString() };
}

/** "job 123_4 (pid 77 on node3)" or "pid 77 on node3". */
export function describeOwner(o: LockOwner): string {
  return `${o.job ? `job ${o.job} (pid ${o.pid} on ${o.host})` : `pid ${o.pid} on ${o.host}`}, since ${o.since}`;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(file: string): LockOwner | null | 'gone' {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
  try {
    const o = JSON.parse(text) as LockOwner;
    return typeof o.pid === 'number' && typeof o.host === 'string' ? o : null;
  } catch {
    return null;
  }
}

/**
 * Whether `owner` still holds its lock, as seen by `me`.
 * @param jobAlive asks SLURM about a job (undefined: cannot tell, counted as alive)
 */
export async function ownerAlive(owner: LockOwner, me: LockOwner, jobAlive: JobAlive): Promise<boolean> {
  if (owner.job && owner.job === me.job) return false;
  if (owner.host === me.host && !processAlive(owner.pid)) return false;
  if (owner.job) return (await jobAlive(owner.job)) ?? true;
  // A live process on this host, or a process on another host that nothing here can check.
  return true;
}

/** The lock guarding `target` (a file or a directory). */
export const lockFileOf = (target: string) => `${target.replace(/\/+$/, '')}.lock`;

/** What try/acquire found. */
export type LockAttempt = { held: true; release: () => void } | { held: false; owner: LockOwner };

/** A lock file whose content cannot be read is counted as held for this long (its writer is between open and write). */
const UNREADABLE_GRACE_MS = 30_000;

/**
 * Takes the lock on `target` unless a live owner holds it; a stale lock is replaced (under a short
 * break lock, so two takers cannot both replace it).
 * @throws whatever the file system throws, or jobAlive throws (squeue's own error)
 */
export async function tryLock(target: string, me: LockOwner, jobAlive: JobAlive): Promise<LockAttempt> {
  const file = lockFileOf(target);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 5; attempt++) {
    if (create(file, me)) return { held: true, release: () => release(file, me) };
    const owner = readOwner(file);
    if (owner === 'gone') continue;
    if (owner === null) {
      const age = Date.now() - fs.statSync(file).mtimeMs;
      if (age < UNREADABLE_GRACE_MS) return { held: false, owner: { job: null, host: '?', pid: 0, since: 'just now (being written)' } };
    } else if (await ownerAlive(owner, me, jobAlive)) return { held: false, owner };
    if (!breakLock(file, owner)) await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${file}: could not take the lock after 5 attempts (another process keeps replacing it)`);
}

/**
 * Takes the lock on `target`, waiting while a live owner holds it.
 * @param onWait called once when it has to wait, with the owner
 */
export async function waitLock(target: string, me: LockOwner, jobAlive: JobAlive, o: { pollMs?: number; onWait?: (owner: LockOwner) => void } = {}): Promise<() => void> {
  let told = false;
  for (;;) {
    const got = await tryLock(target, me, jobAlive);
    if (got.held) return got.release;
    if (!told) o.onWait?.(got.owner);
    told = true;
    await new Promise((r) => setTimeout(r, o.pollMs ?? 5000));
  }
}

/** The live owner of `target`'s lock, or null when it is free or stale. */
export async function lockHolder(target: string, me: LockOwner, jobAlive: JobAlive): Promise<LockOwner | null> {
  const owner = readOwner(lockFileOf(target));
  if (owner === 'gone' || owner === null) return null;
  return (await ownerAlive(owner, me, jobAlive)) ? owner : null;
}

/** Creates `file` exclusively (O_EXCL): its descriptor, or null when it exists. @throws other file-system errors */
export function openExclusive(file: string): number | null {
  try {
    return fs.openSync(file, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return null;
    throw err;
  }
}

function create(file: string, me: LockOwner): boolean {
  const fd = openExclusive(file);
  if (fd === null) return false;
  try {
    fs.writeSync(fd, `${JSON.stringify(me)}\n`);
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

/** Removes the lock if it still names `me` (a lock taken over by someone else is theirs). */
function release(file: string, me: LockOwner): void {
  const owner = readOwner(file);
  if (owner !== 'gone' && owner !== null && owner.pid === me.pid && owner.host === me.host && owner.since === me.since) fs.rmSync(file, { force: true });
}

/**
 * Removes a stale lock, provided it still holds what was judged stale: under `FILE.break` (taken
 * exclusively; a break lock older than a minute is itself left over from a crash and removed).
 * @returns false when another process is breaking it now
 */
function breakLock(file: string, judged: LockOwner | null): boolean {
  const guard = `${file}.break`;
  try {
    if (Date.now() - fs.statSync(guard).mtimeMs > 60_000) fs.rmSync(guard, { force: true });
  } catch {
    // no break lock
  }
  const fd = openExclusive(guard);
  if (fd === null) return false;
  try {
    const now = readOwner(file);
    if (now !== 'gone' && JSON.stringify(now) === JSON.stringify(judged)) fs.rmSync(file, { force: true });
    return true;
  } finally {
    fs.closeSync(fd);
    fs.rmSync(guard, { force: true });
  }
}
