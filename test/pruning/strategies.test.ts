import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { Bert } from '../../models/bert.ts';
import { type BertConfig, namedConfig, parameterCount } from '../../models/config.ts';
import type { StructureMasks } from '../../models/masks.ts';
import { biasParameters, fitUnitsToBudget, prunableLinears } from '../../pruning/budget.ts';
import { ElementL0Strategy } from '../../pruning/element/l0_strategy.ts';
import { MovementStrategy } from '../../pruning/element/movement_strategy.ts';
import { allocateProportionally, cubicKeepFraction } from '../../pruning/element/movement.ts';
import { RankStrategy } from '../../pruning/rank/strategy.ts';
import { createStrategy } from '../../pruning/strategies.ts';
import { STRATEGIES, parseStrategy } from '../../pruning/strategy.ts';
import { StructuredStrategy } from '../../pruning/structured_strategy.ts';
import { expectClose, freshSeed, useTestEngine } from '../helpers.ts';

function smallConfig(): BertConfig {
  return { ...namedConfig('tiny'), vocabSize: 97, hiddenSize: 16, numHeads: 2, headSize: 8, intermediateSize: 33, numLayers: 2, maxPositionEmbeddings: 16, layers: [0, 1].map(() => ({ numHeads: 2, intermediateSize: 33 })), initializerRange: 0.2 };
}

function inputs(seed: number) {
  const rng = new E.HostRandom(seed);
  return { inputIds: E.tensor(Int32Array.from({ length: 2 * 7 }, () => rng.int(97)), [2, 7], 'i32') };
}

/** Pooled features without dropout. */
async function pooled(model: Bert, x: ReturnType<typeof inputs>, masks?: () => StructureMasks): Promise<Float32Array> {
  const t = E.noGrad(() => E.tidy(() => model.pool(model.encode(x, { training: false, masks: masks?.() }).sequence)));
  const v = (await t.read()) as Float32Array;
  t.dispose();
  return v;
}

/** Uploads 0/1 keep decisions as log_alpha ±100 (P(z ≠ 0) exactly 1 or, in f32, 0). */
function setGates(gates: { logAlpha: Map<string, E.Tensor> }, rng: E.HostRandom, pOn = 0.6): Map<string, number> {
  const on = new Map<string, number>();
  for (const [name, t] of gates.logAlpha) {
    const v = Float32Array.from({ length: t.size }, () => (rng.uniform() < pOn ? 100 : -100));
    E.getEngine().queue.upload(t.buffer, v);
    on.set(name, v.filter((x) => x > 0).length);
  }
  return on;
}

describe('pruning strategies: one budget, counted the same way @gpu', () => {
  before(useTestEngine);

  it('element-l0: expected size at 0/1 gates = non-zero weights + biases (hand count); the final weights have exact zeros and equal the masked model', async () => {
    const seed = freshSeed();
    const rng = new E.HostRandom(seed);
    const model = Bert.random(smallConfig(), 'base', seed);
    const dense = parameterCount(model.config).total;
    const s = ElementL0Strategy.create(model, { budget: 0.5, steps: 10, seed });
    const on = setGates(s.gates, rng);
    const hand = [...on.values()].reduce((a, b) => a + b, 0) + biasParameters(prunableLinears(model.config));
    const expected = await E.tidy(() => s.regularizer(0).keptFraction).item();
    expect(expected * dense, `seed=${seed}`).to.be.closeTo(hand, 1e-6 * dense);
    // A budget of exactly the hand count: nothing removed or restored.
    const exact = ElementL0Strategy.create(Bert.random(smallConfig(), 'base', seed), { budget: (hand + 0.5) / dense, steps: 10, seed });
    exact.gates.setLogAlphas(await s.gates.logAlphas());
    const x = inputs(seed);
    const ev = await exact.evaluationMasks();
    const masked = await pooled(exact.model, x, ev.masks);
    ev.dispose();
    const final = await exact.finalize();
    expect(final.budget.kept_params, `seed=${seed}`).to.equal(hand);
    expect(final.budget.fit).to.deep.equal({ removed: 0, restored: 0 });
    expect(final.storage!.nonzero + biasParameters(prunableLinears(model.config))).to.equal(hand);
    // CSR: f32 values and u16 column indices per non-zero, u32 row pointers.
    const linears = prunableLinears(model.config);
    expect(final.storage!.csr_bytes).to.equal(final.storage!.nonzero * 6 + linears.reduce((a, l) => a + 4 * (l.out + 1), 0));
    expect(final.storage!.dense_bytes).to.equal(4 * linears.reduce((a, l) => a + l.out * l.in, 0));
    expect(final.notes.join(' ')).to.match(/no speed/);
    const folded = new Bert(final.config, 'base', final.values);
    expectClose(await pooled(folded, x), masked, 1e-4, `folded vs masked seed=${seed}`);
    for (const m of [folded]) m.dispose();
    s.dispose();
    exact.dispose();
  });

  it('movement: the cubic schedule, exact per-matrix top-k counts, and ⌊B·dense⌋ parameters kept at the end', async () => {
    const seed = freshSeed();
    const model = Bert.random(smallConfig(), 'base', seed);
    const dense = parameterCount(model.config).total;
    const B = 0.3;
    const s = MovementStrategy.create(model, { budget: B, steps: 20, seed, movementWarmup: { initial: 2, final: 4 } });
    // Random scores, so the masks are not the lower-index ones.
    const rng = new E.HostRandom(seed);
    for (const t of s.module.scores.values()) E.getEngine().queue.upload(t.buffer, Float32Array.from({ length: t.size }, () => rng.normal()));
    expect(s.module.keptSize(0)).to.equal(dense);
    expect(s.module.keptSize(1)).to.equal(dense);
    for (let step = 2; step < 20; step++) expect(s.module.keptSize(step)).to.be.at.most(s.module.keptSize(step - 1));
    expect(s.module.keptSize(16)).to.equal(Math.floor(B * dense));
    for (const step of [5, 16]) {
      const k = s.module.keepCounts(step);
      const masks = E.noGrad(() => s.module.masks(step));
      let i = 0;
      for (const m of masks.values()) {
        const v = await m.read();
        expect(Array.from(v).reduce((a, b) => a + b, 0), `step ${step} matrix ${i} seed=${seed}`).to.equal(k[i++]);
        m.dispose();
      }
      expect(await E.tidy(() => s.regularizer(step).keptFraction).item()).to.be.closeTo(s.module.keptSize(step) / dense, 1e-6);
    }
    const x = inputs(seed);
    const ev = await s.evaluationMasks();
    const masked = await pooled(s.model, x, ev.masks);
    ev.dispose();
    const final = await s.finalize();
    expect(final.budget.kept_params, `seed=${seed}`).to.equal(Math.floor(B * dense));
    expect(final.budget.achieved).to.be.at.most(B);
    const folded = new Bert(final.config, 'base', final.values);
    expectClose(await pooled(folded, x), masked, 1e-4, `folded vs masked seed=${seed}`);
    folded.dispose();
    s.dispose();
    expect(cubicKeepFraction(0, 0.1, { totalSteps: 10, initialWarmup: 0, finalWarmup: 0 })).to.equal(1);
    expect(cubicKeepFraction(5, 0.1, { totalSteps: 10, initialWarmup: 0, finalWarmup: 0 })).to.be.closeTo(0.1 + 0.9 * 0.125, 1e-12);
    expect(allocateProportionally(10, [4, 4, 4])).to.deep.equal([4, 3, 3]);
    expect(() => allocateProportionally(10, [3, 3, 3])).to.throw(/10 is not an integer in \[0, 9\]/);
    expect(allocateProportionally(7, [1, 100])).to.deep.equal([0, 7]);
    expect(() => MovementStrategy.create(Bert.random(smallConfig(), 'base', 1), { budget: 0.001, steps: 5, seed: 1 })).to.throw(/fewer than the .* biases/);
  });

  it('structured and rank: expected size at 0/1 gates = the compacted model\'s parameter count, which equals the masked model', async () => {
    for (const name of ['structured', 'rank'] as const) {
      const seed = freshSeed();
      const rng = new E.HostRandom(seed);
      const make = (budget: number) => (name === 'rank' ? RankStrategy.create(Bert.random(smallConfig(), 'base', seed), { budget, steps: 10, seed }) : Promise.resolve(StructuredStrategy.create(Bert.random(smallConfig(), 'base', seed), { budget, steps: 10, seed })));
      const probe = await make(1);
      const gates = probe instanceof RankStrategy ? probe.gates : (probe as StructuredStrategy).masks;
      // Rank: (in + out)·r exceeds in·out beyond half the rank; keep fewer.
      setGates(gates, rng, name === 'rank' ? 0.3 : 0.6);
      // Structured: hidden dims and whole layers kept, and every layer keeps a head and an FFN unit
      // (a layer variable kept over no unit counts its output bias in CoFi's expectation only).
      if (probe instanceof StructuredStrategy) {
        const set = async (type: 'hidden' | 'head_layer' | 'mlp' | 'head' | 'intermediate', f: (v: number, i: number) => number) => {
          const t = probe.masks.get(type);
          E.getEngine().queue.upload(t.buffer, Float32Array.from(await t.read(), f));
        };
        await set('hidden', () => 100);
        await set('head_layer', () => 100);
        await set('mlp', () => 100);
        await set('head', (v, i) => (i % 2 === 0 ? 100 : v));
        await set('intermediate', (v, i) => (i % 33 === 0 ? 100 : v));
      }
      const expected = await E.tidy(() => probe.regularizer(0).keptFraction).item();
      const final1 = await probe.finalize();
      const dense = final1.budget.dense_params;
      const hand = Math.round(final1.budget.deterministic * dense);
      expect(expected * dense, `${name} expected vs deterministic seed=${seed}`).to.be.closeTo(hand, 1e-5 * dense);
      // With the budget at exactly that count, the final model is that structure.
      const s = await make((hand + 0.5) / dense);
      const la = probe instanceof RankStrategy ? await probe.gates.logAlphas() : null;
      if (la && s instanceof RankStrategy) s.gates.setLogAlphas(la);
      if (probe instanceof StructuredStrategy && s instanceof StructuredStrategy) {
        for (const [type, t] of probe.masks.logAlpha) E.getEngine().queue.upload(s.masks.get(type).buffer, (await t.read()) as Float32Array);
      }
      const x = inputs(seed);
      const ev = await s.evaluationMasks();
      const masked = await pooled(s.model, x, ev.masks);
      ev.dispose();
      const final = await s.finalize();
      expect(parameterCount(final.config).total, `${name} seed=${seed}`).to.equal(hand);
      expect(final.budget.kept_params).to.equal(hand);
      const compacted = new Bert(final.config, 'base', final.values);
      expectClose(await pooled(compacted, x), masked, 1e-4, `${name} compacted vs masked seed=${seed}`);
      compacted.dispose();
      probe.dispose();
      s.dispose();
    }
  });

  it('fits units to a budget: lowest scores removed first, restored by highest score while they fit', () => {
    const kept = Uint8Array.from([1, 1, 1, 0, 0]);
    const fit = fitUnitsToBudget((i) => [3, 2, 2, 1, 4][i]!, [0.5, 0.1, 0.9, 0.8, 0.2], kept, 10, 14);
    expect(fit).to.deep.equal({ removed: 2, restored: 0, size: 12 });
    expect(Array.from(kept)).to.deep.equal([0, 0, 1, 0, 0]);
    const k2 = Uint8Array.from([1, 0, 0, 0, 0]);
    expect(fitUnitsToBudget((i) => [3, 2, 2, 1, 4][i]!, [0.5, 0.1, 0.9, 0.8, 0.2], k2, 10, 16)).to.deep.equal({ removed: 0, restored: 2, size: 16 });
    expect(Array.from(k2)).to.deep.equal([1, 0, 1, 1, 0]);
  });

  it('names the strategies and refuses bad budgets and models', async () => {
    expect(parseStrategy('rank')).to.equal('rank');
    expect(() => parseStrategy('magnitude')).to.throw(`--strategy must be one of ${STRATEGIES.join(', ')} (got "magnitude")`);
    const m = Bert.random(smallConfig(), 'base', 1);
    let err = '';
    await createStrategy('element-l0', m, { budget: 1.5, steps: 5, seed: 1 }).catch((e: Error) => (err = e.message));
    expect(err).to.match(/budget must be in \(0, 1\]/);
    m.dispose();
  });
});
