import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { namedConfig, type BertConfig, parameterCount } from '../../models/config.ts';
import { HARD_CONCRETE, KEEP_SHIFT, deterministicZ, keepProbabilityHost, sampleHardConcrete, softMask } from '../../pruning/hard_concrete.ts';
import { DeltaMaskParameters, L0Module, Lagrangian, MASK_TYPES, MaskParameters } from '../../pruning/l0_module.ts';
import { randomStructure } from '../../pruning/structure.ts';
import { expectClose, freshSeed, useTestEngine } from '../helpers.ts';

const { l, r, beta, eps } = HARD_CONCRETE;

/** z and dz/dlog_alpha in float64 from the same uniform. */
function hardConcrete64(logAlpha: number, u01: number): { z: number; dz: number } {
  const u = eps + (1 - 2 * eps) * u01;
  const s = 1 / (1 + Math.exp(-(Math.log(u) - Math.log(1 - u) + logAlpha) / beta));
  const stretched = s * (r - l) + l;
  return { z: Math.min(1, Math.max(0, stretched)), dz: stretched > 0 && stretched < 1 ? ((r - l) * s * (1 - s)) / beta : 0 };
}

function tinyConfig(): BertConfig {
  return { ...namedConfig('tiny'), hiddenSize: 4, numHeads: 2, headSize: 2, intermediateSize: 3, numLayers: 2, layers: [{ numHeads: 2, intermediateSize: 3 }, { numHeads: 2, intermediateSize: 3 }] };
}

describe('hard-concrete masks @gpu', () => {
  before(useTestEngine);

  it('samples z = clamp(sigmoid((logit u + log_alpha)/β)(r − l) + l, 0, 1) from the Philox stream, with its gradient', async () => {
    const seed = freshSeed();
    const rng = new E.HostRandom(seed);
    const key: [number, number] = [rng.int(2 ** 32), rng.int(2 ** 32)];
    const la = Float32Array.from({ length: 129 }, () => -4 + 8 * rng.uniform());
    const logAlpha = E.tensor(la, [129]);
    logAlpha.requiresGrad = true;
    const upstream = Float32Array.from({ length: 129 }, () => rng.normal());
    const z = E.tidy(() => {
      const out = sampleHardConcrete(logAlpha, key);
      E.backward(out, E.tensor(upstream, [129]));
      return out;
    });
    const u = E.uniformStream(key, 129);
    const ref = Array.from(la, (a, i) => hardConcrete64(a, u[i]!));
    expectClose(await z.read(), ref.map((x) => x.z), 1e-5, `z seed=${seed}`);
    expectClose(await logAlpha.grad!.read(), ref.map((x, i) => x.dz * upstream[i]!), 1e-4, `dz seed=${seed}`);
    // Exact zeros and ones occur: the stretch-and-clamp is what makes the L0 penalty count them.
    const zs = await z.read();
    expect(zs.some((v) => v === 0) && zs.some((v) => v === 1), `seed=${seed}`).to.equal(true);
  });

  it('P(z = 0) and P(z = 1) match the distribution over 40,000 samples', async () => {
    for (const a of [-2, 0, 1.5]) {
      const la = E.full([40000], a);
      const z = await sampleHardConcrete(la).read();
      const p0 = z.filter((v) => v === 0).length / z.length;
      const p1 = z.filter((v) => v === 1).length / z.length;
      // Q(s < t) = sigmoid(β logit(t) − log_alpha) for the stretched concrete (Louizos et al., eq. 10).
      const cdf = (t: number) => 1 / (1 + Math.exp(-(beta * Math.log(t / (1 - t)) - a)));
      const want0 = cdf(-l / (r - l));
      const want1 = 1 - cdf((1 - l) / (r - l));
      expect(p0, `P(z=0) at log_alpha ${a}`).to.be.closeTo(want0, 0.012);
      expect(p1, `P(z=1) at log_alpha ${a}`).to.be.closeTo(want1, 0.012);
      expect(1 - want0).to.be.closeTo(keepProbabilityHost(a), 1e-12);
    }
  });

  it('deterministic z zeroes round(size − Σ P(z ≠ 0)) smallest entries and keeps soft values', () => {
    const la = [3, -3, 0.5, -1, 2, -0.2];
    const z = deterministicZ(la);
    const zeros = Math.round(la.length - la.reduce((a, x) => a + keepProbabilityHost(x), 0));
    expect(z.filter((v) => v === 0).length).to.equal(zeros);
    const order = [...la.keys()].sort((a, b) => la[a]! - la[b]!);
    order.slice(0, zeros).forEach((i) => expect(z[i]).to.equal(0));
    order.slice(zeros).forEach((i) => expect(z[i]).to.be.closeTo(softMask(la[i]!), 1e-15));
  });
});

describe('L0 module: expected size and Lagrangian @gpu', () => {
  before(useTestEngine);

  it('expected size equals the exact parameter count when every P(z ≠ 0) is 0 or 1', async () => {
    const config = namedConfig('tiny');
    const params = new MaskParameters(config, MASK_TYPES, 1);
    const l0 = new L0Module(config, params, MASK_TYPES);
    // Set head 1 of layer 0 off, layer 1's whole FFN off, and 16 hidden dims off.
    const set = async (type: Parameters<typeof params.get>[0], f: (i: number) => number) => {
      const t = params.get(type);
      E.getEngine().queue.upload(t.buffer, Float32Array.from({ length: t.size }, (_, i) => f(i)));
    };
    await set('hidden', (i) => (i < 16 ? -100 : 100));
    await set('head', (i) => (i === 1 ? -100 : 100));
    await set('head_layer', () => 100);
    await set('intermediate', () => 100);
    await set('mlp', (i) => (i === 1 ? -100 : 100));
    const expected = await E.tidy(() => l0.expectedSize()).item();
    const pruned = { ...config, hiddenSize: 112, layers: [{ numHeads: 1, intermediateSize: 512 }, { numHeads: 2, intermediateSize: 0 }] };
    expect(expected / parameterCount(pruned).total).to.be.closeTo(1, 1e-5);
    params.dispose();
  });

  it('expected size equals a hand count at soft probabilities', async () => {
    // L = 2, H = 4, h = 2 heads of d = 2, I = 3, every log_alpha chosen by hand.
    const config = tinyConfig();
    const params = new MaskParameters(config, MASK_TYPES, 2);
    const values: Record<string, number[]> = {
      hidden: [5, 0, -1, 2],
      head: [1, -2, 0.5, 3],
      head_layer: [4, 0],
      intermediate: [0, 1, -3, 2, 2, -1],
      mlp: [1, -0.5],
    };
    for (const [type, v] of Object.entries(values)) E.getEngine().queue.upload(params.get(type as 'hidden').buffer, Float32Array.from(v));
    const p = (x: number) => keepProbabilityHost(x);
    const EH = values.hidden!.map(p).reduce((a, b) => a + b);
    let hand = 0;
    for (let layer = 0; layer < 2; layer++) {
      const pl = p(values.head_layer![layer]!);
      const q = [0, 1].map((k) => p(values.head![layer * 2 + k]!) * pl).reduce((a, b) => a + b);
      hand += 4 * 2 * EH * q + 3 * 2 * q + EH * pl;
      const pm = p(values.mlp![layer]!);
      const u = [0, 1, 2].map((i) => p(values.intermediate![layer * 3 + i]!) * pm).reduce((a, b) => a + b);
      hand += 2 * EH * u + u + EH * pm;
    }
    const l0 = new L0Module(config, params, MASK_TYPES);
    expect(await E.tidy(() => l0.expectedSize()).item()).to.be.closeTo(hand, 1e-4 * hand);
    expect(l0.denseSize).to.equal(2 * (4 * 4 * 4 + 3 * 4 + 4) + 2 * (2 * 4 * 3 + 3 + 4));
    expect(KEEP_SHIFT).to.be.closeTo((2 / 3) * Math.log(0.1 / 1.1), 1e-15);
    params.dispose();
  });

  it('the Lagrangian pushes expected sparsity to the target while λ ascends @slow', async () => {
    const config = namedConfig('tiny');
    const params = new MaskParameters(config, MASK_TYPES, 3);
    const l0 = new L0Module(config, params, MASK_TYPES);
    const lagrangian = new Lagrangian(0.5, 0);
    const opt = new E.AdamW([
      { params: params.parameters(), lr: 0.1 },
      { params: lagrangian.parameters(), lr: -0.1 },
    ]);
    const sparsity = () => E.tidy(() => l0.expectedSparsity()).item();
    const start = await sparsity();
    const trajectory: number[] = [];
    for (let step = 0; step < 250; step++) {
      E.tidy(() => {
        E.backward(lagrangian.loss(l0.expectedSparsity(), step));
        opt.step();
        opt.zeroGrad();
      });
      params.constrain();
      if (step === 9) {
        // While ŝ < t, ascent drives λ1 negative (so that minimising λ1(ŝ − t) raises ŝ); λ2 only grows.
        expect(await lagrangian.lambda1.item()).to.be.below(0);
        expect(await lagrangian.lambda2.item()).to.be.above(0);
        expect(await sparsity()).to.be.above(start);
      }
      if (step % 25 === 24) trajectory.push(await sparsity());
    }
    const last = trajectory[trajectory.length - 1]!;
    expect(start).to.be.below(0.2);
    // The min-max overshoots once, then the growing λ2 (ŝ − t)² damps it onto the target.
    expect(last, `expected sparsity ${start.toFixed(3)} → ${trajectory.map((v) => v.toFixed(3)).join(' → ')}`).to.be.closeTo(0.5, 0.02);
    // log_alpha stays clamped to [ln 0.01, ln 100].
    for (const t of params.parameters()) for (const v of await t.read()) expect(Math.abs(v)).to.be.at.most(Math.log(100) + 1e-5);
    opt.dispose();
    params.dispose();
  });

  it('δ-formulation: gradients of base and δ by finite differences of the float64 expected sparsity', async () => {
    const seed = freshSeed();
    const rng = new E.HostRandom(seed);
    const config = tinyConfig();
    const base = new MaskParameters(config, MASK_TYPES, seed);
    const deltaT = new DeltaMaskParameters(base, config, 'target');
    const deltaA = new DeltaMaskParameters(base, config, 'transfer');
    const draw = (t: E.Tensor) => E.getEngine().queue.upload(t.buffer, Float32Array.from({ length: t.size }, () => -2 + 4 * rng.uniform()));
    for (const t of [...base.parameters(), ...deltaT.parameters(), ...deltaA.parameters()]) draw(t);
    const lT = new L0Module(config, deltaT, MASK_TYPES);
    const lA = new L0Module(config, deltaA, MASK_TYPES);
    const l2 = 0.3;
    // loss = ŝ_T + 2 ŝ_A + l2 (|δ_T|² + |δ_A|²)
    E.tidy(() => E.backward(E.add(E.add(lT.expectedSparsity(), E.scale(lA.expectedSparsity(), 2)), E.scale(E.add(deltaT.squaredNorm(), deltaA.squaredNorm()), l2))));

    // Float64 reference of the same loss over the flat vector [base…, δ_T…, δ_A…].
    const order = MASK_TYPES;
    const sizes = order.map((t) => base.get(t).size);
    const read = async (src: { get(t: (typeof order)[number]): E.Tensor } | DeltaMaskParameters, which: 'base' | 'delta') =>
      Promise.all(order.map(async (t) => Array.from(await (which === 'base' ? (src as MaskParameters).get(t) : (src as DeltaMaskParameters).delta.get(t)!).read())));
    const b0 = await read(base, 'base');
    const dT0 = await read(deltaT, 'delta');
    const dA0 = await read(deltaA, 'delta');
    const sparsity64 = (la: number[][]) => {
      const [hid, head, hl, inter, mlp] = la.map((v) => v.map(keepProbabilityHost)) as number[][];
      const EH = hid!.reduce((a, b) => a + b);
      let size = 0;
      for (let layer = 0; layer < 2; layer++) {
        const q = (head![layer * 2]! + head![layer * 2 + 1]!) * hl![layer]!;
        size += 8 * EH * q + 6 * q + EH * hl![layer]!;
        const u = (inter![layer * 3]! + inter![layer * 3 + 1]! + inter![layer * 3 + 2]!) * mlp![layer]!;
        size += 2 * EH * u + u + EH * mlp![layer]!;
      }
      return 1 - size / lT.denseSize;
    };
    const loss64 = (b: number[][], dT: number[][], dA: number[][]) => {
      const add = (x: number[][], y: number[][]) => x.map((v, i) => v.map((a, j) => a + y[i]![j]!));
      const sq = (x: number[][]) => x.flat().reduce((a, v) => a + v * v, 0);
      return sparsity64(add(b, dT)) + 2 * sparsity64(add(b, dA)) + l2 * (sq(dT) + sq(dA));
    };
    const groups = [b0, dT0, dA0];
    const fd = groups.map((g, gi) =>
      g.map((v, ti) =>
        v.map((_, j) => {
          const h = 1e-6;
          const bump = (s: number) => groups.map((gg, k) => (k === gi ? gg.map((vv, tt) => (tt === ti ? vv.map((x, jj) => (jj === j ? x + s : x)) : vv)) : gg));
          const [p1, p2] = [bump(h), bump(-h)];
          return (loss64(p1[0]!, p1[1]!, p1[2]!) - loss64(p2[0]!, p2[1]!, p2[2]!)) / (2 * h);
        }),
      ),
    );
    for (const [ti, t] of order.entries()) {
      expectClose(await base.get(t).grad!.read(), fd[0]![ti]!, 1e-4, `d/d base ${t} seed=${seed}`);
      expectClose(await deltaT.delta.get(t)!.grad!.read(), fd[1]![ti]!, 1e-4, `d/d δ_T ${t} seed=${seed}`);
      expectClose(await deltaA.delta.get(t)!.grad!.read(), fd[2]![ti]!, 1e-4, `d/d δ_A ${t} seed=${seed}`);
    }
    expect(sizes.reduce((a, b) => a + b)).to.equal(4 + 4 + 2 + 6 + 2);
    base.dispose();
    deltaT.dispose();
    deltaA.dispose();
  });
});

describe('Lagrangian target schedule with several sparsities (one pruning run for several)', () => {
  before(useTestEngine);

  it('ramps from the previous target to each next one over the warmup of its segment', () => {
    const l = new Lagrangian([0.5, 0.8, 0.9], 4, 'l0', 10);
    const t = (s: number) => l.target(s);
    expect([t(0), t(2), t(4), t(9)]).to.deep.equal([0, 0.25, 0.5, 0.5]);
    expect(t(10)).to.equal(0.5);
    expect(t(12)).to.be.closeTo(0.65, 1e-12);
    expect([t(14), t(19)]).to.deep.equal([0.8, 0.8]);
    expect(t(22)).to.be.closeTo(0.85, 1e-12);
    expect([t(24), t(40)]).to.deep.equal([0.9, 0.9]);
    expect(new Lagrangian(0.7, 4).target(2)).to.equal(0.7 * 0.5);
    expect(() => new Lagrangian([0.5, 0.4], 4, 'l0', 10)).to.throw(/not increasing/);
    expect(() => new Lagrangian([0.5, 0.6], 4)).to.throw(/segmentSteps/);
    l.dispose();
  });
});

describe('random structure at a sparsity (weights-only transfer)', () => {
  it('removes heads and FFN units in a seeded random order to the budget, keeping hidden dims', () => {
    const config = namedConfig('tiny');
    const dense = parameterCount(config).total;
    const a = randomStructure(config, 0.7, 1);
    const sparsity = 1 - a.structure.params / dense;
    expect(sparsity).to.be.within(0.7, 0.7 + 0.003);
    expect(a.structure.hidden).to.equal(config.hiddenSize);
    expect([...a.masks.head, ...a.masks.intermediate].every((v) => v === 0 || v === 1)).to.equal(true);
    expect(randomStructure(config, 0.7, 1).masks.intermediate).to.deep.equal(a.masks.intermediate);
    expect(randomStructure(config, 0.7, 2).masks.intermediate).to.not.deep.equal(a.masks.intermediate);
  });
});
