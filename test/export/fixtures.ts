/**
 * Shared fixtures of the export tests: real MRPC dev batches, a dense and a CoFi-pruned test model
 * (written as checkpoint directories), and webprune's own logits for them.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { defaultDataDir } from '../../data/paths.ts';
import { loadSplit } from '../../data/tasks.ts';
import { loadTokenizer } from '../../data/tokenizer.ts';
import * as E from '../../engine/index.ts';
import { Bert, initialValues } from '../../models/bert.ts';
import { type BertConfig, namedConfig, withLabels, withLayers } from '../../models/config.ts';
import { saveCheckpoint } from '../../models/io/checkpoint.ts';
import { type EncodedSplit, encodeSplit } from '../../training/data.ts';

export const dataDir = defaultDataDir();
export const vocabDir = path.join(dataDir, 'vocab/bert-base-uncased');

/** One batch of model inputs as plain arrays: [B, S] row-major, S the batch's longest real length. */
export interface HostBatch {
  B: number;
  S: number;
  inputIds: Int32Array;
  tokenTypeIds: Int32Array;
  attentionMask: Int32Array;
}

/**
 * MRPC dev examples [start, start + n) tokenised with bert-base-uncased's vocabulary, as batches of
 * `batchSize` cut to each batch's longest real length (so batches differ in sequence length).
 */
export function mrpcBatches(n: number, batchSize: number, maxLength = 128, start = 0): HostBatch[] {
  const examples = loadSplit('mrpc', dataDir, 'dev').examples.slice(start, start + n);
  const split: EncodedSplit = encodeSplit(loadTokenizer(vocabDir), examples, maxLength);
  const out: HostBatch[] = [];
  for (let i = 0; i < n; i += batchSize) {
    const rows = Array.from({ length: Math.min(batchSize, n - i) }, (_, k) => i + k);
    let S = 1;
    for (const r of rows) S = Math.max(S, split.lengths[r]!);
    const pick = (a: Int32Array) => {
      const o = new Int32Array(rows.length * S);
      rows.forEach((r, k) => o.set(a.subarray(r * maxLength, r * maxLength + S), k * S));
      return o;
    };
    out.push({ B: rows.length, S, inputIds: pick(split.inputIds), tokenTypeIds: pick(split.tokenTypeIds), attentionMask: pick(split.attentionMask) });
  }
  return out;
}

/**
 * The test models. Weights are N(0, 0.2²) rather than BERT's 0.02 so that logits are of order 1 and
 * a 1e-4 comparison means something.
 * - dense: 2 layers, H 64, 4 heads, FFN 128.
 * - pruned: what CoFi's compaction leaves: H 62 (hidden dims pruned, not a multiple of the head
 *   count, pooler keeps 64), head size 16, layers (3 heads, 100 units), (0 heads: no attention,
 *   57 units), (2 heads, no FFN), (1 head, 33 units).
 */
export function testConfig(kind: 'dense' | 'pruned', numLabels = 2): BertConfig {
  const base: BertConfig = { ...namedConfig('tiny'), hiddenSize: 64, numHeads: 4, headSize: 16, intermediateSize: 128, initializerRange: 0.2, maxPositionEmbeddings: 128 };
  if (kind === 'dense') return withLabels(withLayers(base, base.layers.map(() => ({ numHeads: 4, intermediateSize: 128 }))), numLabels);
  const pruned = { ...base, numLayers: 4, hiddenSize: 62, poolerSize: 64 };
  return withLabels(
    withLayers(pruned, [
      { numHeads: 3, intermediateSize: 100 },
      { numHeads: 0, intermediateSize: 57 },
      { numHeads: 2, intermediateSize: 0 },
      { numHeads: 1, intermediateSize: 33 },
    ]),
    numLabels,
  );
}

/** Writes a random classifier of this config (seeded) to `dir` with the vocabulary's tokenizer. */
export function writeTestModel(dir: string, config: BertConfig, seed: number): void {
  fs.mkdirSync(dir, { recursive: true });
  saveCheckpoint(dir, config, initialValues(config, 'classification', seed), { tokenizer: loadTokenizer(vocabDir) });
}

/** webprune's logits [B, numLabels] for each batch (inference mode, on the GPU). */
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

/** Largest |a − b| over all elements. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths ${a.length} and ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return Number.isNaN(m) ? Infinity : m;
}

/** Writes the case file of scripts/check_export.py: the batches and webprune's logits. */
export function writeCheckCase(file: string, batches: readonly HostBatch[], logits: readonly Float32Array[], numLabels: number): void {
  const rows = (a: ArrayLike<number>, B: number) => Array.from({ length: B }, (_, i) => Array.from({ length: a.length / B }, (_, j) => a[i * (a.length / B) + j]!));
  const json = {
    batches: batches.map((b, k) => ({
      input_ids: rows(b.inputIds, b.B),
      attention_mask: rows(b.attentionMask, b.B),
      token_type_ids: rows(b.tokenTypeIds, b.B),
      logits: rows(logits[k]!, b.B).map((r) => r.slice(0, numLabels)),
    })),
  };
  fs.writeFileSync(file, JSON.stringify(json));
}

/**
 * An interpreter that imports `modules` ($WEBPRUNE_PYTHON, else python3), or null with the reason.
 */
export function pythonWith(modules: readonly string[]): { python: string } | { missing: string } {
  const python = process.env.WEBPRUNE_PYTHON || 'python3';
  try {
    execFileSync(python, ['-c', `import ${modules.join(', ')}`], { stdio: 'pipe' });
    return { python };
  } catch (err) {
    const stderr = String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim().split('\n').at(-1);
    return { missing: `${python} cannot import ${modules.join(', ')} (${stderr}); set WEBPRUNE_PYTHON to an interpreter that has them (README: Export)` };
  }
}
