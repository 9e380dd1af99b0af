/**
 * AdamW on the GPU with parameter groups and global-norm gradient clipping.
 *
 * Groups have their own learning rates; a negative learning rate ascends (constrained training
 * maximises over Lagrange multipliers this way). A step records one dispatch per parameter and reads nothing back.
 * CPU adapters run adamw_cpu.wgsl (vec4s, 16 elements per invocation) and take the clipping norm
 * from one sum-of-squares dispatch per gradient (sum_squares_cpu.wgsl) instead of a square,
 * a reduction and a concatenation each.
 */
import { getEngine } from '../context.ts';
import { full, zeros } from '../creation.ts';
import { launch } from '../ops/dispatch.ts';
import { concat } from '../ops/shape.ts';
import { sum } from '../ops/reduce.ts';
import { square } from '../ops/elementwise.ts';
import { noGrad } from '../autograd.ts';
import { keep, tidy } from '../scope.ts';
import { Tensor, grid1d } from '../tensor.ts';
import { K } from '../kernels/index.ts';
import { type FiniteWatch, activeFiniteWatch } from '../finite_watch.ts';

export interface ParamGroup {
  params: Tensor[];
  /** Learning rate; negative for gradient ascent. Schedules scale it per step (see step()). */
  lr: number;
  weightDecay?: number;
  /** Label in checkpoints and logs. */
  name?: string;
}

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Clip the global gradient norm over all groups to this value (none when undefined). */
  maxGradNorm?: number;
  /**
   * Checks every gradient before the update (labels `PARAM.grad`, a pass of its own) and, inside
   * the update kernel, every parameter and moment it writes (labels `PARAM`, `PARAM.exp_avg`,
   * `PARAM.exp_avg_sq`), under the optimizer's step count, for NaN and ±Infinity; read the watch
   * when the loss is read. Gradients are checked before clipping, which would spread one NaN to all.
   * Without this option, a watch made active by the run loop (FiniteWatch.activate) gets the
   * in-kernel checks of what is written, under the loop's step (no gradient pass).
   */
  finiteWatch?: FiniteWatch;
}

interface State {
  m: Tensor;
  v: Tensor;
}

export class AdamW {
  readonly groups: ParamGroup[];
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly maxGradNorm: number | undefined;
  readonly finiteWatch: FiniteWatch | undefined;
  /** Steps taken (t in the bias corrections). */
  stepCount = 0;
  private readonly state = new Map<Tensor, State>();
  private readonly one: Tensor;
  /** [scale, norm] of the last clipped step (GPU-resident; read it only when logging). */
  lastClip: Tensor | null = null;

  /** @throws Error when a parameter does not require a gradient or appears in two groups */
  constructor(groups: ParamGroup[], options: AdamWOptions = {}) {
    this.groups = groups;
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.maxGradNorm = options.maxGradNorm;
    this.finiteWatch = options.finiteWatch;
    const seen = new Set<Tensor>();
    for (const g of groups) {
      for (const p of g.params) {
        if (!p.requiresGrad) throw new Error(`AdamW: parameter ${p.label} does not require a gradient`);
        if (seen.has(p)) throw new Error(`AdamW: parameter ${p.label} is in two groups`);
        seen.add(p);
      }
    }
    this.one = keep(full([1], 1));
  }

  private stateOf(p: Tensor): State {
    let s = this.state.get(p);
    if (!s) {
      s = { m: keep(zeros(p.shape)), v: keep(zeros(p.shape)) };
      this.state.set(p, s);
    }
    return s;
  }

  /**
   * Applies one update to every parameter that has a gradient.
   * @param lrScale multiplies every group's lr (a schedule's factor for this step)
   */
  step(lrScale = 1): void {
    this.stepCount++;
    const t = this.stepCount;
    const bc1 = 1 - this.beta1 ** t;
    const bc2 = 1 - this.beta2 ** t;
    const withGrad = this.groups.flatMap((g) => g.params.filter((p) => p.grad).map((p) => [g, p] as const));
    if (withGrad.length === 0) return;
    this.finiteWatch?.check(t, withGrad.map(([, p]) => [`${p.label}.grad`, p.grad] as const));
    const watching = this.finiteWatch ? { watch: this.finiteWatch, step: t } : activeFiniteWatch();
    const scale = this.maxGradNorm === undefined ? this.one : this.clipScale(withGrad.map(([, p]) => p.grad!));
    const cpu = getEngine().deviceClass === 'cpu';
    for (const [group, p] of withGrad) {
      const s = this.stateOf(p);
      const parts = [[p.label, p], [`${p.label}.exp_avg`, s.m], [`${p.label}.exp_avg_sq`, s.v]] as const;
      const check = watching?.watch.fused(watching.step, parts) ?? null;
      launch(cpu ? K.adamwCpu : K.adamw, {
        tensors: { param: p, grad: p.grad!, m: s.m, v: s.v, clip_scale: scale, flag: check?.flag ?? null },
        uniforms: {
          params: {
            n: p.size,
            lr: group.lr * lrScale,
            beta1: this.beta1,
            beta2: this.beta2,
            one_minus_beta1: 1 - this.beta1,
            one_minus_beta2: 1 - this.beta2,
            eps: this.eps,
            weight_decay: group.weightDecay ?? 0,
            bc1,
            bc2,
            watch_serial: check?.serial ?? 0,
            watch_step: check?.step ?? 0,
            watch_slot: check?.slot ?? 0,
          },
        },
        workgroups: cpu ? grid1d(Math.ceil(p.size / (4 * ADAMW_CPU_VEC4S)), 64) : grid1d(p.size),
      });
      // Too large to share one check's index space: a pass of its own after the update.
      if (watching && !check) watching.watch.check(watching.step, parts);
    }
  }

  /** [scale, norm] on the GPU: the clipping factor for max_norm over all gradients. */
  private clipScale(grads: Tensor[]): Tensor {
    this.lastClip?.dispose();
    if (getEngine().deviceClass === 'cpu') {
      this.lastClip = noGrad(() => tidy(() => keep(clipScaleCpu(grads, this.maxGradNorm!))));
      return this.lastClip;
    }
    this.lastClip = noGrad(() =>
      tidy(() => {
        const sq = concat(
          grads.map((g) => sum(square(g), undefined, false).view([1])),
          0,
        );
        const out = keep(zeros([2]));
        launch(K.clipScale, { tensors: { sq, out }, uniforms: { params: { count: grads.length, max_norm: this.maxGradNorm! } }, workgroups: [1] });
        return out;
      }),
    );
    return this.lastClip;
  }

  /** Drops every gradient (their buffers return to the pool). */
  zeroGrad(): void {
    for (const g of this.groups) {
      for (const p of g.params) {
        p.grad?.dispose();
        p.grad = null;
      }
    }
  }

  /** The optimizer state for checkpoints: moments per parameter label, and the step count. */
  stateTensors(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    for (const g of this.groups) {
      for (const p of g.params) {
        const s = this.stateOf(p);
        out.set(`${p.label}.exp_avg`, s.m);
        out.set(`${p.label}.exp_avg_sq`, s.v);
      }
    }
    return out;
  }

  dispose(): void {
    for (const s of this.state.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.state.clear();
    this.one.dispose();
    this.lastClip?.dispose();
  }
}

/** vec4s per invocation of adamw_cpu.wgsl (its V). */
const ADAMW_CPU_VEC4S = 4;
/** vec4s per partial sum of sum_squares_cpu.wgsl. */
const SUM_SQUARES_BLOCK = 256;

/** [scale, norm] for clipping to maxNorm: partial sums of squares of every gradient, then clip_scale over all partials. */
function clipScaleCpu(grads: Tensor[], maxNorm: number): Tensor {
  // Empty gradients have no blocks (and add nothing).
  const blocks = grads.map((g) => Math.ceil(g.size / (4 * SUM_SQUARES_BLOCK)));
  const partials = Tensor.empty([Math.max(1, blocks.reduce((a, b) => a + b, 0))], 'f32', 'grad_sq_partials#');
  let offset = 0;
  grads.forEach((g, i) => {
    launch(K.sumSquaresCpu, {
      defines: { BLOCK: SUM_SQUARES_BLOCK },
      tensors: { x: g, partials },
      uniforms: { params: { n: g.size, offset } },
      workgroups: grid1d(blocks[i]!, 64),
    });
    offset += blocks[i]!;
  });
  const out = zeros([2]);
  launch(K.clipScale, { tensors: { sq: partials, out }, uniforms: { params: { count: offset, max_norm: maxNorm } }, workgroups: [1] });
  return out;
}

/**
 * The lr factor of optimizer step `step` (0-based) under linear warmup over `warmupSteps` then
 * linear decay to 0 at `totalSteps`: exactly transformers' get_linear_schedule_with_warmup
 * (so the first step of a warmup has factor 0).
 */
export function linearWarmupDecay(step: number, warmupSteps: number, totalSteps: number): number {
  if (step < warmupSteps) return step / Math.max(1, warmupSteps);
  return Math.max(0, (totalSteps - step) / Math.max(1, totalSteps - warmupSteps));
}
