/**
 * CoFi structured pruning (Xia, Zhong, Chen 2022) as a strategy (pruning/strategy.ts): one set of
 * CoFi masks (l0_module.ts) shared by every task, the Lagrangian on its expected sparsity to
 * 1 − B, and at the end CoFi's deterministic masks fitted to the budget (structure.ts) and
 * compacted into a smaller model (compact.ts) — what `prune` does for one task.
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import type { Bert } from '../models/bert.ts';
import { isFactorised, parameterCount } from '../models/config.ts';
import type { StructureMasks } from '../models/masks.ts';
import { checkBudget } from './budget.ts';
import { compact } from './compact.ts';
import { L0Module, Lagrangian, MASK_TYPES, MaskParameters } from './l0_module.ts';
import { type EvaluationMasks, type PrunedModel, type PruningStrategy, type StrategyOptions, byLabel } from './strategy.ts';
import { fitToBudget } from './structure.ts';

export class StructuredStrategy implements PruningStrategy {
  readonly name = 'structured' as const;
  readonly budget: number;
  readonly masks: MaskParameters;
  readonly l0: L0Module;
  readonly lagrangian: Lagrangian;

  private constructor(readonly model: Bert, options: StrategyOptions) {
    checkBudget(options.budget);
    this.budget = options.budget;
    const types = options.maskTypes ?? [...MASK_TYPES];
    this.masks = new MaskParameters(model.config, types, options.seed, 'l0');
    this.l0 = new L0Module(model.config, this.masks, types);
    this.lagrangian = new Lagrangian(1 - options.budget, options.lagrangianWarmup ?? Math.round(0.1 * options.steps));
  }

  /**
   * Takes ownership of `model` (dense: CoFi's masks are over the dense structure).
   * @throws Error for a factorised model
   */
  static create(model: Bert, options: StrategyOptions): StructuredStrategy {
    if (isFactorised(model.config)) throw new Error('structured pruning needs a model with dense Linears (this one is factorised)');
    return new StructuredStrategy(model, options);
  }

  maskParameters(): Tensor[] {
    return this.masks.parameters();
  }

  lagrangianParameters(): Tensor[] {
    return this.lagrangian.parameters();
  }

  stepMasks(): StructureMasks {
    return this.l0.sample();
  }

  regularizer(step: number): { loss: Tensor; keptFraction: Tensor } {
    const sparsity = this.l0.expectedSparsity();
    return { loss: this.lagrangian.loss(sparsity, step), keptFraction: E.affine(sparsity, -1, 1) };
  }

  constrain(): void {
    this.masks.constrain();
  }

  private async fitted() {
    return fitToBudget(this.model.config, await this.l0.deterministic(), await this.l0.logAlphas(), 1 - this.budget, this.l0.denseSize);
  }

  async evaluationMasks(): Promise<EvaluationMasks> {
    const fit = await this.fitted();
    return { masks: () => this.l0.fromHost(fit.masks), dispose: () => {} };
  }

  async finalize(): Promise<PrunedModel> {
    const expected = await E.tidy(() => E.noGrad(() => E.affine(this.l0.expectedSparsity(), -1, 1))).item();
    const fit = await this.fitted();
    const c = compact(this.model.config, this.model.head, await this.model.values(), fit.masks);
    const dense = this.l0.denseSize;
    const kept = parameterCount(c.config).total;
    return {
      ...c,
      budget: { target: this.budget, expected, deterministic: 1 - fit.deterministicSparsity, achieved: kept / dense, kept_params: kept, dense_params: dense, fit: { removed: fit.removed, restored: fit.restored } },
      structure: fit.structure,
      notes: ['structured pruning removes whole hidden dims, heads and FFN units: the compacted model is smaller in every GEMM'],
    };
  }

  stateTensors(): Map<string, Tensor> {
    return byLabel([...this.masks.parameters(), ...this.lagrangian.parameters()]);
  }

  dispose(): void {
    this.masks.dispose();
    this.lagrangian.dispose();
    this.model.dispose();
  }
}
