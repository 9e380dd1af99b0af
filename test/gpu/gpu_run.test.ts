/**
 * The GPU program (scripts/gpu-run.sh) run as on a GPU machine, but with --dry-run on lavapipe at
 * tiny sizes: every stage, the output folder's limits, and RESULTS.md filled from it, so the script
 * cannot rot between GPU sessions.
 */
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { repoRoot } from '../../data/paths.ts';
import { readGpuRun } from '../../gpu/report.ts';
import { loadCheckpoint } from '../../models/io/checkpoint.ts';
import { needData, skipBecause } from '../helpers.ts';

const MiB = 2 ** 20;

describe('scripts/gpu-run.sh --dry-run @gpu @data @slow', function () {
  this.timeout(400_000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-gpu-run-'));
  const out = path.join(tmp, 'out');
  let run: { code: number; stdout: string; stderr: string };
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  before(async function () {
    needData(this, 'vocab/bert-base-uncased', 'corpus/valid.txt.gz');
    run = await new Promise((resolve) => {
      execFile('bash', ['scripts/gpu-run.sh', '--dry-run', '--no-pack', '--out', out], { cwd: repoRoot, maxBuffer: 64 * MiB, env: { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` } }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
  });

  it('runs every stage to ok and prints the summary table last', () => {
    expect(run.code, `exit code; run.log tail:\n${run.stderr.split('\n').slice(-30).join('\n')}`).to.equal(0);
    const summary = fs.readFileSync(path.join(out, 'summary.md'), 'utf8');
    expect(run.stdout.trimEnd().endsWith(summary.trimEnd())).to.equal(true);
    for (const stage of ['setup', 'check', 'tests', 'bench', 'pretrain']) expect(summary).to.match(new RegExp(`\\| ${stage} \\| ok \\| \\d+ \\|`));
    expect(summary).to.include('DRY RUN on lavapipe: not GPU results');
  });

  it('leaves at most 8 files of at most 16 MiB: summary, log, results.tar and the f16 model', () => {
    const files = fs.readdirSync(out);
    expect(files.length).to.be.at.most(8);
    for (const f of files) expect(fs.statSync(path.join(out, f)).size, f).to.be.at.most(16 * MiB);
    expect(files).to.include.members(['summary.md', 'run.log', 'results.tar']);
    expect(files.filter((f) => f.endsWith('.safetensors')).length).to.be.at.least(1);
    const listed = execFileSync('tar', ['-tf', path.join(out, 'results.tar')], { encoding: 'utf8' }).split('\n');
    for (const f of ['env.txt', 'stages.tsv', 'commands.txt', 'info.json', 'tests.log', 'kernels.json', 'speedup.json', 'pretrain/metrics.jsonl', 'pretrain/budget.json', 'pretrain/loss.svg', 'mini-f16/config.json']) {
      expect(listed, f).to.include(`results/${f}`);
    }
  });

  it('fills a RESULTS.md marked as a dry run from the folder, never bench/RESULTS.md, and puts the f16 model together (scripts/gpu-results.sh)', () => {
    const unpack = path.join(tmp, 'unpacked');
    const env = { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` };
    execFileSync('bash', ['scripts/gpu-results.sh', out, '--unpack', unpack], { cwd: repoRoot, env });
    const text = fs.readFileSync(path.join(unpack, 'RESULTS-dry-run.md'), 'utf8');
    expect(text.split('\n')[0]).to.match(/^# DRY RUN of the GPU program on .*: not GPU results$/);
    expect(text).to.include('No number below was measured on a GPU');
    for (const section of ['## Kernels', '## Speedup of compacted models', '## Pretraining', 'Commands, as run:', 'At 95% sparsity']) expect(text, section).to.include(section);
    const results = path.join(repoRoot, 'bench', 'RESULTS.md');
    const before = fs.existsSync(results) ? fs.readFileSync(results) : undefined;
    try {
      let refused: { status?: number; stderr?: Buffer } = {};
      try {
        execFileSync('bash', ['scripts/gpu-results.sh', out, '--unpack', unpack, '--write', 'bench/RESULTS.md'], { cwd: repoRoot, env, stdio: 'pipe' });
      } catch (err) {
        refused = err as typeof refused;
      }
      expect(refused.status).to.equal(1);
      expect(String(refused.stderr)).to.match(/is a dry run \(lavapipe\), not a GPU run/);
    } finally {
      if (before === undefined) fs.rmSync(results, { force: true });
      else fs.writeFileSync(results, before);
    }
    const record = readGpuRun(path.join(unpack, 'results'));
    expect(record.tests?.failed).to.equal(0);
    expect(record.tests?.passed).to.be.greaterThan(0);
    // The plan's steps, unless load on a shared machine slowed the run into its time limit.
    const plan = record.pretrain!.plan!;
    const last = record.pretrain!.metrics.at(-1)!.step;
    expect(last).to.be.within(1, plan.steps);
    if (record.pretrain!.summary) expect(record.pretrain!.summary.steps).to.equal(plan.steps);
    expect(record.pretrain!.metrics.some((m) => typeof m.valid_loss === 'number')).to.equal(true);
    const model = loadCheckpoint(path.join(unpack, 'results', 'mini-f16'), { head: 'mlm' });
    expect(model.config.hiddenSize).to.equal(128);
    expect(model.tensors.get('bert.embeddings.word_embeddings.weight')!.shape).to.deep.equal([30522, 128]);
  });

  it('refuses a CPU adapter without --dry-run: check fails, the stages that need it are skipped, the summary still prints last', async function () {
    const real = path.join(tmp, 'real');
    const r = await new Promise<{ code: number; stdout: string }>((resolve) => {
      execFile('bash', ['scripts/gpu-run.sh', '--no-pack', '--out', real, '--budget', '30'], { cwd: repoRoot, maxBuffer: 64 * MiB, env: { ...process.env, PATH: `${path.dirname(process.execPath)}:${process.env.PATH}` } }, (err, stdout) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout }),
      );
    });
    const summary = fs.readFileSync(path.join(real, 'summary.md'), 'utf8');
    if (/\| check \| ok \|/.test(summary)) skipBecause(this, 'the adapter is a GPU: there is no CPU adapter to refuse', 'lacks');
    expect(r.code).to.equal(1);
    expect(summary).to.match(/\| check \| failed \| \d+ \| Dawn opened a CPU adapter/);
    for (const stage of ['tests', 'bench', 'pretrain']) expect(summary).to.include(`| ${stage} | skipped | 0 | a stage it needs failed |`);
    expect(r.stdout.trimEnd().endsWith(summary.trimEnd())).to.equal(true);
    expect(summary).not.to.match(/DRY RUN/);
  });
});
