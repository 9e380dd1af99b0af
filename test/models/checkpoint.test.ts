import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { HostRandom } from '../../engine/random.ts';
import type { BertConfig } from '../../models/config.ts';
import { ConfigError, configToJson, namedConfig, withLabels, withLayers } from '../../models/config.ts';
import type { HeadKind, HostTensor } from '../../models/io/checkpoint.ts';
import { CheckpointError, expectedTensors, loadCheckpoint, saveCheckpoint } from '../../models/io/checkpoint.ts';
import { SafetensorsError, readSafetensors, writeSafetensors } from '../../models/io/safetensors.ts';

/** A small config: V 40, H 8, L 3, A 2 (head size 4), I 16, 12 positions. */
function smallConfig(numLabels = 2): BertConfig {
  const c = withLabels(namedConfig('tiny'), numLabels);
  return {
    ...c,
    vocabSize: 40,
    hiddenSize: 8,
    numLayers: 3,
    numHeads: 2,
    headSize: 4,
    intermediateSize: 16,
    maxPositionEmbeddings: 12,
    layers: Array.from({ length: 3 }, () => ({ numHeads: 2, intermediateSize: 16 })),
  };
}

/** Random tensors for every expected tensor of a config/head. */
function randomTensors(config: BertConfig, head: HeadKind, seed = 1): Map<string, HostTensor> {
  const rng = new HostRandom(seed);
  const out = new Map<string, HostTensor>();
  for (const [name, shape] of expectedTensors(config, head)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = rng.normal();
    out.set(name, { shape, data });
  }
  return out;
}

let root: string;
let counter = 0;
const freshDir = () => path.join(root, `ckpt-${counter++}`);
before(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-ckpt-'));
});
after(() => fs.rmSync(root, { recursive: true, force: true }));

function expectSameTensors(a: Map<string, HostTensor>, b: Map<string, HostTensor>, tol = 0): void {
  expect([...a.keys()]).to.deep.equal([...b.keys()]);
  for (const [name, t] of a) {
    const u = b.get(name)!;
    expect(u.shape, name).to.deep.equal(t.shape);
    if (tol === 0) expect(Array.from(u.data), name).to.deep.equal(Array.from(t.data));
    else for (let i = 0; i < t.data.length; i++) expect(Math.abs(u.data[i]! - t.data[i]!), name).to.be.at.most(tol * Math.max(Math.abs(t.data[i]!), 2 ** -14));
  }
}

/** Writes a raw checkpoint directory: config.json from `config` and one model.safetensors. */
function writeRaw(dir: string, config: BertConfig, tensors: Array<{ name: string; shape: number[]; data: Float32Array }>): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(configToJson(config)));
  const file = path.join(dir, 'model.safetensors');
  writeSafetensors(file, tensors);
  return file;
}

const asList = (m: Map<string, HostTensor>) => [...m].map(([name, t]) => ({ name, shape: t.shape, data: t.data }));

describe('checkpoint: expected tensors', () => {
  it('lists transformers names and [out, in] shapes, skipping pruned sublayers', () => {
    const c = withLayers(smallConfig(3), [
      { numHeads: 2, intermediateSize: 16 },
      { numHeads: 0, intermediateSize: 5 },
      { numHeads: 1, intermediateSize: 0 },
    ]);
    const e = expectedTensors(c, 'classification');
    expect(e.get('bert.embeddings.word_embeddings.weight')).to.deep.equal([40, 8]);
    expect(e.get('bert.embeddings.position_embeddings.weight')).to.deep.equal([12, 8]);
    expect(e.get('bert.encoder.layer.0.attention.self.query.weight')).to.deep.equal([8, 8]);
    expect(e.get('bert.encoder.layer.0.attention.output.dense.weight')).to.deep.equal([8, 8]);
    expect(e.has('bert.encoder.layer.1.attention.self.query.weight')).to.equal(false);
    expect(e.has('bert.encoder.layer.1.attention.output.dense.bias')).to.equal(false);
    expect(e.get('bert.encoder.layer.1.attention.output.LayerNorm.weight')).to.deep.equal([8]);
    expect(e.get('bert.encoder.layer.1.intermediate.dense.weight')).to.deep.equal([5, 8]);
    expect(e.get('bert.encoder.layer.1.output.dense.weight')).to.deep.equal([8, 5]);
    expect(e.get('bert.encoder.layer.2.attention.self.key.weight')).to.deep.equal([4, 8]);
    expect(e.get('bert.encoder.layer.2.attention.self.value.bias')).to.deep.equal([4]);
    expect(e.get('bert.encoder.layer.2.attention.output.dense.weight')).to.deep.equal([8, 4]);
    expect(e.has('bert.encoder.layer.2.intermediate.dense.weight')).to.equal(false);
    expect(e.has('bert.encoder.layer.2.output.dense.bias')).to.equal(false);
    expect(e.get('bert.encoder.layer.2.output.LayerNorm.bias')).to.deep.equal([8]);
    expect(e.get('classifier.weight')).to.deep.equal([3, 8]);
    expect(e.get('bert.pooler.dense.weight')).to.deep.equal([8, 8]);
    // 5 embedding tensors; layer 0: 8 (Q, K, V, O) + 2 + 4 + 2; layer 1: 2 + 4 + 2; layer 2: 8 + 2 + 2; pooler 2; classifier 2.
    expect(e.size).to.equal(5 + 16 + 8 + 12 + 2 + 2);
    const mlm = expectedTensors(c, 'mlm');
    expect(mlm.has('bert.pooler.dense.weight')).to.equal(false);
    expect(mlm.get('cls.predictions.bias')).to.deep.equal([40]);
    expect(mlm.has('cls.predictions.decoder.weight')).to.equal(false);
  });
});

describe('checkpoint: save and load', () => {
  for (const head of ['classification', 'mlm', 'base'] as const) {
    it(`round-trips a ${head} checkpoint in F32 exactly`, () => {
      const dir = freshDir();
      const config = smallConfig();
      const tensors = randomTensors(config, head);
      const written = saveCheckpoint(dir, config, tensors);
      expect(written).to.deep.equal(['model.safetensors', 'config.json']);
      const loaded = loadCheckpoint(dir);
      expect(loaded.head).to.equal(head);
      expect(loaded.config.layers).to.deep.equal(config.layers);
      expect(loaded.config.architectures).to.deep.equal([{ classification: 'BertForSequenceClassification', mlm: 'BertForMaskedLM', base: 'BertModel' }[head]]);
      expectSameTensors(tensors, loaded.tensors);
      const raw = readSafetensors(path.join(dir, 'model.safetensors'));
      expect(raw.metadata).to.deep.equal({ format: 'pt' });
      const names = [...raw.tensors.keys()];
      if (head === 'base') expect(names.every((n) => !n.startsWith('bert.'))).to.equal(true); // BertModel's names
      else expect(names.filter((n) => n.startsWith('embeddings.'))).to.deep.equal([]);
    });
  }

  it('round-trips F16 within half precision', () => {
    const dir = freshDir();
    const config = smallConfig();
    const tensors = randomTensors(config, 'classification', 7);
    saveCheckpoint(dir, config, tensors, { dtype: 'F16' });
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).torch_dtype).to.equal('float16');
    const raw = readSafetensors(path.join(dir, 'model.safetensors'));
    expect([...raw.tensors.values()].every((t) => t.dtype === 'F16')).to.equal(true);
    expectSameTensors(tensors, loadCheckpoint(dir).tensors, 2 ** -11);
  });

  it('round-trips a pruned model with a layer without MHA and one without FFN', () => {
    const dir = freshDir();
    const config = withLayers(smallConfig(1), [
      { numHeads: 0, intermediateSize: 16 },
      { numHeads: 1, intermediateSize: 0 },
      { numHeads: 2, intermediateSize: 3 },
    ]);
    const tensors = randomTensors(config, 'classification', 3);
    saveCheckpoint(dir, config, tensors);
    const loaded = loadCheckpoint(dir, { head: 'classification' });
    expect(loaded.config.layers).to.deep.equal(config.layers);
    expect(loaded.config.problemType).to.equal('regression');
    expectSameTensors(tensors, loaded.tensors);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    expect(json.webprune_layers[0]).to.deep.equal({ num_attention_heads: 0, intermediate_size: 16 });
  });

  it('shards by a maximum size, and a later unsharded save removes the stale shards', () => {
    const dir = freshDir();
    const config = smallConfig();
    const tensors = randomTensors(config, 'classification', 5);
    const maxShardBytes = 1000; // the word embeddings alone (40 × 8 × 4 = 1280 bytes) exceed it
    const written = saveCheckpoint(dir, config, tensors, { maxShardBytes });
    const shards = written.filter((f) => f.startsWith('model-'));
    expect(shards.length).to.be.greaterThan(2);
    shards.forEach((f, k) => expect(f).to.equal(`model-${String(k + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`));
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8'));
    let total = 0;
    for (const f of shards) {
      const st = readSafetensors(path.join(dir, f));
      const bytes = [...st.tensors.values()].reduce((s, t) => s + 4 * t.data.length, 0);
      total += bytes;
      if (st.tensors.size > 1) expect(bytes, f).to.be.at.most(maxShardBytes);
      for (const name of st.tensors.keys()) expect(index.weight_map[name]).to.equal(f);
    }
    expect(index.metadata.total_size).to.equal(total);
    expect(Object.keys(index.weight_map)).to.have.length(tensors.size);
    expect(fs.existsSync(path.join(dir, 'model.safetensors'))).to.equal(false);
    expectSameTensors(tensors, loadCheckpoint(dir).tensors);
    // Stable order: the first shard starts with the word embeddings, alone (over the limit).
    expect([...readSafetensors(path.join(dir, shards[0]!)).tensors.keys()]).to.deep.equal(['bert.embeddings.word_embeddings.weight']);

    saveCheckpoint(dir, config, tensors);
    expect(fs.readdirSync(dir).sort()).to.deep.equal(['config.json', 'model.safetensors']);
    expectSameTensors(tensors, loadCheckpoint(dir).tensors);
  });

  it('never writes the tied decoder weight', () => {
    const dir = freshDir();
    const config = smallConfig();
    const tensors = randomTensors(config, 'mlm', 4);
    tensors.set('cls.predictions.decoder.weight', tensors.get('bert.embeddings.word_embeddings.weight')!);
    saveCheckpoint(dir, config, tensors);
    expect(readSafetensors(path.join(dir, 'model.safetensors')).tensors.has('cls.predictions.decoder.weight')).to.equal(false);
    expect(loadCheckpoint(dir).tensors.size).to.equal(tensors.size - 1);
  });

  it('saves the tokenizer through the given saver', () => {
    const dir = freshDir();
    const config = smallConfig();
    saveCheckpoint(dir, config, randomTensors(config, 'base'), { tokenizer: { save: (d: string) => fs.writeFileSync(path.join(d, 'vocab.txt'), '[PAD]\n') } });
    expect(fs.readFileSync(path.join(dir, 'vocab.txt'), 'utf8')).to.equal('[PAD]\n');
  });
});

describe('checkpoint: transformers name variants', () => {
  it('accepts bare BertModel names, LayerNorm gamma/beta, position_ids and the tied decoder', () => {
    const dir = freshDir();
    const config = smallConfig();
    const tensors = randomTensors(config, 'mlm', 9);
    const list = asList(tensors).map((t) => ({
      ...t,
      name: t.name.replace(/^bert\./, '').replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta'),
    }));
    list.push({ name: 'cls.predictions.decoder.weight', shape: [40, 8], data: tensors.get('bert.embeddings.word_embeddings.weight')!.data });
    list.push({ name: 'cls.seq_relationship.weight', shape: [2, 8], data: new Float32Array(16) });
    list.push({ name: 'bert.pooler.dense.weight', shape: [8, 8], data: new Float32Array(64).fill(0.5) });
    list.push({ name: 'bert.pooler.dense.bias', shape: [8], data: new Float32Array(8) });
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(configToJson(config)));
    // position_ids is an int64 buffer: write the file by hand with an extra I64 tensor.
    const f32 = path.join(dir, 'tmp.safetensors');
    writeSafetensors(f32, list);
    const bytes = fs.readFileSync(f32);
    const n = Number(bytes.readBigUInt64LE(0));
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf8'));
    const dataLen = bytes.length - 8 - n;
    header['embeddings.position_ids'] = { dtype: 'I64', shape: [1, 12], data_offsets: [dataLen, dataLen + 96] };
    const json = Buffer.from(JSON.stringify(header));
    const out = Buffer.alloc(8 + json.length + dataLen + 96);
    out.writeBigUInt64LE(BigInt(json.length), 0);
    json.copy(out, 8);
    bytes.copy(out, 8 + json.length, 8 + n);
    fs.writeFileSync(path.join(dir, 'model.safetensors'), out);
    fs.rmSync(f32);

    const loaded = loadCheckpoint(dir);
    expect(loaded.head).to.equal('mlm');
    expect(loaded.tensors.has('bert.embeddings.position_ids')).to.equal(false);
    expect(loaded.tensors.has('cls.predictions.decoder.weight')).to.equal(false);
    expect(loaded.tensors.has('cls.seq_relationship.weight')).to.equal(false);
    expect(loaded.tensors.get('bert.pooler.dense.weight')!.data[0]).to.equal(0.5); // optional for mlm, kept
    for (const [name, t] of tensors) expect(Array.from(loaded.tensors.get(name)!.data), name).to.deep.equal(Array.from(t.data));

    // The same MLM checkpoint loaded as a bare encoder for fine-tuning.
    const encoder = loadCheckpoint(dir, { head: 'base', dropOtherHeads: true });
    expect([...encoder.tensors.keys()].some((k) => k.startsWith('cls.'))).to.equal(false);
    expect(() => loadCheckpoint(dir, { head: 'base' })).to.throw(CheckpointError, 'unexpected tensor "cls.');
  });
});

describe('checkpoint: validation errors', () => {
  const config = smallConfig();
  const good = () => asList(randomTensors(config, 'classification', 11));

  it('missing directory, config.json, weights', () => {
    expect(() => loadCheckpoint(path.join(root, 'does-not-exist'))).to.throw('model directory does not exist');
    const dir = freshDir();
    fs.mkdirSync(dir);
    expect(() => loadCheckpoint(dir)).to.throw(`${path.join(dir, 'config.json')}: not found`);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...configToJson(config), hidden_size: '8' }));
    expect(() => loadCheckpoint(dir)).to.throw(ConfigError, 'hidden_size must be a positive integer (got "8")');
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(configToJson(config)));
    expect(() => loadCheckpoint(dir)).to.throw(CheckpointError, 'no model.safetensors or model.safetensors.index.json');
  });

  it('refuses PyTorch pickles and says how to convert', () => {
    const dir = freshDir();
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(configToJson(config)));
    fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), 'not really a pickle');
    expect(() => loadCheckpoint(dir)).to.throw(CheckpointError, /pytorch_model\.bin: PyTorch pickle checkpoints are never loaded.*save_pretrained\('.*', safe_serialization=True\)/);
  });

  it('missing, unexpected and misshapen tensors name the file and tensor', () => {
    let dir = freshDir();
    const file = writeRaw(dir, config, good().filter((t) => t.name !== 'bert.encoder.layer.1.attention.self.key.bias'));
    expect(() => loadCheckpoint(dir)).to.throw(CheckpointError, `${file}: missing 1 tensor(s) that a classification model of this config.json needs: "bert.encoder.layer.1.attention.self.key.bias"`);

    dir = freshDir();
    const extra = writeRaw(dir, config, [...good(), { name: 'bert.encoder.layer.3.output.dense.bias', shape: [8], data: new Float32Array(8) }]);
    expect(() => loadCheckpoint(dir)).to.throw(CheckpointError, `${extra}: unexpected tensor "bert.encoder.layer.3.output.dense.bias"`);

    dir = freshDir();
    const wrong = good().map((t) => (t.name === 'bert.encoder.layer.2.intermediate.dense.weight' ? { ...t, shape: [8, 16] } : t));
    const shaped = writeRaw(dir, config, wrong);
    expect(() => loadCheckpoint(dir)).to.throw(CheckpointError, `${shaped}: tensor "bert.encoder.layer.2.intermediate.dense.weight" has shape [8, 16] but config.json implies [16, 8]`);

    // A pruned checkpoint whose config.json lacks the per-layer structure.
    dir = freshDir();
    const prunedCfg = withLayers(config, [{ numHeads: 1, intermediateSize: 16 }, ...config.layers.slice(1)]);
    const pruned = writeRaw(dir, config, asList(randomTensors(prunedCfg, 'classification')));
    expect(() => loadCheckpoint(dir)).to.throw(CheckpointError, `${pruned}: tensor "bert.encoder.layer.0.attention.self.query.weight" has shape [4, 8] but config.json implies [8, 8]`);

    // Too few labels in config.json for the classifier.
    dir = freshDir();
    const labels = writeRaw(dir, smallConfig(3), good());
    expect(() => loadCheckpoint(dir)).to.throw(CheckpointError, `${labels}: tensor "classifier.weight" has shape [2, 8] but config.json implies [3, 8]`);
  });

  it('duplicate names after normalisation, integer parameters, a malformed file', () => {
    let dir = freshDir();
    const list = good();
    list.push({ ...list[0]!, name: 'embeddings.word_embeddings.weight' });
    const file = writeRaw(dir, config, list);
    expect(() => loadCheckpoint(dir)).to.throw(CheckpointError, `${file}: tensor "embeddings.word_embeddings.weight" duplicates "bert.embeddings.word_embeddings.weight"`);

    dir = freshDir();
    const ints = writeRaw(dir, config, good());
    const bytes = fs.readFileSync(ints);
    const n = Number(bytes.readBigUInt64LE(0));
    const header = bytes.subarray(8, 8 + n).toString('utf8').replace('"classifier.bias":{"dtype":"F32"', '"classifier.bias":{"dtype":"I32"');
    Buffer.from(header, 'utf8').copy(bytes, 8);
    fs.writeFileSync(ints, bytes);
    expect(() => loadCheckpoint(dir)).to.throw(CheckpointError, `${ints}: tensor "classifier.bias" has an integer dtype`);

    dir = freshDir();
    const trunc = writeRaw(dir, config, good());
    fs.truncateSync(trunc, fs.statSync(trunc).size - 4);
    expect(() => loadCheckpoint(dir)).to.throw(SafetensorsError, `${trunc}: tensor "classifier.bias"`);
  });

  it('sharded index problems', () => {
    const tensors = randomTensors(config, 'classification', 12);
    const make = () => {
      const dir = freshDir();
      saveCheckpoint(dir, config, tensors, { maxShardBytes: 1500 });
      return dir;
    };
    let dir = make();
    const indexPath = path.join(dir, 'model.safetensors.index.json');
    const index = JSON.parse(fs.readFileSync(indexPath, 'utf8'));
    const shardNames = [...new Set(Object.values(index.weight_map) as string[])].sort();
    expect(shardNames.length).to.be.greaterThan(2);
    const [first, second] = shardNames as [string, string];
    const last = shardNames.at(-1)!;
    fs.rmSync(path.join(dir, second));
    expect(() => loadCheckpoint(dir)).to.throw(CheckpointError, `${indexPath}: lists ${second}, which does not exist`);

    dir = make();
    const moved = { ...index, weight_map: { ...index.weight_map, 'classifier.bias': first } };
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify(moved));
    expect(() => loadCheckpoint(dir)).to.throw(CheckpointError, `${first}: lacks tensor "classifier.bias", which model.safetensors.index.json maps to this file`);

    dir = make();
    const { 'classifier.bias': _, ...dropped } = index.weight_map;
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ ...index, weight_map: dropped }));
    expect(() => loadCheckpoint(dir)).to.throw(CheckpointError, `${last}: holds tensor "classifier.bias", which model.safetensors.index.json does not map to this file`);

    dir = make();
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'classifier.bias': '../x.safetensors' } }));
    expect(() => loadCheckpoint(dir)).to.throw(CheckpointError, 'must be a file name in the model directory');
    fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), '{');
    expect(() => loadCheckpoint(dir)).to.throw(CheckpointError, 'model.safetensors.index.json: not valid JSON');
  });

  it('saveCheckpoint validates before writing anything', () => {
    const dir = freshDir();
    const tensors = randomTensors(config, 'classification');
    tensors.delete('bert.pooler.dense.bias');
    expect(() => saveCheckpoint(dir, config, tensors)).to.throw(CheckpointError, 'missing 1 tensor(s)');
    const bad = randomTensors(config, 'classification');
    bad.set('classifier.bias', { shape: [3], data: new Float32Array(3) });
    expect(() => saveCheckpoint(dir, config, bad)).to.throw(CheckpointError, 'tensor "classifier.bias" has shape [3] but config.json implies [2]');
    expect(fs.existsSync(dir)).to.equal(false);
  });
});

describe('checkpoint: non-finite weights', () => {
  const poisoned = (name: string, index: number, value: number) => {
    const config = smallConfig();
    const tensors = randomTensors(config, 'classification');
    tensors.get(name)!.data[index] = value;
    return { config, tensors };
  };

  it('refuses to load a NaN weight, naming the file, the tensor and the first bad element', () => {
    const { config, tensors } = poisoned('bert.encoder.layer.0.attention.self.query.weight', 13, NaN);
    tensors.get('bert.encoder.layer.0.attention.self.query.weight')!.data[40] = Infinity;
    const dir = freshDir();
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(configToJson(config)));
    const file = path.join(dir, 'model.safetensors');
    writeSafetensors(file, asList(tensors), { allowNonFinite: true });
    expect(() => loadCheckpoint(dir)).to.throw(
      SafetensorsError,
      `${file}: tensor "bert.encoder.layer.0.attention.self.query.weight": element 13 (index [1, 5] of shape [8, 8]) is NaN, one of 2 non-finite values`,
    );
  });

  it('refuses an infinite classifier stored as F32, F16 or BF16', () => {
    for (const dtype of ['F32', 'F16', 'BF16'] as const) {
      const { config, tensors } = poisoned('classifier.bias', 1, -Infinity);
      const dir = freshDir();
      fs.mkdirSync(dir);
      fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(configToJson(config)));
      writeSafetensors(path.join(dir, 'model.safetensors'), asList(tensors), { dtype, allowNonFinite: true });
      expect(() => loadCheckpoint(dir), dtype).to.throw(SafetensorsError, /tensor "classifier.bias": element 1 is -Infinity, the only non-finite value/);
    }
  });

  it('refuses to save non-finite weights (or F16 overflows) before writing anything', () => {
    const { config, tensors } = poisoned('bert.encoder.layer.2.output.dense.weight', 100, NaN);
    const dir = freshDir();
    expect(() => saveCheckpoint(dir, config, tensors)).to.throw(CheckpointError, /tensor "bert.encoder.layer.2.output.dense.weight": element 100 \(index \[6, 4\] of shape \[8, 16\]\) is NaN.*refusing to write/);
    expect(fs.existsSync(dir), 'nothing written').to.equal(false);
    const big = randomTensors(config, 'classification');
    big.get('classifier.weight')!.data[3] = 65520; // rounds to +Infinity in f16
    expect(() => saveCheckpoint(dir, config, big, { dtype: 'F16' })).to.throw(CheckpointError, /"classifier.weight": element 3 .* = 65520 is beyond the F16 range/);
    big.get('classifier.weight')!.data[3] = 65519.99609375; // the largest f32 that rounds to a finite f16 (65504)
    saveCheckpoint(dir, config, big, { dtype: 'F16' });
    expect(loadCheckpoint(dir).tensors.get('classifier.weight')!.data[3]).to.equal(65504);
    expect(() => saveCheckpoint(freshDir(), config, big, { dtype: 'BF16' })).to.not.throw();
  });
});
