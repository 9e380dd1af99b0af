import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { SequencePacker, pretokenize } from '../../data/corpus.ts';
import { BertTokenizer } from '../../data/tokenizer.ts';
import { HostRandom, getEngine } from '../../engine/index.ts';
import type { JobResult } from '../../jobs/job.ts';
import { type PretrainInput, type PretrainSummary, pretrainConfig, pretrainJob, trainFiles, validFile } from '../../jobs/pretrain.ts';
import type { BertConfig } from '../../models/config.ts';
import { configToJson, namedConfig } from '../../models/config.ts';
import { loadModel } from '../../models/load.ts';
import { EVAL_SEED, heldOutLoss, heldOutSet, maskedPositions } from '../../training/pretrain.ts';
import { latestCheckpoint } from '../../training/run/checkpoint.ts';
import type { RunHooks } from '../../training/run/run.ts';
import { useTestEngine } from '../helpers.ts';

// A 5 + 80 word vocabulary and text where each word is, with probability 1/2, a function of the
// previous one, else drawn from a geometric distribution (w0 most frequent): the MLM loss falls well
// below the uniform ln(85) within a few dozen steps.
const N_WORDS = 80;
const tokenizer = BertTokenizer.fromVocab(['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...Array.from({ length: N_WORDS }, (_, i) => `w${i}`)]);

function corpusText(seed: number, documents: number): string {
  const rng = new HostRandom(seed);
  const draw = () => Math.min(N_WORDS - 1, Math.floor(Math.log(rng.uniform()) / Math.log(0.75)));
  const docs: string[] = [];
  for (let d = 0; d < documents; d++) {
    const paragraphs: string[] = [];
    for (let p = 0; p < 3; p++) {
      let w = draw();
      const words: string[] = [];
      for (let i = 0; i < 20; i++) {
        words.push(`W${w}`); // upper case: the tokenizer lower-cases
        w = rng.uniform() < 0.5 ? (w * 7 + 3) % N_WORDS : draw();
      }
      paragraphs.push(words.join(' '));
    }
    docs.push(paragraphs.join('\n'));
  }
  return `${docs.join('\n\n')}\n`;
}

/** A 2-layer, 32-wide model over the small vocabulary (dropout on, so its RNG is exercised). */
const config: BertConfig = {
  ...namedConfig('tiny'),
  vocabSize: tokenizer.vocabSize,
  hiddenSize: 32,
  numHeads: 2,
  headSize: 16,
  intermediateSize: 64,
  layers: [
    { numHeads: 2, intermediateSize: 64 },
    { numHeads: 2, intermediateSize: 64 },
  ],
  maxPositionEmbeddings: 64,
};

const base = { steps: 24, batchSize: 8, maxSeqLength: 32, lr: 1e-2, weightDecay: 0.01, seed: 7, evalEvery: 12, evalSequences: 16, checkpointEvery: 8, logEvery: 3 };
type Settings = Omit<PretrainInput, 'config' | 'corpus' | 'out'>;

const summaryOf = (r: JobResult<PretrainSummary>): PretrainSummary => {
  if (r.status !== 'done') throw new Error(`the run stopped: ${JSON.stringify(r)}`);
  return r.summary;
};

interface Rec {
  step: number;
  loss?: number;
  lr?: number;
  valid_loss?: number;
}
const records = (out: string): Rec[] =>
  fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Rec);

describe('pretrain (MLM) @gpu @slow', function () {
  this.timeout(180_000);
  let root: string;
  let corpusDir: string;
  let configFile: string;
  let vocabFile: string;
  let cacheDir: string;
  /** Runs the job on the test corpus, small vocabulary and config. */
  let pretrain: (out: string, settings: Settings, hooks?: RunHooks, config?: BertConfig) => Promise<JobResult<PretrainSummary>>;
  before(async () => {
    await useTestEngine();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-pretrain-'));
    corpusDir = path.join(root, 'corpus');
    fs.mkdirSync(corpusDir);
    fs.writeFileSync(path.join(corpusDir, 'train-a.txt.gz'), zlib.gzipSync(corpusText(1, 40)));
    fs.writeFileSync(path.join(corpusDir, 'train-b.txt'), corpusText(2, 30));
    fs.writeFileSync(path.join(corpusDir, 'valid.txt.gz'), zlib.gzipSync(corpusText(3, 10)));
    cacheDir = path.join(root, 'cache');
    configFile = path.join(root, 'config.json');
    fs.writeFileSync(configFile, JSON.stringify(configToJson(config)));
    vocabFile = path.join(root, 'vocab.txt');
    fs.writeFileSync(vocabFile, `${['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...Array.from({ length: N_WORDS }, (_, i) => `w${i}`)].join('\n')}\n`);
    pretrain = (out, settings, hooks = {}, other) => {
      let file = configFile;
      if (other) fs.writeFileSync((file = path.join(root, 'other-config.json')), JSON.stringify(configToJson(other)));
      return pretrainJob({ config: file, corpus: [corpusDir], vocab: vocabFile, out, cacheDir, ...settings }, { hooks: { info: () => {}, ...hooks } });
    };
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('gathers masked positions from the labels', () => {
    const { positions, targets } = maskedPositions(Int32Array.from([-100, 7, -100, -100, 9]));
    expect(Array.from(positions)).to.deep.equal([1, 4]);
    expect(Array.from(targets)).to.deep.equal([7, 9]);
  });

  it('lowers the MLM loss, logs metrics.jsonl and writes a checkpoint that loads back', async () => {
    const out = path.join(root, 'learn');
    const result = summaryOf(await pretrain(out, { ...base, steps: 40, warmupSteps: 4, evalEvery: 20, checkpointEvery: 20, logEvery: 5 }));
    expect(result.steps).to.equal(40);
    const recs = records(out);
    const train = recs.filter((r) => r.loss !== undefined);
    const valid = recs.filter((r) => r.valid_loss !== undefined);
    expect(train.map((r) => r.step)).to.deep.equal([5, 10, 15, 20, 25, 30, 35, 40]);
    for (const r of train) expect(r.lr).to.be.a('number');
    expect(train[0]!.lr).to.be.closeTo(1e-2, 1e-9); // step 5's lr: warmup is over (steps 0..3)
    expect(valid.map((r) => r.step)).to.deep.equal([20, 40]);
    const first = train[0]!.loss!;
    const last = train.at(-1)!.loss!;
    const curve = `train losses ${train.map((r) => r.loss!.toFixed(3))}, held-out ${valid.map((r) => r.valid_loss!.toFixed(3))}`;
    expect(first, curve).to.be.greaterThan(Math.log(tokenizer.vocabSize) - 0.5);
    expect(last, curve).to.be.lessThan(first - 0.7);
    expect(valid[1]!.valid_loss!, curve).to.be.lessThan(Math.log(tokenizer.vocabSize) - 0.8);
    expect(result.validLoss).to.equal(valid[1]!.valid_loss);

    // The HF checkpoint is the trained model: same held-out loss.
    const { model, initialised } = loadModel(out, { head: 'mlm', seed: 0 });
    expect(initialised).to.deep.equal([]);
    expect(model.config.hiddenSize).to.equal(32);
    expect(fs.existsSync(path.join(out, 'vocab.txt'))).to.equal(true);
    const shards = await pretokenize([path.join(corpusDir, 'valid.txt.gz')], tokenizer, path.join(root, 'cache'));
    const set = heldOutSet(new SequencePacker(shards, { maxSeqLength: 32, seed: EVAL_SEED, clsId: tokenizer.clsId, sepId: tokenizer.sepId }), tokenizer, 16, 32);
    expect(await heldOutLoss(model, set, 8)).to.be.closeTo(result.validLoss, 1e-5);
    model.dispose();
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as { steps: number };
    expect(summary.steps).to.equal(40);
  });

  it('resumes exactly: after a crash and after --stop-at, the losses and weights equal an uninterrupted run', async () => {
    const straight = path.join(root, 'straight');
    await pretrain(straight, base);
    const expected = records(straight);
    expect(expected.filter((r) => r.loss !== undefined)).to.have.length(8);

    // A crash at step 13: the last checkpoint is step 8 (its loss window holds steps 7 and 8).
    const crashed = path.join(root, 'crashed');
    let caught: unknown;
    try {
      await pretrain(crashed, base, { onStep: (_phase, s) => { if (s === 13) throw new Error('killed'); } });
    } catch (err) {
      caught = err;
    }
    expect((caught as Error).message).to.equal('killed');
    expect(records(crashed).at(-1)!.step).to.equal(12);
    const resumed = summaryOf(await pretrain(crashed, { ...base, resume: true }));
    expect(resumed.steps).to.equal(24);
    expect(records(crashed)).to.deep.equal(expected);

    // A graceful stop at step 10 (a checkpoint at a step that is not a logging step), then resume.
    const stopped = path.join(root, 'stopped');
    const first = await pretrain(stopped, { ...base, stopAfter: 10 });
    expect(first).to.deep.include({ status: 'stopped', reason: 'stop-after', step: 10 });
    await pretrain(stopped, { ...base, resume: true });
    expect(records(stopped)).to.deep.equal(expected);

    for (const dir of [crashed, stopped]) {
      expect(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(fs.readFileSync(path.join(straight, 'model.safetensors'))), dir).to.equal(true);
    }
  });

  it('refuses to overwrite a run, and to resume with other settings', async () => {
    const out = path.join(root, 'straight'); // written by the previous test
    let caught: unknown;
    try {
      await pretrain(out, base);
    } catch (err) {
      caught = err;
    }
    expect((caught as Error).message).to.include('--resume');
    caught = undefined;
    try {
      await pretrain(out, { ...base, batchSize: 4, resume: true });
    } catch (err) {
      caught = err;
    }
    expect((caught as Error).message).to.include('--batch-size: 8 → 4');
    caught = undefined;
    try {
      await pretrain(out, { ...base, resume: true }, {}, { ...config, hiddenSize: 48, headSize: 24 });
    } catch (err) {
      caught = err;
    }
    expect((caught as Error).message).to.match(/other settings \(--config: .*; model config: /);
  });

  it('stops on a NaN loss naming the step, keeping the last checkpoint', async () => {
    const out = path.join(root, 'nan');
    let caught: unknown;
    try {
      await pretrain(out, { ...base, checkpointEvery: 3, logEvery: 1 }, {
        onStep: (phase, s) => {
          if (s === 4) {
            const w = phase.stateTensors().get('bert.embeddings.word_embeddings.weight')!;
            getEngine().queue.upload(w.buffer, new Float32Array(w.size).fill(Number.NaN));
          }
        },
      });
    } catch (err) {
      caught = err;
    }
    // Poisoned after step 4's check: step 5's check is the first to see it.
    expect((caught as Error).message).to.match(/^non-finite state at pretrain step 5: bert\.embeddings\.word_embeddings\.weight \[85, 32\]: element 0 is the first of \d+ non-finite values \(NaN\); the last checkpoint \(step 3\) in .* is kept$/);
    expect(latestCheckpoint(path.join(out, 'checkpoint'))?.step).to.equal(3);
  });

  it('names the exact step of a NaN the loss never sees (an unused position embedding), between log steps', async () => {
    // Position 63 is never used at sequence length 32: its gradient is 0, the loss stays finite,
    // and AdamW's weight decay keeps the NaN. Logs and checkpoints come only at step 20.
    const out = path.join(root, 'nan-unseen');
    let caught: unknown;
    try {
      await pretrain(out, { ...base, checkpointEvery: 20, logEvery: 20, evalEvery: 100 }, {
        onStep: (phase, s) => {
          if (s === 6) {
            const w = phase.stateTensors().get('bert.embeddings.position_embeddings.weight')!;
            getEngine().queue.upload(w.buffer, new Float32Array([Number.NaN]), (w.size - 1) * 4);
          }
        },
      });
    } catch (err) {
      caught = err;
    }
    expect((caught as Error).message).to.match(/^non-finite state at pretrain step 7: bert\.embeddings\.position_embeddings\.weight \[64, 32\]: element 2047 is the only non-finite value \(NaN\); no checkpoint was written yet$/);
    expect(latestCheckpoint(path.join(out, 'checkpoint'))).to.equal(null);
  });

  it('stops at the time limit with a checkpoint', async () => {
    const out = path.join(root, 'timed');
    const result = await pretrain(out, { ...base, timeLimit: 0 });
    expect(result).to.deep.include({ status: 'stopped', reason: 'time-limit', step: 1 });
    expect(latestCheckpoint(path.join(out, 'checkpoint'))?.step).to.equal(1);
    expect(fs.existsSync(path.join(out, 'model.safetensors'))).to.equal(true);
  });

  it('names missing inputs and unknown configs', () => {
    expect(() => pretrainConfig('huge', { vocabSize: 30522, padId: 0 })).to.throw('known: tiny, mini, small, base');
    expect(pretrainConfig('mini', { vocabSize: 100, padId: 0 }).vocabSize).to.equal(100);
    expect(() => trainFiles([path.join(root, 'nope')])).to.throw(`${path.join(root, 'nope')}: corpus path does not exist`);
    expect(trainFiles([corpusDir], 1).map((f) => path.basename(f))).to.deep.equal(['train-a.txt.gz']);
    expect(() => validFile([corpusDir], path.join(root, 'missing.txt'))).to.throw('missing.txt: no such file');
    expect(validFile([path.join(corpusDir, 'train-b.txt')], undefined)).to.equal(path.join(corpusDir, 'valid.txt.gz'));
  });
});
