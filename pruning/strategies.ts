/** The pruning strategies by name (pruning/strategy.ts has the interface). */
import type { Bert } from '../models/bert.ts';
import { ElementL0Strategy } from './element/l0_strategy.ts';
import { MovementStrategy } from './element/movement_strategy.ts';
import { RankStrategy } from './rank/strategy.ts';
import { STRATEGIES, type PruningStrategy, type StrategyName, type StrategyOptions } from './strategy.ts';
import { StructuredStrategy } from './structured_strategy.ts';

/**
 * The strategy of a name over a model, taking ownership of the model: strategy.model is what to
 * train from then on (for rank, a factorised copy made by SVD unless the model already is one).
 * @throws Error for an unknown strategy, a budget outside (0, 1], or a model the strategy cannot prune
 */
export async function createStrategy(name: StrategyName, model: Bert, options: StrategyOptions): Promise<PruningStrategy> {
  switch (name) {
    case 'rank':
      return RankStrategy.create(model, options);
    case 'element-l0':
      return ElementL0Strategy.create(model, options);
    case 'movement':
      return MovementStrategy.create(model, options);
    case 'structured':
      return StructuredStrategy.create(model, options);
    default:
      throw new Error(`unknown strategy ${String(name)} (choose ${STRATEGIES.join(', ')})`);
  }
}
