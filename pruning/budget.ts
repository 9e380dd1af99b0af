/**
 * The parameter budget shared by every pruning strategy (Xia & Shin 2021: one budget, compared
 * across strategies and across ensembles): B = the fraction of the dense encoder's prunable
 * parameters that the pruned encoder keeps. The dense count is CoFi's (models/config.ts
 * parameterCount: attention Q, K, V, O and FFN weights and biases; embeddings, layer norms, pooler
 * and task heads excluded). What each strategy keeps, counted the same way:
 *   structured (CoFi): the compacted structure's parameterCount;
 *   rank (FLOP):       Σ over Linears (in + out)·r, plus every bias;
 *   element-wise:      the non-zero weights, plus every bias.
 * Biases are never pruned by rank or element-wise pruning: they stay in both counts.
 */
import { type BertConfig, LINEAR_KINDS, type LinearKind, copyLayer, hasLinear, linearShape, parameterCount } from '../models/config.ts';
import { LINEAR_PATHS } from '../models/io/checkpoint.ts';

/** One prunable Linear of the encoder. */
export interface PrunableLinear {
  layer: number;
  kind: LinearKind;
  /** transformers name without `.weight`/`.bias`, e.g. `bert.encoder.layer.0.attention.self.query`. */
  name: string;
  out: number;
  in: number;
}

/** The prunable Linears of a configuration's structure (heads and widths; ranks ignored), in layer order. */
export function prunableLinears(config: BertConfig): PrunableLinear[] {
  const out: PrunableLinear[] = [];
  config.layers.forEach((layer, l) => {
    for (const kind of LINEAR_KINDS) {
      if (!hasLinear(layer, kind)) continue;
      const [o, i] = linearShape(config.hiddenSize, config.headSize, layer, kind);
      out.push({ layer: l, kind, name: `bert.encoder.layer.${l}.${LINEAR_PATHS[kind]}`, out: o, in: i });
    }
  });
  return out;
}

/** The configuration without factorised Linears (ranks dropped): what a rank-pruned model's budget is counted against. */
export function withoutRanks(config: BertConfig): BertConfig {
  return {
    ...config,
    layers: config.layers.map((l) => {
      const c = copyLayer(l);
      delete c.ranks;
      return c;
    }),
  };
}

/** Prunable parameters of the dense structure (CoFi's count, ranks ignored): the budget's denominator. */
export function denseParameters(config: BertConfig): number {
  return parameterCount(withoutRanks(config)).total;
}

/** Σ out over the prunable Linears: the biases rank and element-wise pruning keep. */
export function biasParameters(linears: readonly PrunableLinear[]): number {
  return linears.reduce((s, l) => s + l.out, 0);
}

/** Kept parameters and the fraction of the dense count they are. */
export interface BudgetCount {
  kept: number;
  dense: number;
  /** kept / dense: the achieved budget B. */
  fraction: number;
}

export function budgetCount(kept: number, dense: number): BudgetCount {
  return { kept, dense, fraction: kept / dense };
}

/**
 * Checks a budget B.
 * @throws Error naming `what` when B is not in (0, 1]
 */
export function checkBudget(budget: number, what = 'budget'): void {
  if (!(budget > 0 && budget <= 1)) throw new Error(`${what} must be in (0, 1], the fraction of the encoder's prunable parameters kept (got ${budget})`);
}

/** Units removed and restored by fitUnitsToBudget, and the size reached. */
export interface FitResult {
  removed: number;
  restored: number;
  size: number;
}

/**
 * Fits a set of units (rank dimensions, weights) to a parameter budget, as CoFi's structure
 * fitting does (pruning/structure.ts): while the size is over the budget, the kept unit with the
 * lowest score (log_alpha, i.e. P(z ≠ 0)) is removed; when nothing had to be removed, units the
 * masks dropped are restored in order of decreasing score whenever they still fit. Ties go by
 * index. `kept` is changed in place.
 * @param cost parameters of unit i
 * @param fixed parameters that are always kept (biases)
 * @returns the units removed and restored and the final size (≤ budget unless even the fixed part is over it)
 */
export function fitUnitsToBudget(cost: (i: number) => number, score: ArrayLike<number>, kept: Uint8Array, fixed: number, budget: number): FitResult {
  let size = fixed;
  for (let i = 0; i < kept.length; i++) if (kept[i]) size += cost(i);
  const byScore = (a: number, b: number) => score[a]! - score[b]! || a - b;
  let removed = 0;
  if (size > budget) {
    const on = Uint32Array.from({ length: kept.length }, (_, i) => i).filter((i) => kept[i] === 1).sort(byScore);
    for (let j = 0; j < on.length && size > budget; j++) {
      kept[on[j]!] = 0;
      size -= cost(on[j]!);
      removed++;
    }
  }
  let restored = 0;
  if (removed === 0) {
    const off = Uint32Array.from({ length: kept.length }, (_, i) => i).filter((i) => kept[i] === 0).sort((a, b) => byScore(b, a));
    for (const i of off) {
      if (size + cost(i) > budget) continue;
      kept[i] = 1;
      size += cost(i);
      restored++;
    }
  }
  return { removed, restored, size };
}
