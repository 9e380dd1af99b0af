/**
 * Compacted BERT structures "like CoFi's", drawn for a target sparsity, to time pruned models
 * without training them.
 *
 * CoFi (Xia, Zhong, Chen 2022, §5 and Figures 6–7) reports these regularities of the structures it
 * learns on GLUE/SQuAD, which the draw reproduces qualitatively:
 * - FFN layers are pruned more than attention layers overall;
 * - upper layers are pruned most, lower layers keep more heads and FFN units;
 * - at high sparsity whole MHA layers disappear (in the upper layers first), while FFN layers are
 *   rarely removed whole;
 * - hidden dimensions are pruned only mildly.
 *
 * The draw (all constants in COFI_LIKE):
 * 1. Hidden size H' = round(H · (1 − hiddenPrune · s²) · jitter), jitter = exp(0.02·N(0,1)), at most H.
 * 2. With the depth u = l / (L − 1) of layer l and seeded per-layer noise ε = exp(noise·N(0,1)), a
 *    pruning pressure p ≥ 0 keeps
 *      heads  h_l = round(h · exp(−p · (attnBase + attnSlope·u) · ε_a,l))
 *      units  I_l = round(I · exp(−p · (ffnBase + ffnSlope·u) · ε_f,l)),  0 when below ffnDropBelow·I.
 *    A layer whose heads round to 0 loses its whole MHA sub-layer.
 * 3. p is bisected to the smallest value whose sparsity reaches the target s; the few parameters
 *    that overshoot (a head is a coarse step) are given back as FFN units spread over the layers
 *    in proportion to their widths. The result is within a fraction of a point of s (one FFN unit
 *    per layer at most).
 *
 * Sparsity is CoFi's: the fraction of the dense encoder's prunable parameters removed (attention
 * Q, K, V, O weights and biases, FFN weights and biases: models/config.ts parameterCount), with
 * embeddings, layer norms, pooler and classifier excluded.
 */
import { HostRandom } from '../engine/random.ts';
import { type BertConfig, LINEAR_KINDS, type LayerStructure, hasLinear, isPruned, linearShape, parameterCount, validateConfig } from '../models/config.ts';

/** The proportions of the draw (see the module comment). */
export const COFI_LIKE = {
  /** Fraction of hidden dims removed at sparsity 1 (scaled by s²): 0.9 → 16 %, 0.95 → 18 %. */
  hiddenPrune: 0.2,
  /** Pressure weight of attention at the bottom layer, and its increase to the top layer. */
  attnBase: 0.35,
  attnSlope: 1.4,
  /** Pressure weight of the FFN at the bottom layer, and its increase to the top layer. */
  ffnBase: 0.9,
  ffnSlope: 0.8,
  /** Standard deviation of the per-layer log-normal noise on the pressure. */
  noise: 0.15,
  /** An FFN keeping fewer than this fraction of its units is removed whole. */
  ffnDropBelow: 0.005,
} as const;

/**
 * Fraction of `dense`'s prunable encoder parameters that `pruned` no longer has: 1 − P(pruned)/P(dense).
 * @throws Error when the dense model has no prunable parameters
 */
export function prunableSparsity(dense: BertConfig, pruned: BertConfig): number {
  const total = parameterCount(dense).total;
  if (total === 0) throw new Error('prunableSparsity: the dense model has no prunable parameters');
  return 1 - parameterCount(pruned).total / total;
}

/**
 * The dense configuration a (possibly pruned) one came from: every layer with the default heads
 * and FFN width, hidden size = pooler size (hidden-dimension pruning keeps the pooler's output).
 */
export function denseOf(config: BertConfig): BertConfig {
  const hiddenSize = config.poolerSize ?? config.hiddenSize;
  const out: BertConfig = {
    ...config,
    hiddenSize,
    layers: config.layers.map(() => ({ numHeads: config.numHeads, intermediateSize: config.intermediateSize })),
  };
  delete out.poolerSize;
  return out;
}

/** Whether a configuration is dense: default structure in every layer and no hidden pruning. */
export function isDense(config: BertConfig): boolean {
  return !isPruned(config) && (config.poolerSize === undefined || config.poolerSize === config.hiddenSize);
}

/**
 * A compacted configuration "like CoFi's" at a target sparsity (see the module comment).
 * Deterministic: the same dense config, sparsity and seed give the same structure.
 *
 * @param dense a dense configuration (isDense)
 * @param sparsity target fraction of prunable encoder parameters removed, in [0, 1)
 * @param seed seed of the per-layer noise
 * @returns a validated BertConfig with hiddenSize, layers[i].numHeads, layers[i].intermediateSize
 *   set and poolerSize = the dense hidden size (at sparsity 0 the dense structure itself)
 * @throws Error when `dense` is not dense or sparsity is outside [0, 1)
 */
export function cofiLikeStructure(dense: BertConfig, sparsity: number, seed = 0): BertConfig {
  if (!isDense(dense)) throw new Error('cofiLikeStructure: the starting configuration must be dense (no pruned layers or hidden dims)');
  if (!(sparsity >= 0 && sparsity < 1)) throw new Error(`cofiLikeStructure: sparsity must be in [0, 1) (got ${sparsity})`);
  const { numLayers: L, hiddenSize: H, numHeads: h, intermediateSize: I } = dense;
  if (sparsity === 0) return { ...dense, layers: dense.layers.map((l) => ({ ...l })), poolerSize: H };

  const rng = new HostRandom(seed);
  const C = COFI_LIKE;
  const jitter = Math.exp(0.02 * rng.normal());
  const hidden = Math.max(1, Math.min(H, Math.round(H * (1 - C.hiddenPrune * sparsity * sparsity) * jitter)));
  const weights = Array.from({ length: L }, (_, l) => {
    const u = L > 1 ? l / (L - 1) : 0;
    return {
      attn: (C.attnBase + C.attnSlope * u) * Math.exp(C.noise * rng.normal()),
      ffn: (C.ffnBase + C.ffnSlope * u) * Math.exp(C.noise * rng.normal()),
    };
  });
  const layersAt = (p: number): LayerStructure[] =>
    weights.map((w) => {
      const heads = Math.round(h * Math.exp(-p * w.attn));
      const keepF = Math.exp(-p * w.ffn);
      return { numHeads: heads, intermediateSize: keepF < C.ffnDropBelow ? 0 : Math.round(I * keepF) };
    });
  const make = (layers: LayerStructure[]): BertConfig => ({ ...dense, hiddenSize: hidden, layers, poolerSize: H });
  const sparsityAt = (p: number) => prunableSparsity(dense, make(layersAt(p)));

  // Smallest pressure whose sparsity reaches the target (sparsity is non-decreasing in p).
  let lo = 0;
  let hi = 1;
  while (sparsityAt(hi) < sparsity) hi *= 2;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (sparsityAt(mid) >= sparsity) hi = mid;
    else lo = mid;
  }
  const layers = layersAt(hi);

  // Give back the overshoot as FFN units, in proportion to the layers' widths.
  const target = Math.round((1 - sparsity) * parameterCount(dense).total);
  const kept = () => parameterCount(make(layers)).total;
  let deficit = target - kept();
  const unit = 2 * hidden + 1;
  if (deficit >= unit) {
    const open = layers.filter((l) => l.intermediateSize > 0 && l.intermediateSize < I);
    const width = open.reduce((s, l) => s + l.intermediateSize, 0);
    const units = Math.floor(deficit / unit);
    for (const l of open) l.intermediateSize = Math.min(I, l.intermediateSize + Math.floor((units * l.intermediateSize) / width));
    // What flooring left over, one unit at a time to the widest layers that have an FFN.
    deficit = target - kept();
    const byWidth = open.filter((l) => l.intermediateSize < I).sort((a, b) => b.intermediateSize - a.intermediateSize);
    for (let i = 0; deficit >= unit && byWidth.length > 0; i = (i + 1) % byWidth.length) {
      const l = byWidth[i]!;
      if (l.intermediateSize < I) {
        l.intermediateSize++;
        deficit -= unit;
      } else byWidth.splice(i, 1);
    }
  }
  const config = make(layers);
  validateConfig(config, 'cofiLikeStructure');
  return config;
}

/**
 * A rank-pruned configuration at a target sparsity, for timing rank pruning beside CoFi's
 * structures at equal parameter counts: every Linear of the dense model factorised (FLOP:
 * W = Q·P, (in + out)·r weights) with the same share c of its dense weights, r = ⌊c·in·out/(in + out)⌋
 * capped at min(in, out), c the largest that fits (1 − s)·dense; what flooring leaves is given
 * back one rank at a time, largest Linears first, while it fits. Biases are kept. The result is
 * within one rank step ((in + out) parameters) under the target.
 * @throws Error when `dense` is not dense, sparsity is outside [0, 1), or the target is below the biases
 */
export function rankLikeStructure(dense: BertConfig, sparsity: number): BertConfig {
  if (!isDense(dense)) throw new Error('rankLikeStructure: the starting configuration must be dense');
  if (!(sparsity >= 0 && sparsity < 1)) throw new Error(`rankLikeStructure: sparsity must be in [0, 1) (got ${sparsity})`);
  const linears = dense.layers.flatMap((layer, l) => LINEAR_KINDS.filter((k) => hasLinear(layer, k)).map((kind) => {
    const [o, i] = linearShape(dense.hiddenSize, dense.headSize, layer, kind);
    return { l, kind, o, i, r: 0 };
  }));
  const total = parameterCount(dense).total;
  const biases = linears.reduce((s, m) => s + m.o, 0);
  const budget = Math.floor((1 - sparsity) * total) - biases;
  if (budget < 0) throw new Error(`rankLikeStructure: sparsity ${sparsity} leaves fewer parameters than the biases`);
  const rankAt = (c: number, m: { o: number; i: number }) => Math.min(Math.min(m.o, m.i), Math.floor((c * m.o * m.i) / (m.o + m.i)));
  const sizeAt = (c: number) => linears.reduce((s, m) => s + (m.o + m.i) * rankAt(c, m), 0);
  let lo = 0;
  let hi = 4;
  for (let k = 0; k < 60; k++) {
    const mid = (lo + hi) / 2;
    if (sizeAt(mid) <= budget) lo = mid;
    else hi = mid;
  }
  for (const m of linears) m.r = rankAt(lo, m);
  let left = budget - sizeAt(lo);
  const bySize = [...linears].sort((a, b) => b.o * b.i - a.o * a.i);
  for (let gave = true; gave; ) {
    gave = false;
    for (const m of bySize) {
      if (m.r < Math.min(m.o, m.i) && m.o + m.i <= left) {
        m.r++;
        left -= m.o + m.i;
        gave = true;
      }
    }
  }
  const layers: LayerStructure[] = dense.layers.map((layer, l) => ({ ...layer, ranks: Object.fromEntries(linears.filter((m) => m.l === l).map((m) => [m.kind, m.r])) }));
  const config: BertConfig = { ...dense, layers };
  validateConfig(config, 'rankLikeStructure');
  return config;
}
