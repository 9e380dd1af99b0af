/**
 * Element-wise L0 pruning as a strategy (pruning/strategy.ts): a hard-concrete gate per weight
 * (l0_module.ts) trained with the Lagrangian; the final model has the fitted deterministic z folded
 * into its weights, pruned ones exactly 0 (sparse.ts).
 */
import type { Tensor } from '../../engine/index.ts';
import type { Bert } from '../../models/bert.ts';
import { isFactorised } from '../../models/config.ts';
import type { LinearOverride } from '../../models/masks.ts';
import { GateStrategy } from '../gate_strategy.ts';
import type { BudgetReport, PrunedModel, StrategyOptions } from '../strategy.ts';
import { ElementL0Module, elementOverride } from './l0_module.ts';
import { foldElementMasks, sparseStorage } from './sparse.ts';

export class ElementL0Strategy extends GateStrategy {
  readonly name = 'element-l0' as const;

  private constructor(model: Bert, readonly module: ElementL0Module, options: StrategyOptions) {
    super(model, module.gates, options);
  }

  /**
   * Takes ownership of `model` (dense).
   * @throws Error for a factorised model
   */
  static create(model: Bert, options: StrategyOptions): ElementL0Strategy {
    if (isFactorised(model.config)) throw new Error('element-wise pruning needs a model with dense Linears (this one is factorised)');
    return new ElementL0Strategy(model, new ElementL0Module(model.config, { seed: options.seed, initialLogAlpha: options.initialLogAlpha }), options);
  }

  protected override(z: ReadonlyMap<string, Tensor>): LinearOverride {
    return elementOverride(this.model, z);
  }

  protected async compact(z: Map<string, Float64Array>, budget: BudgetReport): Promise<PrunedModel> {
    const values = foldElementMasks(await this.model.values(), z);
    const storage = sparseStorage(values, this.module.linears);
    return { config: this.model.config, values, budget: { ...budget, achieved: (storage.nonzero + this.gates.fixed) / budget.dense_params, kept_params: storage.nonzero + this.gates.fixed }, storage, notes: [storage.note] };
  }
}
