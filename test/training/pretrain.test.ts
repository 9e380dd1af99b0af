import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { pretrainConfig, trainFiles, validFile } from '../../cli/commands/pretrain.ts';
import { SequencePacker, pretokenize } from '../../data/corpus.ts';
import { BertTokenizer } from '../../data/tokenizer.ts';
import { HostRandom, getEngine } from '../../engine/index.ts';
import type { BertConfig } from '../../models/config.ts';
import { namedConfig } from '../../models/config.ts';
import { loadModel } from '../../models/load.ts';
import { EVAL_SEED, type PretrainOptions, type PretrainSetup, heldOutLoss, heldOutSet, maskedPositions, pretrain } from '../../training/pretrain.ts';
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

const base: PretrainOptions = { steps: 24, batchSize: 8, maxSeqLength: 32, lr: 1e-2, weightDecay: 0.01, seed: 7, evalEvery: 12, evalSequences: 16, checkpointEvery: 8, logEvery: 3 };

interface Rec {
  step: number;
  loss?: number;
  lr?: number;
  valid_loss?: number;
}
const records = (out: string): Rec[] =>
  fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Rec);

describe('pretrain (MLM)', function () {
  this.timeout(180_000);
  let root: string;
  let corpusDir: string;
  let setupOf: (out: string) => PretrainSetup;
  before(async () => {
    await useTestEngine();
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-pretrain-'));
    corpusDir = path.join(root, 'corpus');
    fs.mkdirSync(corpusDir);
    fs.writeFileSync(path.join(corpusDir, 'train-a.txt.gz'), zlib.gzipSync(corpusText(1, 40)));
    fs.writeFileSync(path.join(corpusDir, 'train-b.txt'), corpusText(2, 30));
    fs.writeFileSync(path.join(corpusDir, 'valid.txt.gz'), zlib.gzipSync(corpusText(3, 10)));
    const cacheDir = path.join(root, 'cache');
    setupOf = (out) => ({ config, trainFiles: trainFiles([corpusDir]), validFile: validFile([corpusDir], undefined), tokenizer, out, cacheDir, info: () => {} });
  });
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  it('gathers masked positions from the labels', () => {
    const { positions, targets } = maskedPositions(Int32Array.from([-100, 7, -100, -100, 9]));
    expect(Array.from(positions)).to.deep.equal([1, 4]);
    expect(Array.from(targets)).to.deep.equal([7, 9]);
  });

  it('lowers the MLM loss, logs metrics.jsonl and writes a checkpoint that loads back', async () => {
    const out = path.join(root, 'learn');
    const result = await pretrain(setupOf(out), { ...base, steps: 40, warmupSteps: 4, evalEvery: 20, checkpointEvery: 20, logEvery: 5 });
    expect(result.step).to.equal(40);
    expect(result.stopped).to.equal(null);
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
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as { step: number };
    expect(summary.step).to.equal(40);
  });

  it('resumes exactly: after a crash and after --stop-at, the losses and weights equal an uninterrupted run', async () => {
    const straight = path.join(root, 'straight');
    await pretrain(setupOf(straight), base);
    const expected = records(straight);
    expect(expected.filter((r) => r.loss !== undefined)).to.have.length(8);

    // A crash at step 13: the last checkpoint is step 8 (its loss window holds steps 7 and 8).
    const crashed = path.join(root, 'crashed');
    let caught: unknown;
    try {
      await pretrain({ ...setupOf(crashed), onStep: (s) => { if (s === 13) throw new Error('killed'); } }, base);
    } catch (err) {
      caught = err;
    }
    expect((caught as Error).message).to.equal('killed');
    expect(records(crashed).at(-1)!.step).to.equal(12);
    const resumed = await pretrain({ ...setupOf(crashed), resume: true }, base);
    expect(resumed.step).to.equal(24);
    expect(records(crashed)).to.deep.equal(expected);

    // A graceful stop at step 10 (a checkpoint at a step that is not a logging step), then resume.
    const stopped = path.join(root, 'stopped');
    const first = await pretrain(setupOf(stopped), { ...base, stopAt: 10 });
    expect(first.stopped).to.equal('stop-at');
    expect(first.step).to.equal(10);
    await pretrain({ ...setupOf(stopped), resume: true }, base);
    expect(records(stopped)).to.deep.equal(expected);

    for (const dir of [crashed, stopped]) {
      expect(fs.readFileSync(path.join(dir, 'model.safetensors')).equals(fs.readFileSync(path.join(straight, 'model.safetensors'))), dir).to.equal(true);
    }
  });

  it('refuses to overwrite a run, and to resume with other settings', async () => {
    const out = path.join(root, 'straight'); // written by the previous test
    let caught: unknown;
    try {
      await pretrain(setupOf(out), base);
    } catch (err) {
      caught = err;
    }
    expect((caught as Error).message).to.include('--resume');
    caught = undefined;
    try {
      await pretrain({ ...setupOf(out), resume: true }, { ...base, batchSize: 4 });
    } catch (err) {
      caught = err;
    }
    expect((caught as Error).message).to.include('batchSize: 8 → 4');
    caught = undefined;
    try {
      await pretrain({ ...setupOf(out), config: { ...config, hiddenSize: 48, headSize: 24 }, resume: true }, base);
    } catch (err) {
      caught = err;
    }
    expect((caught as Error).message).to.match(/other settings \(config: /);
  });

  it('stops on a NaN loss naming the step, keeping the last checkpoint', async () => {
    const out = path.join(root, 'nan');
    let caught: unknown;
    try {
      await pretrain(
        {
          ...setupOf(out),
          onStep: (s, model) => {
            if (s === 4) {
              const w = model.p('bert.embeddings.word_embeddings.weight');
              getEngine().queue.upload(w.buffer, new Float32Array(w.size).fill(Number.NaN));
            }
          },
        },
        { ...base, checkpointEvery: 3, logEvery: 1 },
      );
    } catch (err) {
      caught = err;
    }
    expect((caught as Error).message).to.match(/^loss is NaN at step 5; the last checkpoint in .* is kept$/);
    const state = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8')) as { step: number };
    expect(state.step).to.equal(3);
  });

  it('stops at the time limit with a checkpoint', async () => {
    const out = path.join(root, 'timed');
    const result = await pretrain(setupOf(out), { ...base, timeLimitSeconds: 0 });
    expect(result.stopped).to.equal('time-limit');
    expect(result.step).to.equal(1);
    const state = JSON.parse(fs.readFileSync(path.join(out, 'checkpoint', 'state.json'), 'utf8')) as { step: number };
    expect(state.step).to.equal(1);
    expect(fs.existsSync(path.join(out, 'model.safetensors'))).to.equal(true);
  });

  it('names missing inputs and unknown configs', () => {
    expect(() => pretrainConfig('huge', 30522, 0)).to.throw('known: tiny, mini, small, base');
    expect(pretrainConfig('mini', 100, 0).vocabSize).to.equal(100);
    expect(() => trainFiles([path.join(root, 'nope')])).to.throw(`${path.join(root, 'nope')}: corpus path does not exist`);
    expect(trainFiles([corpusDir], 1).map((f) => path.basename(f))).to.deep.equal(['train-a.txt.gz']);
    expect(() => validFile([corpusDir], path.join(root, 'missing.txt'))).to.throw('missing.txt: no such file');
    expect(validFile([path.join(corpusDir, 'train-b.txt')], undefined)).to.equal(path.join(corpusDir, 'valid.txt.gz'));
  });
});
