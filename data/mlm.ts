/**
 * Masked-language-model targets (Devlin et al. 2019, §3.1 "Task #1: Masked LM"): choose 15% of the
 * tokens of each sequence; replace 80% of the chosen by [MASK], 10% by a random token, keep 10%;
 * predict the original token at the chosen positions only.
 */
import type { HostRandom } from '../engine/random.ts';

/** Label of positions that are not predicted (PyTorch cross-entropy's default ignore_index). */
export const IGNORE_INDEX = -100;

/** The vocabulary facts masking needs (a BertTokenizer qualifies). */
export interface MaskingVocab {
  maskId: number;
  /** Ids are 0..vocabSize-1. */
  vocabSize: number;
  /** Ids never chosen for prediction nor drawn as random replacements ([PAD], [UNK], [CLS], [SEP], [MASK]). */
  specialIds: readonly number[];
}

/** Options of {@link maskTokens}. */
export interface MaskOptions {
  /** Fraction of eligible positions chosen per sequence (default 0.15). */
  maskProb?: number;
  /** Length of each sequence when `ids` holds a batch [batch × seqLength] (default: ids.length, one sequence). */
  seqLength?: number;
}

/** Model inputs and targets: both the shape of the input ids. */
export interface MaskedBatch {
  inputIds: Int32Array;
  /** Original id at chosen positions, IGNORE_INDEX (-100) elsewhere. */
  labels: Int32Array;
}

const candidateCache = new WeakMap<MaskingVocab, Int32Array>();

/** The ids random replacements are drawn from: 0..vocabSize-1 without the special ids (cached per vocab object). */
function nonSpecialIds(vocab: MaskingVocab): Int32Array {
  let c = candidateCache.get(vocab);
  if (c === undefined) {
    const special = new Set(vocab.specialIds);
    const list: number[] = [];
    for (let id = 0; id < vocab.vocabSize; id++) if (!special.has(id)) list.push(id);
    c = Int32Array.from(list);
    candidateCache.set(vocab, c);
  }
  return c;
}

/**
 * Draws MLM inputs and labels for a batch of sequences. Per sequence of n eligible positions (ids
 * not in `specialIds`, so never [CLS]/[SEP]/[PAD]/[UNK]/[MASK]), k = max(1, round(maskProb · n))
 * positions are chosen uniformly without replacement (k = 0 when n = 0) — BERT's
 * create_pretraining_data.py rule, min(max_predictions, max(1, round(n · p))), without the cap.
 * Each chosen position becomes [MASK] with probability 0.8, a random id uniform over the
 * non-special vocabulary with probability 0.1 (it may equal the original), or stays unchanged with
 * probability 0.1. Labels hold the original id at chosen positions and -100 elsewhere.
 * Randomness comes only from `rng`, in a fixed order (per sequence: k selection draws, then per
 * chosen position one uniform and possibly one replacement draw), so equal generator positions give
 * equal masks, and every call draws new masks.
 * @param ids token ids, one sequence or a batch [batch × seqLength] (not modified).
 * @throws Error when seqLength does not divide ids.length, maskProb is outside (0, 1], or there is
 *   no non-special id to draw.
 */
export function maskTokens(ids: Int32Array, vocab: MaskingVocab, rng: HostRandom, options: MaskOptions = {}): MaskedBatch {
  const maskProb = options.maskProb ?? 0.15;
  const seqLength = options.seqLength ?? ids.length;
  if (!(maskProb > 0 && maskProb <= 1)) throw new Error(`maskTokens: maskProb must be in (0, 1] (got ${maskProb})`);
  if (!Number.isInteger(seqLength) || seqLength <= 0 || ids.length % seqLength !== 0) {
    throw new Error(`maskTokens: seqLength ${seqLength} does not divide the ${ids.length} ids`);
  }
  const candidates = nonSpecialIds(vocab);
  if (candidates.length === 0) throw new Error('maskTokens: the vocabulary has no non-special ids');
  const special = new Set(vocab.specialIds);
  const inputIds = Int32Array.from(ids);
  const labels = new Int32Array(ids.length).fill(IGNORE_INDEX);
  const eligible = new Int32Array(seqLength);
  for (let start = 0; start < ids.length; start += seqLength) {
    let n = 0;
    for (let i = start; i < start + seqLength; i++) if (!special.has(ids[i]!)) eligible[n++] = i;
    if (n === 0) continue;
    const k = Math.min(n, Math.max(1, Math.round(maskProb * n)));
    // Partial Fisher–Yates: eligible[0..k) becomes a uniform k-subset.
    for (let i = 0; i < k; i++) {
      const j = i + rng.int(n - i);
      const t = eligible[i]!;
      eligible[i] = eligible[j]!;
      eligible[j] = t;
    }
    for (let i = 0; i < k; i++) {
      const pos = eligible[i]!;
      labels[pos] = ids[pos]!;
      const u = rng.uniform();
      if (u < 0.8) inputIds[pos] = vocab.maskId;
      else if (u < 0.9) inputIds[pos] = candidates[rng.int(candidates.length)]!;
    }
  }
  return { inputIds, labels };
}
