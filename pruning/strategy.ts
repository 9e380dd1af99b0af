/**
 * The four pruning strategies behind one interface, so that a training loop (multitask/,
 * the coming multitask job and experiment) drives any of them the same way:
 *
 * | strategy     | what is pruned                               | mask math                          |
 * |--------------|----------------------------------------------|------------------------------------|
 * | `rank`       | rank dimensions of every factorised Linear   | pruning/rank/rank_module.ts (FLOP) |
 * | `element-l0` | single weights, hard-concrete gate per weight | pruning/element/l0_module.ts       |
 * | `movement`   | single weights, top-k of movement scores     | pruning/element/movement.ts        |
 * | `structured` | CoFi's hidden dims, heads, FFN units, layers | pruning/l0_module.ts (CoFi)        |
 *
 * All count their size against the same budget B (pruning/budget.ts). Per step the loop asks for
 * the step's masks (passed to Bert.encode) and the regulariser (the Lagrangian, absent for
 * movement, whose top-k meets the schedule exactly); after training, finalize() gives the pruned
 * model fitted to the budget: factorised Linears of the surviving ranks, weights with exact zeros,
 * or a smaller structured model.
 */
import type { Tensor } from '../engine/index.ts';
import type { Bert } from '../models/bert.ts';
import type { BertConfig } from '../models/config.ts';
import type { HostTensor } from '../models/io/checkpoint.ts';
import type { StructureMasks } from '../models/masks.ts';
import type { SparseStorageReport } from './element/sparse.ts';
import type { MaskType } from './l0_module.ts';
import type { StructureSummary } from './structure.ts';

export const STRATEGIES = ['rank', 'element-l0', 'movement', 'structured'] as const;
export type StrategyName = (typeof STRATEGIES)[number];

/** Options every strategy takes (each reads the ones that concern it). */
export interface StrategyOptions {
  /** B: the fraction of the dense encoder's prunable parameters kept, in (0, 1]. */
  budget: number;
  /** Steps of the pruning run (movement's schedule; the Lagrangian's default warm-up). */
  steps: number;
  seed: number;
  /** Steps over which the Lagrangian's target ramps from 0 (default 10% of steps, as `prune`). */
  lagrangianWarmup?: number;
  /** Initial mean log_alpha of rank and element gates (default ln 100: all kept at the start). */
  initialLogAlpha?: number;
  /** Movement's warm-ups in steps (default 10% initial, 20% final; Sanh et al.'s 1 and 2 of 10 epochs). */
  movementWarmup?: { initial: number; final: number };
  /** CoFi's mask types for `structured` (default all five). */
  maskTypes?: MaskType[];
}

/** Where a pruning run ended against its budget, each as a fraction of the dense prunable parameters. */
export interface BudgetReport {
  /** B. */
  target: number;
  /** Expected kept fraction from the mask variables (movement: the schedule's exact count). */
  expected: number;
  /** Kept fraction of the deterministic masks before fitting to the budget. */
  deterministic: number;
  /** Kept fraction of the final model. */
  achieved: number;
  kept_params: number;
  dense_params: number;
  /** Units removed beyond / restored after the deterministic masks to fit the budget. */
  fit: { removed: number; restored: number } | null;
}

/** The pruned encoder (head 'base': encoder and pooler) with its accounting. */
export interface PrunedModel {
  config: BertConfig;
  values: Map<string, HostTensor>;
  budget: BudgetReport;
  /** structured: heads and FFN units kept per layer. */
  structure?: StructureSummary;
  /** rank: kept rank per Linear. */
  ranks?: Array<{ name: string; rank: number; full: number }>;
  /** element-l0, movement: non-zeros and the bytes a sparse format would take. */
  storage?: SparseStorageReport;
  /** What the numbers mean and do not (e.g. no speed from element-wise sparsity). */
  notes: string[];
}

/** Masks for evaluating the masked (not compacted) model; dispose() frees their host-made tensors. */
export interface EvaluationMasks {
  /** Called inside each batch's scope (training/evaluate.ts EvaluateOptions.masks). */
  masks: () => StructureMasks;
  dispose(): void;
}

export interface PruningStrategy {
  readonly name: StrategyName;
  /** The model trained and pruned (rank: the factorised model); owned by the strategy. */
  readonly model: Bert;
  readonly budget: number;
  /** log_alpha or scores: trained at the mask learning rate. */
  maskParameters(): Tensor[];
  /** λ1, λ2: trained by ascent (negative learning rate); none for movement. */
  lagrangianParameters(): Tensor[];
  /** The step's masks for Bert.encode (sampled gates, or top-k), made in the step's scope. */
  stepMasks(step: number): StructureMasks;
  /**
   * The regulariser added to the task loss (null for movement) and the kept fraction it sees
   * (expected size / dense; movement: the step's exact count), both scalars in the step's scope.
   */
  regularizer(step: number): { loss: Tensor | null; keptFraction: Tensor };
  /** Clamps mask variables after an optimizer step. */
  constrain(): void;
  /** Deterministic masks fitted to the budget, as the final model will have them. */
  evaluationMasks(): Promise<EvaluationMasks>;
  /** The final pruned model (see PrunedModel). */
  finalize(): Promise<PrunedModel>;
  /** Mask leaves and λ by name (for run-state checkpoints). */
  stateTensors(): Map<string, Tensor>;
  dispose(): void;
}

/**
 * Parses a strategy name.
 * @throws Error listing the strategies when the name is not one
 */
export function parseStrategy(name: string): StrategyName {
  if (!(STRATEGIES as readonly string[]).includes(name)) throw new Error(`--strategy must be one of ${STRATEGIES.join(', ')} (got "${name}")`);
  return name as StrategyName;
}

/** Named tensors of parameters by their labels. */
export function byLabel(tensors: readonly Tensor[]): Map<string, Tensor> {
  return new Map(tensors.map((t) => [t.label, t]));
}

