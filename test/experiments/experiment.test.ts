/**
 * Experiments end to end on real data (MRPC with STS-B), a small random encoder and a few steps:
 * each experiment produces its table and plots, a cell equals the same job run by hand, a failing
 * cell is recorded while the others go on, changed options are refused naming the cell, and an
 * experiment SIGKILLed mid-cell and rerun writes the same results.json as an uninterrupted one.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultDataDir } from '../../data/paths.ts';
import { type ExperimentInput, experimentJob } from '../../jobs/experiment.ts';
import { pruneJob } from '../../jobs/prune.ts';
import { useTestEngine, needData } from '../helpers.ts';
import { FEW_STEPS, saveSmallEncoder, writeTsvTask } from './small_encoder.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const dataDir = defaultDataDir();

interface Results {
  table: Array<{ column: string; row: Record<string, number>; dev: Record<string, { mean: number; std: number; best: number; n: number }>; failed: number; chosen?: Record<string, unknown>; speedup?: { measured: number; ideal: number } }>;
  cells: Array<{ id: string; status: string; dev?: Record<string, number>; model?: string; error?: string }>;
}
const readResults = (out: string) => JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8')) as Results;

describe('experiments (Dery et al. tables as jobs) @gpu @data @slow', function () {
  this.timeout(600_000);
  let root = '';
  let model = '';
  let base: (out: string, over?: Partial<ExperimentInput>) => ExperimentInput;
  const quiet = { info: () => {} };

  before(async function () {
    needData(this, 'glue/MRPC', 'glue/STS-B');
    await useTestEngine();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-experiment-'));
    model = await saveSmallEncoder(root, dataDir);
    base = (out, over = {}) => ({ experiment: 'how', model, target: 'mrpc', transfer: 'stsb', sparsity: 0.7, seeds: 1, seed: 3, out, ...FEW_STEPS, ...over });
  });
  after(() => root && fs.rmSync(root, { recursive: true, force: true }));

  it('how: one cell per method, a table, plots; a cell equals the job run by hand; reruns skip finished cells', async () => {
    const out = path.join(root, 'how');
    const summary = await experimentJob(base(out), { hooks: quiet });
    expect(summary.cells).to.equal(4);
    expect(summary.failed).to.equal(0);
    const r = readResults(out);
    expect(r.table.map((e) => e.column)).to.deep.equal(['no transfer', 'single-mask', 'multi-mask', 'δ-formulation']);
    for (const f of ['results.md', 'results.csv', 'methods.svg', 'structure.svg']) expect(fs.existsSync(path.join(out, f)), f).to.equal(true);
    expect(fs.readFileSync(path.join(out, 'structure.svg'), 'utf8')).to.match(/^<svg/);
    const md = fs.readFileSync(path.join(out, 'results.md'), 'utf8');
    expect(md).to.match(/\| dev accuracy \| [0-9.]+ ± [0-9.]+ \(best [0-9.]+, n=1\)/);
    // The δ cell by hand.
    const hand = await pruneJob({ model, task: 'mrpc', transfer: 'stsb', method: 'delta', sparsity: [0.7], seed: 3, out: path.join(root, 'by-hand'), pruningSteps: 6, finetuneSteps: 4, batchSize: 4, maxSeqLength: 32, maxTrain: 24, maxEval: 24, lr: 1e-3, regLr: 0.1, finetuneLr: 1e-3, lagrangianWarmup: 2 }, { hooks: quiet });
    expect(hand.status).to.equal('done');
    const cell = r.cells.find((c) => c.id === 'how/delta/seed-3')!;
    expect(cell.dev).to.deep.equal(hand.status === 'done' ? hand.summary.metrics.dev : null);
    expect(r.table[3]!.dev['accuracy']!.mean).to.equal(hand.status === 'done' ? hand.summary.metrics.dev['accuracy'] : NaN);
    // A rerun runs nothing and writes the same results.
    const before = fs.readFileSync(path.join(out, 'results.json'), 'utf8');
    const stamp = fs.statSync(path.join(out, 'cells', 'how', 'delta', 'seed-3', 'summary.json')).mtimeMs;
    await experimentJob(base(out), { hooks: quiet });
    expect(fs.readFileSync(path.join(out, 'results.json'), 'utf8')).to.equal(before);
    expect(fs.statSync(path.join(out, 'cells', 'how', 'delta', 'seed-3', 'summary.json')).mtimeMs).to.equal(stamp);
    // Changed options are refused, naming the cell and the option.
    let message = '';
    try {
      await experimentJob(base(out, { lr: 5e-4 }), { hooks: quiet });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).to.match(/^cell how\/none\/seed-3: cannot resume .*--lr: 0\.001 → 0\.0005/);
  });

  it('what and when: the transfer columns run from Prune(A), and FT(T, A) mixes both tasks', async () => {
    const what = path.join(root, 'what');
    const w = await experimentJob(base(what, { experiment: 'what' }), { hooks: quiet });
    expect(w.failed, JSON.stringify(readResults(what).cells.map((c) => c.error))).to.equal(0);
    expect(readResults(what).table.map((e) => e.column)).to.deep.equal(['no transfer', 'weights only', 'structure only', 'both']);
    // The three transfer columns share one Prune(A) run, on A alone.
    const shared = path.join(what, 'shared', 'prune-stsb', 'seed-3');
    expect(JSON.parse(fs.readFileSync(path.join(shared, 'summary.json'), 'utf8')).task).to.equal('stsb');
    expect(fs.existsSync(path.join(shared, 'masked', 'model.safetensors'))).to.equal(true);
    const structure = JSON.parse(fs.readFileSync(path.join(what, 'cells', 'what', 'structure', 'seed-3', 'pretrained-weights', 'summary.json'), 'utf8'));
    expect(structure.sparsity).to.be.closeTo(0.7, 0.01);
    const when = path.join(root, 'when');
    const t = await experimentJob(base(when, { experiment: 'when' }), { hooks: quiet });
    expect(t.failed).to.equal(0);
    expect(readResults(when).table.map((e) => e.column)).to.deep.equal(['no transfer', 'Prune(A) → FT(T)', 'Prune(T) → FT(T, A)', 'Prune(T, A) → FT(T), δ']);
    const mixed = fs.readFileSync(path.join(when, 'cells', 'when', 'prune-T-ft-TA', 'seed-3', 'finetune', 'metrics.jsonl'), 'utf8');
    expect(mixed).to.include('"task":"stsb"');
    expect(mixed).to.include('"task":"mrpc"');
  });

  it('curve with --one-run (measured speedups), data-size, and a grid choosing per column', async () => {
    const curve = path.join(root, 'curve');
    await experimentJob(base(curve, { experiment: 'curve', sparsities: [0.5, 0.9], oneRun: true, benchBatchSize: 2, benchSeqLen: 8, benchRepeats: 1 }), { hooks: quiet });
    const c = readResults(curve);
    expect(c.table.map((e) => [e.column, e.row['sparsity']])).to.deep.equal([['no transfer', 0.5], ['no transfer', 0.9], ['transfer (delta)', 0.5], ['transfer (delta)', 0.9]]);
    for (const e of c.table) expect(e.speedup!.measured).to.be.greaterThan(0);
    expect(c.table[1]!.speedup!.ideal).to.be.greaterThan(c.table[0]!.speedup!.ideal);
    expect(fs.existsSync(path.join(curve, 'curve.svg'))).to.equal(true);
    const sizes = path.join(root, 'data-size');
    await experimentJob(base(sizes, { experiment: 'data-size', sparsities: [0.7], fractions: [0.5, 1] }), { hooks: quiet });
    const d = readResults(sizes);
    expect(d.table.map((e) => e.column)).to.deep.equal(['50% of the data', '100% of the data']);
    const half = JSON.parse(fs.readFileSync(path.join(sizes, 'cells', 'data-size', '0.5', '0.7', 'seed-3', 'run.json'), 'utf8'));
    expect(half.fingerprint['--train-fraction']).to.equal(0.5);
    const grid = path.join(root, 'grid');
    await experimentJob(base(grid, { experiment: 'grid', base: 'how', transfer: 'stsb', grid: 'reg-lr=0.1,0.01' }), { hooks: quiet });
    const g = readResults(grid);
    expect(g.cells).to.have.length(8);
    for (const e of g.table) expect(e.chosen).to.have.property('reg-lr');
    expect(fs.readFileSync(path.join(grid, 'results.md'), 'utf8')).to.match(/chosen reg-lr=0\.0?1/);
  });

  it('records a failing cell with its error and goes on with the others', async () => {
    const bad = writeTsvTask(path.join(root, 'bad-task'), 'sentence1\tlabel\nonly one column here\n', 'sentence1\tlabel\na\t0\n');
    const out = path.join(root, 'failing');
    const s = await experimentJob(base(out, { transfer: `tsv:${bad}` }), { hooks: quiet });
    expect(s.failed).to.equal(3);
    const r = readResults(out);
    expect(r.cells.find((c) => c.id === 'how/none/seed-3')!.status).to.equal('done');
    expect(r.cells.find((c) => c.id === 'how/delta/seed-3')!.error).to.include(path.join(bad, 'train.tsv'));
    expect(fs.readFileSync(path.join(out, 'results.md'), 'utf8')).to.match(/## Failed cells/);
  });

  it('SIGKILLed mid-cell and rerun, writes the same results.json as an uninterrupted run', async () => {
    const args = (out: string) => ['--import', './scripts/ts-register.mjs', 'cli/webprune.ts', 'experiment', 'how', '--model', model, '--target', 'mrpc', '--transfer', 'stsb', '--sparsity', '0.7', '--seeds', '1', '--seed', '3',
      '--pruning-steps', '6', '--finetune-steps', '4', '--batch-size', '4', '--max-seq-length', '32', '--max-train', '24', '--max-eval', '24', '--lr', '1e-3', '--reg-lr', '0.1', '--finetune-lr', '1e-3', '--lagrangian-warmup', '2', '--checkpoint-every', '2', '--log-every', '1', '--out', out];
    const out = path.join(root, 'killed');
    // The 5th checkpoint write pauses: inside the second cell's pruning.
    const p = spawn(process.execPath, args(out), { cwd: ROOT, env: { ...process.env, WEBPRUNE_TEST_PAUSE_AT: 'renamed', WEBPRUNE_TEST_PAUSE_SKIP: '4' }, stdio: 'ignore' });
    const exited = new Promise((resolve) => p.on('exit', resolve));
    const paused = () => fs.existsSync(out) && fs.readdirSync(path.join(out, 'cells', 'how'), { recursive: true }).some((f) => String(f).includes('paused-at-renamed'));
    const until = Date.now() + 300_000;
    while (!(fs.existsSync(path.join(out, 'cells', 'how')) && paused())) {
      if (Date.now() > until) throw new Error('the experiment never paused');
      await new Promise((r) => setTimeout(r, 100));
    }
    p.kill('SIGKILL');
    await exited;
    expect(fs.existsSync(path.join(out, 'results.json'))).to.equal(false);
    await experimentJob(base(out), { hooks: quiet });
    const normalise = (dir: string) => fs.readFileSync(path.join(dir, 'results.json'), 'utf8').replaceAll(dir, 'DIR');
    expect(normalise(out)).to.equal(normalise(path.join(root, 'how')));
  });
});
