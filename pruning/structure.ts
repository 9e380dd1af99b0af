/**
 * The final pruned structure: which hidden dims, heads and FFN units survive, with the z value each
 * carries into compaction.
 *
 * Start from CoFi's deterministic z (L0Module.deterministic). A short run's expected size may not
 * have reached the target, so the structure is then fitted to the parameter budget
 * (1 − target) · dense size exactly: while over budget, the kept unit (hidden dim, head or FFN unit)
 * with the lowest P(z ≠ 0) is removed; when more than `tolerance` under budget, removed units with
 * the highest P(z ≠ 0) are restored (with CoFi's soft value) while they fit.
 *
 * Two normalisations make the masked model and the compacted model compute the same function: a
 * layer whose heads are all pruned gets head_layer_z = 0, and an FFN whose units are all pruned gets
 * mlp_z = 0 (otherwise the masked layer would still add its output bias, which compaction drops;
 * CoFi's code has this inconsistency). At least one hidden dim is always kept.
 */
import { HostRandom } from '../engine/index.ts';
import { type BertConfig, ffnParameters, mhaParameters } from '../models/config.ts';
import { readSafetensors, writeSafetensors } from '../models/io/safetensors.ts';
import { keepProbabilityHost, softMask } from './hard_concrete.ts';
import type { HostMasks, MaskType } from './l0_module.ts';

/** Masks with every type present (all ones where a type was not pruned), as flat arrays. */
export interface FullMasks {
  hidden: Float64Array; // [H]
  head: Float64Array; // [L·h]
  head_layer: Float64Array; // [L]
  intermediate: Float64Array; // [L·I]
  mlp: Float64Array; // [L]
}

export interface StructureSummary {
  hidden: number;
  heads: number[];
  intermediate: number[];
  /** Prunable parameters of the compacted model. */
  params: number;
}

/** Fills absent mask types with ones. */
export function fullMasks(config: BertConfig, masks: HostMasks): FullMasks {
  const L = config.numLayers;
  const ones = (n: number) => new Float64Array(n).fill(1);
  return {
    hidden: Float64Array.from(masks.hidden ?? ones(config.hiddenSize)),
    head: Float64Array.from(masks.head ?? ones(L * config.numHeads)),
    head_layer: Float64Array.from(masks.head_layer ?? ones(L)),
    intermediate: Float64Array.from(masks.intermediate ?? ones(L * config.intermediateSize)),
    mlp: Float64Array.from(masks.mlp ?? ones(L)),
  };
}

/** Kept counts and the exact prunable parameter count of the structure the masks describe. */
export function summarize(config: BertConfig, m: FullMasks): StructureSummary {
  const { numLayers: L, numHeads: h, intermediateSize: I } = config;
  const hidden = m.hidden.reduce((a, v) => a + (v !== 0 ? 1 : 0), 0);
  const heads: number[] = [];
  const intermediate: number[] = [];
  let params = 0;
  for (let l = 0; l < L; l++) {
    let nh = 0;
    if (m.head_layer[l] !== 0) for (let k = 0; k < h; k++) nh += m.head[l * h + k] !== 0 ? 1 : 0;
    let nu = 0;
    if (m.mlp[l] !== 0) for (let i = 0; i < I; i++) nu += m.intermediate[l * I + i] !== 0 ? 1 : 0;
    heads.push(nh);
    intermediate.push(nu);
    params += mhaParameters(hidden, nh, config.headSize) + ffnParameters(hidden, nu);
  }
  return { hidden, heads, intermediate, params };
}

/**
 * Makes whole-layer and unit variables agree: a layer whose head_layer_z (mlp_z) is 0 has all its
 * head_z (intermediate_z) set to 0, and a layer without a nonzero head (unit) gets head_layer_z
 * (mlp_z) = 0. See the file comment for why.
 */
export function normalizeEmptyLayers(config: BertConfig, m: FullMasks): void {
  const { numLayers: L, numHeads: h, intermediateSize: I } = config;
  for (let l = 0; l < L; l++) {
    if (m.head_layer[l] === 0) m.head.fill(0, l * h, (l + 1) * h);
    if (!m.head.subarray(l * h, (l + 1) * h).some((v) => v !== 0)) m.head_layer[l] = 0;
    if (m.mlp[l] === 0) m.intermediate.fill(0, l * I, (l + 1) * I);
    if (!m.intermediate.subarray(l * I, (l + 1) * I).some((v) => v !== 0)) m.mlp[l] = 0;
  }
}

interface Unit {
  type: 'hidden' | 'head' | 'intermediate';
  index: number;
  /** P(z ≠ 0), combined with the whole-layer variable for heads and FFN units. */
  score: number;
  /** z value when kept. */
  soft: number;
}

export interface FitResult {
  masks: FullMasks;
  structure: StructureSummary;
  /** Sparsity of CoFi's deterministic z before fitting. */
  deterministicSparsity: number;
  /** Units removed beyond, and restored after, CoFi's deterministic z. */
  removed: number;
  restored: number;
}

/**
 * Fits deterministic masks to the budget (1 − targetSparsity) · dense prunable size.
 * @param logAlpha log_alpha of each learned type (scores); types absent are not pruned
 * @param tolerance restore units while more than this fraction of the dense size under budget
 */
export function fitToBudget(config: BertConfig, deterministic: HostMasks, logAlpha: Partial<Record<MaskType, ArrayLike<number>>>, targetSparsity: number, denseSize: number, tolerance = 0.002): FitResult {
  const { numHeads: h, intermediateSize: I } = config;
  const m = fullMasks(config, deterministic);
  normalizeEmptyLayers(config, m);
  const deterministicSparsity = 1 - summarize(config, m).params / denseSize;
  const budget = Math.floor((1 - targetSparsity) * denseSize);
  const p = (type: MaskType, i: number) => (logAlpha[type] ? keepProbabilityHost(logAlpha[type]![i]!) : 1);
  const soft = (type: MaskType, i: number) => (logAlpha[type] ? softMask(logAlpha[type]![i]!) : 1);

  const units: Unit[] = [];
  for (let j = 0; j < config.hiddenSize; j++) if (logAlpha.hidden) units.push({ type: 'hidden', index: j, score: p('hidden', j), soft: soft('hidden', j) });
  for (let i = 0; i < config.numLayers * h; i++) {
    if (logAlpha.head || logAlpha.head_layer) units.push({ type: 'head', index: i, score: p('head', i) * p('head_layer', Math.floor(i / h)), soft: soft('head', i) });
  }
  for (let i = 0; i < config.numLayers * I; i++) {
    if (logAlpha.intermediate || logAlpha.mlp) units.push({ type: 'intermediate', index: i, score: p('intermediate', i) * p('mlp', Math.floor(i / I)), soft: soft('intermediate', i) });
  }
  const layerOf = (u: Unit) => Math.floor(u.index / (u.type === 'head' ? h : I));
  const arrayOf = (u: Unit) => (u.type === 'hidden' ? m.hidden : u.type === 'head' ? m.head : m.intermediate);
  // Counts kept incrementally: the budget loop visits every unit, so a full recount per step
  // (O(L·(h + I))) would be quadratic at BERT-base size.
  const start = summarize(config, m);
  let hidden = start.hidden;
  const heads = [...start.heads];
  const inter = [...start.intermediate];
  const count = () => heads.reduce((acc, nh, l) => acc + mhaParameters(hidden, nh, config.headSize) + ffnParameters(hidden, inter[l]!), 0);
  const set = (u: Unit, keep: boolean) => {
    arrayOf(u)[u.index] = keep ? u.soft : 0;
    const d = keep ? 1 : -1;
    if (u.type === 'hidden') hidden += d;
    else {
      const l = layerOf(u);
      const counts = u.type === 'head' ? heads : inter;
      const layerZ = u.type === 'head' ? m.head_layer : m.mlp;
      counts[l]! += d;
      if (keep && layerZ[l] === 0) layerZ[l] = soft(u.type === 'head' ? 'head_layer' : 'mlp', l);
      if (counts[l] === 0) layerZ[l] = 0;
    }
  };

  let removed = 0;
  let restored = 0;
  let params = count();
  const ascending = [...units].sort((a, b) => a.score - b.score);
  for (const u of ascending) {
    if (params <= budget) break;
    if (arrayOf(u)[u.index] === 0) continue;
    if (u.type === 'hidden' && hidden <= 1) continue;
    set(u, false);
    params = count();
    removed++;
  }
  for (const u of [...ascending].reverse()) {
    if (params >= budget - tolerance * denseSize) break;
    if (arrayOf(u)[u.index] !== 0) continue;
    set(u, true);
    const next = count();
    if (next > budget) set(u, false);
    else {
      params = next;
      restored++;
    }
  }
  return { masks: m, structure: summarize(config, m), deterministicSparsity, removed, restored };
}

/** The masks as 0/1 (the structure alone: which units are kept, without CoFi's soft values). */
export function binarize(m: FullMasks): FullMasks {
  const b = (a: Float64Array) => a.map((v) => (v !== 0 ? 1 : 0));
  return { hidden: b(m.hidden), head: b(m.head), head_layer: b(m.head_layer), intermediate: b(m.intermediate), mlp: b(m.mlp) };
}

/**
 * A random structure at a sparsity: heads and FFN units removed in a seeded random order until the
 * prunable parameters fit (1 − sparsity) of the dense model (hidden dims kept), as 0/1 masks. The
 * "random mask" of Dery et al.'s what-to-transfer study (weights without structure).
 */
export function randomStructure(config: BertConfig, sparsity: number, seed: number): FitResult {
  const rng = new HostRandom(seed);
  const scores = (n: number) => Float64Array.from({ length: n }, () => 10 * rng.uniform() - 5);
  const denseSize = summarize(config, fullMasks(config, {})).params;
  const fit = fitToBudget(config, {}, { head: scores(config.numLayers * config.numHeads), intermediate: scores(config.numLayers * config.intermediateSize) }, sparsity, denseSize);
  const masks = binarize(fit.masks);
  return { ...fit, masks, structure: summarize(config, masks) };
}

const MASK_KEYS = ['hidden', 'head', 'head_layer', 'intermediate', 'mlp'] as const;

/** Writes masks as a safetensors file (one F32 tensor per mask type). */
export function saveMasks(file: string, m: FullMasks): void {
  writeSafetensors(file, MASK_KEYS.map((k) => ({ name: k, shape: [m[k].length], data: Float32Array.from(m[k]) })), { dtype: 'F32' });
}

/**
 * Reads masks written by saveMasks for a dense config.
 * @throws Error naming the file and mask when one is missing or has the wrong length for the config
 */
export function loadMasks(file: string, config: BertConfig): FullMasks {
  const tensors = readSafetensors(file).tensors;
  const want = fullMasks(config, {});
  const out = {} as FullMasks;
  for (const k of MASK_KEYS) {
    const t = tensors.get(k);
    if (!t) throw new Error(`${file}: no mask "${k}"`);
    if (t.data.length !== want[k].length) throw new Error(`${file}: mask "${k}" has ${t.data.length} entries, the model needs ${want[k].length}`);
    out[k] = Float64Array.from(t.data as Float32Array);
  }
  return out;
}
