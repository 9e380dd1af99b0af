/**
 * CoFi's mask variables and their expected model size, in one place (Xia, Zhong, Chen 2022, §3;
 * princeton-nlp/CoFiPruning models/l0_module.py).
 *
 * Five hard-concrete mask types over a dense BERT with L layers, h heads of size d, hidden size H
 * and FFN width I:
 *   hidden_z [H], head_z [L, h], head_layer_z [L] (whole MHA), intermediate_z [L, I], mlp_z [L]
 *   (whole FFN), each with a log_alpha parameter of the same shape.
 *
 * Expected size. With p = P(z ≠ 0) = sigmoid(log_alpha − β ln(−l/r)) per variable, a head counts
 * only with its layer (q = p_head · p_head_layer) and an FFN unit with its FFN (u = p_int · p_mlp),
 * and every weight row or column counts with the hidden dims it touches (E_H = Σ p_hidden): per layer
 *   MHA: 4·d·E_H·Σq + 3·d·Σq + E_H·p_head_layer      (Q, K, V, O weights; Q, K, V biases; O bias)
 *   FFN: 2·E_H·Σu + Σu + E_H·p_mlp                    (both weights; both biases)
 * which reduces to models/config.ts's exact count (mhaParameters, ffnParameters) when every z is
 * 0 or 1. Expected sparsity = 1 − E[size] / dense size, with the dense size counting attention and
 * FFN weights and biases (embeddings, layer norms, pooler and classifier are not prunable).
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import { type BertConfig, parameterCount } from '../models/config.ts';
import type { StructureMasks } from '../models/masks.ts';
import { LOG_ALPHA_RANGE, deterministicZ, keepProbability, sampleHardConcrete } from './hard_concrete.ts';

export type MaskType = 'hidden' | 'head' | 'head_layer' | 'intermediate' | 'mlp';
export const MASK_TYPES: readonly MaskType[] = ['hidden', 'head', 'head_layer', 'intermediate', 'mlp'];

/** Shape of each mask type's log_alpha for a dense config. */
export function maskShape(config: BertConfig, type: MaskType): number[] {
  const L = config.numLayers;
  switch (type) {
    case 'hidden':
      return [config.hiddenSize];
    case 'head':
      return [L, config.numHeads];
    case 'intermediate':
      return [L, config.intermediateSize];
    case 'head_layer':
    case 'mlp':
      return [L];
  }
}

/**
 * CoFi's initial log_alpha means (reset_loga): 10 for hidden, head, head_layer and mlp (kept with
 * probability ≈ 1 at the start); ln(1 − p) − ln p with p = droprate_init 0.5, i.e. 0, for
 * intermediate. Values are drawn from N(mean, 0.01²).
 */
export function initialLogAlphaMean(type: MaskType, droprateInit = 0.5): number {
  return type === 'intermediate' ? Math.log(1 - droprateInit) - Math.log(droprateInit) : 10;
}

/** Where the log_alphas of one task come from: its own parameters, or base + δ. */
export interface LogAlphaSource {
  /** log_alpha of a type (a parameter, or an op result that must be used inside the step's scope). */
  get(type: MaskType): Tensor;
  /** The trainable leaves. */
  parameters(): Tensor[];
  /** Clamps what CoFi clamps after each optimizer step. */
  constrain(): void;
}

/** Clamps a parameter in place to [lo, hi] (no autograd). */
export function clampInPlace(t: Tensor, lo: number, hi: number): void {
  E.noGrad(() =>
    E.tidy(() => {
      const c = E.clamp(t, lo, hi);
      E.getEngine().queue.copy(c.buffer, 0, t.buffer, 0, t.bytes);
    }),
  );
}

/** One set of log_alpha leaves per mask type, initialised as CoFi does. */
export class MaskParameters implements LogAlphaSource {
  readonly logAlpha = new Map<MaskType, Tensor>();

  /**
   * @param types mask types to learn; the others stay 1
   * @param prefix names parameters (`${prefix}.${type}.log_alpha`) in checkpoints
   */
  constructor(config: BertConfig, readonly types: readonly MaskType[], seed: number, prefix = 'l0', droprateInit = 0.5) {
    const rng = new E.HostRandom(seed);
    for (const type of types) {
      const shape = maskShape(config, type);
      const mean = initialLogAlphaMean(type, droprateInit);
      const data = Float32Array.from({ length: E.sizeOf(shape) }, () => mean + 0.01 * rng.normal());
      this.logAlpha.set(type, E.parameter(data, shape, `${prefix}.${type}.log_alpha`));
    }
  }

  get(type: MaskType): Tensor {
    const t = this.logAlpha.get(type);
    if (!t) throw new Error(`mask type ${type} is not learned here`);
    return t;
  }

  parameters(): Tensor[] {
    return [...this.logAlpha.values()];
  }

  constrain(): void {
    for (const t of this.logAlpha.values()) clampInPlace(t, LOG_ALPHA_RANGE[0], LOG_ALPHA_RANGE[1]);
  }

  dispose(): void {
    for (const t of this.logAlpha.values()) t.dispose();
  }
}

/**
 * The δ-formulation of Dery, Hannun, Grangier: log_alpha_task = log_alpha_base + δ_task, with δ
 * initialised to 0 and an l2 penalty on δ (DeltaMaskParameters.squaredNorm, added by setupMasks in transfer.ts). The base is clamped as CoFi clamps
 * log_alpha; δ is left free, its penalty keeps it small.
 */
export class DeltaMaskParameters implements LogAlphaSource {
  readonly delta = new Map<MaskType, Tensor>();

  constructor(
    readonly base: MaskParameters,
    config: BertConfig,
    prefix: string,
  ) {
    for (const type of base.types) {
      const shape = maskShape(config, type);
      this.delta.set(type, E.parameter(new Float32Array(E.sizeOf(shape)), shape, `${prefix}.${type}.delta`));
    }
  }

  get(type: MaskType): Tensor {
    return E.add(this.base.get(type), this.delta.get(type)!);
  }

  /** Only the δ leaves: the shared base is trained once, by whoever owns it. */
  parameters(): Tensor[] {
    return [...this.delta.values()];
  }

  constrain(): void {
    this.base.constrain();
  }

  /** Σ δ² over every type (scalar, differentiable). */
  squaredNorm(): Tensor {
    return [...this.delta.values()].map((d) => E.sum(E.square(d))).reduce((a, b) => E.add(a, b));
  }

  dispose(): void {
    for (const t of this.delta.values()) t.dispose();
  }
}

/** Host-side deterministic masks, one array per mask type (absent types are all ones). */
export type HostMasks = Partial<Record<MaskType, Float64Array>>;

/** The masks of one task over a dense config: sampling, expected size, deterministic masks. */
export class L0Module {
  readonly denseSize: number;

  constructor(
    readonly config: BertConfig,
    readonly source: LogAlphaSource,
    readonly types: readonly MaskType[],
  ) {
    this.denseSize = parameterCount(config).total;
  }

  private has(type: MaskType): boolean {
    return this.types.includes(type);
  }

  /** Per-layer rows of an [L, n] (or [L]) tensor, for the model's per-layer mask inputs. */
  private rows(z: Tensor): Tensor[] {
    const L = this.config.numLayers;
    const width = z.shape.length === 2 ? z.shape[1]! : 1;
    return Array.from({ length: L }, (_, l) => E.reshape(E.narrow(z, 0, l, 1), [width]));
  }

  /** Hard-concrete samples of every mask type, arranged for Bert.encode (training). */
  sample(): StructureMasks {
    const z = (type: MaskType) => (this.has(type) ? sampleHardConcrete(this.source.get(type)) : null);
    return this.arrange(z);
  }

  /** Masks from host values (evaluation with deterministic z), arranged for Bert.encode. */
  fromHost(masks: HostMasks): StructureMasks {
    return this.arrange((type) => {
      const v = masks[type];
      return v ? E.tensor(Float32Array.from(v), maskShape(this.config, type)) : null;
    });
  }

  private arrange(z: (type: MaskType) => Tensor | null): StructureMasks {
    const out: StructureMasks = {};
    const hidden = z('hidden');
    if (hidden) out.hiddenZ = hidden;
    const head = z('head');
    if (head) out.headZ = this.rows(head);
    const headLayer = z('head_layer');
    if (headLayer) out.headLayerZ = this.rows(headLayer);
    const intermediate = z('intermediate');
    if (intermediate) out.intermediateZ = this.rows(intermediate);
    const mlp = z('mlp');
    if (mlp) out.mlpZ = this.rows(mlp);
    return out;
  }

  /** P(z ≠ 0) of a type, or null when the type is not pruned (probability 1). */
  private keep(type: MaskType): Tensor | null {
    return this.has(type) ? keepProbability(this.source.get(type)) : null;
  }

  /** Expected number of prunable parameters (scalar, differentiable in log_alpha); see the file comment. */
  expectedSize(): Tensor {
    const { config } = this;
    const L = config.numLayers;
    const d = config.headSize;
    const hidden = this.keep('hidden');
    const EH = hidden ? E.sum(hidden) : E.full([], config.hiddenSize);
    const pairs = (unit: Tensor | null, layer: Tensor | null, width: number) => {
      // Σ over layers and units of p_unit · p_layer, and Σ over layers of p_layer.
      const u = unit ?? E.full([L, width], 1);
      const lay = layer ?? E.full([L], 1);
      return { units: E.sum(E.mul(u, E.reshape(lay, [L, 1]))), layers: E.sum(lay) };
    };
    const mha = pairs(this.keep('head'), this.keep('head_layer'), config.numHeads);
    const ffn = pairs(this.keep('intermediate'), this.keep('mlp'), config.intermediateSize);
    const attention = E.add(E.add(E.scale(E.mul(EH, mha.units), 4 * d), E.scale(mha.units, 3 * d)), E.mul(EH, mha.layers));
    const feedForward = E.add(E.add(E.scale(E.mul(EH, ffn.units), 2), ffn.units), E.mul(EH, ffn.layers));
    return E.add(attention, feedForward);
  }

  /** 1 − E[size] / dense prunable size (scalar, differentiable). */
  expectedSparsity(): Tensor {
    return E.affine(this.expectedSize(), -1 / this.denseSize, 1);
  }

  /**
   * CoFi's deterministic z per group (deterministicZ): hidden dims as one group, each layer's
   * heads and FFN units as one group each, and each whole-layer variable alone. Reads log_alpha.
   */
  async deterministic(): Promise<HostMasks> {
    const out: HostMasks = {};
    for (const type of this.types) {
      const values = await E.tidy(() => E.noGrad(() => E.affine(this.source.get(type), 1, 0))).read();
      const shape = maskShape(this.config, type);
      const group = type === 'head' || type === 'intermediate' ? shape[1]! : type === 'hidden' ? shape[0]! : 1;
      const z = new Float64Array(values.length);
      for (let g = 0; g < values.length; g += group) z.set(deterministicZ(values.subarray(g, g + group)), g);
      out[type] = z;
    }
    return out;
  }

  /** log_alpha of every type on the host (scores for ranking units). */
  async logAlphas(): Promise<Partial<Record<MaskType, Float32Array>>> {
    const out: Partial<Record<MaskType, Float32Array>> = {};
    for (const type of this.types) out[type] = (await E.tidy(() => E.noGrad(() => E.affine(this.source.get(type), 1, 0))).read()) as Float32Array;
    return out;
  }
}

/**
 * CoFi's Lagrangian sparsity constraint: λ1 (ŝ − t) + λ2 (ŝ − t)², with ŝ the expected sparsity
 * and t the target, ramped linearly from 0 over the warmup steps. λ1 and λ2 start at 0 and are
 * trained by gradient ascent (an optimizer group with a negative learning rate), which makes the
 * constraint bind (Wang, Wohlwend, Lei 2020, §3.2).
 *
 * Several targets t_1 < t_2 < ... (one pruning run for several sparsities) take `segmentSteps`
 * steps each: in segment k the target ramps from t_{k−1} (0 for the first) to t_k over the warmup
 * steps, then holds.
 */
export class Lagrangian {
  readonly lambda1: Tensor;
  readonly lambda2: Tensor;
  readonly targets: readonly number[];

  /**
   * @param targets the target sparsity, or the targets in increasing order
   * @param segmentSteps steps per target (only used with several)
   * @throws Error when several targets are not increasing or segmentSteps is not positive
   */
  constructor(
    targets: number | readonly number[],
    readonly warmupSteps: number,
    prefix = 'l0',
    readonly segmentSteps = Number.POSITIVE_INFINITY,
  ) {
    this.targets = typeof targets === 'number' ? [targets] : [...targets];
    if (this.targets.length > 1 && !(segmentSteps > 0 && Number.isFinite(segmentSteps))) throw new Error(`Lagrangian: ${this.targets.length} targets need a finite positive segmentSteps`);
    if (this.targets.some((t, i) => i > 0 && !(t > this.targets[i - 1]!))) throw new Error(`Lagrangian: targets ${this.targets.join(', ')} are not increasing`);
    this.lambda1 = E.parameter([0], [1], `${prefix}.lambda_1`);
    this.lambda2 = E.parameter([0], [1], `${prefix}.lambda_2`);
  }

  /** The segment (target index) of a step. */
  segment(step: number): number {
    return Math.min(this.targets.length - 1, Math.floor(step / this.segmentSteps));
  }

  /** The target at a step: from the previous target (0 at first) to this segment's over the warmup. */
  target(step: number): number {
    const k = this.segment(step);
    const from = k === 0 ? 0 : this.targets[k - 1]!;
    const to = this.targets[k]!;
    const local = k === 0 ? step : step - k * this.segmentSteps;
    return this.warmupSteps > 0 ? from + (to - from) * Math.min(1, local / this.warmupSteps) : to;
  }

  /** λ1 (ŝ − t) + λ2 (ŝ − t)² as a scalar. */
  loss(expectedSparsity: Tensor, step: number): Tensor {
    const gap = E.reshape(E.addScalar(expectedSparsity, -this.target(step)), [1]);
    return E.sum(E.add(E.mul(this.lambda1, gap), E.mul(this.lambda2, E.square(gap))));
  }

  parameters(): Tensor[] {
    return [this.lambda1, this.lambda2];
  }

  dispose(): void {
    this.lambda1.dispose();
    this.lambda2.dispose();
  }
}
