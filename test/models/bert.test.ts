import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { Bert, parameterShapes } from '../../models/bert.ts';
import { type BertConfig, namedConfig } from '../../models/config.ts';
import { expectClose, freshSeed, useTestEngine } from '../helpers.ts';

/** A small config with uneven per-layer structure, including a layer without attention. */
function unevenConfig(): BertConfig {
  const base = namedConfig('tiny');
  return {
    ...base,
    vocabSize: 211,
    hiddenSize: 24,
    numHeads: 3,
    headSize: 8,
    intermediateSize: 40,
    numLayers: 3,
    maxPositionEmbeddings: 32,
    layers: [
      { numHeads: 3, intermediateSize: 40 },
      { numHeads: 0, intermediateSize: 17 },
      { numHeads: 2, intermediateSize: 0 },
    ],
    numLabels: 3,
  };
}

function batch(seed: number, B: number, S: number, vocab: number) {
  const rng = new E.HostRandom(seed);
  const ids = E.tensor(Int32Array.from({ length: B * S }, () => rng.int(vocab)), [B, S], 'i32');
  const types = E.tensor(Int32Array.from({ length: B * S }, (_, i) => (i % S >= S / 2 ? 1 : 0)), [B, S], 'i32');
  const mask = E.tensor(Float32Array.from({ length: B * S }, (_, i) => (i % S < S - (i / S | 0) ? 1 : 0)), [B, S]);
  return { inputIds: ids, tokenTypeIds: types, attentionMask: mask };
}

describe('BERT model @gpu', () => {
  before(useTestEngine);

  it('builds per-layer structure (heads, FFN widths, missing sub-layers) from the config', () => {
    const shapes = parameterShapes(unevenConfig(), 'classification');
    expect(shapes.get('bert.encoder.layer.0.attention.self.query.weight')).to.deep.equal([24, 24]);
    expect(shapes.has('bert.encoder.layer.1.attention.self.query.weight')).to.equal(false);
    expect(shapes.get('bert.encoder.layer.1.intermediate.dense.weight')).to.deep.equal([17, 24]);
    expect(shapes.get('bert.encoder.layer.2.attention.output.dense.weight')).to.deep.equal([24, 16]);
    expect(shapes.has('bert.encoder.layer.2.output.dense.weight')).to.equal(false);
    expect(shapes.get('classifier.weight')).to.deep.equal([3, 24]);
  });

  it('runs forward and backward on an uneven structure with finite outputs and gradients everywhere', async () => {
    const seed = freshSeed();
    const model = Bert.random(unevenConfig(), 'classification', seed);
    const inputs = batch(seed, 2, 9, 211);
    const logits = E.tidy(() => {
      const out = model.classify(inputs, { training: true }).logits;
      E.backward(E.crossEntropy(out, E.tensor([0, 2], [2], 'i32')));
      return out;
    });
    expect(logits.shape).to.deep.equal([2, 3]);
    for (const v of await logits.read()) expect(Number.isFinite(v), `seed=${seed}`).to.equal(true);
    // Layer norms of absent sub-layers stay in checkpoints (as in CoFi) but are unused.
    const unused = new Set(['bert.encoder.layer.1.attention.output.LayerNorm', 'bert.encoder.layer.2.output.LayerNorm'].flatMap((n) => [`${n}.weight`, `${n}.bias`]));
    for (const [name, t] of model.params) {
      if (unused.has(name)) continue;
      expect(t.grad, `no gradient for ${name}`).to.not.equal(null);
      const g = await t.grad!.read();
      expect(g.every(Number.isFinite), `gradient of ${name} seed=${seed}`).to.equal(true);
    }
    model.dispose();
  });

  it('masks of ones change nothing; a zero headLayerZ / mlpZ makes the sub-layer the identity', async () => {
    const seed = freshSeed();
    const config = unevenConfig();
    const model = Bert.random(config, 'classification', seed);
    const inputs = batch(seed + 1, 2, 9, 211);
    const run = (masks?: Parameters<Bert['encode']>[1]['masks']) => E.tidy(() => model.encode(inputs, { training: false, masks }).sequence);
    const plain = await run().read();
    const ones = await run({
      hiddenZ: E.ones([24]),
      headZ: [E.ones([3]), null, E.ones([2])],
      headLayerZ: [E.ones([1]), null, E.ones([1])],
      intermediateZ: [E.ones([40]), E.ones([17]), null],
      mlpZ: [E.ones([1]), E.ones([1]), null],
    }).read();
    expectClose(ones, plain, 1e-6, `ones masks seed=${seed}`);

    // Zeroing layer 0's attention and FFN equals a model whose layer 0 has neither.
    const zeroed = await run({ headLayerZ: [E.zeros([1]), null, null], mlpZ: [E.zeros([1]), null, null] }).read();
    const values = await model.values();
    const pruned: BertConfig = { ...config, layers: [{ numHeads: 0, intermediateSize: 0 }, ...config.layers.slice(1)] };
    const kept = new Map([...values].filter(([n]) => parameterShapes(pruned, 'classification').has(n)));
    const small = new Bert(pruned, 'classification', kept);
    const smallOut = await E.tidy(() => small.encode(inputs, { training: false }).sequence).read();
    expectClose(zeroed, smallOut, 1e-5, `removed layer 0 seed=${seed}`);
    model.dispose();
    small.dispose();
  });

  it('gives gradients to mask variables (z) that require them', async () => {
    const model = Bert.random(unevenConfig(), 'classification', 3);
    const headZ = E.parameter([1, 0.5, 0.25], [3], 'head_z');
    const iz = E.parameter(new Float32Array(17).fill(0.7), [17], 'intermediate_z');
    const hz = E.parameter(new Float32Array(24).fill(1), [24], 'hidden_z');
    E.tidy(() => {
      const { logits } = model.classify(batch(5, 2, 9, 211), { training: false, masks: { headZ: [headZ, null, null], intermediateZ: [null, iz, null], hiddenZ: hz } });
      E.backward(E.sum(logits));
    });
    for (const z of [headZ, iz, hz]) {
      const g = await z.grad!.read();
      expect(g.some((v) => v !== 0), `${z.label} gradient`).to.equal(true);
    }
    model.dispose();
  });

  it('rejects parameter maps that disagree with the config, naming the tensor', () => {
    const config = unevenConfig();
    const values = new Map([...parameterShapes(config, 'base')].map(([n, s]) => [n, { shape: s, data: new Float32Array(E.sizeOf(s)) }]));
    values.set('bert.pooler.dense.weight', { shape: [24, 23], data: new Float32Array(24 * 23) });
    expect(() => new Bert(config, 'base', values)).to.throw(/bert.pooler.dense.weight has shape \[24, 23\], config needs \[24, 24\]/);
  });
});

describe('model checkpoints @gpu', () => {
  before(useTestEngine);

  it('saves and loads a pruned-structure model with identical outputs, and starts a classifier from an MLM checkpoint', async () => {
    const { mkdtempSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { loadModel, saveModel } = await import('../../models/load.ts');
    const dir = mkdtempSync(join(tmpdir(), 'webprune-ckpt-'));
    const config = { ...unevenConfig(), poolerSize: 30 };
    const model = Bert.random(config, 'classification', 11);
    await saveModel(model, join(dir, 'cls'));
    const { model: back, initialised } = loadModel(join(dir, 'cls'), { head: 'classification', seed: 0 });
    expect(initialised).to.deep.equal([]);
    expect(back.config.layers).to.deep.equal(config.layers);
    const inputs = batch(4, 2, 9, 211);
    const a = await E.tidy(() => model.classify(inputs, { training: false }).logits).read();
    const b = await E.tidy(() => back.classify(inputs, { training: false }).logits).read();
    expect([...b]).to.deep.equal([...a]);

    const mlm = Bert.random(unevenConfig(), 'mlm', 12);
    await saveModel(mlm, join(dir, 'mlm'), { dtype: 'F16' });
    const started = loadModel(join(dir, 'mlm'), { head: 'classification', numLabels: 5, seed: 1 });
    expect(started.initialised.sort()).to.deep.equal(['bert.pooler.dense.bias', 'bert.pooler.dense.weight', 'classifier.bias', 'classifier.weight']);
    const emb = await started.model.p('bert.embeddings.word_embeddings.weight').read();
    const orig = await mlm.p('bert.embeddings.word_embeddings.weight').read();
    expect(Math.abs(emb[7]! - orig[7]!)).to.be.below(1e-3 * Math.abs(orig[7]!) + 1e-7);
    for (const m of [model, back, mlm, started.model]) m.dispose();
  });

  it('converts a checkpoint to f16 shards of a maximum size that load back', async () => {
    const { mkdtempSync, readdirSync, statSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { loadModel, saveModel } = await import('../../models/load.ts');
    const { convertJob } = await import('../../jobs/convert.ts');
    const dir = mkdtempSync(join(tmpdir(), 'webprune-convert-'));
    const model = Bert.random({ ...namedConfig('tiny'), vocabSize: 3000 }, 'mlm', 13);
    await saveModel(model, join(dir, 'f32'));
    const written = convertJob({ model: join(dir, 'f32'), out: join(dir, 'f16'), dtype: 'f16', maxShardMb: 0.25 });
    expect(written).to.include('model.safetensors.index.json');
    const shards = readdirSync(join(dir, 'f16')).filter((f) => f.endsWith('.safetensors'));
    expect(shards.length).to.be.greaterThan(1);
    // A shard exceeds the limit only when it holds one tensor larger than it (the 3000×128 embeddings).
    const over = shards.filter((f) => statSync(join(dir, 'f16', f)).size > 0.25 * 2 ** 20 + 4096);
    expect(over.length).to.be.at.most(1);
    const back = loadModel(join(dir, 'f16'), { head: 'mlm', seed: 0 }).model;
    const a = await model.p('bert.encoder.layer.1.intermediate.dense.weight').read();
    const b = await back.p('bert.encoder.layer.1.intermediate.dense.weight').read();
    for (let i = 0; i < a.length; i += 97) expect(Math.abs(a[i]! - b[i]!)).to.be.at.most(Math.abs(a[i]!) * 2 ** -11 + 1e-7);
    expect(() => convertJob({ model: join(dir, 'f32'), out: join(dir, 'x'), dtype: 'f8' as 'f16' })).to.throw(/--dtype must be one of f32, f16, bf16/);
    model.dispose();
    back.dispose();
  });
});
