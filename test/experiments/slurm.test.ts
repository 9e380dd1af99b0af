/**
 * The SLURM executor against a real SLURM cluster (CI starts a one-node cluster with
 * scripts/slurm-local.sh start; so can a developer): a small experiment (a small random encoder, a few
 * steps, MRPC) as a job array with two tasks at once writes the same results.json as the local
 * executor; an array cancelled with scancel mid-run leaves a half-finished experiment that `status`
 * reads, and a rerun resumes the cells from their checkpoints to the same results; a cell that fails
 * is resubmitted, then reported with its log; sbatch's errors come through verbatim.
 * Without a cluster the tests are skipped with a message; with CI set they fail instead.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { defaultDataDir } from '../../data/paths.ts';
import { FINAL_STATES, scancel, slurmReachable, slurmTool, squeue } from '../../experiments/executors/slurm_cli.ts';
import { type ExperimentInput, experimentJob } from '../../jobs/experiment.ts';
import { experimentStatus, formatStatus } from '../../jobs/experiment_status.ts';
import { useTestEngine, needData, skipBecause } from '../helpers.ts';
import { FEW_STEPS, saveSmallEncoder, writeTsvTask } from './small_encoder.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const dataDir = defaultDataDir();
/** How the array tasks start webprune: this checkout's sources, as the tests run them. */
const COMMAND = `${process.execPath} --import ${path.join(ROOT, 'scripts', 'ts-register.mjs')} ${path.join(ROOT, 'cli', 'webprune.ts')}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const results = (out: string) => fs.readFileSync(path.join(out, 'results.json'), 'utf8').replaceAll(out, 'DIR');

/** Waits until `done()` holds, polling every 200 ms. */
async function until(what: string, done: () => boolean | Promise<boolean>, seconds = 120): Promise<void> {
  const end = Date.now() + seconds * 1000;
  while (!(await done())) {
    if (Date.now() > end) throw new Error(`timed out after ${seconds} s waiting for ${what}`);
    await sleep(200);
  }
}

describe('experiments on SLURM (--executor slurm, against a real cluster) @gpu @slow', function () {
  this.timeout(600_000);
  let root = '';
  let model = '';
  let base: (out: string, over?: Partial<ExperimentInput>) => ExperimentInput;
  let local = '';
  const jobs: string[] = [];

  before(async function () {
    if (!(await slurmReachable())) {
      skipBecause(this, 'no SLURM cluster answers here (sinfo). Start a local one with: sudo bash scripts/slurm-local.sh start', 'provides');
    }
    needData(this, 'glue/MRPC');
    await useTestEngine();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-slurm-'));
    model = await saveSmallEncoder(root, dataDir);
    // Two cells (MRPC at half and all of its training data), long enough to cancel one mid-run.
    base = (out, over = {}) => ({
      experiment: 'data-size', model, target: 'mrpc', sparsities: [0.7], fractions: [0.5, 1], seeds: 1, seed: 3, out,
      ...FEW_STEPS, pruningSteps: 16, webpruneCommand: COMMAND, pollEvery: 1, ...over,
    });
    local = path.join(root, 'local');
    const summary = await experimentJob(base(local), { hooks: { info: () => {} } });
    expect(summary.complete).to.equal(true);
  });

  after(async () => {
    if (jobs.length) await scancel(jobs).catch(() => {});
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  it('runs the cells as one array, two tasks at once, and writes the same results.json as the local executor', async () => {
    const out = path.join(root, 'array');
    const lines: string[] = [];
    const summary = await experimentJob(base(out, { executor: 'slurm', maxRunning: 2 }), { hooks: { info: (m) => lines.push(m) } });
    expect(summary.complete, lines.join('\n')).to.equal(true);
    expect(summary.failed).to.equal(0);
    const submission = JSON.parse(fs.readFileSync(path.join(out, 'slurm', 'submission-1.json'), 'utf8'));
    jobs.push(submission.job);
    expect(submission.sbatch).to.include('--array=0-1%2');
    expect(submission.cells.map((c: { id: string }) => c.id)).to.deep.equal(['data-size/0.5/0.7/seed-3', 'data-size/1/0.7/seed-3']);
    // Both tasks ran side by side: squeue reported them running together.
    expect(lines.some((l) => / 2 running, /.test(l)), lines.join('\n')).to.equal(true);
    expect(results(out)).to.equal(results(local));
    for (const f of ['results.md', 'results.csv', 'data-size.svg']) expect(fs.existsSync(path.join(out, f)), f).to.equal(true);
    // Each task's log says which cell it ran; no lock is left behind.
    const logs = fs.readdirSync(path.join(out, 'slurm', 'logs'));
    expect(logs.sort()).to.deep.equal([`${submission.job}_0.out`, `${submission.job}_1.out`]);
    expect(fs.readFileSync(path.join(out, 'slurm', 'logs', logs[0]!), 'utf8')).to.include('cell data-size/0.5/0.7/seed-3: done');
    // Without --time no task stops for a time limit (SLURM reports 365 days left: no timer fires early).
    for (const l of logs) expect(fs.readFileSync(path.join(out, 'slurm', 'logs', l), 'utf8'), l).to.not.include('time limit');
    expect(fs.readdirSync(path.join(out, 'results')).filter((f) => f.endsWith('.lock'))).to.deep.equal([]);
    // A rerun submits nothing and writes the same results.
    const again: string[] = [];
    await experimentJob(base(out, { executor: 'slurm' }), { hooks: { info: (m) => again.push(m) } });
    expect(again.some((l) => l.startsWith('submitted'))).to.equal(false);
    expect(results(out)).to.equal(results(local));
  });

  it('scancel mid-run: status reads the half-finished experiment, and a rerun resumes from the checkpoints to the same results', async () => {
    const out = path.join(root, 'cancelled');
    const first = await experimentJob(base(out, { executor: 'slurm', wait: false }), { hooks: { info: () => {} } });
    expect(first.complete).to.equal(false);
    expect(first.note).to.match(/not waiting for SLURM job \d+/);
    const job = JSON.parse(fs.readFileSync(path.join(out, 'slurm', 'submission-1.json'), 'utf8')).job as string;
    jobs.push(job);
    // Cancel the whole array once the half-data cell has written a checkpoint.
    const cell = path.join(out, 'cells', 'data-size', '0.5', '0.7', 'seed-3');
    await until('a checkpoint of the first cell', () => fs.existsSync(path.join(cell, 'checkpoint')));
    await scancel([job]);
    await until('the cancelled tasks to end', async () => [...(await squeue([job])).values()].every((t) => FINAL_STATES.has(t.state)));
    // A task killed outright leaves its cell's lock behind: squeue says its job is over, so it is stale.
    fs.mkdirSync(path.join(out, 'results'), { recursive: true });
    fs.writeFileSync(path.join(out, 'results', 'data-size__0.5__0.7__seed-3.lock'), JSON.stringify({ job: `${job}_0`, host: 'another-node', pid: 1, since: 'then' }));
    const status = await experimentStatus(out);
    const text = formatStatus(status);
    expect(status.cells, text).to.equal(2);
    expect(status.running, text).to.deep.equal([]);
    expect(status.queued, text).to.deep.equal([]);
    expect(status.failed, text).to.deep.equal([]);
    expect(status.pending, text).to.include('data-size/0.5/0.7/seed-3');
    expect(status.done.length + status.pending.length, text).to.equal(2);
    expect(status.results, text).to.equal(false);
    expect(fs.existsSync(path.join(out, 'results.json'))).to.equal(false);
    // The rerun resumes the cancelled cell from its checkpoint and ends with the uninterrupted results.
    const lines: string[] = [];
    const second = await experimentJob(base(out, { executor: 'slurm' }), { hooks: { info: (m) => lines.push(m) } });
    expect(second.complete, lines.join('\n')).to.equal(true);
    const resubmitted = JSON.parse(fs.readFileSync(path.join(out, 'slurm', 'submission-2.json'), 'utf8'));
    jobs.push(resubmitted.job);
    const index = resubmitted.cells.findIndex((c: { id: string }) => c.id === 'data-size/0.5/0.7/seed-3');
    const log = fs.readFileSync(path.join(out, 'slurm', 'logs', `${resubmitted.job}_${index}.out`), 'utf8');
    expect(log).to.match(/resumed the prune phase at step [1-9]\d* of 16/);
    expect(results(out)).to.equal(results(local));
    expect(formatStatus(await experimentStatus(out))).to.match(/2 cells: 2 done, 0 running, 0 queued, 0 failed, 0 pending; results.md is up to date/);
    expect(fs.readdirSync(path.join(out, 'results')).filter((f) => f.endsWith('.lock'))).to.deep.equal([]);
  });

  it('a cell warned of its time limit checkpoints, requeues itself, and resumes to the same result', async () => {
    const out = path.join(root, 'time-limit');
    // A 10-minute limit, a 2-minute warning margin: nothing stops the cell until the test plays SLURM.
    const lines: string[] = [];
    const running = experimentJob(base(out, { executor: 'slurm', fractions: [1], time: '10', signalBefore: 120 }), { hooks: { info: (m) => lines.push(m) } });
    const cell = path.join(out, 'cells', 'data-size', '1', '0.7', 'seed-3');
    await until('a checkpoint of the cell', () => fs.existsSync(path.join(cell, 'checkpoint')));
    const job = JSON.parse(fs.readFileSync(path.join(out, 'slurm', 'submission-1.json'), 'utf8')).job as string;
    jobs.push(job);
    const logFile = path.join(out, 'slurm', 'logs', `${job}_0.out`);
    // The limit comes within the margin, and SLURM's warning arrives (as --signal=B:USR2@120 sends it).
    await slurmTool('scontrol', ['update', `JobId=${job}_0`, 'TimeLimit=2']);
    await slurmTool('scancel', ['--batch', '--signal=USR2', `${job}_0`]);
    await until('the task to act on the warning', () => fs.readFileSync(logFile, 'utf8').includes('the time limit is'));
    // The requeued task gets its 10 minutes back before it starts again.
    await slurmTool('scontrol', ['update', `JobId=${job}_0`, 'TimeLimit=10']);
    const summary = await running;
    expect(summary.complete, lines.join('\n')).to.equal(true);
    expect(fs.existsSync(path.join(out, 'slurm', 'submission-2.json')), 'resubmitted instead of requeued').to.equal(false);
    const log = fs.readFileSync(logFile, 'utf8');
    expect(log).to.match(/stopped at its time limit after [1-9]\d* steps in this run; requeueing \d+_0/);
    expect(log).to.match(/restart 1\)/);
    expect(log).to.not.match(/restart 2\)/);
    expect(log).to.match(/resumed the (prune|finetune) phase at step [1-9]/);
    const cellResult = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'results', 'data-size__1__0.7__seed-3.json'), 'utf8')).result;
    expect(JSON.stringify(cellResult(out)).replaceAll(out, 'DIR')).to.equal(JSON.stringify(cellResult(local)).replaceAll(local, 'DIR'));
  });

  it('resubmits a failing cell --retries times, then reports it failed with its log', async () => {
    // Good training data, a malformed dev set: every attempt fails reading it.
    const bad = writeTsvTask(path.join(root, 'bad-task'), 'sentence1\tlabel\nfine\t0\nalso fine\t1\n', 'sentence1\tlabel\nonly one column here\n');
    const out = path.join(root, 'failing');
    const lines: string[] = [];
    const summary = await experimentJob(base(out, { executor: 'slurm', target: `tsv:${bad}`, fractions: [1], retries: 1 }), { hooks: { info: (m) => lines.push(m) } });
    const subs = [1, 2].map((k) => JSON.parse(fs.readFileSync(path.join(out, 'slurm', `submission-${k}.json`), 'utf8')));
    jobs.push(...subs.map((s) => s.job));
    expect(fs.existsSync(path.join(out, 'slurm', 'submission-3.json'))).to.equal(false);
    expect(summary.complete).to.equal(true);
    expect(summary.failed).to.equal(1);
    expect(lines.filter((l) => /failed \(attempt \d of 2\)/.test(l))).to.have.length(2);
    const r = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
    const log = path.join(out, 'slurm', 'logs', `${subs[1].job}_0.out`);
    expect(r.cells[0].status).to.equal('failed');
    expect(r.cells[0].error).to.include(path.join(bad, 'dev.tsv'));
    expect(r.cells[0].log).to.equal(log);
    expect(fs.readFileSync(log, 'utf8')).to.include(path.join(bad, 'dev.tsv'));
    expect(fs.readFileSync(path.join(out, 'results.md'), 'utf8')).to.include(`(log: ${log})`);
  });

  it("passes sbatch's errors on verbatim", async () => {
    let message = '';
    try {
      await experimentJob(base(path.join(root, 'bad-partition'), { executor: 'slurm', partition: 'no-such-partition' }), { hooks: { info: () => {} } });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).to.match(/^sbatch: error: .*invalid partition.*no-such-partition/i);
    // Nothing submitted, nothing recorded as submitted.
    expect(fs.readdirSync(path.join(root, 'bad-partition', 'slurm')).filter((f) => f.startsWith('submission-'))).to.deep.equal([]);
  });
});
