/**
 * Hard-concrete gates over the encoder's Linears, the mask math shared by rank pruning (one gate
 * per rank dimension, FLOP: Wang, Wohlwend, Lei 2019) and element-wise L0 pruning (one gate per
 * weight, Louizos, Welling, Kingma 2018). Each Linear has one group of gates with a log_alpha leaf
 * of the group's shape, and every gate of a group stands for `cost` parameters ((in + out) for a
 * rank dimension, 1 for a weight). With p = P(z ≠ 0) (pruning/hard_concrete.ts keepProbability):
 *   E[size] = fixed + Σ_groups cost · Σ_gates p
 * which is the exact kept count when every p is 0 or 1. Sampling, CoFi's deterministic z and the
 * Lagrangian (pruning/l0_module.ts) are reused as they are.
 *
 * log_alpha is clamped to ±10 rather than CoFi's [ln 0.01, ln 100]: at ln 0.01 a gate is still kept
 * with probability 0.047, so budgets of 5% (Xia & Shin's smallest) could never be met in expectation.
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import { type FitResult, fitUnitsToBudget } from './budget.ts';
import { deterministicZ, keepProbability, sampleHardConcrete, softMask } from './hard_concrete.ts';
import { clampInPlace } from './l0_module.ts';

/** log_alpha range of rank and element gates (see the module comment). */
export const GATE_LOG_ALPHA_RANGE = [-10, 10] as const;

/** One group of gates: the gates of one Linear. */
export interface GateGroup {
  /** The Linear's name (pruning/budget.ts PrunableLinear.name). */
  name: string;
  /** Shape of its gates ([r] for rank dimensions, [out, in] for weights). */
  shape: number[];
  /** Parameters each gate stands for. */
  cost: number;
}

export interface GateOptions {
  /** Mean of the initial log_alpha (drawn from N(mean, 0.01²)); 4.6 = ln 100, CoFi's kept-at-the-start value. */
  initialLogAlpha?: number;
  seed: number;
  /** Names the log_alpha leaves `${prefix}.${group}.log_alpha` in checkpoints. */
  prefix: string;
}

/** A set of hard-concrete gate groups with their expected kept size (see the module comment). */
export class LinearGates {
  readonly logAlpha = new Map<string, Tensor>();

  /**
   * @param fixed parameters kept whatever the gates (biases)
   * @param dense the budget's denominator (pruning/budget.ts denseParameters)
   */
  constructor(
    readonly groups: readonly GateGroup[],
    readonly fixed: number,
    readonly dense: number,
    options: GateOptions,
  ) {
    const rng = new E.HostRandom(options.seed);
    const mean = options.initialLogAlpha ?? Math.log(100);
    for (const g of groups) {
      const data = Float32Array.from({ length: E.sizeOf(g.shape) }, () => mean + 0.01 * rng.normal());
      this.logAlpha.set(g.name, E.parameter(data, g.shape, `${options.prefix}.${g.name}.log_alpha`));
    }
  }

  /** @throws Error naming the group when it does not exist */
  get(name: string): Tensor {
    const t = this.logAlpha.get(name);
    if (!t) throw new Error(`no gates for ${name}`);
    return t;
  }

  /** One hard-concrete sample per gate, by group (training; differentiable in log_alpha). */
  sample(): Map<string, Tensor> {
    return new Map(this.groups.map((g) => [g.name, sampleHardConcrete(this.get(g.name))]));
  }

  /** Host z values as tensors, by group (evaluation with deterministic z). */
  fromHost(z: ReadonlyMap<string, Float64Array>): Map<string, Tensor> {
    return new Map(this.groups.map((g) => [g.name, E.tensor(Float32Array.from(z.get(g.name)!), g.shape)]));
  }

  /** E[size] = fixed + Σ cost · Σ P(z ≠ 0) (scalar, differentiable). */
  expectedSize(): Tensor {
    return this.groups.map((g) => E.scale(E.sum(keepProbability(this.get(g.name))), g.cost)).reduce((a, b) => E.add(a, b), E.full([], this.fixed));
  }

  /** E[size] / dense: the expected budget B (scalar, differentiable). */
  expectedKeptFraction(): Tensor {
    return E.scale(this.expectedSize(), 1 / this.dense);
  }

  /** 1 − E[size] / dense, what the Lagrangian constrains (scalar, differentiable). */
  expectedSparsity(): Tensor {
    return E.affine(this.expectedSize(), -1 / this.dense, 1);
  }

  /** log_alpha of every group on the host. */
  async logAlphas(): Promise<Map<string, Float32Array>> {
    const out = new Map<string, Float32Array>();
    for (const g of this.groups) out.set(g.name, (await E.tidy(() => E.noGrad(() => E.affine(this.get(g.name), 1, 0))).read()) as Float32Array);
    return out;
  }

  /** CoFi's deterministic z (pruning/hard_concrete.ts deterministicZ), each group on its own. */
  async deterministic(): Promise<Map<string, Float64Array>> {
    const out = new Map<string, Float64Array>();
    for (const [name, la] of await this.logAlphas()) out.set(name, deterministicZ(la));
    return out;
  }

  /** Overwrites log_alpha from host values (resuming, tests). */
  setLogAlphas(values: ReadonlyMap<string, ArrayLike<number>>): void {
    for (const [name, v] of values) {
      const t = this.get(name);
      E.getEngine().queue.upload(t.buffer, Float32Array.from(v));
    }
  }

  parameters(): Tensor[] {
    return [...this.logAlpha.values()];
  }

  /** Clamps log_alpha to GATE_LOG_ALPHA_RANGE after an optimizer step. */
  constrain(): void {
    for (const t of this.logAlpha.values()) clampInPlace(t, GATE_LOG_ALPHA_RANGE[0], GATE_LOG_ALPHA_RANGE[1]);
  }

  dispose(): void {
    for (const t of this.logAlpha.values()) t.dispose();
  }
}

/**
 * Deterministic z fitted exactly to a parameter budget (pruning/budget.ts fitUnitsToBudget over
 * every gate of every group, scored by log_alpha): gates removed get 0, gates restored get CoFi's
 * soft value sigmoid(log_alpha / β · 0.8). `z` is changed in place.
 * @param budget kept parameters allowed (B · dense)
 */
export function fitGatesToBudget(gates: LinearGates, z: Map<string, Float64Array>, logAlphas: ReadonlyMap<string, Float32Array>, budget: number): FitResult {
  const offsets: number[] = [];
  let n = 0;
  for (const g of gates.groups) {
    offsets.push(n);
    n += E.sizeOf(g.shape);
  }
  const kept = new Uint8Array(n);
  const score = new Float32Array(n);
  const costOf = new Float64Array(gates.groups.length);
  const groupOf = new Uint32Array(n);
  gates.groups.forEach((g, k) => {
    const zg = z.get(g.name)!;
    score.set(logAlphas.get(g.name)!, offsets[k]!);
    groupOf.fill(k, offsets[k]!, offsets[k]! + zg.length);
    costOf[k] = g.cost;
    for (let i = 0; i < zg.length; i++) kept[offsets[k]! + i] = zg[i] !== 0 ? 1 : 0;
  });
  const fit = fitUnitsToBudget((i) => costOf[groupOf[i]!]!, score, kept, gates.fixed, budget);
  gates.groups.forEach((g, k) => {
    const zg = z.get(g.name)!;
    for (let i = 0; i < zg.length; i++) {
      const on = kept[offsets[k]! + i] === 1;
      if (!on) zg[i] = 0;
      else if (zg[i] === 0) zg[i] = softMask(score[offsets[k]! + i]!);
    }
  });
  return fit;
}

/** Kept size of host z values: fixed + Σ cost · (gates with z ≠ 0). */
export function keptSize(gates: LinearGates, z: ReadonlyMap<string, ArrayLike<number>>): number {
  let size = gates.fixed;
  for (const g of gates.groups) {
    const zg = z.get(g.name)!;
    let on = 0;
    for (let i = 0; i < zg.length; i++) if (zg[i] !== 0) on++;
    size += g.cost * on;
  }
  return size;
}
