import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import * as ort from 'onnxruntime-node';
import { ONNX_OPSET, onnxBytes, transpose2d, writeOnnx } from '../../export/onnx.ts';
import { DataType, decodeModel } from '../../export/onnx_graph.ts';
import { f16BitsToF32 } from '../../models/io/half.ts';
import { loadCheckpoint } from '../../models/io/checkpoint.ts';
import { loadModel } from '../../models/load.ts';
import { freshSeed, useTestEngine } from '../helpers.ts';
import { type HostBatch, maxAbsDiff, mrpcBatches, testConfig, webpruneLogits, writeTestModel } from './fixtures.ts';
import { castModel } from '../../models/precision.ts';

const int64 = (a: Int32Array, b: HostBatch) => new ort.Tensor('int64', BigInt64Array.from(a, (v) => BigInt(v)), [b.B, b.S]);

/** ONNX Runtime's logits (as f32) for each batch. */
async function ortLogits(session: ort.InferenceSession, batches: readonly HostBatch[]): Promise<Float32Array[]> {
  const out: Float32Array[] = [];
  for (const b of batches) {
    const r = await session.run({ input_ids: int64(b.inputIds, b), attention_mask: int64(b.attentionMask, b), token_type_ids: int64(b.tokenTypeIds, b) });
    const t = r['logits']!;
    out.push(t.type === 'float16' ? Float32Array.from(t.data as Uint16Array, f16BitsToF32) : (t.data as Float32Array));
  }
  return out;
}

describe('export: ONNX @gpu @data @slow', function () {
  this.timeout(300000);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-onnx-'));
  let batches: HostBatch[];
  before(async () => {
    await useTestEngine();
    // 24 real MRPC dev pairs in 3 batches of different lengths (dynamic batch and sequence axes).
    batches = mrpcBatches(24, 8);
  });
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  for (const kind of ['dense', 'pruned', 'rank'] as const) {
    it(`${kind}: ONNX Runtime's logits equal webprune's within 1e-4 (f32) on MRPC batches, and about 1e-2 in f16 (ORT's f16 graph and webprune's own f16 inference)`, async () => {
      const seed = freshSeed();
      const dir = path.join(tmp, kind);
      writeTestModel(dir, testConfig(kind), seed);
      const ckpt = loadCheckpoint(dir);
      const { model } = loadModel(dir, { head: 'classification', seed });
      const ours = await webpruneLogits(model, batches);
      // The same model in webprune's own f16 inference (--dtype f16; models/precision.ts).
      await castModel(model, 'f16');
      const ours16 = await webpruneLogits(model, batches);
      model.dispose();
      const scale = Math.max(...ours.map((l) => Math.max(...l.map(Math.abs))));
      expect(scale, 'logits of order 1: the comparison is not trivially small').to.be.greaterThan(0.1);

      const file = writeOnnx(ckpt, dir, { dtype: 'f32' });
      // Creating a session resolves the graph with ONNX's type and shape inference: a malformed graph fails here.
      const f32 = await ortLogits(await ort.InferenceSession.create(file), batches);
      const err32 = Math.max(...f32.map((l, i) => maxAbsDiff(l, ours[i]!)));
      expect(err32, `f32 max |ORT − webprune| (seed=${seed})`).to.be.below(1e-4);

      const f16 = await ortLogits(await ort.InferenceSession.create(onnxBytes(ckpt, { dtype: 'f16' })), batches);
      const err16 = Math.max(...f16.map((l, i) => maxAbsDiff(l, ours[i]!)));
      // Half precision: 11-bit mantissas through the encoder; relative to the logits' scale.
      expect(err16 / scale, `f16 max |ORT − webprune| / scale (seed=${seed})`).to.be.below(3e-2);
      const errOurs16 = Math.max(...ours16.map((l, i) => maxAbsDiff(l, ours[i]!)));
      expect(errOurs16 / scale, `webprune f16 max |f16 − f32| / scale (seed=${seed})`).to.be.below(1e-2);
      expect(Math.max(...ours16.map((l, i) => maxAbsDiff(l, f16[i]!))) / scale, `max |webprune f16 − ORT f16| / scale (seed=${seed})`).to.be.below(3e-2);
    });
  }

  it('has the per-layer structure: no attention nodes in a 0-head layer, no FFN in a 0-unit layer; opset 17, int64 dynamic inputs', () => {
    const dir = path.join(tmp, 'structure');
    const config = testConfig('pruned', 1);
    writeTestModel(dir, config, 3);
    const ckpt = loadCheckpoint(dir);
    const model = decodeModel(onnxBytes(ckpt));
    const g = model.graph!;
    expect(Number(model.opsetImport![0]!.version)).to.equal(ONNX_OPSET);
    expect(g.input!.map((i) => i.name)).to.deep.equal(['input_ids', 'attention_mask', 'token_type_ids']);
    for (const i of g.input!) {
      expect(i.type!.tensorType!.elemType).to.equal(DataType.INT64);
      expect(i.type!.tensorType!.shape!.dim!.map((d) => d.dimParam)).to.deep.equal(['batch', 'sequence']);
    }
    expect(g.output!.map((o) => o.name)).to.deep.equal(['logits']);
    expect(g.output![0]!.type!.tensorType!.shape!.dim!.map((d) => d.dimParam || Number(d.dimValue))).to.deep.equal(['batch', 1]);
    const ops = (t: string) => g.node!.filter((n) => n.opType === t).length;
    // Layers with heads: 3 of 4; layers with an FFN: 3 of 4.
    expect(ops('Softmax')).to.equal(3);
    expect(ops('Erf')).to.equal(3);
    expect(ops('LayerNormalization')).to.equal(1 + 3 + 3);
    const init = new Map(g.initializer!.map((t) => [t.name, t.dims!.map(Number)]));
    expect(init.get('bert.encoder.layer.0.attention.self.query.weight')).to.deep.equal([62, 48]);
    expect(init.has('bert.encoder.layer.1.attention.self.query.weight')).to.equal(false);
    expect(init.get('bert.encoder.layer.1.intermediate.dense.weight')).to.deep.equal([62, 57]);
    expect(init.has('bert.encoder.layer.2.intermediate.dense.weight')).to.equal(false);
    expect(init.get('bert.pooler.dense.weight')).to.deep.equal([64, 62]);
    expect(init.get('classifier.weight')).to.deep.equal([1, 64]);
    // Linear weights are stored transposed, values unchanged.
    const q = ckpt.tensors.get('bert.encoder.layer.3.attention.self.query.weight')!;
    const stored = g.initializer!.find((t) => t.name === 'bert.encoder.layer.3.attention.self.query.weight')!;
    const raw = stored.rawData!;
    expect(Array.from(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)))).to.deep.equal(Array.from(transpose2d(q).data));
    const meta = Object.fromEntries(model.metadataProps!.map((p) => [p.key, p.value]));
    expect(JSON.parse(meta['webprune_config']!).webprune_layers).to.have.length(4);
    const f16 = decodeModel(onnxBytes(ckpt, { dtype: 'f16' }));
    expect(f16.graph!.initializer!.filter((t) => t.dataType === DataType.FLOAT16).length).to.equal(g.initializer!.filter((t) => t.dataType === DataType.FLOAT).length);
  });

  it('a factorised Linear is two MatMuls of its factors; rank 0 leaves only the bias', () => {
    const dir = path.join(tmp, 'rank-structure');
    writeTestModel(dir, testConfig('rank'), 4);
    const g = decodeModel(onnxBytes(loadCheckpoint(dir))).graph!;
    const init = new Map(g.initializer!.map((t) => [t.name, t.dims!.map(Number)]));
    const p = 'bert.encoder.layer.0.attention.self.query';
    expect(init.get(`${p}.weight_p`)).to.deep.equal([64, 8]);
    expect(init.get(`${p}.weight_q`)).to.deep.equal([8, 64]);
    expect(init.has(`${p}.weight`)).to.equal(false);
    expect(init.has('bert.encoder.layer.0.attention.self.key.weight_p')).to.equal(false);
    expect(g.node!.filter((n) => n.opType === 'Expand').length).to.equal(2); // key of layer 0, output of layer 1
  });

  it('refuses models without a classification head', () => {
    const ckpt = loadCheckpoint(path.join(import.meta.dirname, '../fixtures/bert-parity/mlm'));
    expect(() => onnxBytes(ckpt)).to.throw(/only sequence classifiers/);
  });
});
