/**
 * The run loop's guarantees (training/run/), through the finetune job on a small generated task:
 * resume refuses changed options and data, a kill anywhere (inside a checkpoint write included)
 * resumes to the uninterrupted result, output directories are never silently overwritten,
 * metrics.jsonl never repeats or half-writes a row, and seconds count every process.
 */
import { expect } from 'chai';
import { type ChildProcess, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BertTokenizer } from '../../data/tokenizer.ts';
import * as E from '../../engine/index.ts';
import { HostRandom } from '../../engine/index.ts';
import { type FinetuneInput, type FinetuneSummary, finetuneJob } from '../../jobs/finetune.ts';
import type { JobResult } from '../../jobs/job.ts';
import { Bert } from '../../models/bert.ts';
import { type BertConfig, namedConfig, withLabels } from '../../models/config.ts';
import { saveModel } from '../../models/load.ts';
import { latestCheckpoint } from '../../training/run/checkpoint.ts';
import type { RunHooks } from '../../training/run/run.ts';
import { useTestEngine } from '../helpers.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const WORDS = Array.from({ length: 30 }, (_, i) => `w${i}`);
const VOCAB = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...WORDS];

/** A TSV task whose label is whether the two sentences share their first word. */
function writeTask(dir: string, seed: number, rows: { train: number; dev: number }): void {
  fs.mkdirSync(dir, { recursive: true });
  const rng = new HostRandom(seed);
  const word = () => WORDS[Math.floor(rng.uniform() * WORDS.length)]!;
  for (const [split, n] of Object.entries(rows)) {
    const lines = ['sentence1\tsentence2\tlabel'];
    for (let i = 0; i < n; i++) {
      const a = [word(), word(), word()];
      const b = [rng.uniform() < 0.5 ? a[0]! : word(), word()];
      lines.push(`${a.join(' ')}\t${b.join(' ')}\t${a[0] === b[0] ? 1 : 0}`);
    }
    fs.writeFileSync(path.join(dir, `${split}.tsv`), `${lines.join('\n')}\n`);
  }
}

const summaryOf = (r: JobResult<FinetuneSummary>): FinetuneSummary => {
  if (r.status !== 'done') throw new Error(`the run stopped: ${JSON.stringify(r)}`);
  return r.summary;
};
const rows = (out: string) => fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8');
const weights = (out: string) => fs.readFileSync(path.join(out, 'model.safetensors'));

describe('run loop (resume, kills, output directories) @gpu @slow', function () {
  this.timeout(300_000);
  let root = '';
  let model = '';
  let taskDir = '';
  let reference = '';
  let options: (out: string, over?: Partial<FinetuneInput>) => FinetuneInput;
  const quiet: RunHooks = { info: () => {} };
  const finetune = (o: FinetuneInput, hooks: RunHooks = {}) => finetuneJob(o, { hooks: { ...quiet, ...hooks } });

  before(async () => {
    await useTestEngine();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-run-'));
    const tokenizer = BertTokenizer.fromVocab(VOCAB);
    const config: BertConfig = {
      ...namedConfig('tiny'),
      vocabSize: VOCAB.length,
      hiddenSize: 16,
      numHeads: 2,
      headSize: 8,
      intermediateSize: 32,
      numLayers: 2,
      layers: [0, 1].map(() => ({ numHeads: 2, intermediateSize: 32 })),
      maxPositionEmbeddings: 32,
    };
    model = path.join(root, 'model');
    const m = Bert.random(withLabels(config, 2), 'classification', 3);
    await saveModel(m, model, { tokenizer });
    m.dispose();
    taskDir = path.join(root, 'task');
    writeTask(taskDir, 1, { train: 48, dev: 16 });
    options = (out, over = {}) => ({ model, task: `tsv:${taskDir}`, out, steps: 12, batchSize: 4, maxSeqLength: 16, lr: 1e-3, evalEvery: 4, checkpointEvery: 4, logEvery: 2, seed: 5, ...over });
    reference = path.join(root, 'reference');
    summaryOf(await finetune(options(reference)));
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  /** Asserts that `out` ended exactly as the uninterrupted reference run. */
  function expectSameAsReference(out: string): void {
    expect(rows(out)).to.equal(rows(reference));
    expect(weights(out).equals(weights(reference)), 'model weights').to.equal(true);
    const a = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as FinetuneSummary;
    const b = JSON.parse(fs.readFileSync(path.join(reference, 'summary.json'), 'utf8')) as FinetuneSummary;
    expect({ ...a, seconds: 0 }).to.deep.equal({ ...b, seconds: 0 });
  }

  it('refuses --resume after a change of --max-train, of the data file or of the vocabulary, naming what changed', async () => {
    const out = path.join(root, 'changed');
    const first = await finetune(options(out, { maxTrain: 40, stopAfter: 5 }));
    expect(first).to.deep.include({ status: 'stopped', reason: 'stop-after', step: 5 });
    const refused = async (over: Partial<FinetuneInput>, pattern: RegExp) => {
      let message = '';
      try {
        await finetune(options(out, { maxTrain: 40, resume: true, ...over }));
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).to.match(pattern);
    };
    await refused({ maxTrain: 8 }, /cannot resume .*--max-train: 40 → 8/);
    const train = path.join(taskDir, 'train.tsv');
    const original = fs.readFileSync(train, 'utf8');
    try {
      fs.writeFileSync(train, original.replace('\t0\n', '\t1\n'));
      await refused({}, /cannot resume .*\(train data: "[0-9a-f]+" → "[0-9a-f]+"\)/);
    } finally {
      fs.writeFileSync(train, original);
    }
    const vocab = path.join(root, 'other-vocab.txt');
    fs.writeFileSync(vocab, `${[...VOCAB, 'extra'].join('\n')}\n`);
    await refused({ vocab }, /cannot resume .*vocabulary: /);
    // Unchanged, it continues to the uninterrupted result.
    summaryOf(await finetune(options(out, { maxTrain: 40, resume: true })));
    const straight = path.join(root, 'changed-straight');
    summaryOf(await finetune(options(straight, { maxTrain: 40 })));
    expect(rows(out)).to.equal(rows(straight));
  });

  it('--profile writes one profile entry per training step (evaluation left out) and changes no result', async () => {
    const out = path.join(root, 'profiled');
    const file = path.join(root, 'profile.json');
    const printed: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => printed.push(String(chunk)) > 0) as typeof process.stderr.write;
    try {
      summaryOf(await finetune(options(out, { profile: file })));
    } finally {
      process.stderr.write = write;
    }
    expectSameAsReference(out);
    const report = JSON.parse(fs.readFileSync(file, 'utf8')) as E.ProfileReport;
    expect(report.steps).to.equal(12);
    // Every step runs the same kernels (a forward, a backward and an AdamW step; the first also
    // zeroes the optimizer's moments): evaluation every 4 steps would add its forward passes to
    // steps 5 and 9 if it were not left out.
    const [first, ...rest] = report.stepList.map((st) => st.dispatches);
    expect(new Set(rest).size, `dispatches per step: ${first}, ${rest.join(', ')}`).to.equal(1);
    expect(first).to.be.greaterThan(rest[0]!);
    expect(report.kernels.reduce((n, k) => n + k.dispatches, 0)).to.equal(first! + 11 * rest[0]!);
    expect(printed.join('')).to.include('| kernel | dispatches/step | GPU ms/step |');
  });

  it('refuses to overwrite a run or other files without --overwrite, and an --out that is the --model', async () => {
    const fail = async (o: FinetuneInput) => {
      try {
        await finetune(o);
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    };
    const before = rows(reference);
    expect(await fail(options(reference))).to.match(/--out .* holds a run: pass --resume to continue it, --overwrite to replace it/);
    expect(rows(reference)).to.equal(before);
    const other = path.join(root, 'other-files');
    fs.mkdirSync(other);
    fs.writeFileSync(path.join(other, 'notes.txt'), 'mine');
    expect(await fail(options(other))).to.match(/--out .* is not empty \(notes\.txt\): pass --resume .* --overwrite/);
    expect(await fail(options(model))).to.match(/--out .* is the --model directory/);
    expect(fs.existsSync(path.join(model, 'metrics.jsonl'))).to.equal(false);
    // --overwrite replaces the run's own files and keeps the user's.
    summaryOf(await finetune(options(other, { overwrite: true })));
    expect(fs.readFileSync(path.join(other, 'notes.txt'), 'utf8')).to.equal('mine');
    expectSameAsReference(other);
  });

  it('on resume, cuts metrics.jsonl to the checkpoint: no repeated rows, no half-written row', async () => {
    const out = path.join(root, 'crash');
    let message = '';
    try {
      // Crash at step 7: the last checkpoint is step 4, rows for steps 6 (and its loss) follow it.
      await finetune(options(out), { onStep: (_p, s) => { if (s === 7) throw new Error('crash'); } });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).to.equal('crash');
    expect(latestCheckpoint(path.join(out, 'checkpoint'))?.step).to.equal(4);
    expect(rows(out)).to.include('"step":6');
    fs.appendFileSync(path.join(out, 'metrics.jsonl'), '{"phase":"finetune","st');
    summaryOf(await finetune(options(out, { resume: true })));
    expectSameAsReference(out);
  });

  it('counts the seconds of every process, and reports and skips a checkpoint whose state.json is truncated', async () => {
    const out = path.join(root, 'seconds');
    const busy = (ms: number) => {
      const until = performance.now() + ms;
      while (performance.now() < until);
    };
    try {
      await finetune(options(out), { onStep: (_p, s) => { busy(60); if (s === 7) throw new Error('crash'); } });
    } catch {
      // the crash
    }
    const killedSeconds = (JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8')) as { seconds: number }).seconds;
    expect(killedSeconds).to.be.greaterThan(0.3);
    const found = latestCheckpoint(path.join(out, 'checkpoint'))!;
    const state = path.join(found.dir, 'state.json');
    fs.writeFileSync(state, fs.readFileSync(state, 'utf8').slice(0, 40));
    const messages: string[] = [];
    const summary = summaryOf(await finetune(options(out, { resume: true }), { info: (m) => messages.push(m) }));
    expect(messages.join('\n')).to.match(/ignoring an incomplete checkpoint: .*step-0+4[/\\]state\.json: /);
    expect(summary.seconds).to.be.greaterThan(killedSeconds);
    expectSameAsReference(out);
  });

  describe('a real child process', () => {
    /** Starts `webprune finetune` with the test's options in a child process. */
    function child(out: string, extra: string[], env: Record<string, string> = {}): ChildProcess {
      const o = options(out);
      const args = ['--import', './scripts/ts-register.mjs', 'cli/webprune.ts', 'finetune', '--model', model, '--task', o.task, '--out', out,
        '--steps', '12', '--batch-size', '4', '--max-seq-length', '16', '--lr', '1e-3', '--eval-every', '4', '--checkpoint-every', '4', '--log-every', '2', '--seed', '5', ...extra];
      return spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    }

    function exited(p: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
      let stderr = '';
      p.stderr!.on('data', (d) => (stderr += d));
      return new Promise((resolve) => p.on('exit', (code, signal) => resolve({ code, signal, stderr })));
    }

    async function waitFor(test: () => boolean, what: string): Promise<void> {
      const until = Date.now() + 120_000;
      while (!test()) {
        if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }

    for (const point of ['tensors-written', 'renamed'] as const) {
      it(`SIGKILLed inside a checkpoint write (${point}), resumes to the uninterrupted result`, async () => {
        const out = path.join(root, `kill-${point}`);
        // Pause inside the second checkpoint write (step 8): the first (step 4) is complete.
        const p = child(out, [], { WEBPRUNE_TEST_PAUSE_AT: point, WEBPRUNE_TEST_PAUSE_SKIP: '1' });
        const done = exited(p);
        await waitFor(() => fs.existsSync(path.join(out, 'checkpoint', `paused-at-${point}`)), `the pause at ${point}`);
        p.kill('SIGKILL');
        expect((await done).signal).to.equal('SIGKILL');
        const left = fs.readdirSync(path.join(out, 'checkpoint')).filter((e) => e.startsWith('step-')).sort();
        expect(left).to.deep.equal(point === 'renamed' ? ['step-00000004', 'step-00000008'] : ['step-00000004', 'step-00000008.tmp']);
        expect(latestCheckpoint(path.join(out, 'checkpoint'))?.step).to.equal(point === 'renamed' ? 8 : 4);
        summaryOf(await finetune(options(out, { resume: true })));
        expectSameAsReference(out);
      });
    }

    it('SIGTERM: checkpoints, exits with 130, and resumes to the uninterrupted result', async () => {
      const out = path.join(root, 'sigterm');
      const p = child(out, ['--checkpoint-every', '0']);
      const done = exited(p);
      await waitFor(() => fs.existsSync(path.join(out, 'metrics.jsonl')) && rows(out).includes('"step":2,'), 'the first metrics row');
      p.kill('SIGTERM');
      const r = await done;
      expect(r.code, r.stderr).to.equal(130);
      expect(r.stderr).to.match(/SIGTERM: stopping after this step/);
      expect(r.stderr).to.match(/--resume/);
      const kept = latestCheckpoint(path.join(out, 'checkpoint'));
      expect(kept, r.stderr).to.not.equal(null);
      expect(kept!.step).to.be.within(2, 11);
      summaryOf(await finetune(options(out, { checkpointEvery: 0, resume: true })));
      expectSameAsReference(out);
    });
  });
});
