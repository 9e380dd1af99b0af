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
