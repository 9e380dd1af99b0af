/**
 * BERT (Devlin et al. 2019) as transformers' BertModel computes it: word + position + token-type
 * embeddings, layer norm (eps from the config), post-LN encoder layers with GELU (erf form), a
 * tanh pooler over [CLS], and heads for sequence classification/regression and masked-LM.
 *
 * Layers follow the config's per-layer structure: each layer has its own head count and FFN
 * width, and may have no attention or no FFN at all (pruned away); a rank-pruned Linear is stored
 * as its two factors (config ranks) and computed as two smaller GEMMs. Parameters are kept in a map
 * keyed by transformers' tensor names, so checkpoints map one to one.
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import type { BertConfig } from './config.ts';
import { type HeadKind, expectedTensors } from './io/checkpoint.ts';
import type { StructureMasks } from './masks.ts';
import { maskedAttention } from './ops/masked_attention.ts';
import { maskedFfn } from './ops/masked_ffn.ts';
import { residualInput, residualOutput } from './ops/masked_residual.ts';

export type { HeadKind };

/** Additive attention-mask value of padded positions: transformers uses torch.finfo(float32).min. */
export const MASK_MIN = -3.4028234663852886e38;

export interface BertInputs {
  /** [B, S] i32 token ids. */
  inputIds: Tensor;
  /** [B, S] i32 segment ids (default all 0). */
  tokenTypeIds?: Tensor;
  /** [B, S] f32, 1 for real tokens and 0 for padding (default all 1). */
  attentionMask?: Tensor;
}

export interface ForwardOptions {
  /** Enables dropout. */
  training: boolean;
  /** CoFi z masks (see masks.ts). */
  masks?: StructureMasks;
  /** Also return the embedding output and every layer's output (for layer distillation). */
  outputHiddenStates?: boolean;
}

export interface EncoderOutput {
  /** [B, S, H] last layer's output. */
  sequence: Tensor;
  /** [embeddings, layer 1, ..., layer L], each [B, S, H], when asked for. */
  hiddenStates?: Tensor[];
}

/** Names of one layer's tensors (transformers' naming). */
export function layerNames(l: number) {
  const p = `bert.encoder.layer.${l}`;
  return {
    query: `${p}.attention.self.query`,
    key: `${p}.attention.self.key`,
    value: `${p}.attention.self.value`,
    attnOut: `${p}.attention.output.dense`,
    attnNorm: `${p}.attention.output.LayerNorm`,
    intermediate: `${p}.intermediate.dense`,
    output: `${p}.output.dense`,
    outNorm: `${p}.output.LayerNorm`,
  };
}

/**
 * Name → shape of every parameter of a model with this config and head: the tensors of its
 * transformers checkpoint (models/io/checkpoint.ts expectedTensors). MLM models have no pooler,
 * as transformers' BertForMaskedLM.
 */
export function parameterShapes(config: BertConfig, head: HeadKind): Map<string, number[]> {
  return expectedTensors(config, head);
}

/** Output width of the pooler: the original hidden size, which hidden-dimension pruning keeps. */
export function poolerSize(config: BertConfig): number {
  return config.poolerSize ?? config.hiddenSize;
}

/**
 * Random initial values as transformers' BertPreTrainedModel._init_weights: linear and embedding
 * weights from N(0, initializer_range²), biases 0, layer norms (1, 0), the padding row of the word
 * embeddings 0. Seeded: the same seed gives the same model.
 */
export function initialValues(config: BertConfig, head: HeadKind, seed: number): Map<string, { shape: number[]; data: Float32Array }> {
  const rng = new E.HostRandom(seed);
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of parameterShapes(config, head)) {
    const data = new Float32Array(E.sizeOf(shape));
    if (name.includes('LayerNorm.weight')) data.fill(1);
    else if (name.endsWith('.weight')) {
      for (let i = 0; i < data.length; i++) data[i] = config.initializerRange * rng.normal();
      if (name === 'bert.embeddings.word_embeddings.weight') data.fill(0, config.padTokenId * shape[1]!, (config.padTokenId + 1) * shape[1]!);
    }
    out.set(name, { shape, data });
  }
  return out;
}

export class Bert {
  /** Parameters by transformers name; each requires a gradient unless frozen. */
  readonly params = new Map<string, Tensor>();
  /** Position ids 0..S-1 per sequence length: made once, not uploaded every forward pass. */
  private readonly positionIds = new Map<number, Tensor>();

  /**
   * @param values every parameter of parameterShapes(config, head), by name
   * @throws Error naming the tensor when one is missing, unexpected or of the wrong shape
   */
  constructor(
    readonly config: BertConfig,
    readonly head: HeadKind,
    values: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>,
  ) {
    const shapes = parameterShapes(config, head);
    for (const name of values.keys()) {
      if (!shapes.has(name)) throw new Error(`Bert: unexpected tensor ${name} for a ${head} model`);
    }
    for (const [name, shape] of shapes) {
      const v = values.get(name);
      if (!v) throw new Error(`Bert: missing tensor ${name} ${E.shapeString(shape)}`);
      if (v.shape.length !== shape.length || v.shape.some((d, i) => d !== shape[i])) {
        throw new Error(`Bert: tensor ${name} has shape ${E.shapeString(v.shape)}, config needs ${E.shapeString(shape)}`);
      }
      this.params.set(name, E.parameter(v.data, shape, name));
    }
  }

  /** A randomly initialised model (see initialValues). */
  static random(config: BertConfig, head: HeadKind, seed: number): Bert {
    return new Bert(config, head, initialValues(config, head, seed));
  }

  /** @throws Error naming the parameter when it does not exist */
  p(name: string): Tensor {
    const t = this.params.get(name);
    if (!t) throw new Error(`Bert: no parameter ${name}`);
    return t;
  }

  /** Parameters whose names pass `filter` (all by default). */
  parameters(filter: (name: string) => boolean = () => true): Tensor[] {
    return [...this.params].filter(([n]) => filter(n)).map(([, t]) => t);
  }

  /** Freezes (or unfreezes) the parameters whose names pass `filter`: they get no gradient. */
  setTrainable(filter: (name: string) => boolean, trainable: boolean): void {
    for (const [name, t] of this.params) {
      if (filter(name)) {
        t.requiresGrad = trainable;
        if (!trainable) {
          t.grad?.dispose();
          t.grad = null;
        }
      }
    }
  }

  /** Host copies of every parameter (for checkpoints). */
  async values(): Promise<Map<string, { shape: number[]; data: Float32Array }>> {
    const out = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const [name, t] of this.params) out.set(name, { shape: [...t.shape], data: (await t.read()) as Float32Array });
    return out;
  }

  dispose(): void {
    for (const t of [...this.params.values(), ...this.positionIds.values()]) t.dispose();
    this.params.clear();
    this.positionIds.clear();
  }

  private positions(S: number): Tensor {
    let t = this.positionIds.get(S);
    if (!t) {
      t = E.keep(E.tensor(Int32Array.from({ length: S }, (_, i) => i), [S], 'i32', `position_ids[${S}]`));
      this.positionIds.set(S, t);
    }
    return t;
  }

  /** Whether the Linear `name` is stored factorised (rank-pruned: weight_q, weight_p, or rank 0). */
  private isFactorised(name: string): boolean {
    return !this.params.has(`${name}.weight`);
  }

  /**
   * x·Wᵀ + b for the Linear `name`: the masks' override when it gives one, else the model's own
   * weight, or its factors (x·Pᵀ)·Qᵀ + b when factorised (two smaller GEMMs; only b at rank 0).
   */
  private linear(x: Tensor, name: string, masks?: StructureMasks): Tensor {
    const overridden = masks?.linear?.(name, x);
    if (overridden) return overridden;
    const bias = this.p(`${name}.bias`);
    if (!this.isFactorised(name)) return E.matmul(x, this.p(`${name}.weight`), { transB: true, bias });
    const q = this.params.get(`${name}.weight_q`);
    if (!q) {
      const b = E.expand(bias, [...x.shape.slice(0, -1), bias.shape[0]!]);
      return x.dtype === 'f16' ? E.cast(b, 'f16') : b; // f16 inference: biases stay f32 (models/precision.ts)
    }
    return E.matmul(E.matmul(x, this.p(`${name}.weight_p`), { transB: true }), q, { transB: true, bias });
  }

  private norm(x: Tensor, name: string, keep?: Tensor): Tensor {
    return E.layerNorm(x, this.p(`${name}.weight`), this.p(`${name}.bias`), { eps: this.config.layerNormEps, keep });
  }

  /**
   * The encoder: embeddings and every layer.
   * Shapes: inputIds [B, S] → sequence [B, S, H].
   * @throws Error when S exceeds max_position_embeddings
   */
  encode(inputs: BertInputs, options: ForwardOptions): EncoderOutput {
    const { config } = this;
    const [B, S] = inputs.inputIds.shape as [number, number];
    if (S > config.maxPositionEmbeddings) throw new Error(`Bert: sequence length ${S} exceeds max_position_embeddings ${config.maxPositionEmbeddings}`);
    const masks = options.masks ?? {};
    const hz = masks.hiddenZ;
    const drop = (x: Tensor, p: number) => E.dropout(x, p, options.training);

    // Embeddings.
    const positions = this.positions(S);
    const types = inputs.tokenTypeIds ?? E.tensor(new Int32Array(B * S), [B, S], 'i32');
    let x = E.add(
      E.add(E.embedding(this.p('bert.embeddings.word_embeddings.weight'), inputs.inputIds, { paddingIdx: config.padTokenId }), E.embedding(this.p('bert.embeddings.position_embeddings.weight'), positions)),
      E.embedding(this.p('bert.embeddings.token_type_embeddings.weight'), types),
    );
    if (hz) x = E.mul(x, hz);
    x = drop(this.norm(x, 'bert.embeddings.LayerNorm', hz), config.hiddenDropout);
    if (hz) x = E.mul(x, hz);
    const hiddenStates = options.outputHiddenStates ? [x] : undefined;

    // [B, S] 1/0 → additive [B, S]: 0 for tokens, MASK_MIN for padding.
    const additive = inputs.attentionMask ? E.affine(inputs.attentionMask, -MASK_MIN, MASK_MIN) : undefined;

    for (let l = 0; l < config.layers.length; l++) {
      x = this.layer(x, l, additive, options);
      hiddenStates?.push(x);
    }
    return { sequence: x, hiddenStates };
  }

  /**
   * Encoder layer `l` (post-LN: attention, residual and layer norm, FFN, residual and layer norm),
   * either sub-layer absent when the config removed it.
   * Shapes: x [B, S, H], additive [B, S] (0 for tokens, MASK_MIN for padding) → [B, S, H].
   */
  layer(x: Tensor, l: number, additive: Tensor | undefined, options: ForwardOptions): Tensor {
    const layer = this.config.layers[l]!;
    const masks = options.masks ?? {};
    const hz = masks.hiddenZ;
    const n = layerNames(l);
    if (layer.numHeads > 0) {
      const attn = this.attention(x, additive, layer.numHeads, n, masks, masks.headZ?.[l] ?? null, options.training);
      const headLayerZ = masks.headLayerZ?.[l] ?? null;
      const out = headLayerZ ? E.mul(attn, headLayerZ) : attn;
      x = this.residual(out, x, n.attnNorm, hz, !!(headLayerZ || masks.headZ?.[l]), options.training);
    }
    if (layer.intermediateSize > 0) {
      // (gelu(x·w1ᵀ + b1) ⊙ intermediate_z)·w2ᵀ + b2, units with z = 0 skipped on the GPU; a
      // factorised FFN or one whose Linears are overridden runs as two Linears.
      const iz = masks.intermediateZ?.[l] ?? null;
      let out: Tensor;
      if (masks.linear || this.isFactorised(n.intermediate) || this.isFactorised(n.output)) {
        const h = E.gelu(this.linear(x, n.intermediate, masks));
        out = this.linear(iz ? E.mul(h, iz) : h, n.output, masks);
      } else out = maskedFfn(x, this.p(`${n.intermediate}.weight`), this.p(`${n.intermediate}.bias`), this.p(`${n.output}.weight`), this.p(`${n.output}.bias`), iz);
      const mlpZ = masks.mlpZ?.[l] ?? null;
      if (mlpZ) out = E.mul(out, mlpZ);
      x = this.residual(out, x, n.outNorm, hz, !!(mlpZ || iz), options.training);
    }
    return x;
  }

  /**
   * Multi-head self-attention: softmax(QKᵀ/√d + mask)·V per head, heads scaled by headZ, in the
   * fused kernels of maskedAttention (models/ops/masked_attention.ts) (Q/K/V stay in their [B, S, heads·d] layout; heads with
   * z = 0 are skipped).
   */
  private attention(x: Tensor, additive: Tensor | undefined, heads: number, n: ReturnType<typeof layerNames>, masks: StructureMasks, headZ: Tensor | null, training: boolean): Tensor {
    const context = maskedAttention(this.linear(x, n.query, masks), this.linear(x, n.key, masks), this.linear(x, n.value, masks), {
      heads,
      mask: additive,
      headZ: headZ ?? undefined,
      dropout: this.config.attentionDropout,
      training,
    });
    return this.linear(context, n.attnOut, masks);
  }

  /**
   * Post-LN residual: LN(dropout(out) + x). Under masks, hiddenZ scales the sub-layer output and
   * the result, the layer norm covers kept dims, and an all-zero output (its z is 0) passes x
   * through without the layer norm, as CoFi does.
   */
  private residual(out: Tensor, x: Tensor, normName: string, hz: Tensor | undefined, mayBeZero: boolean, training: boolean): Tensor {
    const h = this.norm(residualInput(out, x, hz, this.config.hiddenDropout, training), normName, hz);
    if (!mayBeZero) return hz ? E.mul(h, hz) : h;
    return residualOutput(h, out, x, hz);
  }

  /** tanh(W · h[CLS] + b): [B, S, H] → [B, P]. */
  pool(sequence: Tensor): Tensor {
    const [B, , H] = sequence.shape as [number, number, number];
    const cls = E.reshape(E.narrow(sequence, 1, 0, 1), [B, H]);
    return E.tanh(this.linear(cls, 'bert.pooler.dense'));
  }

  /**
   * Sequence classification / regression logits: classifier(dropout(pool(encode(x)))).
   * Shapes: [B, S] → [B, numLabels].
   * @throws Error when the model has no classification head
   */
  classify(inputs: BertInputs, options: ForwardOptions): { logits: Tensor; encoder: EncoderOutput } {
    if (this.head !== 'classification') throw new Error(`Bert: a ${this.head} model has no classifier`);
    const encoder = this.encode(inputs, options);
    const pooled = E.dropout(this.pool(encoder.sequence), this.config.hiddenDropout, options.training);
    return { logits: this.linear(pooled, 'classifier'), encoder };
  }

  /**
   * Masked-LM logits at selected positions: decoder(LN(gelu(W · h))) with the decoder tied to the
   * word embeddings. Shapes: sequence [B, S, H], positions [M] (i32, flat indices b·S + s) → [M, V].
   * @throws Error when the model has no MLM head
   */
  mlmLogits(sequence: Tensor, positions: Tensor): Tensor {
    if (this.head !== 'mlm') throw new Error(`Bert: a ${this.head} model has no MLM head`);
    const [B, S, H] = sequence.shape as [number, number, number];
    const rows = E.indexSelect(E.reshape(sequence, [B * S, H]), 0, positions);
    const t = this.norm(E.gelu(this.linear(rows, 'cls.predictions.transform.dense')), 'cls.predictions.transform.LayerNorm');
    return E.matmul(t, this.p('bert.embeddings.word_embeddings.weight'), { transB: true, bias: this.p('cls.predictions.bias') });
  }
}
