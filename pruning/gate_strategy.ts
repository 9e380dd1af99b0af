/**
 * What rank pruning and element-wise L0 pruning share as strategies (pruning/strategy.ts): hard-
 * concrete gates over the Linears (pruning/gates.ts) trained with CoFi's Lagrangian to the target
 * sparsity 1 − B, deterministic z fitted exactly to the budget at the end. The subclass says how
 * gates become a Linear override and how fitted z become the final model.
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import type { Bert } from '../models/bert.ts';
import type { LinearOverride, StructureMasks } from '../models/masks.ts';
import { checkBudget } from './budget.ts';
import { type LinearGates, fitGatesToBudget, keptSize } from './gates.ts';
import { Lagrangian } from './l0_module.ts';
import { type BudgetReport, type EvaluationMasks, type PrunedModel, type PruningStrategy, type StrategyName, type StrategyOptions, byLabel } from './strategy.ts';

export abstract class GateStrategy implements PruningStrategy {
  abstract readonly name: StrategyName;
  readonly budget: number;
  readonly lagrangian: Lagrangian;

  protected constructor(
    readonly model: Bert,
    readonly gates: LinearGates,
    options: StrategyOptions,
  ) {
    checkBudget(options.budget);
    this.budget = options.budget;
    this.lagrangian = new Lagrangian(1 - options.budget, options.lagrangianWarmup ?? Math.round(0.1 * options.steps), 'lagrangian');
  }

  /** The Linears gated by z (name → gate values). */
  protected abstract override(z: ReadonlyMap<string, Tensor>): LinearOverride;

  /** The final model from z fitted to the budget. */
  protected abstract compact(z: Map<string, Float64Array>, budget: BudgetReport): Promise<PrunedModel>;

  maskParameters(): Tensor[] {
    return this.gates.parameters();
  }

  lagrangianParameters(): Tensor[] {
    return this.lagrangian.parameters();
  }

  stepMasks(): StructureMasks {
    return { linear: this.override(this.gates.sample()) };
  }

  regularizer(step: number): { loss: Tensor; keptFraction: Tensor } {
    const sparsity = this.gates.expectedSparsity();
    return { loss: this.lagrangian.loss(sparsity, step), keptFraction: E.affine(sparsity, -1, 1) };
  }

  constrain(): void {
    this.gates.constrain();
  }

  /** CoFi's deterministic z, then fitted to ⌊B·dense⌋ parameters; with the accounting. */
  protected async fitted(): Promise<{ z: Map<string, Float64Array>; budget: BudgetReport }> {
    const expected = await E.tidy(() => E.noGrad(() => this.gates.expectedKeptFraction())).item();
    const la = await this.gates.logAlphas();
    const z = await this.gates.deterministic();
    const dense = this.gates.dense;
    const deterministic = keptSize(this.gates, z) / dense;
    const fit = fitGatesToBudget(this.gates, z, la, Math.floor(this.budget * dense));
    return { z, budget: { target: this.budget, expected, deterministic, achieved: fit.size / dense, kept_params: fit.size, dense_params: dense, fit: { removed: fit.removed, restored: fit.restored } } };
  }

  async evaluationMasks(): Promise<EvaluationMasks> {
    const { z } = await this.fitted();
    const tensors = this.gates.fromHost(z);
    for (const t of tensors.values()) E.keep(t);
    return { masks: () => ({ linear: this.override(tensors) }), dispose: () => tensors.forEach((t) => t.dispose()) };
  }

  async finalize(): Promise<PrunedModel> {
    const { z, budget } = await this.fitted();
    return this.compact(z, budget);
  }

  stateTensors(): Map<string, Tensor> {
    return byLabel([...this.gates.parameters(), ...this.lagrangian.parameters()]);
  }

  dispose(): void {
    this.gates.dispose();
    this.lagrangian.dispose();
    this.model.dispose();
  }
}
