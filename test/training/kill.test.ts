/**
 * The kill harness: prune, finetune, multitask and pretrain run as real child processes (the CLI), SIGKILLed at
 * seeded random points (a random moment, or paused inside a checkpoint write), rerun with --resume
 * until they finish; each must end with the weights and metrics.jsonl of an uninterrupted run.
 * The suite kills each command at a few points; `npm run test:kill` (WEBPRUNE_KILL_POINTS=N) at many.
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { defaultDataDir } from '../../data/paths.ts';
import { BertTokenizer, loadTokenizer } from '../../data/tokenizer.ts';
import { HostRandom } from '../../engine/index.ts';
import { Bert } from '../../models/bert.ts';
import { type BertConfig, configToJson, namedConfig, withLabels } from '../../models/config.ts';
import { saveModel } from '../../models/load.ts';
import { freshSeed, useTestEngine, needData } from '../helpers.ts';

const ROOT = path.join(import.meta.dirname, '../..');
const KILL_POINTS = Number(process.env['WEBPRUNE_KILL_POINTS'] ?? 3);
const dataDir = defaultDataDir();
const haveData = fs.existsSync(path.join(dataDir, 'glue', 'MRPC'));

interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
}

/** Runs the CLI; `kill` SIGKILLs it after a delay or once a checkpoint write pauses. */
function cli(args: string[], kill?: { afterMs?: number; pauseAt?: string; skip?: number; root: string }): Promise<Exit> {
  const env: Record<string, string | undefined> = { ...process.env };
  if (kill?.pauseAt) Object.assign(env, { WEBPRUNE_TEST_PAUSE_AT: kill.pauseAt, WEBPRUNE_TEST_PAUSE_SKIP: String(kill.skip ?? 0) });
  const p = spawn(process.execPath, ['--import', './scripts/ts-register.mjs', 'cli/webprune.ts', ...args], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  p.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<Exit>((resolve) => p.on('exit', (code, signal) => resolve({ code, signal, stderr })));
  if (kill?.afterMs !== undefined) setTimeout(() => p.kill('SIGKILL'), kill.afterMs);
  if (kill?.pauseAt) {
    const poll = setInterval(() => {
      const paused = fs.existsSync(kill.root) && fs.readdirSync(kill.root, { recursive: true }).some((f) => String(f).endsWith(`paused-at-${kill.pauseAt}`));
      if (paused) p.kill('SIGKILL');
    }, 50);
    void exited.then(() => clearInterval(poll));
  }
  return exited;
}

/**
 * Kills the command at `points` seeded random places, resuming after each, then lets it finish.
 * @returns the kills that landed (the process was killed rather than finishing first)
 */
async function killAndResume(args: string[], out: string, points: number, seed: number, checkpointsPerRun: number): Promise<number> {
  const rng = new HostRandom(seed);
  let landed = 0;
  for (let k = 0; k < points; k++) {
    const r = rng.uniform();
    const kill = r < 0.5
      ? { afterMs: Math.round(1500 + rng.uniform() * 4000), root: out }
      : { pauseAt: r < 0.75 ? 'tensors-written' : 'renamed', skip: Math.floor(rng.uniform() * checkpointsPerRun), root: out };
    const e = await cli([...args, '--resume'], kill);
    if (e.signal === 'SIGKILL') landed++;
    else expect(e.code, `run ${k} (${JSON.stringify(kill)}) ended without the kill: ${e.stderr}`).to.equal(0);
  }
  const last = await cli([...args, '--resume']);
  expect(last.code, last.stderr).to.equal(0);
  return landed;
}

const same = (a: string, b: string) => fs.readFileSync(a).equals(fs.readFileSync(b));

describe(`kill harness: SIGKILL at ${KILL_POINTS} seeded random points, then --resume @gpu @slow`, function () {
  this.timeout(900_000);
  let root = '';
  let model = '';
  before(async () => {
    await useTestEngine();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-kill-'));
    const config: BertConfig = { ...namedConfig('tiny'), hiddenSize: 32, numHeads: 2, headSize: 16, intermediateSize: 64, numLayers: 2, layers: [0, 1].map(() => ({ numHeads: 2, intermediateSize: 64 })), maxPositionEmbeddings: 64 };
    if (haveData) {
      model = path.join(root, 'encoder');
      const m = Bert.random(withLabels(config, 2), 'base', 5);
      await saveModel(m, model, { tokenizer: loadTokenizer(path.join(dataDir, 'vocab', 'bert-base-uncased')) });
      m.dispose();
    }
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  const cases: Array<{ name: string; needsData: boolean; args: (out: string) => string[]; outputs: (out: string) => string[]; checkpoints: number }> = [
    {
      name: 'prune',
      needsData: true,
      args: (out) => ['prune', '--model', model, '--task', 'mrpc', '--transfer', 'stsb', '--sparsity', '0.7', '--pruning-steps', '12', '--finetune-steps', '8', '--batch-size', '4', '--max-seq-length', '32',
        '--max-train', '24', '--max-eval', '24', '--lr', '1e-3', '--reg-lr', '0.1', '--finetune-lr', '1e-3', '--lagrangian-warmup', '4', '--checkpoint-every', '3', '--log-every', '1', '--seed', '3', '--out', out],
      outputs: (out) => [path.join(out, 'metrics.jsonl'), path.join(out, 'pruned', 'model.safetensors')],
      checkpoints: 7,
    },
    {
      name: 'finetune',
      needsData: true,
      args: (out) => ['finetune', '--model', model, '--task', 'mrpc', '--steps', '16', '--batch-size', '4', '--max-seq-length', '32', '--max-train', '24', '--max-eval', '24', '--lr', '1e-3', '--eval-every', '4',
        '--checkpoint-every', '3', '--log-every', '1', '--seed', '3', '--out', out],
      outputs: (out) => [path.join(out, 'metrics.jsonl'), path.join(out, 'model.safetensors')],
      checkpoints: 6,
    },
    {
      name: 'multitask',
      needsData: true,
      args: (out) => ['multitask', '--model', model, '--tasks', 'mrpc,stsb', '--strategy', 'rank', '--budget', '0.3', '--steps', '12', '--batch-size', '4', '--max-seq-length', '32', '--max-train', '24', '--max-eval', '24',
        '--lr', '1e-3', '--mask-lr', '0.1', '--lagrangian-warmup', '4', '--initial-log-alpha', '1', '--checkpoint-every', '3', '--log-every', '1', '--seed', '3', '--out', out],
      outputs: (out) => [path.join(out, 'metrics.jsonl'), path.join(out, 'model', 'model.safetensors'), path.join(out, 'model', 'task_heads.safetensors')],
      checkpoints: 4,
    },
    {
      name: 'pretrain',
      needsData: false,
      args: (out) => ['pretrain', '--config', path.join(root, 'pretrain-config.json'), '--corpus', path.join(root, 'corpus'), '--vocab', path.join(root, 'pretrain-vocab.txt'), '--steps', '16', '--batch-size', '8',
        '--max-seq-length', '32', '--lr', '1e-2', '--eval-every', '8', '--eval-sequences', '8', '--checkpoint-every', '3', '--log-every', '2', '--seed', '3', '--out', out],
      outputs: (out) => [path.join(out, 'metrics.jsonl'), path.join(out, 'model.safetensors')],
      checkpoints: 6,
    },
  ];

  before(() => {
    // The pretraining corpus: random words over a small vocabulary.
    const words = Array.from({ length: 40 }, (_, i) => `w${i}`);
    const rng = new HostRandom(11);
    const text = (docs: number) => Array.from({ length: docs }, () => Array.from({ length: 30 }, () => words[Math.floor(rng.uniform() * words.length)]).join(' ')).join('\n\n');
    fs.mkdirSync(path.join(root, 'corpus'));
    fs.writeFileSync(path.join(root, 'corpus', 'train.txt.gz'), zlib.gzipSync(text(60)));
    fs.writeFileSync(path.join(root, 'corpus', 'valid.txt'), text(10));
    const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...words];
    fs.writeFileSync(path.join(root, 'pretrain-vocab.txt'), `${vocab.join('\n')}\n`);
    const tokenizer = BertTokenizer.fromVocab(vocab);
    const config: BertConfig = { ...namedConfig('tiny'), vocabSize: tokenizer.vocabSize, hiddenSize: 32, numHeads: 2, headSize: 16, intermediateSize: 64, numLayers: 2, layers: [0, 1].map(() => ({ numHeads: 2, intermediateSize: 64 })), maxPositionEmbeddings: 64 };
    fs.writeFileSync(path.join(root, 'pretrain-config.json'), JSON.stringify(configToJson(config)));
  });

  for (const c of cases) {
    it(`${c.name}: ends with the uninterrupted run's weights and metrics.jsonl`, async function () {
      if (c.needsData) needData(this, 'glue/MRPC', 'glue/STS-B');
      const seed = freshSeed();
      const reference = path.join(root, `${c.name}-reference`);
      const straight = await cli(c.args(reference));
      expect(straight.code, straight.stderr).to.equal(0);
      const out = path.join(root, `${c.name}-killed`);
      const landed = await killAndResume(c.args(out), out, KILL_POINTS, seed, c.checkpoints);
      const files = c.outputs(out);
      c.outputs(reference).forEach((ref, i) => expect(same(files[i]!, ref), `${files[i]} (seed ${seed}, ${landed} kills landed)`).to.equal(true));
      expect(JSON.parse(fs.readFileSync(path.join(out, 'run.json'), 'utf8')).complete).to.equal(true);
    });
  }
});
