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
 * clipping (so the culprit is named) and every parameter and moment it writes, in its update kernel.
 *
 * The run loop makes its watch the active one during each step (activate/deactivate): every AdamW
 * step then checks the parameter, exp_avg and exp_avg_sq it writes inside its own update kernel (a
 * bit test on values in registers, lib/finite_flag.wgsl), and the loop's check after the step skips
 * the tensors already checked at that step. Only tensors no optimizer wrote cost a pass of their own.
 *
 * Cost: one elementwise pass (a read of every checked element) per tensor per step, except for
 * tensors checked inside an optimizer's update (no extra read).
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

/** Tensors one check can cover (lib/finite_flag.wgsl: a count and kinds word per part). */
export const MAX_CHECK_PARTS = 3;
/** Flag words: serial, step, slot, min index, then count and kinds per part (lib/finite_flag.wgsl). */
const FLAG_WORDS = 4 + 2 * MAX_CHECK_PARTS;
const NO_INDEX = 0xffffffff;
const CLEAN = [0, 0, 0, NO_INDEX, ...Array<number>(2 * MAX_CHECK_PARTS).fill(0)];

/** What a slot names: its parts' labels and shapes, each part `partSize` elements. */
interface Slot {
  labels: string[];
  shapes: Array<readonly number[]>;
  partSize: number;
}

/** A check recorded inside another kernel: the uniforms that kernel passes to lib/finite_flag.wgsl. */
export interface FusedCheck {
  /** The watch's flag buffer, bound as the kernel's `flag`. */
  flag: Tensor;
  serial: number;
  step: number;
  slot: number;
}

let active: { watch: FiniteWatch; step: number } | null = null;

/** The watch the run loop made active for the step it is running, with that step, or null. */
export function activeFiniteWatch(): { watch: FiniteWatch; step: number } | null {
  return active;
}

export class FiniteWatch {
  private readonly flag: Tensor;
  private readonly slotByKey = new Map<string, number>();
  private readonly slots: Slot[] = [];
  /** Serial of the last recorded check (a dispatch); 0 is reserved for "nothing found". */
  private serial = 0;
  /** Tensors checked inside other kernels, and the step they were checked at. */
  private readonly covered = new Map<Tensor, number>();
  /** Labels of tensors checked inside other kernels (the run loop's state names). */
  private names = new Map<Tensor, string>();

  constructor() {
    this.flag = keep(tensor(CLEAN, [FLAG_WORDS], 'u32', 'finite watch flag'));
  }

  /**
   * Records one dispatch per tensor (null/undefined entries and empty tensors are skipped, and so
   * are tensors an optimizer already checked at this step: see fused()) that flags its first
   * non-finite element, unless an earlier check already flagged one. Tensors are checked in the
   * given order, so within one step the first listed bad tensor is the one reported.
   * @param step the training step (an integer in [0, 2^32)); reported back by read().
   * @param tensors [label, tensor] pairs; labels name the tensor in read()'s result.
   * @throws Error when a tensor is not f32 or the step is not a u32 integer
   */
  check(step: number, tensors: Iterable<readonly [string, Tensor | null | undefined]>): void {
    checkStep(step);
    for (const [label, t] of tensors) {
      if (!t || t.size === 0 || this.covered.get(t) === step) continue;
      if (t.dtype !== 'f32') throw new Error(`FiniteWatch.check: ${label} is ${t.dtype}; only f32 tensors can hold non-finite values`);
      const slot = this.slot([label], [t]);
      launch(K.finiteWatch, {
        tensors: { x: t, flag: this.flag },
        uniforms: { params: { n: t.size, serial: this.nextSerial(), step, slot } },
        workgroups: grid1d(t.size),
      });
    }
  }

  /**
   * Reserves a check that another kernel records while it writes `parts` (equal-sized f32
   * tensors, at most MAX_CHECK_PARTS, in report order): the kernel includes lib/finite_flag.wgsl,
   * binds `flag` and passes serial, step and slot. The parts count as checked at `step`, so
   * check() skips them there. Labels are the names given to activate(), else `fallback`.
   * @returns the uniforms and flag to launch with, or null when the parts cannot share one check
   *   (more than 2^32 elements together): check them with check() instead
   * @throws Error when a part is not f32, sizes differ, or there are more than MAX_CHECK_PARTS
   */
  fused(step: number, parts: ReadonlyArray<readonly [fallback: string, tensor: Tensor]>): FusedCheck | null {
    checkStep(step);
    if (parts.length === 0 || parts.length > MAX_CHECK_PARTS) throw new Error(`FiniteWatch.fused: ${parts.length} parts (1 to ${MAX_CHECK_PARTS})`);
    const n = parts[0]![1].size;
    for (const [label, t] of parts) {
      if (t.dtype !== 'f32') throw new Error(`FiniteWatch.fused: ${label} is ${t.dtype}; only f32 tensors can hold non-finite values`);
      if (t.size !== n) throw new Error(`FiniteWatch.fused: ${label} has ${t.size} elements, the first part ${n}`);
    }
    if (n * parts.length > NO_INDEX) return null;
    const slot = this.slot(
      parts.map(([fallback, t]) => this.names.get(t) ?? fallback),
      parts.map(([, t]) => t),
    );
    for (const [, t] of parts) this.covered.set(t, step);
    return { flag: this.flag, serial: this.nextSerial(), step, slot };
  }

  /**
   * Makes this the active watch for one training step: AdamW steps taken until deactivate() check
   * what they write under `step` (fused into their update kernels), naming tensors by `names`.
   * @throws Error when another watch is active, or the step is not a u32 integer
   */
  activate(step: number, names: Iterable<readonly [string, Tensor]> = []): void {
    checkStep(step);
    if (active && active.watch !== this) throw new Error('FiniteWatch.activate: another watch is active');
    this.names = new Map([...names].map(([label, t]) => [t, label] as const));
    this.covered.clear();
    active = { watch: this, step };
  }

  /** Ends activate(): optimizers stop reporting to this watch. */
  deactivate(): void {
    if (active?.watch === this) active = null;
  }

  /** The slot of these labels and tensors' shapes (a new one for a new label list). */
  private slot(labels: string[], tensors: readonly Tensor[]): number {
    const key = labels.join('\u0000');
    let slot = this.slotByKey.get(key);
    if (slot === undefined) {
      slot = this.slots.length;
      this.slotByKey.set(key, slot);
      this.slots.push({ labels, shapes: [], partSize: 0 });
    }
    const s = this.slots[slot]!;
    s.shapes = tensors.map((t) => t.shape);
    s.partSize = tensors[0]!.size;
    return slot;
  }

  private nextSerial(): number {
    if (++this.serial > 0xffffffff) throw new Error('FiniteWatch: more than 2^32 checks; reset() the watch');
    return this.serial;
  }

  /** The first non-finite value recorded so far, or null (flushes pending work and waits for it). */
  async read(): Promise<NonFiniteValue | null> {
    const f = (await this.flag.read()) as Uint32Array;
    if (f[0] === 0) return null;
    const s = this.slots[f[2]!];
    // The part holding the smallest index (parts are laid end to end, partSize elements each).
    const part = s && s.partSize > 0 ? Math.min(s.labels.length - 1, Math.floor(f[3]! / s.partSize)) : 0;
    const bits = f[5 + 2 * part]!;
    const kinds: NonFiniteKind[] = [];
    if (bits & 1) kinds.push('NaN');
    if (bits & 2) kinds.push('+Infinity');
    if (bits & 4) kinds.push('-Infinity');
    return {
      step: f[1]!,
      label: s?.labels[part] ?? `slot ${f[2]}`,
      shape: s?.shapes[part] ?? [],
      index: s ? f[3]! - part * s.partSize : f[3]!,
      count: f[4 + 2 * part]!,
      kinds,
    };
  }

  /** Forgets what was found (the next read() returns null until a new check finds something). */
  reset(): void {
    this.serial = 0;
    this.covered.clear();
    // Uploads are ordered after the checks recorded so far (the queue flushes them first).
    getEngine().queue.upload(this.flag.buffer, Uint32Array.from(CLEAN));
  }

  dispose(): void {
    this.deactivate();
    this.flag.dispose();
  }
}

function checkStep(step: number): void {
  if (!Number.isInteger(step) || step < 0 || step > 0xffffffff) throw new Error(`FiniteWatch: step must be an integer in [0, 2^32) (got ${step})`);
}

/**
 * "step 37: encoder.0.query.weight.grad [64, 64]: element 130 is the
 * first of 4096 non-finite values (NaN, +Infinity)".
 */
export function describeNonFiniteValue(v: NonFiniteValue): string {
  const total = v.count === 1 ? 'the only non-finite value' : `the first of ${v.count} non-finite values`;
  return `step ${v.step}: ${v.label} [${v.shape.join(', ')}]: element ${v.index} is ${total} (${v.kinds.join(', ')})`;
}
