/**
 * Movement pruning as a strategy (pruning/strategy.ts): scores trained through the straight-
 * through top-k, the kept fraction following the cubic schedule (movement.ts); no Lagrangian, the
 * top-k meets the schedule exactly. The final model has the last top-k masks folded into its
 * weights (exact zeros, sparse.ts).
 */
import * as E from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import type { Bert } from '../../models/bert.ts';
import { isFactorised } from '../../models/config.ts';
import type { StructureMasks } from '../../models/masks.ts';
import { type EvaluationMasks, type PrunedModel, type PruningStrategy, type StrategyOptions, byLabel } from '../strategy.ts';
import { elementOverride } from './l0_module.ts';
import { MovementModule } from './movement.ts';
import { foldElementMasks, sparseStorage } from './sparse.ts';

export class MovementStrategy implements PruningStrategy {
  readonly name = 'movement' as const;
  readonly budget: number;
  readonly module: MovementModule;

  private constructor(readonly model: Bert, options: StrategyOptions) {
    this.budget = options.budget;
    const warm = options.movementWarmup ?? { initial: Math.round(0.1 * options.steps), final: Math.round(0.2 * options.steps) };
    this.module = new MovementModule(model.config, { budget: options.budget, totalSteps: options.steps, initialWarmup: warm.initial, finalWarmup: warm.final });
  }

  /**
   * Takes ownership of `model` (dense).
   * @throws Error for a factorised model, or a budget/schedule MovementModule refuses
   */
  static create(model: Bert, options: StrategyOptions): MovementStrategy {
    if (isFactorised(model.config)) throw new Error('movement pruning needs a model with dense Linears (this one is factorised)');
    return new MovementStrategy(model, options);
  }

  maskParameters(): Tensor[] {
    return this.module.parameters();
  }

  lagrangianParameters(): Tensor[] {
    return [];
  }

  stepMasks(step: number): StructureMasks {
    return { linear: elementOverride(this.model, this.module.masks(step)) };
  }

  regularizer(step: number): { loss: null; keptFraction: Tensor } {
    return { loss: null, keptFraction: E.full([], this.module.keptSize(step) / this.module.dense) };
  }

  constrain(): void {}

  /** The masks at the end of the schedule, on the host. */
  private async finalMasks(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    const masks = E.noGrad(() => this.module.masks(this.module.options.totalSteps));
    for (const [name, m] of masks) {
      out.set(name, (await m.read()) as Float32Array);
      m.dispose();
    }
    return out;
  }

  async evaluationMasks(): Promise<EvaluationMasks> {
    const masks = E.noGrad(() => this.module.masks(this.module.options.totalSteps));
    for (const t of masks.values()) E.keep(t);
    return { masks: () => ({ linear: elementOverride(this.model, masks) }), dispose: () => masks.forEach((t) => t.dispose()) };
  }

  async finalize(): Promise<PrunedModel> {
    const values = foldElementMasks(await this.model.values(), await this.finalMasks());
    const storage = sparseStorage(values, this.module.linears);
    const { fixed, dense } = this.module;
    const scheduled = this.module.keptSize(this.module.options.totalSteps);
    return {
      config: this.model.config,
      values,
      budget: { target: this.budget, expected: scheduled / dense, deterministic: scheduled / dense, achieved: (storage.nonzero + fixed) / dense, kept_params: storage.nonzero + fixed, dense_params: dense, fit: null },
      storage,
      notes: [storage.note],
    };
  }

  stateTensors(): Map<string, Tensor> {
    return byLabel(this.module.parameters());
  }

  dispose(): void {
    this.module.dispose();
    this.model.dispose();
  }
}
