/**
 * Checkpoints of a training run, for --resume: every trainable tensor and optimizer moment in one
 * safetensors file, and the rest of the state (step, phase, data positions, random streams) as JSON.
 * Both are written to a fresh directory that then replaces the previous checkpoint, so a crash never
 * leaves a half-written checkpoint behind.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import { readSafetensors, writeSafetensors } from '../models/io/safetensors.ts';

const TENSORS = 'tensors.safetensors';
const STATE = 'state.json';

/**
 * Writes `tensors` (by name) and `state` to `dir`, replacing it atomically.
 * @returns the directory written
 */
export async function saveRunState(dir: string, tensors: ReadonlyMap<string, Tensor>, state: unknown): Promise<string> {
  const tmp = `${dir}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  const items: Array<{ name: string; shape: number[]; data: Float32Array }> = [];
  for (const [name, t] of tensors) items.push({ name, shape: [...t.shape], data: (await t.read()) as Float32Array });
  writeSafetensors(path.join(tmp, TENSORS), items, { dtype: 'F32' });
  fs.writeFileSync(path.join(tmp, STATE), `${JSON.stringify(state, null, 1)}\n`);
  const old = `${dir}.old`;
  fs.rmSync(old, { recursive: true, force: true });
  if (fs.existsSync(dir)) fs.renameSync(dir, old);
  fs.renameSync(tmp, dir);
  fs.rmSync(old, { recursive: true, force: true });
  return dir;
}

/** True when `dir` holds a complete run state. */
export function hasRunState(dir: string): boolean {
  return fs.existsSync(path.join(dir, TENSORS)) && fs.existsSync(path.join(dir, STATE));
}

/**
 * Restores tensors saved by saveRunState into `tensors` (by name, in place) and returns the JSON
 * state.
 * @throws Error naming the file and tensor when a tensor is missing or its shape differs
 */
export function loadRunState<S>(dir: string, tensors: ReadonlyMap<string, Tensor>): S {
  const file = path.join(dir, TENSORS);
  const saved = readSafetensors(file).tensors;
  for (const [name, t] of tensors) {
    const s = saved.get(name);
    if (!s) throw new Error(`${file}: no tensor ${name} to resume from`);
    if (s.shape.length !== t.shape.length || s.shape.some((d, i) => d !== t.shape[i])) {
      throw new Error(`${file}: tensor ${name} has shape [${s.shape}], the run has [${t.shape}]`);
    }
    E.getEngine().queue.upload(t.buffer, s.data as Float32Array);
  }
  return JSON.parse(fs.readFileSync(path.join(dir, STATE), 'utf8')) as S;
}
