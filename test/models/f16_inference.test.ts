import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { HostRandom } from '../../engine/random.ts';
import { Bert, MASK_MIN } from '../../models/bert.ts';
import { type BertConfig, namedConfig } from '../../models/config.ts';
import { maskedAttention } from '../../models/ops/masked_attention.ts';
import { maskedFfn } from '../../models/ops/masked_ffn.ts';
import { F16RangeError, castModel, modelDtype } from '../../models/precision.ts';
import { F16_TINY, U16, U32, expectWithinBounds, f16Tensor, randomF16 } from '../f16_helpers.ts';
import { freshSeed, useTestEngine, needData } from '../helpers.ts';
import { NDArray } from '../reference/ndarray.ts';
import { attentionRef } from '../reference/nn.ts';

describe('f16 inference of BERT @gpu', () => {
  before(useTestEngine);

  it('attention: f16 q, k, v, f32 scores and softmax, against float64 at awkward sizes', async () => {
    const seed = freshSeed();
    const rng = new HostRandom(seed);
    // (B, S, heads, d): one pipeline per head size d.
    for (const [B, S, heads, d] of [[2, 33, 3, 7], [1, 129, 2, 33], [3, 1, 1, 129], [2, 7, 2, 7]] as const) {
      const q = randomF16(rng, [B, S, heads * d], -2, 2);
      const k = randomF16(rng, [B, S, heads * d], -2, 2);
      const v = randomF16(rng, [B, S, heads * d]);
      // Padding at the end of the second sequence; head_z with a zero head when there are several.
      const mask = NDArray.from(Array.from({ length: B * S }, (_, i) => (i >= S && i % S >= Math.ceil(S / 2) ? MASK_MIN : 0)), [B, S]);
      const headZ = heads > 1 ? NDArray.from(Array.from({ length: heads }, (_, h) => (h === 0 ? 0 : Math.fround(0.5 + rng.uniform()))), [heads]) : undefined;
      const out = E.tidy(() =>
        maskedAttention(f16Tensor(q), f16Tensor(k), f16Tensor(v), { heads, dropout: 0.1, training: false, mask: E.tensor(Float32Array.from(mask.data), [B, S]), headZ: headZ && E.tensor(Float32Array.from(headZ.data)) }),
      );
      expect(out.dtype).to.equal('f16');
      const ref = attentionRef(q, k, v, heads, mask, headZ);
      // A score's f32 error is ≤ (d + 2)·U32·Σ|q k|/√d ≤ (d + 2)·U32·d·max|q||k|/√d; it moves each
      // probability by that relatively (twice: numerator and normaliser), and exp adds a few ulps of
      // its argument; the output sum then errs by ≤ (S + 2)·U32 of Σ p|v|, and is rounded to f16.
      const scoreErr = ((d + 2) * U32 * d * 4) / Math.sqrt(d);
      const bound = ref.out.data.map((r, i) => U16 * Math.abs(r) + (2 * scoreErr + (S + 8 + 4 * ref.maxScore.data[i]!) * U32) * ref.absPV.data[i]! + F16_TINY);
      expectWithinBounds(await out.read(), ref.out.data, bound, `attention f16 B=${B} S=${S} heads=${heads} d=${d} seed=${seed}`);
      out.dispose();
    }
  });

  it('refuses dropout in training mode and intermediate_z', () => {
    const x = f16Tensor(NDArray.from(new Array(8).fill(0.5), [1, 2, 4]));
    expect(() => maskedAttention(x, x, x, { heads: 2, dropout: 0.1, training: true })).to.throw(/f16 is for inference only/);
    const w = f16Tensor(NDArray.from(new Array(12).fill(0.5), [3, 4]));
    const b = E.zeros([3]);
    expect(() => maskedFfn(x, w, b, f16Tensor(NDArray.from(new Array(12).fill(0.5), [4, 3])), E.zeros([4]), E.ones([3]))).to.throw(/intermediate_z is not supported in f16/);
    for (const t of [x, w, b]) t.dispose();
  });

  it('castModel stores matrices in f16, keeps vectors f32, freezes the model, and refuses weights past ±65504 naming them', async () => {
    const config = tinyConfig();
    const model = Bert.random(config, 'classification', freshSeed());
    const huge = 'bert.encoder.layer.1.intermediate.dense.weight';
    const values = await model.values();
    values.get(huge)!.data[3] = 70000;
    const bad = new Bert(config, 'classification', values);
    try {
      await castModel(bad, 'f16').then(() => expect.fail('accepted a weight past f16 range'), (err: Error) => {
        expect(err).to.be.instanceOf(F16RangeError);
        expect(err.message).to.match(new RegExp(`${huge.replace(/\./g, '\\.')} has \\|w\\| = 70000 > 65504.*--dtype f32`));
      });
      expect(modelDtype(bad), 'left unchanged').to.equal('f32');
      await castModel(model, 'f16');
      expect(modelDtype(model)).to.equal('f16');
      for (const [name, t] of model.params) {
        expect(t.dtype, name).to.equal(t.rank >= 2 ? 'f16' : 'f32');
        expect(t.requiresGrad, name).to.equal(false);
      }
    } finally {
      model.dispose();
      bad.dispose();
    }
  });

  it('logits of real MRPC batches: relative error ≤ 1e-2 against f32, same argmax on ≥ 99% @data', async function () {
    const { defaultDataDir } = await import('../../data/paths.ts');
    const { getTask } = await import('../../data/tasks.ts');
    const { loadTokenizer } = await import('../../data/tokenizer.ts');
    const { loadEncoded } = await import('../../jobs/inputs.ts');
    const { makeBatch } = await import('../../training/data.ts');
    const dataDir = defaultDataDir();
    needData(this, 'glue/MRPC', 'vocab/bert-base-uncased');
    const seed = freshSeed();
    const tokenizer = loadTokenizer(path.join(dataDir, 'vocab', 'bert-base-uncased'));
    const { encoded } = loadEncoded(getTask('mrpc'), dataDir, 'dev', tokenizer, 64, 64);
    // The tiny encoder (real vocabulary, H = 128) in a compacted shape like CoFi's: uneven heads and
    // FFN widths, a layer without attention (the f16 path must follow the per-layer structure).
    const config: BertConfig = { ...namedConfig('tiny'), maxPositionEmbeddings: 64, layers: [{ numHeads: 1, intermediateSize: 301 }, { numHeads: 0, intermediateSize: 77 }] };
    const f32 = Bert.random(config, 'classification', seed);
    const f16 = new Bert(config, 'classification', await f32.values());
    await castModel(f16, 'f16');
    try {
      let agree = 0;
      let n = 0;
      for (let start = 0; start < encoded.n; start += 32) {
        const batch = makeBatch(encoded, Array.from({ length: Math.min(32, encoded.n - start) }, (_, i) => start + i), false);
        const l32 = await E.noGrad(() => E.tidy(() => f32.classify(batch.inputs, { training: false }).logits)).read();
        const l16 = await E.noGrad(() => E.tidy(() => f16.classify(batch.inputs, { training: false }).logits)).read();
        for (const t of Object.values(batch.inputs)) t?.dispose();
        let num = 0;
        let den = 0;
        let maxErr = 0;
        for (let i = 0; i < l32.length; i++) {
          num += (l16[i]! - l32[i]!) ** 2;
          den += l32[i]! ** 2;
          maxErr = Math.max(maxErr, Math.abs(l16[i]! - l32[i]!));
        }
        const rel = Math.sqrt(num / den);
        expect(rel, `MRPC dev batch at ${start}: ‖l16 − l32‖/‖l32‖ (seed=${seed})`).to.be.at.most(1e-2);
        for (let r = 0; r < l32.length / 2; r++, n++) {
          const same = l32[2 * r]! > l32[2 * r + 1]! === l16[2 * r]! > l16[2 * r + 1]!;
          if (same) agree++;
          // A flip is only possible where the f32 margin is within the measured error of the logits.
          else expect(Math.abs(l32[2 * r]! - l32[2 * r + 1]!), `example ${start + r}: argmax flipped at a margin beyond 2× the logit error ${maxErr} (seed=${seed})`).to.be.at.most(2 * maxErr);
        }
      }
      expect(agree / n, `argmax agreement (seed=${seed})`).to.be.at.least(0.99);
    } finally {
      f32.dispose();
      f16.dispose();
    }
  });
});

describe('webprune eval --dtype f16 @gpu @data @slow', () => {
  before(useTestEngine);

  it('scores a saved (random-weight) MRPC classifier in f16 as in f32, and refuses an unknown dtype', async function () {
    const { defaultDataDir } = await import('../../data/paths.ts');
    const { evalJob } = await import('../../jobs/finetune.ts');
    const { saveModel } = await import('../../models/load.ts');
    const { withLabels } = await import('../../models/config.ts');
    const dataDir = defaultDataDir();
    needData(this, 'glue/MRPC', 'vocab/bert-base-uncased');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-eval-f16-'));
    try {
      const model = Bert.random(withLabels({ ...namedConfig('tiny'), maxPositionEmbeddings: 32 }, 2, ['0', '1']), 'classification', freshSeed());
      await saveModel(model, dir);
      model.dispose();
      const vocab = path.join(dataDir, 'vocab', 'bert-base-uncased');
      const f32 = await evalJob({ model: dir, task: 'mrpc', vocab, maxSeqLength: 32 });
      const f16 = await evalJob({ model: dir, task: 'mrpc', vocab, maxSeqLength: 32, dtype: 'f16' });
      expect(Object.keys(f16)).to.deep.equal(['accuracy', 'f1']);
      // ≥ 99% of the 408 dev predictions agree, so accuracy moves by at most 1%.
      expect(Math.abs(f16['accuracy']! - f32['accuracy']!)).to.be.at.most(0.01);
      await evalJob({ model: dir, task: 'mrpc', vocab, maxSeqLength: 32, dtype: 'f64' as 'f16' }).then(
        () => expect.fail('accepted --dtype f64'),
        (err: Error) => expect(err.message).to.match(/--dtype must be one of f32, f16/),
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A small encoder for checks that need no real vocabulary. */
function tinyConfig(): BertConfig {
  return { ...namedConfig('tiny'), vocabSize: 300, maxPositionEmbeddings: 40 };
}
