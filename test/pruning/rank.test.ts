import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as E from '../../engine/index.ts';
import { Bert } from '../../models/bert.ts';
import { type BertConfig, ConfigError, namedConfig, parameterCount, parseConfig, configToJson } from '../../models/config.ts';
import { loadModel, saveModel } from '../../models/load.ts';
import { denseParameters } from '../../pruning/budget.ts';
import { compactRank } from '../../pruning/rank/compact.ts';
import { factorize } from '../../pruning/rank/factorize.ts';
import { RankModule } from '../../pruning/rank/rank_module.ts';
import { balancedFactors } from '../../pruning/rank/svd.ts';
import { expectClose, freshSeed, useTestEngine } from '../helpers.ts';

/** A small encoder with uneven per-layer structure (a layer without FFN) and awkward sizes. */
function smallConfig(): BertConfig {
  return {
    ...namedConfig('tiny'),
    vocabSize: 97,
    hiddenSize: 33,
    numHeads: 3,
    headSize: 7,
    intermediateSize: 40,
    numLayers: 2,
    maxPositionEmbeddings: 32,
    layers: [
      { numHeads: 3, intermediateSize: 40 },
      { numHeads: 1, intermediateSize: 0 },
    ],
    initializerRange: 0.2,
    numLabels: 3,
  };
}

function inputs(seed: number, B: number, S: number, vocab: number) {
  const rng = new E.HostRandom(seed);
  return {
    inputIds: E.tensor(Int32Array.from({ length: B * S }, () => rng.int(vocab)), [B, S], 'i32'),
    attentionMask: E.tensor(Float32Array.from({ length: B * S }, (_, i) => (i % S < S - Math.floor(i / S) ? 1 : 0)), [B, S]),
  };
}

/** The classifier's pooled features and logits without dropout, with optional masks. */
async function forward(model: Bert, x: ReturnType<typeof inputs>, masks?: Parameters<Bert['encode']>[1]['masks']) {
  const out = E.noGrad(() =>
    E.tidy(() => {
      const enc = model.encode(x, { training: false, masks });
      return { seq: enc.sequence, logits: model.classify(x, { training: false, masks }).logits };
    }),
  );
  const r = { seq: await out.seq.read(), logits: await out.logits.read() };
  out.seq.dispose();
  out.logits.dispose();
  return r;
}

describe('rank pruning (FLOP) @gpu', () => {
  before(useTestEngine);

  it('balanced SVD factors: Q·P = W, σ descending, P = Σ^½Vᵀ and Q = UΣ^½ (PPᵀ = QᵀQ = Σ)', () => {
    const seed = freshSeed();
    const rng = new E.HostRandom(seed);
    for (const [out, inF] of [[1, 7], [7, 1], [33, 7], [7, 33], [40, 40]] as const) {
      const w = Float32Array.from({ length: out * inF }, () => rng.normal());
      const f = balancedFactors(w, out, inF);
      const r = Math.min(out, inF);
      expect(f.rank).to.equal(r);
      const prod = new Float64Array(out * inF);
      for (let o = 0; o < out; o++) for (let i = 0; i < inF; i++) for (let j = 0; j < r; j++) prod[o * inF + i] += f.q[o * r + j]! * f.p[j * inF + i]!;
      expectClose(prod, w, 1e-6, `Q·P = W [${out}, ${inF}] seed=${seed}`);
      for (let j = 1; j < r; j++) expect(f.sigma[j]!).to.be.at.most(f.sigma[j - 1]!);
      for (let a = 0; a < r; a++) {
        for (let b = 0; b < r; b++) {
          let pp = 0;
          let qq = 0;
          for (let i = 0; i < inF; i++) pp += f.p[a * inF + i]! * f.p[b * inF + i]!;
          for (let o = 0; o < out; o++) qq += f.q[o * r + a]! * f.q[o * r + b]!;
          const want = a === b ? f.sigma[a]! : 0;
          expect(Math.abs(pp - want), `PPᵀ[${a},${b}] seed=${seed}`).to.be.below(1e-5 * f.sigma[0]!);
          expect(Math.abs(qq - want), `QᵀQ[${a},${b}] seed=${seed}`).to.be.below(1e-5 * f.sigma[0]!);
        }
      }
    }
    expect(() => balancedFactors([1, 2, 3], 2, 2)).to.throw(/3 values for a \[2, 2\] weight/);
  });

  it('the factorised model at full rank equals the dense one (≤ 1e-5 relative), natively and through the gates at z = 1', async () => {
    const seed = freshSeed();
    const dense = Bert.random(smallConfig(), 'classification', seed);
    const f = factorize(dense.config, await dense.values());
    expect(f.config.layers[0]!.ranks).to.deep.equal({ query: 21, key: 21, value: 21, attention_output: 21, intermediate: 33, output: 33 });
    expect(f.config.layers[1]!.ranks).to.deep.equal({ query: 7, key: 7, value: 7, attention_output: 7 });
    const model = new Bert(f.config, 'classification', f.values);
    const x = inputs(seed, 3, 11, 97);
    const want = await forward(dense, x);
    const got = await forward(model, x);
    expectClose(got.seq, want.seq, 1e-5, `native sequence seed=${seed}`);
    expectClose(got.logits, want.logits, 1e-5, `native logits seed=${seed}`);
    const rank = new RankModule(f.config, { seed });
    const ones = new Map(rank.linears.map((l) => [l.name, new Float64Array(l.rank).fill(1)]));
    const gated = await forward(model, x, { linear: (name, t) => rank.override(model, rank.gates.fromHost(ones))(name, t) });
    expectClose(gated.seq, want.seq, 1e-5, `gated sequence seed=${seed}`);
    rank.gates.dispose();
    for (const m of [dense, model]) m.dispose();
  });

  it('compaction keeps the surviving rank dimensions and equals the masked model (≤ 1e-4); it saves and loads back', async () => {
    const seed = freshSeed();
    const rng = new E.HostRandom(seed);
    const dense = Bert.random(smallConfig(), 'classification', seed);
    const f = factorize(dense.config, await dense.values());
    dense.dispose();
    const model = new Bert(f.config, 'classification', f.values);
    const rank = new RankModule(f.config, { seed });
    // z with exact zeros, soft values and ones; one Linear closed entirely (rank 0: its bias only).
    const z = new Map(
      rank.linears.map((l, k) => [l.name, Float64Array.from({ length: l.rank }, () => (k === 2 ? 0 : rng.uniform() < 0.4 ? 0 : rng.uniform() < 0.5 ? 1 : 0.1 + 0.9 * rng.uniform()))]),
    );
    const x = inputs(seed, 2, 9, 97);
    const zt = rank.gates.fromHost(z);
    const masked = await forward(model, x, { linear: rank.override(model, zt) });
    const c = compactRank(f.config, f.values, z);
    const compacted = new Bert(c.config, 'classification', c.values);
    const got = await forward(compacted, x);
    expectClose(got.seq, masked.seq, 1e-4, `compacted sequence seed=${seed}`);
    expectClose(got.logits, masked.logits, 1e-4, `compacted logits seed=${seed}`);
    // Ranks are the surviving dimensions; the count is (in + out)·r per Linear.
    rank.linears.forEach((l) => expect(c.config.layers[l.layer]!.ranks![l.kind], l.name).to.equal(z.get(l.name)!.filter((v) => v !== 0).length));
    expect(c.config.layers[0]!.ranks!.value).to.equal(0);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-rank-'));
    await saveModel(compacted, dir);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8'));
    expect(json.webprune_layers[0].ranks.value).to.equal(0);
    const loaded = loadModel(dir, { head: 'classification', seed: 0 });
    expect(loaded.initialised).to.deep.equal([]);
    expect(loaded.model.params.has('bert.encoder.layer.0.attention.self.value.weight_q')).to.equal(false);
    const again = await forward(loaded.model, x);
    expect(Array.from(again.logits)).to.deep.equal(Array.from(got.logits));
    fs.rmSync(dir, { recursive: true });
    for (const t of zt.values()) t.dispose();
    for (const m of [model, compacted, loaded.model]) m.dispose();
    rank.gates.dispose();
  });

  it('expected size at 0/1 gates equals the compacted model\'s parameter count, (in + out)·r per Linear plus biases', async () => {
    const seed = freshSeed();
    const rng = new E.HostRandom(seed);
    const dense = Bert.random(smallConfig(), 'classification', seed);
    const f = factorize(dense.config, await dense.values());
    const rank = new RankModule(f.config, { seed });
    const on = new Map(rank.linears.map((l) => [l.name, Float64Array.from({ length: l.rank }, () => (rng.uniform() < 0.5 ? 1 : 0))]));
    // log_alpha ±100: P(z ≠ 0) is exactly 1 or (in f32) 0.
    rank.gates.setLogAlphas(new Map([...on].map(([n, z]) => [n, Array.from(z, (v) => (v ? 100 : -100))])));
    const expected = await E.tidy(() => rank.gates.expectedSize()).item();
    const c = compactRank(f.config, f.values, on);
    const counted = parameterCount(c.config).total;
    // By hand: Σ (in + out)·r + the six (four) Linears' biases of each layer.
    let hand = 0;
    for (const l of rank.linears) hand += (l.in + l.out) * on.get(l.name)!.filter((v) => v === 1).length + l.out;
    expect(counted, `seed=${seed}`).to.equal(hand);
    expect(expected, `seed=${seed}`).to.be.closeTo(hand, 1e-6 * hand);
    expect(await E.tidy(() => rank.gates.expectedKeptFraction()).item()).to.be.closeTo(hand / denseParameters(f.config), 1e-6);
    expect(denseParameters(f.config)).to.equal(parameterCount(dense.config).total);
    rank.gates.dispose();
    dense.dispose();
  });

  it('config.json ranks: written, read back, validated with messages naming the key', () => {
    const base = smallConfig();
    const config: BertConfig = { ...base, layers: [{ ...base.layers[0]!, ranks: { query: 5, output: 0 } }, base.layers[1]!] };
    const json = configToJson(config);
    expect((json['webprune_layers'] as Array<Record<string, unknown>>)[0]!['ranks']).to.deep.equal({ query: 5, output: 0 });
    expect(parseConfig(json, 'c.json').layers[0]!.ranks).to.deep.equal({ query: 5, output: 0 });
    const bad = (ranks: unknown, layer = 0) => {
      const layers = (json['webprune_layers'] as Array<Record<string, unknown>>).map((l, i) => (i === layer ? { ...l, ranks } : l));
      return () => parseConfig({ ...json, webprune_layers: layers }, 'c.json');
    };
    expect(bad({ query: 22 })).to.throw(ConfigError, 'c.json: webprune_layers[0].ranks.query must be an integer rank in [0, 21] (got 22)');
    expect(bad({ fc: 1 })).to.throw(ConfigError, 'unknown Linear "fc"');
    expect(bad({ intermediate: 1 }, 1)).to.throw(ConfigError, 'webprune_layers[1].ranks.intermediate: the layer has no intermediate Linear (no FFN)');
    expect(bad([1])).to.throw(ConfigError, 'webprune_layers[0].ranks must be an object');
    // (in + out)·r replaces in·out in the count.
    expect(parameterCount(config).total).to.equal(parameterCount(base).total - 21 * 33 + (21 + 33) * 5 - 40 * 33);
  });
});
