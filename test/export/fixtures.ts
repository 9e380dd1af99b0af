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
import { initialValues } from '../../models/bert.ts';
import { type BertConfig, namedConfig, withLabels, withLayers } from '../../models/config.ts';
import { saveCheckpoint } from '../../models/io/checkpoint.ts';
import { type HostBatch, hostBatches } from '../../export/check_case.ts';

export { type HostBatch, webpruneLogits, writeCheckCase } from '../../export/check_case.ts';

export const dataDir = defaultDataDir();
export const vocabDir = path.join(dataDir, 'vocab/bert-base-uncased');

/** MRPC dev examples [start, start + n) tokenised with bert-base-uncased's vocabulary, in batches. */
export function mrpcBatches(n: number, batchSize: number, maxLength = 128, start = 0): HostBatch[] {
  const examples = loadSplit('mrpc', dataDir, 'dev').examples.slice(start, start + n);
  return hostBatches(loadTokenizer(vocabDir), examples, batchSize, maxLength);
}

/**
 * The test models. Weights are N(0, 0.2²) rather than BERT's 0.02 so that logits are of order 1 and
 * a 1e-4 comparison means something.
 * - dense: 2 layers, H 64, 4 heads, FFN 128.
 * - pruned: what CoFi's compaction leaves: H 62 (hidden dims pruned, not a multiple of the head
 *   count, pooler keeps 64), head size 16, layers (3 heads, 100 units), (0 heads: no attention,
 *   57 units), (2 heads, no FFN), (1 head, 33 units).
 * - rank: the dense model with factorised (rank-pruned) Linears, some of rank 0, and a second layer
 *   of 2 heads and 100 units.
 */
export function testConfig(kind: 'dense' | 'pruned' | 'rank', numLabels = 2): BertConfig {
  const base: BertConfig = { ...namedConfig('tiny'), hiddenSize: 64, numHeads: 4, headSize: 16, intermediateSize: 128, initializerRange: 0.2, maxPositionEmbeddings: 128 };
  if (kind === 'dense') return withLabels(withLayers(base, base.layers.map(() => ({ numHeads: 4, intermediateSize: 128 }))), numLabels);
  if (kind === 'rank') {
    // Rank-pruned Linears (factorised W = Q·P) beside dense ones and structural pruning; rank 0 leaves the bias alone.
    return withLabels(
      withLayers(base, [
        { numHeads: 4, intermediateSize: 128, ranks: { query: 8, key: 0, value: 16, attention_output: 5, intermediate: 20 } },
        { numHeads: 2, intermediateSize: 100, ranks: { intermediate: 3, output: 0 } },
      ]),
      numLabels,
    );
  }
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

/** Largest |a − b| over all elements. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`maxAbsDiff: lengths ${a.length} and ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return Number.isNaN(m) ? Infinity : m;
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
