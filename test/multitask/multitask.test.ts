import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as E from '../../engine/index.ts';
import { loadModel } from '../../models/load.ts';
import { TaskHeads, saveMultitaskModel } from '../../multitask/heads.ts';
import { TaskSampler, parseLossWeights, parseTaskSampling, samplingProbabilities } from '../../multitask/sampling.ts';
import { evaluate } from '../../training/evaluate.ts';
import { useTestEngine, needData } from '../helpers.ts';
import { type LoopResult, type TaskData, loadTasks, pruneLoop } from './loop.ts';


describe('multitask: task sampling and loss weights', () => {
  it('proportional, uniform and temperature sampling probabilities', () => {
    expect(samplingProbabilities([100, 300], { kind: 'proportional' })).to.deep.equal([0.25, 0.75]);
    expect(samplingProbabilities([100, 300], { kind: 'uniform' })).to.deep.equal([0.5, 0.5]);
    const t2 = samplingProbabilities([100, 400], parseTaskSampling('temperature:2'));
    expect(t2[0]).to.be.closeTo(1 / 3, 1e-12);
    expect(parseTaskSampling('temperature:1')).to.deep.equal({ kind: 'temperature', temperature: 1 });
    for (const bad of ['temperature:0', 'temperature:x', 'mixed']) expect(() => parseTaskSampling(bad)).to.throw(`--task-sampling must be proportional, uniform or temperature:T with T > 0 (got "${bad}")`);
    expect(() => samplingProbabilities([10, 0], { kind: 'uniform' })).to.throw(/every task needs training examples/);
  });

  it('draws tasks with those frequencies, reproducibly from the seed and the saved position', () => {
    const s = new TaskSampler([0.2, 0.8], 5);
    const counts = [0, 0];
    for (let i = 0; i < 20000; i++) counts[s.next()]!++;
    expect(counts[0]! / 20000).to.be.closeTo(0.2, 0.015);
    const a = new TaskSampler([0.5, 0.5], 9);
    for (let i = 0; i < 7; i++) a.next();
    const b = new TaskSampler([0.5, 0.5], 9);
    b.position = a.position;
    expect(Array.from({ length: 20 }, () => a.next())).to.deep.equal(Array.from({ length: 20 }, () => b.next()));
  });

  it('loss weights: one non-negative number per task', () => {
    expect(parseLossWeights(undefined, 3)).to.deep.equal([1, 1, 1]);
    expect(parseLossWeights('1,0.5', 2)).to.deep.equal([1, 0.5]);
    for (const bad of ['1', '1,-1', '0,0', '1,x']) expect(() => parseLossWeights(bad, 2)).to.throw('--task-weights must be 2 non-negative numbers');
  });
});

describe('multitask pruning on MRPC + STS-B (short loop, tiny encoder) @gpu @data @slow', function () {
  this.timeout(120_000);
  let tasks: TaskData[] = [];
  const B = 0.3;
  const steps = 40;
  const runs: Partial<Record<string, LoopResult>> = {};
  before(async function () {
    needData(this, 'glue/MRPC', 'glue/STS-B');
    await useTestEngine();
    tasks = loadTasks(['mrpc', 'stsb'], 64, 32);
  });
  after(() => {
    for (const r of Object.values(runs)) {
      r!.pruner.dispose();
      r!.heads.dispose();
      r!.strategy.dispose();
    }
  });

  // Learning rates that move the gates within 40 steps; the Lagrangian's λ learns faster than
  // log_alpha (a slower λ overshoots the target for tens of steps).
  const common = { budget: B, steps, seed: 1, lagrangianWarmup: 20, initialLogAlpha: 1, lagrangianLr: 1, lr: 1e-3, batchSize: 8 };

  for (const [name, maskLr] of [['rank', 0.1], ['element-l0', 0.13]] as const) {
    it(`${name}: the Lagrangian drives the expected size to the budget, and the final model keeps B within 0.5 points`, async () => {
      const r = (runs[name] = await pruneLoop(name, tasks, { ...common, maskLr }));
      const b = r.final.budget;
      console.log(`      ${name}: kept fraction ${r.kept[0]!.toFixed(3)} at step 0 → expected ${b.expected.toFixed(4)} at the end (target ${B}); deterministic ${b.deterministic.toFixed(4)}; final ${b.achieved.toFixed(4)} (${b.fit!.removed} units removed, ${b.fit!.restored} restored to fit)`);
      for (const l of r.losses) expect(Number.isFinite(l)).to.equal(true);
      expect(Math.abs(b.expected - B), `expected ${b.expected}`).to.be.below(0.05);
      expect(b.achieved).to.be.at.most(B);
      expect(B - b.achieved).to.be.below(0.005);
      expect(b.dense_params).to.equal(16832);
    });
  }

  it('movement: the top-k keeps exactly ⌊B·dense⌋ parameters at the end of the schedule', async () => {
    const r = (runs['movement'] = await pruneLoop('movement', tasks, { ...common, maskLr: 0.01, movementWarmup: { initial: 4, final: 8 } }));
    const b = r.final.budget;
    expect(r.kept[0]).to.equal(1);
    expect(r.kept[steps - 1]! * b.dense_params).to.be.closeTo(Math.floor(B * b.dense_params), 1e-6 * b.dense_params);
    expect(b.kept_params).to.equal(Math.floor(B * b.dense_params));
    expect(r.final.storage!.nonzero).to.equal(b.kept_params - (b.dense_params - r.final.storage!.weights));
    expect(r.final.notes.join(' ')).to.match(/no speed with dense GEMMs/);
  });

  it('the pruned multitask model saves with one head per task and evaluates on each (rank: factorised Linears load back)', async function () {
    const r = runs['rank'];
    if (!r) throw new Error('needs the rank run of the test above, which did not finish');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-multitask-'));
    const final = r!.final;
    await saveMultitaskModel(dir, final.config, final.values, r!.heads);
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).webprune_layers[0].ranks).to.be.an('object');
    expect(() => loadModel(dir, { head: 'classification', seed: 0 })).to.throw(/multitask model with heads for mrpc, stsb: name the task/);
    expect(() => loadModel(dir, { head: 'classification', seed: 0, task: 'sciie' })).to.throw(/no head for task sciie \(it has mrpc, stsb\)/);
    // The compacted model equals the masked one on each task's dev set.
    for (const [t, data] of tasks.entries()) {
      const { model, initialised } = loadModel(dir, { head: 'classification', seed: 0, task: data.task.name });
      expect(initialised).to.deep.equal([]);
      expect(model.config.numLabels).to.equal(data.task.numLabels);
      const saved = await evaluate(model, data.dev, data.task, { batchSize: 16 });
      const masked = await r!.pruner.evaluate(t, data.dev, 16);
      for (const [k, v] of Object.entries(masked)) expect(saved.metrics[k], `${data.task.name} ${k}`).to.be.closeTo(v, 1e-3);
      model.dispose();
    }
    fs.rmSync(dir, { recursive: true });
  });

  it('heads: logits of each task from the shared pooled features', async () => {
    const heads = new TaskHeads([{ name: 'a', numLabels: 3 }, { name: 'b', numLabels: 1 }], 4, 0.5, 3);
    const pooled = E.tensor([1, 0, 0, 0, 0, 1, 0, 0], [2, 4]);
    const la = await E.tidy(() => heads.logits(0, pooled)).read();
    const w = await heads.weights[0]!.read();
    expect(Array.from(la)).to.deep.equal([w[0], w[4], w[8], w[1], w[5], w[9]]);
    expect(heads.named().map(([n]) => n)).to.deep.equal(['task_heads.0.weight', 'task_heads.0.bias', 'task_heads.1.weight', 'task_heads.1.bias']);
    heads.dispose();
    pooled.dispose();
  });
});
