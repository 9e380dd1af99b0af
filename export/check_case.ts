/**
 * Inputs and reference outputs for checking an export outside webprune: real task batches, the
 * logits webprune computes for them, and the case file `scripts/check_export.py` reads
 * (transformers, onnx.checker and ONNX Runtime in Python compare against it).
 *
 * Case file: {"batches": [{"input_ids", "attention_mask", "token_type_ids": [[int]] (B × S),
 * "logits": [[float]] (B × num_labels)}]}, S the batch's longest real length.
 */
import * as fs from 'node:fs';
import type { Example } from '../data/tasks.ts';
import type { BertTokenizer } from '../data/tokenizer.ts';
import * as E from '../engine/index.ts';
import type { Bert } from '../models/bert.ts';
import { encodeSplit } from '../training/data.ts';

/** One batch of model inputs as host arrays: [B, S] row-major. */
export interface HostBatch {
  B: number;
  S: number;
  inputIds: Int32Array;
  tokenTypeIds: Int32Array;
  attentionMask: Int32Array;
}

/**
 * Examples tokenised (`[CLS] a [SEP] b [SEP]`, truncated to maxLength) in batches of `batchSize`,
 * each cut to its longest real length, so batches differ in sequence length as real traffic does.
 */
export function hostBatches(tokenizer: BertTokenizer, examples: readonly Example[], batchSize: number, maxLength = 128): HostBatch[] {
  const split = encodeSplit(tokenizer, examples, maxLength);
  const out: HostBatch[] = [];
  for (let i = 0; i < split.n; i += batchSize) {
    const rows = Array.from({ length: Math.min(batchSize, split.n - i) }, (_, k) => i + k);
    const S = Math.max(1, ...rows.map((r) => split.lengths[r]!));
    const pick = (a: Int32Array) => {
      const o = new Int32Array(rows.length * S);
      rows.forEach((r, k) => o.set(a.subarray(r * maxLength, r * maxLength + S), k * S));
      return o;
    };
    out.push({ B: rows.length, S, inputIds: pick(split.inputIds), tokenTypeIds: pick(split.tokenTypeIds), attentionMask: pick(split.attentionMask) });
  }
  return out;
}

/** webprune's logits [B, numLabels] for each batch (inference mode, on the engine's GPU). */
export async function webpruneLogits(model: Bert, batches: readonly HostBatch[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const b of batches) {
    const t = E.noGrad(() =>
      E.tidy(() => {
        const inputs = {
          inputIds: E.tensor(b.inputIds, [b.B, b.S], 'i32'),
          tokenTypeIds: E.tensor(b.tokenTypeIds, [b.B, b.S], 'i32'),
          attentionMask: E.tensor(Float32Array.from(b.attentionMask), [b.B, b.S]),
        };
        return model.classify(inputs, { training: false }).logits;
      }),
    );
    out.push((await t.read()) as Float32Array);
    t.dispose();
  }
  return out;
}

/** Writes the case file (see the module comment). */
export function writeCheckCase(file: string, batches: readonly HostBatch[], logits: readonly Float32Array[]): void {
  const rows = (a: ArrayLike<number>, B: number) => Array.from({ length: B }, (_, i) => Array.from({ length: a.length / B }, (_, j) => a[i * (a.length / B) + j]!));
  const json = {
    batches: batches.map((b, k) => ({
      input_ids: rows(b.inputIds, b.B),
      attention_mask: rows(b.attentionMask, b.B),
      token_type_ids: rows(b.tokenTypeIds, b.B),
      logits: rows(logits[k]!, b.B),
    })),
  };
  fs.writeFileSync(file, JSON.stringify(json));
}
