/**
 * Rank pruning as a strategy (pruning/strategy.ts): the dense model is factorised at full rank by
 * SVD (or taken as it is when already factorised), its rank dimensions gated (rank_module.ts) and
 * trained with the Lagrangian; the final model keeps the surviving dimensions (compact.ts).
 */
import type { Tensor } from '../../engine/index.ts';
import { Bert } from '../../models/bert.ts';
import { isFactorised } from '../../models/config.ts';
import type { LinearOverride } from '../../models/masks.ts';
import { GateStrategy } from '../gate_strategy.ts';
import type { BudgetReport, PrunedModel, StrategyOptions } from '../strategy.ts';
import { compactRank } from './compact.ts';
import { factorize } from './factorize.ts';
import { RankModule } from './rank_module.ts';

export class RankStrategy extends GateStrategy {
  readonly name = 'rank' as const;

  private constructor(model: Bert, readonly module: RankModule, options: StrategyOptions) {
    super(model, module.gates, options);
  }

  /**
   * Takes ownership of `model`: a dense model is factorised into a new one (and disposed), a
   * factorised one is pruned as it is. Trainable flags carry over by name.
   */
  static async create(model: Bert, options: StrategyOptions): Promise<RankStrategy> {
    let factorised = model;
    if (!isFactorised(model.config)) {
      const f = factorize(model.config, await model.values());
      factorised = new Bert(f.config, model.head, f.values);
      for (const [name, t] of model.params) {
        const mine = factorised.params.get(name);
        if (mine) mine.requiresGrad = t.requiresGrad;
      }
      model.dispose();
    }
    return new RankStrategy(factorised, new RankModule(factorised.config, { seed: options.seed, initialLogAlpha: options.initialLogAlpha }), options);
  }

  protected override(z: ReadonlyMap<string, Tensor>): LinearOverride {
    return this.module.override(this.model, z);
  }

  protected async compact(z: Map<string, Float64Array>, budget: BudgetReport): Promise<PrunedModel> {
    const c = compactRank(this.model.config, await this.model.values(), z);
    const ranks = this.module.linears.map((l) => ({ name: l.name, rank: c.config.layers[l.layer]!.ranks![l.kind]!, full: l.rank }));
    return {
      ...c,
      budget,
      ranks,
      notes: ['rank-pruned Linears are stored as two factors Q [out, r]·P [r, in] (config.json webprune_layers ranks) and computed as two GEMMs: faster than the dense Linear once r·(in + out) < in·out'],
    };
  }
}
