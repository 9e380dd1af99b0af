import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as E from '../../engine/index.ts';
import { getTask } from '../../data/tasks.ts';
import { Bert } from '../../models/bert.ts';
import { type BertConfig, namedConfig, withLabels } from '../../models/config.ts';
import { saveModel } from '../../models/load.ts';
import type { EncodedSplit } from '../../training/data.ts';
import { TaskHeadMismatchError, checkHeadFitsTask, evaluate, loadFineTuned } from '../../training/evaluate.ts';
import { FinetunePhase } from '../../training/finetune.ts';
import type { MetricsLog } from '../../training/run/metrics_log.ts';
import { useTestEngine } from '../helpers.ts';

/** A very small encoder with `numLabels` outputs (1: regression). */
function config(numLabels: number, labelNames?: string[]): BertConfig {
  const base = namedConfig('tiny');
  return withLabels({ ...base, vocabSize: 50, hiddenSize: 16, numHeads: 2, headSize: 8, intermediateSize: 32, numLayers: 1, layers: [{ numHeads: 2, intermediateSize: 32 }], maxPositionEmbeddings: 16 }, numLabels, labelNames);
}

/** n examples of 6 tokens with labels drawn from [0, classes). */
function split(n: number, classes: number): EncodedSplit {
  const L = 6;
  const inputIds = Int32Array.from({ length: n * L }, (_, i) => (i % L === 0 ? 2 : 5 + (i % 40)));
  return { n, maxLength: L, inputIds, tokenTypeIds: new Int32Array(n * L), attentionMask: new Int32Array(n * L).fill(1), lengths: new Int32Array(n).fill(L), labels: Float64Array.from({ length: n }, (_, i) => i % classes) };
}

describe('evaluation refuses a model whose head does not fit the task @gpu', () => {
  before(useTestEngine);
  let root: string;
  let mrpcDir: string;
  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-eval-'));
    mrpcDir = path.join(root, 'mrpc');
    const model = Bert.random(config(2, ['0', '1']), 'classification', 1);
    await saveModel(model, mrpcDir);
    model.dispose();
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('a 2-label MRPC model on sciie (7 labels) or stsb (regression), naming both heads', () => {
    expect(() => loadFineTuned(mrpcDir, getTask('sciie'))).to.throw(
      TaskHeadMismatchError,
      `${mrpcDir} has a 2-label classification head (labels 0, 1), but task sciie needs a 7-label classification head (labels COMPARE, CONJUNCTION, EVALUATE-FOR, FEATURE-OF, HYPONYM-OF, PART-OF, USED-FOR)`,
    );
    expect(() => loadFineTuned(mrpcDir, getTask('stsb'))).to.throw(TaskHeadMismatchError, 'has a 2-label classification head (labels 0, 1), but task stsb needs a regression head (1 output)');
    const model = loadFineTuned(mrpcDir, getTask('mrpc'));
    expect(model.config.numLabels).to.equal(2);
    model.dispose();
  });

  it('a checkpoint without a classifier, and a config name, are not fine-tuned models', async () => {
    const mlm = Bert.random(config(2), 'mlm', 2);
    const dir = path.join(root, 'mlm');
    await saveModel(mlm, dir);
    mlm.dispose();
    expect(() => loadFineTuned(dir, getTask('mrpc'))).to.throw(TaskHeadMismatchError, /has no classifier \(it lacks .*classifier\.weight.*\): a pretrained encoder, not a model fine-tuned for mrpc/);
    expect(() => loadFineTuned('tiny', getTask('mrpc'))).to.throw(TaskHeadMismatchError, 'tiny is a config name (random weights)');
  });

  it('evaluate() and fine-tuning check before any work; a custom head of the wrong width is refused', async () => {
    const sciie = getTask('sciie');
    const model = Bert.random(config(2), 'classification', 3);
    let error: unknown;
    await evaluate(model, split(4, 7), sciie, { batchSize: 2 }).catch((e: unknown) => (error = e));
    expect(error).to.be.instanceOf(TaskHeadMismatchError);
    expect((error as Error).message).to.match(/has a 2-label classification head, but task sciie needs a 7-label/);
    const settings = { steps: 2, lr: 1e-3, batchSize: 2, warmupSteps: 0, weightDecay: 0, evalEvery: 0, seed: 1, maxGradNorm: 1, evalBatchSize: 2 };
    const data = { target: { task: sciie, train: split(4, 7) }, dev: split(4, 7) };
    expect(() => new FinetunePhase(model, data, settings, { metrics: {} as MetricsLog }), 'fine-tuning checks before training').to.throw(TaskHeadMismatchError, /needs a 7-label/);
    error = undefined;
    const head = (pooled: E.Tensor) => E.matmul(pooled, E.zeros([3, 16]), { transB: true });
    await evaluate(model, split(4, 7), sciie, { batchSize: 2, head }).catch((e: unknown) => (error = e));
    expect((error as Error).message).to.equal('evaluate: the head gives logits of shape [2, 3], but task sciie needs a 7-label classification head (labels COMPARE, CONJUNCTION, EVALUATE-FOR, FEATURE-OF, HYPONYM-OF, PART-OF, USED-FOR) ([B, 7])');
    error = undefined;
    await evaluate(model, split(4, 2), getTask('mrpc'), { batchSize: 0 }).catch((e: unknown) => (error = e));
    expect((error as Error).message, 'batch size 0 would loop forever').to.match(/batch size must be a positive integer \(got 0\)/);
    model.dispose();
  });

  it('a model that fits is evaluated', async () => {
    const model = Bert.random(config(7), 'classification', 4);
    checkHeadFitsTask(model, getTask('sciie'));
    const { metrics, predictions } = await evaluate(model, split(5, 7), getTask('sciie'), { batchSize: 2 });
    expect(Object.keys(metrics)).to.deep.equal(['accuracy', 'macro_f1']);
    expect(predictions.every((p) => Number.isInteger(p) && p >= 0 && p < 7)).to.equal(true);
    model.dispose();
    const reg = Bert.random(config(1), 'classification', 5);
    const stsb = await evaluate(reg, split(5, 5), getTask('stsb'), { batchSize: 3 });
    expect(Object.keys(stsb.metrics)).to.deep.equal(['pearson', 'spearman']);
    reg.dispose();
  });
});
