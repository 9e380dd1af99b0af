/**
 * FiniteWatch: detects NaN and ±Infinity in training tensors on the GPU, every step, without a
 * readback per step.
 *
 * A NaN in one weight or gradient does not always reach the loss (a masked-out unit, a head whose
 * output is scaled by zero, a parameter the loss no longer depends on), so a NaN-loss check alone
 * lets a run save mostly-NaN weights and exit 0. Each check records one dispatch per tensor that
 * writes into a 6-word flag buffer the first (step, tensor, element) holding a non-finite value;
 * the host reads the flag when it reads the step's loss anyway, or before writing a checkpoint.
 *
 *   const watch = new FiniteWatch();
 *   for (let step = 1; step <= steps; step++) {
 *     ...backward(loss); opt.step(); opt.zeroGrad();
 *     // Parameters and AdamW moments: a non-finite gradient makes NAME.exp_avg non-finite at this very step.
 *     watch.check(step, named);
 *     if (logNow) { await loss.item(); const bad = await watch.read(); if (bad) throw new Error(describeNonFiniteValue(bad)); }
 *   }
 *
 * Or pass the watch to the optimizer (AdamWOptions.finiteWatch), which checks every gradient before
 * clipping (so the culprit is named) and every parameter after the update.
 *
 * Cost: one elementwise pass (a read of every checked element) per tensor per step.
 */
import { getEngine } from './context.ts';
import { tensor } from './creation.ts';
import { K } from './kernels/index.ts';
import { launch } from './ops/dispatch.ts';
import { keep } from './scope.ts';
import { type Tensor, grid1d } from './tensor.ts';

/** Kinds of non-finite values. */
export type NonFiniteKind = 'NaN' | '+Infinity' | '-Infinity';

/** The first non-finite value a FiniteWatch saw. */
export interface NonFiniteValue {
  /** The step passed to the check that found it. */
  step: number;
  /** The label the tensor was checked under. */
  label: string;
  /** Shape of that tensor when it was checked. */
  shape: readonly number[];
  /** Smallest flat (row-major) index of a non-finite element of that tensor at that step. */
  index: number;
  /** Non-finite elements of that tensor at that step. */
  count: number;
  /** Kinds among them. */
  kinds: NonFiniteKind[];
}

/** Flag words: serial, step, slot, min index, count, kinds (see finite_watch.wgsl). */
const FLAG_WORDS = 6;
const NO_INDEX = 0xffffffff;
const CLEAN = [0, 0, 0, NO_INDEX, 0, 0];

export class FiniteWatch {
  private readonly flag: Tensor;
  private readonly slots = new Map<string, number>();
  private readonly labels: string[] = [];
  private readonly shapes: Array<readonly number[]> = [];
  /** Serial of the last recorded check (a dispatch); 0 is reserved for "nothing found". */
  private serial = 0;

  constructor() {
    this.flag = keep(tensor(CLEAN, [FLAG_WORDS], 'u32', 'finite watch flag'));
  }

  /**
   * Records one dispatch per tensor (null/undefined entries and empty tensors are skipped) that
   * flags its first non-finite element, unless an earlier check already flagged one. Tensors are
   * checked in the given order, so within one step the first listed bad tensor is the one reported.
   * @param step the training step (an integer in [0, 2^32)); reported back by read().
   * @param tensors [label, tensor] pairs; labels name the tensor in read()'s result.
   * @throws Error when a tensor is not f32 or the step is not a u32 integer
   */
  check(step: number, tensors: Iterable<readonly [string, Tensor | null | undefined]>): void {
    if (!Number.isInteger(step) || step < 0 || step > 0xffffffff) throw new Error(`FiniteWatch.check: step must be an integer in [0, 2^32) (got ${step})`);
    for (const [label, t] of tensors) {
      if (!t || t.size === 0) continue;
      if (t.dtype !== 'f32') throw new Error(`FiniteWatch.check: ${label} is ${t.dtype}; only f32 tensors can hold non-finite values`);
      let slot = this.slots.get(label);
      if (slot === undefined) {
        slot = this.labels.length;
        this.slots.set(label, slot);
        this.labels.push(label);
        this.shapes.push(t.shape);
      }
      this.shapes[slot] = t.shape;
      if (++this.serial > 0xffffffff) throw new Error('FiniteWatch: more than 2^32 checks; reset() the watch');
      launch(K.finiteWatch, {
        tensors: { x: t, flag: this.flag },
        uniforms: { params: { n: t.size, serial: this.serial, step, slot } },
        workgroups: grid1d(t.size),
      });
    }
  }

  /** The first non-finite value recorded so far, or null (flushes pending work and waits for it). */
  async read(): Promise<NonFiniteValue | null> {
    const f = (await this.flag.read()) as Uint32Array;
    if (f[0] === 0) return null;
    const slot = f[2]!;
    const kinds: NonFiniteKind[] = [];
    if (f[5]! & 1) kinds.push('NaN');
    if (f[5]! & 2) kinds.push('+Infinity');
    if (f[5]! & 4) kinds.push('-Infinity');
    return { step: f[1]!, label: this.labels[slot] ?? `slot ${slot}`, shape: this.shapes[slot] ?? [], index: f[3]!, count: f[4]!, kinds };
  }

  /** Forgets what was found (the next read() returns null until a new check finds something). */
  reset(): void {
    this.serial = 0;
    // Uploads are ordered after the checks recorded so far (the queue flushes them first).
    getEngine().queue.upload(this.flag.buffer, Uint32Array.from(CLEAN));
  }

  dispose(): void {
    this.flag.dispose();
  }
}

/**
 * "step 37: encoder.0.query.weight.grad [64, 64]: element 130 is the
 * first of 4096 non-finite values (NaN, +Infinity)".
 */
export function describeNonFiniteValue(v: NonFiniteValue): string {
  const total = v.count === 1 ? 'the only non-finite value' : `the first of ${v.count} non-finite values`;
  return `step ${v.step}: ${v.label} [${v.shape.join(', ')}]: element ${v.index} is ${total} (${v.kinds.join(', ')})`;
}
