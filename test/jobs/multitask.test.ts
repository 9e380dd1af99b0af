/**
 * The multitask job and the multitask-vs-ensemble experiment on real data (MRPC + STS-B), a small
 * random encoder and a few steps: every strategy meets its budget through the job, the saved model
 * evaluates per task to the summary's metrics (also through `eval`), a stopped and resumed run
 * reproduces the uninterrupted one, and the experiment writes its table and skips finished cells.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultDataDir } from '../../data/paths.ts';
import { getTask } from '../../data/tasks.ts';
import { loadTokenizer } from '../../data/tokenizer.ts';
import { bestAllocation } from '../../experiments/ensemble.ts';
import { evalJob } from '../../jobs/finetune.ts';
import { loadEncoded } from '../../jobs/inputs.ts';
import type { JobResult } from '../../jobs/job.ts';
import { type MultitaskInput, type MultitaskInputs, type MultitaskSummary, multitaskJob } from '../../jobs/multitask.ts';
import { type MultitaskExperimentInput, multitaskExperimentJob } from '../../jobs/multitask_experiment.ts';
import { experimentStatus } from '../../jobs/experiment_status.ts';
import { loadModel } from '../../models/load.ts';
import { evaluate } from '../../training/evaluate.ts';
import { slurmReachable } from '../../experiments/executors/slurm_cli.ts';
import { saveSmallEncoder } from '../experiments/small_encoder.ts';
import { useTestEngine, needData, skipBecause } from '../helpers.ts';

const dataDir = defaultDataDir();
const quiet = { info: () => {}, quiet: true };
const ROOT = path.join(import.meta.dirname, '../..');
/** How SLURM array tasks start webprune: this checkout's sources, as the tests run them. */
const COMMAND = `${process.execPath} --import ${path.join(ROOT, 'scripts', 'ts-register.mjs')} ${path.join(ROOT, 'cli', 'webprune.ts')}`;

function summaryOf(r: JobResult<MultitaskSummary>): MultitaskSummary {
  if (r.status !== 'done') throw new Error(`the run stopped: ${JSON.stringify(r)}`);
  return r.summary;
}

describe('webprune multitask (job) and experiment multitask-vs-ensemble @gpu @data @slow', function () {
  this.timeout(600_000);
  let root = '';
  let model = '';
  let inputs: MultitaskInputs;
  const B = 0.3;
  const options = (out: string, over: Partial<MultitaskInput> = {}): MultitaskInput => ({
    model, tasks: ['mrpc', 'stsb'], strategy: 'rank', budget: B, out, steps: 10, batchSize: 4, maxSeqLength: 32, maxTrain: 24, maxEval: 24, seed: 3,
    lr: 1e-3, maskLr: 0.1, lagrangianLr: 1, lagrangianWarmup: 5, initialLogAlpha: 1, logEvery: 1, checkpointEvery: 0, evalBatchSize: 8, ...over,
  });
  const summaries: Record<string, MultitaskSummary> = {};

  before(async function () {
    needData(this, 'glue/MRPC', 'glue/STS-B');
    await useTestEngine();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-multitask-job-'));
    model = await saveSmallEncoder(root, dataDir);
    const tokenizer = loadTokenizer(path.join(dataDir, 'vocab', 'bert-base-uncased'));
    const split = (t: string, s: 'train' | 'dev') => loadEncoded(getTask(t), dataDir, s, tokenizer, 32, 24).encoded;
    inputs = { tokenizer, tasks: { mrpc: { train: split('mrpc', 'train'), dev: split('mrpc', 'dev') }, stsb: { train: split('stsb', 'train'), dev: split('stsb', 'dev') } } };
  });
  after(() => root && fs.rmSync(root, { recursive: true, force: true }));

  for (const strategy of ['rank', 'element-l0', 'movement'] as const) {
    it(`${strategy}: the saved model keeps the budget${strategy === 'movement' ? ' exactly' : ' within 0.5 points'} and evaluates per task to the summary's metrics`, async () => {
      const out = path.join(root, strategy);
      const s = (summaries[strategy] = summaryOf(await multitaskJob(options(out, strategy === 'movement' ? { strategy, maskLr: 0.01, movementWarmup: [2, 3] } : { strategy }), { inputs, hooks: quiet })));
      const b = s.budget;
      expect(b.achieved).to.be.at.most(B);
      if (strategy === 'movement') expect(b.kept_params).to.equal(Math.floor(B * b.dense_params));
      else expect(B - b.achieved).to.be.below(0.005);
      expect(s.tasks).to.deep.equal(['mrpc', 'stsb']);
      expect(s.average).to.be.closeTo((s.dev['mrpc']!['accuracy']! + s.dev['stsb']!['pearson']!) / 2, 1e-12);
      for (const [t, task] of [['mrpc', getTask('mrpc')], ['stsb', getTask('stsb')]] as const) {
        const { model: loaded } = loadModel(path.join(out, 'model'), { head: 'classification', task: t, seed: 0 });
        expect(loaded.config.numLabels).to.equal(task.numLabels);
        expect((await evaluate(loaded, inputs.tasks[t]!.dev, task, { batchSize: 8 })).metrics).to.deep.equal(s.dev[t]);
        loaded.dispose();
      }
      const rows = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      expect(rows).to.have.length(10);
      expect(new Set(rows.map((r) => r.task))).to.deep.equal(new Set(['mrpc', 'stsb']));
      if (strategy === 'rank') {
        expect(s.ranks).to.have.length(12);
        expect(JSON.parse(fs.readFileSync(path.join(out, 'model', 'config.json'), 'utf8')).webprune_layers[0].ranks).to.be.an('object');
        // `webprune eval` scores a multitask directory with the task's head.
        expect(Object.keys(await evalJob({ model: path.join(out, 'model'), task: 'mrpc', maxSeqLength: 32 }))).to.deep.equal(['accuracy', 'f1']);
      } else {
        expect(s.storage!.csr_bytes).to.be.below(s.storage!.dense_bytes);
        expect(s.notes.join(' ')).to.match(/no speed with dense GEMMs/);
      }
    });
  }

  it('a run stopped and resumed reproduces the uninterrupted run exactly', async function () {
    if (!summaries['rank']) throw new Error('needs the rank run of the first test, which did not finish');
    const out = path.join(root, 'resumed');
    const first = await multitaskJob(options(out, { stopAfter: 4 }), { inputs, hooks: quiet });
    expect(first).to.deep.include({ status: 'stopped', stage: 'prune', step: 4 });
    let refused = '';
    await multitaskJob(options(out, { resume: true, taskSampling: 'uniform' }), { inputs, hooks: quiet }).catch((err: Error) => (refused = err.message));
    expect(refused).to.match(/--task-sampling: "proportional" → "uniform"/);
    const s = summaryOf(await multitaskJob(options(out, { resume: true }), { inputs, hooks: quiet }));
    const full = path.join(root, 'rank');
    const read = (dir: string, f: string) => fs.readFileSync(path.join(dir, f));
    expect(read(out, 'metrics.jsonl').toString()).to.equal(read(full, 'metrics.jsonl').toString());
    expect(read(out, 'model/model.safetensors').equals(read(full, 'model/model.safetensors'))).to.equal(true);
    expect(read(out, 'model/task_heads.safetensors').equals(read(full, 'model/task_heads.safetensors'))).to.equal(true);
    expect(s.dev).to.deep.equal(summaries['rank']!.dev);
    expect(s.budget).to.deep.equal(summaries['rank']!.budget);
  });

  it('refuses options that disagree, naming them; --low-resource subsamples one task', async () => {
    const bad = async (over: Partial<MultitaskInput>) => {
      try {
        await multitaskJob(options(path.join(root, 'bad'), over), { inputs, hooks: quiet });
      } catch (err) {
        return (err as Error).message;
      }
      return 'no error';
    };
    expect(await bad({ lowResource: 'sciie' })).to.equal('--low-resource sciie is not one of --tasks (mrpc, stsb)');
    expect(await bad({ fraction: 0.5 })).to.match(/^--fraction applies to the --low-resource task/);
    expect(await bad({ lossWeights: [1] })).to.match(/^--loss-weights needs one weight per task \(2: mrpc, stsb\), got 1/);
    expect(await bad({ budget: 1.5 })).to.match(/^--budget must be in \(0, 1\]/);
    expect(await bad({ tasks: ['mrpc', 'mrpc'] })).to.match(/^--tasks must name each task once/);
    expect(fs.existsSync(path.join(root, 'bad'))).to.equal(false);
    const s = summaryOf(await multitaskJob(options(path.join(root, 'low'), { steps: 2, lowResource: 'stsb', fraction: 0.5, taskSampling: 'uniform', lossWeights: [1, 2] }), { inputs, hooks: quiet }));
    expect(s.train_examples).to.deep.equal({ mrpc: 24, stsb: 12 });
    expect(s.low_resource).to.deep.equal({ task: 'stsb', fraction: 0.5 });
    expect(s.task_sampling.probabilities).to.deep.equal({ mrpc: 0.5, stsb: 0.5 });
    expect(s.loss_weights).to.deep.equal({ mrpc: 1, stsb: 2 });
  });

  it('best allocation: exhaustive over the grid within the budget, ties to the smaller total', () => {
    const grid = (scores: number[]) => [0.1, 0.2, 0.3].map((b, i) => [b, scores[i]!] as const);
    // Task a gains most from budget; b barely.
    const a = grid([0.5, 0.7, 0.9]);
    const b = grid([0.6, 0.61, 0.61]);
    expect(bestAllocation([a, b], 0.4)).to.deep.equal({ budgets: [0.3, 0.1], mean: 0.75 });
    expect(bestAllocation([a, b], 0.2)).to.deep.equal({ budgets: [0.1, 0.1], mean: 0.55 });
    // b's 0.2 and 0.3 tie: the smaller total wins.
    expect(bestAllocation([grid([0.5, 0.5, 0.5]), b], 0.6)!.budgets).to.deep.equal([0.1, 0.2]);
    expect(bestAllocation([a, b], 0.15)).to.equal(null);
  });

  const experiment = (out: string, over: Partial<MultitaskExperimentInput> = {}): MultitaskExperimentInput => ({
    model, tasks: ['mrpc', 'stsb'], strategy: ['rank'], budgets: [0.2, 0.4], lowResource: 'stsb', fraction: 0.5, seed: 3, out,
    steps: 6, batchSize: 4, maxSeqLength: 32, maxTrain: 24, maxEval: 24, lr: 1e-3, maskLr: 0.1, lagrangianLr: 1, lagrangianWarmup: 3, initialLogAlpha: 1, checkpointEvery: 0, evalBatchSize: 8, ...over,
  });
  const normalised = (out: string) => fs.readFileSync(path.join(out, 'results.json'), 'utf8').replaceAll(out, 'DIR');

  it('experiment multitask-vs-ensemble: the table per budget (multitask, even and best ensembles), low-resource rows, a plot; reruns skip finished cells', async () => {
    const out = path.join(root, 'experiment');
    const input = experiment(out);
    const summary = await multitaskExperimentJob(input, { hooks: quiet });
    // 2 multitask models; each task alone at 0.1 and 0.2, and stsb alone at 0.4 (low-resource).
    expect(summary.cells).to.equal(7);
    expect(summary.failed).to.equal(0);
    const t = summary.table!;
    expect(t.rows.map((r) => [r.budget, r.model])).to.deep.equal([[0.2, 'multitask'], [0.2, 'even ensemble'], [0.2, 'best ensemble'], [0.4, 'multitask'], [0.4, 'even ensemble'], [0.4, 'best ensemble']]);
    expect(t.rows[1]!.allocation).to.deep.equal({ mrpc: 0.1, stsb: 0.1 });
    expect(t.rows[4]!.allocation).to.deep.equal({ mrpc: 0.2, stsb: 0.2 });
    for (const r of t.rows.filter((x) => x.model === 'best ensemble')) {
      const even = t.rows.find((x) => x.model === 'even ensemble' && x.budget === r.budget)!;
      expect(r.average!).to.be.at.least(even.average!);
      expect(Object.values(r.allocation!).reduce((a, x) => a + x, 0)).to.be.at.most(r.budget + 1e-9);
    }
    // The multitask row is the multitask cell's summary; the low-resource rows compare stsb with and without the other task.
    const cell = JSON.parse(fs.readFileSync(path.join(out, 'cells', 'rank', 'multitask', 'budget-0.4', 'seed-3', 'summary.json'), 'utf8')) as MultitaskSummary;
    expect(t.rows[3]!.scores).to.deep.equal({ mrpc: cell.dev['mrpc']!['accuracy'], stsb: cell.dev['stsb']!['pearson'] });
    expect(cell.train_examples).to.deep.equal({ mrpc: 24, stsb: 12 });
    const alone = JSON.parse(fs.readFileSync(path.join(out, 'cells', 'rank', 'alone-stsb', 'budget-0.4', 'seed-3', 'summary.json'), 'utf8')) as MultitaskSummary;
    expect(t.lowResource).to.deep.equal([
      { strategy: 'rank', budget: 0.2, multitask: t.rows[0]!.scores['stsb'], alone: t.rows[4]!.scores['stsb'], even: t.rows[1]!.scores['stsb'] },
      { strategy: 'rank', budget: 0.4, multitask: cell.dev['stsb']!['pearson'], alone: alone.dev['stsb']!['pearson'], even: t.rows[4]!.scores['stsb'] },
    ]);
    const md = fs.readFileSync(path.join(out, 'results.md'), 'utf8');
    expect(md).to.include('| budget | model | mrpc accuracy | stsb pearson | average | budget per task |');
    expect(md).to.include('## Low-resource task');
    expect(md).to.include('| 0.4 | best ensemble |');
    expect(fs.readFileSync(path.join(out, 'average-vs-budget.svg'), 'utf8')).to.match(/^<svg/);
    // A rerun runs nothing and writes the same results.
    const before = fs.readFileSync(path.join(out, 'results.json'), 'utf8');
    const stamp = fs.statSync(path.join(out, 'cells', 'rank', 'multitask', 'budget-0.4', 'seed-3', 'summary.json')).mtimeMs;
    await multitaskExperimentJob(input, { hooks: quiet });
    expect(fs.readFileSync(path.join(out, 'results.json'), 'utf8')).to.equal(before);
    expect(fs.statSync(path.join(out, 'cells', 'rank', 'multitask', 'budget-0.4', 'seed-3', 'summary.json')).mtimeMs).to.equal(stamp);
  });

  it('on SLURM (--executor slurm, a real cluster): the array tasks plan the same cells and write the same results.json; status reads it', async function () {
    if (!(await slurmReachable())) {
      skipBecause(this, 'no SLURM cluster answers here (sinfo). Start a local one with: sudo bash scripts/slurm-local.sh start', 'provides');
    }
    const local = path.join(root, 'experiment');
    if (!fs.existsSync(path.join(local, 'results.json'))) throw new Error(`needs ${local}/results.json from the local experiment test above, which did not finish`);
    const out = path.join(root, 'experiment-slurm');
    const summary = await multitaskExperimentJob(experiment(out, { executor: 'slurm', maxRunning: 2, webpruneCommand: COMMAND, pollEvery: 1 }), { hooks: quiet });
    expect(summary.complete).to.equal(true);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'slurm', 'submission-1.json'), 'utf8')).planner).to.equal('multitask-vs-ensemble');
    expect(normalised(out)).to.equal(normalised(local));
    const status = await experimentStatus(out);
    expect([status.experiment, status.done.length, status.results]).to.deep.equal(['multitask-vs-ensemble', 7, true]);
  });
});
