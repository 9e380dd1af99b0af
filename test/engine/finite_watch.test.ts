import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { HostRandom } from '../../engine/random.ts';
import { AWKWARD, describeEachDeviceClass, freshSeed, useTestEngine } from '../helpers.ts';

/** f32 values from bit patterns. */
const fromBits = (...bits: number[]) => new Float32Array(Uint32Array.from(bits).buffer);

describe('FiniteWatch: non-finite values found on the GPU @gpu', () => {
  before(useTestEngine);

  it('finds the smallest bad index, the count and the kinds, at awkward sizes and random positions', async () => {
    const seed = freshSeed();
    const rng = new HostRandom(seed);
    for (const n of [...AWKWARD, 70001]) {
      const data = Float32Array.from({ length: n }, () => rng.normal());
      const bad = [...new Set(Array.from({ length: 1 + rng.int(3) }, () => rng.int(n)))];
      const kinds = [NaN, Infinity, -Infinity];
      const used = new Set<string>();
      bad.forEach((i, k) => {
        data[i] = kinds[(k + rng.int(3)) % 3]!;
        used.add(Number.isNaN(data[i]!) ? 'NaN' : data[i]! > 0 ? '+Infinity' : '-Infinity');
      });
      const watch = new E.FiniteWatch();
      const clean = E.tensor(Float32Array.from({ length: n }, () => rng.normal()), [n]);
      const t = E.tensor(data, [n]);
      watch.check(5, [['clean', clean], ['t', t]]);
      const found = await watch.read();
      const ctx = `n=${n} bad=${JSON.stringify(bad)} seed=${seed}`;
      expect(found, ctx).to.deep.equal({
        step: 5,
        label: 't',
        shape: [n],
        index: Math.min(...bad),
        count: bad.length,
        kinds: ['NaN', '+Infinity', '-Infinity'].filter((k) => used.has(k)),
      });
      for (const x of [clean, t]) x.dispose();
      watch.dispose();
    }
  });

  it('reports the first step, and the first tensor checked within it, over several steps', async () => {
    const watch = new E.FiniteWatch();
    const a = E.tensor([1, 2, 3, 4, 5, 6, 7], [7]);
    const b = E.tensor([1, 2, 3], [3]);
    watch.check(0, [['a', a], ['b', b]]);
    watch.check(1, [['a', a], ['b', b]]);
    expect(await watch.read(), 'clean steps').to.equal(null);
    const b2 = E.tensor([1, -Infinity, NaN], [3]);
    watch.check(2, [['a', a], ['b', b2]]);
    const a3 = E.tensor([NaN, 2, 3, 4, 5, 6, 7], [7]);
    watch.check(3, [['a', a3], ['b', b2]]);
    expect(await watch.read()).to.deep.equal({ step: 2, label: 'b', shape: [3], index: 1, count: 2, kinds: ['NaN', '-Infinity'] });
    // Still the first one after more bad steps, until reset.
    watch.check(4, [['a', a3]]);
    expect((await watch.read())!.step).to.equal(2);
    watch.reset();
    expect(await watch.read(), 'after reset').to.equal(null);
    watch.check(9, [['b', b], ['a', a3], ['b2', b2]]);
    expect(await watch.read()).to.deep.equal({ step: 9, label: 'a', shape: [7], index: 0, count: 1, kinds: ['NaN'] });
    for (const x of [a, b, b2, a3]) x.dispose();
    watch.dispose();
  });

  it('tells NaN payloads and infinities from the largest finite values, denormals and -0', async () => {
    const watch = new E.FiniteWatch();
    const finite = E.tensor(fromBits(0x7f7fffff, 0xff7fffff, 0x00000001, 0x80000000, 0x007fffff), [5]);
    watch.check(0, [['finite', finite]]);
    expect(await watch.read()).to.equal(null);
    const nans = E.tensor(fromBits(0, 0x7f800001, 0xffc00000, 0x7fffffff), [4]);
    watch.check(1, [['nans', nans]]);
    expect(await watch.read()).to.deep.equal({ step: 1, label: 'nans', shape: [4], index: 1, count: 3, kinds: ['NaN'] });
    for (const x of [finite, nans]) x.dispose();
    watch.dispose();
  });

  it('checks gradients in the order given, and writes nothing to the tensors it checks', async () => {
    const w = E.parameter([1, 2, 3, 4], [2, 2], 'w');
    const v = E.parameter([1, 2], [2], 'v');
    E.tidy(() => E.backward(E.sum(E.mul(E.log(E.sub(w, E.full([2, 2], 2))), E.ones([2, 2])))));
    E.tidy(() => E.backward(E.sum(v)));
    const watch = new E.FiniteWatch();
    watch.check(7, [['v.grad', v.grad], ['w.grad', w.grad]]);
    watch.check(7, [['v', v], ['w', w]]);
    // log(w − 2) is NaN at w = 1 and -Infinity at w = 2; its gradient 1/(w − 2) is -1 and 1/(+0) = +Infinity there.
    expect(await watch.read()).to.deep.equal({ step: 7, label: 'w.grad', shape: [2, 2], index: 1, count: 1, kinds: ['+Infinity'] });
    expect(Array.from(await w.read())).to.deep.equal([1, 2, 3, 4]);
    expect(() => watch.check(0, [['ids', E.tensor([1], [1], 'i32')]])).to.throw(/ids is i32/);
    expect(() => watch.check(-1, [])).to.throw(/step must be an integer/);
    for (const x of [w, v]) x.dispose();
    watch.dispose();
  });
});

// Both AdamW variants (adamw.wgsl, and adamw_cpu.wgsl with its own clipping norm) keep the watch.
describeEachDeviceClass('FiniteWatch in AdamW: the step and the gradient where a NaN appeared @gpu', () => {
  it('names the first non-finite gradient (checked before clipping spreads it) at the optimizer step it occurred', async () => {
    const watch = new E.FiniteWatch();
    const a = E.parameter([1, 2, 3], [3], 'a');
    const b = E.parameter([0.5, -0.5, 2, 4], [2, 2], 'b');
    const opt = new E.AdamW([{ params: [a, b], lr: 0.01 }], { maxGradNorm: 1, finiteWatch: watch });
    for (let step = 1; step <= 5; step++) {
      E.tidy(() => {
        // From step 3, √(b − 1) is NaN where b < 1 (b[0], b[1]), and so is its gradient 0.5/√(b − 1);
        // a's gradient stays finite, and global-norm clipping then makes every update NaN.
        const shift = step >= 3 ? 1 : -10;
        E.backward(E.add(E.sum(E.square(a)), E.sum(E.sqrt(E.sub(b, E.full([2, 2], shift))))));
        opt.step();
        opt.zeroGrad();
      });
    }
    const found = await watch.read();
    expect(found).to.deep.include({ step: 3, label: 'b.grad', shape: [2, 2], index: 0 });
    expect(found!.kinds).to.include('NaN');
    expect(E.describeNonFiniteValue(found!)).to.match(/^step 3: b\.grad \[2, 2\]: element 0 is the first of \d non-finite values \(NaN/);
    opt.dispose();
    for (const x of [a, b]) x.dispose();
    watch.dispose();
  });
});

// The run loop's check of the training state, fused into the update: with an active watch, AdamW
// flags the parameter, exp_avg and exp_avg_sq it writes (parts 0, 1, 2 of one check) without a
// pass of its own, and check() then skips them at that step.
describeEachDeviceClass('FiniteWatch fused into AdamW: what an update writes, checked in its kernel @gpu', () => {
  /** AdamW's update in float64: which written values are not finite (param, m, v per element). */
  function reference(p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array, lr: number) {
    const [b1, b2, eps, wd] = [0.9, 0.999, 1e-8, 0.01];
    const [bc1, bc2] = [1 - b1, 1 - b2];
    return Array.from(p, (pi, i) => {
      const mi = b1 * m[i]! + (1 - b1) * g[i]!;
      const vi = b2 * v[i]! + (1 - b2) * g[i]! * g[i]!;
      const pn = pi * (1 - lr * wd) - (lr * (mi / bc1)) / (Math.sqrt(vi / bc2) + eps);
      return [pn, mi, vi];
    });
  }
  const kindOf = (x: number) => (Number.isNaN(x) ? 'NaN' : x > 0 ? '+Infinity' : '-Infinity');

  it('names the first bad part and element, its count and kinds, at awkward sizes, under the active step and names', async () => {
    const seed = freshSeed();
    const rng = new HostRandom(seed);
    const labels = ['w', 'opt.w.exp_avg', 'opt.w.exp_avg_sq'];
    for (const n of [...AWKWARD, 1031]) {
      const p = Float32Array.from({ length: n }, () => rng.normal());
      const g = Float32Array.from({ length: n }, () => rng.normal());
      const m = Float32Array.from({ length: n }, () => 0.1 * rng.normal());
      const v = Float32Array.from({ length: n }, () => 0.1 * rng.uniform());
      // Non-finite values planted in one to three of param, m, v at random places.
      const planted = [p, m, v].filter(() => rng.uniform() < 0.6);
      if (planted.length === 0) planted.push([p, m, v][rng.int(3)]!);
      for (const x of planted) for (let k = 1 + rng.int(2); k > 0; k--) x[rng.int(n)] = [NaN, Infinity, -Infinity][rng.int(3)]!;
      const w = E.parameter(p, [n], 'w');
      w.grad = E.tensor(g, [n]);
      const opt = new E.AdamW([{ params: [w], lr: 0.01, weightDecay: 0.01 }]);
      const state = opt.stateTensors();
      E.getEngine().queue.upload(state.get('w.exp_avg')!.buffer, m);
      E.getEngine().queue.upload(state.get('w.exp_avg_sq')!.buffer, v);
      const watch = new E.FiniteWatch();
      watch.activate(12, [['w', w], ['opt.w.exp_avg', state.get('w.exp_avg')!], ['opt.w.exp_avg_sq', state.get('w.exp_avg_sq')!]]);
      opt.step();
      watch.deactivate();
      const found = await watch.read();
      const ref = reference(p, g, m, v, 0.01);
      const ctx = `n=${n} seed=${seed}`;
      const part = [0, 1, 2].find((k) => ref.some((r) => !Number.isFinite(r[k]!)));
      if (part === undefined) {
        expect(found, ctx).to.equal(null);
      } else {
        const bad = ref.map((r, i) => [r[part]!, i] as const).filter(([x]) => !Number.isFinite(x));
        expect(found, ctx).to.deep.equal({
          step: 12,
          label: labels[part],
          shape: [n],
          index: bad[0]![1],
          count: bad.length,
          kinds: ['NaN', '+Infinity', '-Infinity'].filter((k) => bad.some(([x]) => kindOf(x) === k)),
        });
      }
      opt.dispose();
      w.dispose();
      watch.dispose();
    }
  });

  it('leaves a clean update unflagged, and check() skips what the update checked at that step only', async () => {
    const w = E.parameter([1, 2, 3, 4, 5], [5], 'w');
    const other = E.tensor([1, 2], [2], 'f32', 'other');
    w.grad = E.tensor([0.5, -1, 2, 0, 1], [5]);
    const opt = new E.AdamW([{ params: [w], lr: 0.1 }]);
    const watch = new E.FiniteWatch();
    watch.activate(3);
    opt.step();
    watch.deactivate();
    expect(await watch.read(), 'clean update').to.equal(null);
    // Poisoned after the update: step 3's check of w was the update's own, so check() skips w there...
    E.getEngine().queue.upload(w.buffer, new Float32Array([NaN]), 8);
    watch.check(3, [['w', w], ['other', other]]);
    expect(await watch.read(), 'skipped at step 3').to.equal(null);
    // ...and checks it at the next step.
    watch.check(4, [['w', w], ['other', other]]);
    expect(await watch.read()).to.deep.equal({ step: 4, label: 'w', shape: [5], index: 2, count: 1, kinds: ['NaN'] });
    // Without an active watch, AdamW checks nothing.
    watch.reset();
    opt.step();
    expect(await watch.read(), 'inactive').to.equal(null);
    expect(() => new E.FiniteWatch().activate(1.5)).to.throw(/step must be an integer/);
    opt.dispose();
    for (const x of [w, other]) x.dispose();
    watch.dispose();
  });
});
