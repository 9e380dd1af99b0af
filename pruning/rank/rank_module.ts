/**
 * Rank pruning's mask variables and expected size, in one place (FLOP: Wang, Wohlwend, Lei 2019,
 * "Structured Pruning of Large Language Models", §3; asappresearch/flop HardConcreteProjectedLinear).
 *
 * Every prunable Linear of a factorised model (pruning/rank/factorize.ts), W = Q·P with
 * P [r, in] and Q [out, r], gets a hard-concrete gate z [r] over its rank dimensions:
 *   y = x·(Q·diag(z)·P)ᵀ + b = ((x·Pᵀ)·(Q ⊙ z)ᵀ) + b,
 * z scaling Q's columns (an out × r product, cheaper than scaling the [tokens, r] activations).
 * A closed dimension removes one row of P and one column of Q: (in + out) parameters, so
 *   E[size] = Σ_Linears (in + out) · Σ_i P(z_i ≠ 0) + biases
 * (pruning/gates.ts), the quantity FLOP's Lagrangian drives to the target; CoFi's Lagrangian
 * λ1(ŝ − t) + λ2(ŝ − t)² on ŝ = 1 − E[size]/dense is reused as it is (pruning/l0_module.ts).
 * At full rank and z = 1 the model is the dense one; note that its size then exceeds the dense
 * size (in + out)·min(in, out) > in·out: pruning only pays once r < in·out / (in + out).
 */
import * as E from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import type { Bert } from '../../models/bert.ts';
import { type BertConfig, isFactorised } from '../../models/config.ts';
import type { LinearOverride } from '../../models/masks.ts';
import { type PrunableLinear, biasParameters, denseParameters, prunableLinears } from '../budget.ts';
import { type GateOptions, LinearGates } from '../gates.ts';

/** A factorised Linear: its shape and current rank. */
export interface RankLinear extends PrunableLinear {
  rank: number;
}

/** The factorised Linears of a configuration (those with a rank). */
export function rankLinears(config: BertConfig): RankLinear[] {
  return prunableLinears(config)
    .filter((l) => config.layers[l.layer]!.ranks?.[l.kind] !== undefined)
    .map((l) => ({ ...l, rank: config.layers[l.layer]!.ranks![l.kind]! }));
}

/** Hard-concrete gates over the rank dimensions of every factorised Linear (see the module comment). */
export class RankModule {
  readonly linears: RankLinear[];
  readonly gates: LinearGates;

  /**
   * @param config a factorised configuration (factorize's)
   * @throws Error when no Linear is factorised
   */
  constructor(readonly config: BertConfig, options: Omit<GateOptions, 'prefix'> & { prefix?: string }) {
    if (!isFactorised(config)) throw new Error('RankModule: the model has no factorised Linears; factorize it first (pruning/rank/factorize.ts)');
    this.linears = rankLinears(config);
    const groups = this.linears.filter((l) => l.rank > 0).map((l) => ({ name: l.name, shape: [l.rank], cost: l.in + l.out }));
    this.gates = new LinearGates(groups, biasParameters(prunableLinears(config)), denseParameters(config), { ...options, prefix: options.prefix ?? 'rank' });
  }

  /**
   * The factorised Linears gated by z (name → [r]), computed from the model's factors; other
   * Linears are left to the model.
   */
  override(model: Bert, z: ReadonlyMap<string, Tensor>): LinearOverride {
    return (name, x) => {
      const zl = z.get(name);
      if (!zl) return null;
      const h = E.matmul(x, model.p(`${name}.weight_p`), { transB: true });
      return E.matmul(h, E.mul(model.p(`${name}.weight_q`), zl), { transB: true, bias: model.p(`${name}.bias`) });
    };
  }
}
