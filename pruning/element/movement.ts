/**
 * Movement pruning's scores, schedule and masks, in one place (Sanh, Wolf, Rush 2020, "Movement
 * Pruning: Adaptivity by Fine-Tuning", §3-4; the cubic schedule of Zhu & Gupta 2017).
 *
 * Every weight of every prunable Linear has a score S (a trained leaf, initialised to 0). Each step
 * the Linear computes x·(W ⊙ M)ᵀ + b with M = Top_k(S) per matrix (pruning/element/topk.ts: exactly
 * k ones) and the straight-through gradient ∂L/∂S = ∂L/∂M = (∂L/∂(W ⊙ M)) ⊙ W, so that with plain
 * SGD the scores accumulate −W·∂L/∂W over the steps: weights moving away from 0 gain score.
 *
 * Schedule: the fraction of weights kept goes from 1 to the final fraction f along
 *   f_t = f + (1 − f)·(1 − (t − t_i)/(T − t_i − t_f))³
 * after an initial warm-up of t_i steps at 1 and before a final warm-up of t_f steps at f. The
 * final fraction follows from the budget B: kept weights = ⌊B·dense⌋ − biases, so the pruned model
 * has at most B of the dense prunable parameters, to the parameter. Each step's count K_t is shared
 * among the matrices in proportion to their sizes (largest remainder), so Σ k_m = K_t exactly.
 */
import * as E from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import type { BertConfig } from '../../models/config.ts';
import { type PrunableLinear, biasParameters, checkBudget, denseParameters, prunableLinears } from '../budget.ts';
import { topKMask } from './topk.ts';

export interface MovementSchedule {
  /** Steps of the whole run, T. */
  totalSteps: number;
  /** Steps at the start that keep every weight, t_i. */
  initialWarmup: number;
  /** Steps at the end at the final fraction, t_f. */
  finalWarmup: number;
}

/**
 * The cubic schedule's kept fraction at a step (see the module comment).
 * @param finalKeep the fraction f of weights kept at the end, in [0, 1]
 */
export function cubicKeepFraction(step: number, finalKeep: number, s: MovementSchedule): number {
  const span = s.totalSteps - s.initialWarmup - s.finalWarmup;
  if (step < s.initialWarmup) return 1;
  if (span <= 0 || step >= s.totalSteps - s.finalWarmup) return finalKeep;
  const progress = Math.min(1, (step - s.initialWarmup) / span);
  return finalKeep + (1 - finalKeep) * (1 - progress) ** 3;
}

/**
 * K split into integer parts proportional to `sizes` (largest remainder, ties by index), each
 * part at most its size; the parts sum to K exactly.
 * @throws Error when K is not an integer in [0, Σ sizes]
 */
export function allocateProportionally(K: number, sizes: readonly number[]): number[] {
  const total = sizes.reduce((a, b) => a + b, 0);
  if (!Number.isInteger(K) || K < 0 || K > total) throw new Error(`allocateProportionally: ${K} is not an integer in [0, ${total}]`);
  const quotas = sizes.map((n) => (total === 0 ? 0 : (K * n) / total));
  const parts = quotas.map((q) => Math.floor(q));
  let left = K - parts.reduce((a, b) => a + b, 0);
  const order = quotas.map((q, i) => i).sort((a, b) => quotas[b]! - parts[b]! - (quotas[a]! - parts[a]!) || a - b);
  for (let j = 0; left > 0; j = (j + 1) % order.length) {
    const i = order[j]!;
    if (parts[i]! < sizes[i]!) {
      parts[i]!++;
      left--;
    }
  }
  return parts;
}

export interface MovementOptions extends MovementSchedule {
  /** The budget B: fraction of the dense prunable parameters kept at the end. */
  budget: number;
  /** Names the score leaves `${prefix}.${Linear}.scores`. */
  prefix?: string;
}

/** Scores, schedule and top-k masks of every prunable Linear (see the module comment). */
export class MovementModule {
  readonly linears: PrunableLinear[];
  readonly scores = new Map<string, Tensor>();
  /** Parameters kept whatever the masks (biases), the dense count, and the weights that may be pruned. */
  readonly fixed: number;
  readonly dense: number;
  readonly weights: number;
  /** Weights kept at the end: ⌊B·dense⌋ − biases. */
  readonly finalWeights: number;

  /**
   * @param config the dense model's configuration
   * @throws Error for a budget outside (0, 1] or below the biases' share, or a bad schedule
   */
  constructor(readonly config: BertConfig, readonly options: MovementOptions) {
    checkBudget(options.budget);
    const { totalSteps, initialWarmup, finalWarmup } = options;
    if (!Number.isInteger(totalSteps) || totalSteps < 1) throw new Error(`movement pruning: total steps must be a positive integer (got ${totalSteps})`);
    if (!(initialWarmup >= 0 && finalWarmup >= 0 && initialWarmup + finalWarmup <= totalSteps)) {
      throw new Error(`movement pruning: warm-up steps ${initialWarmup} (initial) + ${finalWarmup} (final) must be non-negative and fit in ${totalSteps} steps`);
    }
    this.linears = prunableLinears(config);
    this.fixed = biasParameters(this.linears);
    this.dense = denseParameters(config);
    this.weights = this.linears.reduce((s, l) => s + l.out * l.in, 0);
    this.finalWeights = Math.floor(options.budget * this.dense) - this.fixed;
    if (this.finalWeights < 0) throw new Error(`movement pruning: budget ${options.budget} keeps ${Math.floor(options.budget * this.dense)} parameters, fewer than the ${this.fixed} biases that are never pruned`);
    const prefix = options.prefix ?? 'movement';
    for (const l of this.linears) this.scores.set(l.name, E.parameter(new Float32Array(l.out * l.in), [l.out, l.in], `${prefix}.${l.name}.scores`));
  }

  /** Weights kept per Linear at a step (Σ = the schedule's count, exactly). */
  keepCounts(step: number): number[] {
    const f = cubicKeepFraction(step, this.finalWeights / this.weights, this.options);
    const K = Math.max(this.finalWeights, Math.min(this.weights, Math.round(f * this.weights)));
    return allocateProportionally(K, this.linears.map((l) => l.out * l.in));
  }

  /** Parameters kept at a step: biases + Σ k_m. */
  keptSize(step: number): number {
    return this.fixed + this.keepCounts(step).reduce((a, b) => a + b, 0);
  }

  /** The step's 0/1 masks by Linear, straight-through to the scores (in the step's scope). */
  masks(step: number): Map<string, Tensor> {
    const k = this.keepCounts(step);
    return new Map(this.linears.map((l, i) => [l.name, topKMask(this.scores.get(l.name)!, k[i]!)]));
  }

  parameters(): Tensor[] {
    return [...this.scores.values()];
  }

  dispose(): void {
    for (const t of this.scores.values()) t.dispose();
  }
}
