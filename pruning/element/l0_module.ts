/**
 * Element-wise L0 pruning's mask variables and expected size, in one place (Louizos, Welling,
 * Kingma 2018, "Learning Sparse Neural Networks through L0 Regularization", §4; with CoFi's
 * hard-concrete constants and Lagrangian, as Xia & Shin 2021 use it).
 *
 * Every weight of every prunable Linear has its own hard-concrete gate; the Linear computes
 * x·(W ⊙ z)ᵀ + b with z folded into the GEMM's weight loads (pruning/element/masked_linear.ts).
 *   E[size] = Σ_weights P(z ≠ 0) + biases      (pruning/gates.ts, cost 1 per gate)
 * The Lagrangian λ1(ŝ − t) + λ2(ŝ − t)² on ŝ = 1 − E[size]/dense drives it to the budget.
 * Element-wise sparsity removes no rows or columns, so with dense GEMMs it saves storage (a sparse
 * format) but no time: the pruned model runs exactly as fast as the dense one.
 */
import type { Tensor } from '../../engine/index.ts';
import type { Bert } from '../../models/bert.ts';
import type { BertConfig } from '../../models/config.ts';
import type { LinearOverride } from '../../models/masks.ts';
import { type PrunableLinear, biasParameters, denseParameters, prunableLinears } from '../budget.ts';
import { type GateOptions, LinearGates } from '../gates.ts';
import { maskedLinear } from './masked_linear.ts';

/** The masked Linears of element-wise pruning: x·(W ⊙ M)ᵀ + b for every Linear M is given for. */
export function elementOverride(model: Bert, masks: ReadonlyMap<string, Tensor>): LinearOverride {
  return (name, x) => {
    const m = masks.get(name);
    return m ? maskedLinear(x, model.p(`${name}.weight`), m, model.p(`${name}.bias`)) : null;
  };
}

/** One hard-concrete gate per weight of every prunable Linear (see the module comment). */
export class ElementL0Module {
  readonly linears: PrunableLinear[];
  readonly gates: LinearGates;

  /** @param config the dense model's configuration (not factorised) */
  constructor(readonly config: BertConfig, options: Omit<GateOptions, 'prefix'> & { prefix?: string }) {
    this.linears = prunableLinears(config);
    const groups = this.linears.map((l) => ({ name: l.name, shape: [l.out, l.in], cost: 1 }));
    this.gates = new LinearGates(groups, biasParameters(this.linears), denseParameters(config), { ...options, prefix: options.prefix ?? 'element' });
  }

  /** The model's Linears with their weights gated by z (name → [out, in]). */
  override(model: Bert, z: ReadonlyMap<string, Tensor>): LinearOverride {
    return elementOverride(model, z);
  }
}
