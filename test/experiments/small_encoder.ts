/** What the experiment tests share: a small random encoder, a few steps on a few examples, task directories. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadTokenizer } from '../../data/tokenizer.ts';
import type { ExperimentInput } from '../../jobs/experiment.ts';
import { Bert } from '../../models/bert.ts';
import { type BertConfig, namedConfig, withLabels } from '../../models/config.ts';
import { saveModel } from '../../models/load.ts';

/**
 * Saves a random encoder (2 layers, hidden 32, 2 heads, 64 FFN units, 2 labels) with
 * bert-base-uncased's tokenizer to DIR/encoder.
 * @returns its directory
 */
export async function saveSmallEncoder(root: string, dataDir: string): Promise<string> {
  const config: BertConfig = { ...namedConfig('tiny'), hiddenSize: 32, numHeads: 2, headSize: 16, intermediateSize: 64, numLayers: 2, layers: [0, 1].map(() => ({ numHeads: 2, intermediateSize: 64 })), maxPositionEmbeddings: 64 };
  const model = path.join(root, 'encoder');
  const m = Bert.random(withLabels(config, 2), 'base', 5);
  await saveModel(m, model, { tokenizer: loadTokenizer(path.join(dataDir, 'vocab', 'bert-base-uncased')) });
  m.dispose();
  return model;
}

/** A few steps on 24 examples of 32 tokens, a checkpoint every 2 steps. */
export const FEW_STEPS: Partial<ExperimentInput> = {
  pruningSteps: 6, finetuneSteps: 4, batchSize: 4, maxSeqLength: 32, maxTrain: 24, maxEval: 24, lr: 1e-3, regLr: 0.1, finetuneLr: 1e-3, lagrangianWarmup: 2, checkpointEvery: 2, logEvery: 1,
};

/** A generic task directory (tsv:DIR) with these train.tsv and dev.tsv texts. @returns DIR */
export function writeTsvTask(dir: string, train: string, dev: string): string {
  fs.mkdirSync(dir);
  fs.writeFileSync(path.join(dir, 'train.tsv'), train);
  fs.writeFileSync(path.join(dir, 'dev.tsv'), dev);
  return dir;
}
