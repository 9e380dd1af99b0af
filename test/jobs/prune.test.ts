import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultDataDir } from '../../data/paths.ts';
import { getTask } from '../../data/tasks.ts';
import { loadTokenizer } from '../../data/tokenizer.ts';
import { Bert } from '../../models/bert.ts';
import { type BertConfig, namedConfig, parameterCount, withLabels } from '../../models/config.ts';
import { loadModel, saveModel } from '../../models/load.ts';
import { loadEncoded } from '../../jobs/inputs.ts';
import type { JobResult } from '../../jobs/job.ts';
import { resolveOptions } from '../../jobs/options.ts';
import { PRUNE_OPTIONS, type PruneInput, type PruneInputs, pruneJob, validatePruneOptions } from '../../jobs/prune.ts';
import type { PruneSummary } from '../../pruning/report.ts';
import { latestCheckpoint } from '../../training/run/checkpoint.ts';
import { useTestEngine, needData } from '../helpers.ts';

const dataDir = defaultDataDir();

/** A small random "pretrained" encoder with the real vocabulary, saved as a checkpoint. */
async function smallModelDir(root: string): Promise<string> {
  const base = namedConfig('tiny');
  const config: BertConfig = { ...base, hiddenSize: 32, numHeads: 2, headSize: 16, intermediateSize: 64, numLayers: 2, layers: [0, 1].map(() => ({ numHeads: 2, intermediateSize: 64 })), maxPositionEmbeddings: 64 };
  const model = Bert.random(withLabels(config, 2), 'base', 5);
  const dir = path.join(root, 'encoder');
  await saveModel(model, dir);
  model.dispose();
  return dir;
}

/** The data a job would read with --max-seq-length 32 --max-train 24 --max-eval 24, read once for all tests. */
function data(): PruneInputs {
  const tokenizer = loadTokenizer(path.join(dataDir, 'vocab', 'bert-base-uncased'));
  const mrpc = getTask('mrpc');
  const stsb = getTask('stsb');
  return {
    tokenizer,
    target: { train: loadEncoded(mrpc, dataDir, 'train', tokenizer, 32, 24).encoded, dev: loadEncoded(mrpc, dataDir, 'dev', tokenizer, 32, 24).encoded },
    transfer: { train: loadEncoded(stsb, dataDir, 'train', tokenizer, 32, 24).encoded },
  };
}

function options(model: string, out: string, over: Partial<PruneInput> = {}): PruneInput {
  return {
    model,
    task: 'mrpc',
    transfer: 'stsb',
    method: 'delta',
    sparsity: [0.7],
    out,
    pruningSteps: 6,
    finetuneSteps: 4,
    batchSize: 4,
    maxSeqLength: 32,
    maxTrain: 24,
    maxEval: 24,
    seed: 3,
    lr: 1e-3,
    regLr: 0.1,
    finetuneLr: 1e-3,
    logEvery: 1,
    checkpointEvery: 0,
    evalBatchSize: 8,
    ...over,
  };
}

const quiet = { info: () => {} };
const run = (o: PruneInput, inputs: PruneInputs) => pruneJob(o, { inputs, hooks: quiet });
const isSummary = (r: JobResult<PruneSummary>): r is JobResult<PruneSummary> & { status: 'done' } => r.status === 'done';
const summaryOf = (r: JobResult<PruneSummary>): PruneSummary => {
  if (r.status !== 'done') throw new Error(`the run stopped: ${JSON.stringify(r)}`);
  return r.summary;
};

describe('webprune prune (job) @gpu @data @slow', function () {
  this.timeout(300_000);
  let root = '';
  let model = '';
  before(async function () {
    needData(this, 'glue/MRPC', 'glue/STS-B');
    await useTestEngine();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-prune-'));
    model = await smallModelDir(root);
  });

  for (const method of ['none', 'single-mask', 'multi-mask', 'delta'] as const) {
    it(`runs end to end with method ${method} and meets the sparsity`, async () => {
      const out = path.join(root, method);
      const o = options(model, out, method === 'none' ? { method, transfer: undefined } : { method });
      const s = summaryOf(await run(o, method === 'none' ? { ...data(), transfer: null } : data()));
      expect(s.sparsity.achieved).to.be.within(0.7, 0.71);
      expect(Object.keys(s)).to.include.members(['task', 'transfer', 'method', 'seed', 'device', 'sparsity', 'params', 'structure', 'metrics', 'steps', 'seconds']);
      expect(Object.keys(s.metrics.dev)).to.deep.equal(['accuracy', 'f1']);
      expect(s.params.prunable_dense).to.equal(2 * (4 * 32 * 32 + 3 * 32 + 32) + 2 * (2 * 32 * 64 + 64 + 32));
      const pruned = loadModel(path.join(out, 'pruned'), { head: 'classification', seed: 0 }).model;
      expect(parameterCount(pruned.config).total).to.equal(s.params.prunable_remaining);
      expect(pruned.config.hiddenSize).to.equal(s.structure.hidden);
      pruned.dispose();
      const lines = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      const prune = lines.filter((l) => l.phase === 'prune');
      expect(prune).to.have.length(6);
      for (const key of ['loss', 'expected_sparsity', 'target_sparsity', 'lambda_1', 'lambda_2']) expect(prune[0]).to.have.property(key);
      expect(fs.readFileSync(path.join(out, 'structure.svg'), 'utf8')).to.match(/^<svg/);
      expect(JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')).sparsity.target).to.equal(0.7);
    });
  }

  it('a run stopped and resumed twice reproduces the uninterrupted run exactly', async () => {
    const full = await run(options(model, path.join(root, 'full')), data());
    const out = path.join(root, 'chained');
    const first = await run(options(model, out, { stopAfter: 4, checkpointEvery: 2 }), data());
    expect(first).to.deep.include({ status: 'stopped', stage: 'prune' });
    const second = await run(options(model, out, { stopAfter: 4, resume: true }), data());
    expect(second).to.deep.include({ status: 'stopped', stage: 'finetune' });
    const third = await run(options(model, out, { resume: true }), data());
    expect(isSummary(full) && isSummary(third)).to.equal(true);
    const read = (dir: string) => fs.readFileSync(path.join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const strip = (l: Record<string, unknown>) => ({ ...l, seconds: undefined });
    expect(read(out).map(strip)).to.deep.equal(read(path.join(root, 'full')).map(strip));
    expect(summaryOf(third).metrics).to.deep.equal(summaryOf(full).metrics);
    expect(summaryOf(third).structure).to.deep.equal(summaryOf(full).structure);
    const a = loadModel(path.join(root, 'full', 'pruned'), { head: 'classification', seed: 0 }).model;
    const b = loadModel(path.join(out, 'pruned'), { head: 'classification', seed: 0 }).model;
    for (const [name, t] of a.params) expect([...(await b.p(name).read())], name).to.deep.equal([...(await t.read())]);
    a.dispose();
    b.dispose();
  });

  it('distils from a teacher (layer + prediction distillation) when one is given', async () => {
    const teacherDir = path.join(root, 'teacher');
    const teacher = loadModel(model, { head: 'classification', numLabels: 2, seed: 9 }).model;
    await saveModel(teacher, teacherDir);
    teacher.dispose();
    const out = path.join(root, 'distil');
    const r = await run(options(model, out, { method: 'none', transfer: undefined, teacher: teacherDir }), { ...data(), transfer: null });
    expect(isSummary(r)).to.equal(true);
    const lines = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const prune = lines.filter((l) => l.phase === 'prune');
    expect(prune.every((l) => typeof l.distill_loss === 'number' && Number.isFinite(l.distill_loss) && l.task_loss === undefined)).to.equal(true);
  });

  it('stops on a NaN loss naming the step and keeps the last checkpoint', async () => {
    const out = path.join(root, 'nan');
    let message = '';
    try {
      await run(options(model, out, { lr: 1e38, regLr: 1e38, checkpointEvery: 1, pruningSteps: 8 }), data());
    } catch (err) {
      message = (err as Error).message;
    }
    const at = message.match(/(?:loss is (?:NaN|-?Infinity) at|is (?:NaN|-?Infinity) after|non-finite state at) prune step (\d+).*; the last checkpoint \(step (\d+)\) in .* is kept$/);
    expect(at, message).to.not.equal(null);
    const kept = latestCheckpoint(path.join(out, 'checkpoint'));
    expect(kept?.step).to.equal(Number(at![2]));
    expect(kept!.step).to.be.lessThan(Number(at![1]));
  });

  it('rejects bad options before any work', () => {
    const base: PruneInput = { task: 'mrpc', transfer: 'stsb', method: 'delta', sparsity: [0.5], out: path.join(root, 'never') };
    const check = (over: Partial<PruneInput>) => validatePruneOptions(resolveOptions(PRUNE_OPTIONS, { ...base, ...over }));
    expect(() => check({ sparsity: [1] })).to.throw(/--sparsity must be in \(0, 1\)/);
    expect(() => check({ sparsity: [0] })).to.throw(/--sparsity/);
    expect(() => check({ task: 'qqp' })).to.throw(/unknown task "qqp"/);
    expect(() => check({ transfer: 'mrpc' })).to.throw(/is the target task itself/);
    expect(() => check({ transfer: undefined })).to.throw(/needs --transfer/);
    expect(() => check({ taskWeights: [0, 0] })).to.throw(/--task-weights/);
    expect(() => check({ maskTypes: ['heads'] })).to.throw(/--mask-types/);
    expect(() => check({ batchSize: 0 })).to.throw(/--batch-size must be a positive integer/);
    expect(fs.existsSync(path.join(root, 'never'))).to.equal(false);
    expect(() => loadModel('/nonexistent/model', { head: 'classification', seed: 0 })).to.throw(/no such directory/);
  });
});
