/**
 * Run-state checkpoints for --resume: every trainable tensor and optimizer moment in one safetensors
 * file, and the rest of the state (stage, step, data positions, random streams) as JSON.
 *
 * Layout: ROOT/step-<n>/ {tensors.safetensors, state.json}. A checkpoint is written into
 * ROOT/step-<n>.tmp/ (each file fsynced, state.json last, recording the tensor file's size), then
 * renamed to ROOT/step-<n>/ in one atomic rename, and only then are older checkpoints removed. A
 * kill at any point leaves at least one complete checkpoint (or none before the first), and
 * latestCheckpoint() picks the newest complete one, so there is no window without a checkpoint and
 * no half-written one is ever read.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { writeFileAtomic } from '../../models/io/atomic.ts';
import { readSafetensors, writeSafetensors } from '../../models/io/safetensors.ts';

const TENSORS = 'tensors.safetensors';
const STATE = 'state.json';
const STEP_DIR = /^step-(\d+)$/;

/** A tensor of the run state holds a NaN or an infinity: such a state is never checkpointed. */
export class NonFiniteStateError extends Error {
  constructor(
    readonly tensor: string,
    readonly index: number,
    readonly value: number,
  ) {
    super(`${tensor}[${index}] is ${value}`);
    this.name = 'NonFiniteStateError';
  }
}

interface StateFile<S> {
  /** Byte size of tensors.safetensors: a mismatch means the checkpoint is incomplete. */
  tensorsBytes: number;
  step: number;
  state: S;
}

let pausesSkipped = 0;

/**
 * Pauses the process at a named point of a checkpoint write when WEBPRUNE_TEST_PAUSE_AT names it
 * (after passing it WEBPRUNE_TEST_PAUSE_SKIP times): writes ROOT/paused-at-<point> and blocks, so a
 * test can SIGKILL the process exactly there.
 */
function testPause(root: string, point: string): void {
  if (process.env['WEBPRUNE_TEST_PAUSE_AT'] !== point) return;
  if (pausesSkipped++ < Number(process.env['WEBPRUNE_TEST_PAUSE_SKIP'] ?? 0)) return;
  fs.writeFileSync(path.join(root, `paused-at-${point}`), String(process.pid));
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 600_000);
}

/**
 * Writes a checkpoint of `step` under `root`, then removes older ones.
 * @returns the checkpoint directory
 * @throws NonFiniteStateError when a tensor holds a non-finite value (nothing is written, the
 *   previous checkpoint stays); file-system errors name the path
 */
export async function writeCheckpoint<S>(root: string, step: number, tensors: ReadonlyMap<string, Tensor>, state: S): Promise<string> {
  const items: Array<{ name: string; shape: number[]; data: Float32Array }> = [];
  for (const [name, t] of tensors) {
    const data = (await t.read()) as Float32Array;
    const bad = data.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new NonFiniteStateError(name, bad, data[bad]!);
    items.push({ name, shape: [...t.shape], data });
  }
  fs.mkdirSync(root, { recursive: true });
  const name = `step-${String(step).padStart(8, '0')}`;
  const final = path.join(root, name);
  const tmp = `${final}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp);
  const tensorFile = path.join(tmp, TENSORS);
  writeSafetensors(tensorFile, items, { dtype: 'F32' });
  testPause(root, 'tensors-written');
  const content: StateFile<S> = { tensorsBytes: fs.statSync(tensorFile).size, step, state };
  writeFileAtomic(path.join(tmp, STATE), `${JSON.stringify(content, null, 1)}\n`);
  fs.rmSync(final, { recursive: true, force: true });
  fs.renameSync(tmp, final);
  testPause(root, 'renamed');
  for (const entry of fs.readdirSync(root)) {
    if (entry !== name && (STEP_DIR.test(entry) || entry.endsWith('.tmp'))) fs.rmSync(path.join(root, entry), { recursive: true, force: true });
  }
  return final;
}

/** The state file of a checkpoint directory, or why the checkpoint is incomplete. */
function readState<S>(dir: string): StateFile<S> | string {
  let s: StateFile<S>;
  try {
    s = JSON.parse(fs.readFileSync(path.join(dir, STATE), 'utf8')) as StateFile<S>;
  } catch (err) {
    return `${path.join(dir, STATE)}: ${(err as Error).message}`;
  }
  if (typeof s?.step !== 'number' || typeof s.tensorsBytes !== 'number') return `${path.join(dir, STATE)}: no step or tensorsBytes`;
  const file = path.join(dir, TENSORS);
  const size = fs.existsSync(file) ? fs.statSync(file).size : -1;
  return size === s.tensorsBytes ? s : `${file}: ${size < 0 ? 'missing' : `${size} bytes, state.json recorded ${s.tensorsBytes}`}`;
}

/** A complete checkpoint found under a root. */
export interface FoundCheckpoint<S> {
  dir: string;
  step: number;
  state: S;
}

/**
 * The newest complete checkpoint under `root` (null when there is none), and why the others that
 * are not complete are not (a kill during a write leaves one; the next write removes it).
 */
export function findCheckpoints<S>(root: string): { latest: FoundCheckpoint<S> | null; incomplete: string[] } {
  let latest: FoundCheckpoint<S> | null = null;
  const incomplete: string[] = [];
  if (!fs.existsSync(root)) return { latest, incomplete };
  for (const entry of fs.readdirSync(root).sort()) {
    const name = entry.endsWith('.tmp') ? entry.slice(0, -4) : entry;
    if (!STEP_DIR.test(name)) continue;
    const dir = path.join(root, entry);
    const s = readState<S>(dir);
    if (typeof s === 'string') {
      // A .tmp directory is normally incomplete (a write cut short): not worth a message.
      if (!entry.endsWith('.tmp')) incomplete.push(s);
    } else if (!latest || s.step > latest.step) latest = { dir, step: s.step, state: s.state };
  }
  return { latest, incomplete };
}

/** The newest complete checkpoint under `root`, or null. */
export function latestCheckpoint<S>(root: string): FoundCheckpoint<S> | null {
  return findCheckpoints<S>(root).latest;
}

/**
 * Uploads a checkpoint's tensors into `tensors` (by name, in place).
 * @throws Error naming the file and tensor when one is missing, has another shape, or is not finite
 */
export function restoreTensors(dir: string, tensors: ReadonlyMap<string, Tensor>): void {
  const file = path.join(dir, TENSORS);
  const saved = readSafetensors(file).tensors; // refuses NaN and ±Infinity, naming tensor and element
  // Every tensor is checked before any is overwritten.
  for (const [name, t] of tensors) {
    const s = saved.get(name);
    if (!s) throw new Error(`${file}: no tensor ${name} to resume from`);
    if (s.shape.length !== t.shape.length || s.shape.some((d, i) => d !== t.shape[i])) {
      throw new Error(`${file}: tensor ${name} has shape [${s.shape}], the run has [${t.shape}]`);
    }
    if (!(s.data instanceof Float32Array)) throw new Error(`${file}: tensor ${name} is ${s.dtype}, run states hold float tensors`);
  }
  for (const [name, t] of tensors) E.getEngine().queue.upload(t.buffer, saved.get(name)!.data as Float32Array);
}
