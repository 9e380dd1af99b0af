import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { HostRandom } from '../../engine/random.ts';
import { AWKWARD, describeEachDeviceClass, expectClose, finiteDifferenceGrads, freshSeed, randomArray, toTensor } from '../helpers.ts';
import { NDArray, gelu64, matmulRef } from '../reference/ndarray.ts';
import { crossEntropyRef, layerNormRef } from '../reference/nn.ts';

/** The test MLP: x [N, 4] → Linear(4, 16) → LayerNorm → GELU → Linear(16, 3) → cross-entropy. */
const SHAPES = { w1: [16, 4], b1: [16], gamma: [16], beta: [16], w2: [3, 16], b2: [3] } as const;
type Name = keyof typeof SHAPES;
const NAMES = Object.keys(SHAPES) as Name[];

function mlpGpu(p: Record<Name, E.Tensor>, x: E.Tensor, labels: E.Tensor): E.Tensor {
  const h = E.matmul(x, p.w1, { transB: true, bias: p.b1 });
  const a = E.gelu(E.layerNorm(h, p.gamma, p.beta, { eps: 1e-5 }));
  return E.crossEntropy(E.matmul(a, p.w2, { transB: true, bias: p.b2 }), labels);
}

function mlpRef(p: NDArray[], x: NDArray, labels: number[]): NDArray {
  const [w1, b1, gamma, beta, w2, b2] = p as [NDArray, NDArray, NDArray, NDArray, NDArray, NDArray];
  const h = matmulRef(x, w1, false, true, b1);
  const a = layerNormRef(h, gamma, beta, 1e-5).map(gelu64);
  return crossEntropyRef(matmulRef(a, w2, false, true, b2), labels);
}

/** Concentric rings: class = which ring a 2-D point lies on, with two noise features. */
function ringData(rng: HostRandom, n: number): { x: NDArray; labels: number[] } {
  const x = NDArray.zeros([n, 4]);
  const labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const c = rng.int(3);
    const r = 0.5 + c + 0.2 * rng.normal();
    const t = 2 * Math.PI * rng.uniform();
    x.data.set([r * Math.cos(t), r * Math.sin(t), rng.normal(), rng.normal()].map(Math.fround), i * 4);
    labels.push(c);
  }
  return { x, labels };
}

function initParams(rng: HostRandom): NDArray[] {
  return NAMES.map((n) => {
    if (n === 'gamma') return randomArray(rng, SHAPES[n], 0.8, 1.2);
    return randomArray(rng, SHAPES[n], -0.5, 0.5);
  });
}

/**
 * Float64 AdamW, PyTorch's update rule. state.scale accumulates, per element, the magnitudes of the
 * two terms of every update (|p·(1 − lr·wd)| + |lr·m̂/(√v̂ + eps)|): the f32 rounding of the
 * trajectory is bounded relative to that sum, not to the result, which cancels when a weight of
 * about lr moves by about lr.
 */
function adamwRef(params: NDArray[], grads: NDArray[], state: { m: Float64Array[]; v: Float64Array[]; scale: Float64Array[] }, t: number, lr: number, wd: number): void {
  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  params.forEach((p, k) => {
    for (let i = 0; i < p.size; i++) {
      const g = grads[k]!.data[i]!;
      state.m[k]![i] = b1 * state.m[k]![i]! + (1 - b1) * g;
      state.v[k]![i] = b2 * state.v[k]![i]! + (1 - b2) * g * g;
      const mh = state.m[k]![i]! / (1 - b1 ** t);
      const vh = state.v[k]![i]! / (1 - b2 ** t);
      const [kept, step] = [p.data[i]! * (1 - lr * wd), (lr * mh) / (Math.sqrt(vh) + eps)];
      state.scale[k]![i]! += Math.abs(kept) + Math.abs(step);
      p.data[i] = kept - step;
    }
  });
}

describeEachDeviceClass('training @gpu', () => {
  it('a composed MLP (linear, layer norm, GELU, cross-entropy) has the float64 gradients end to end', async () => {
    const seed = freshSeed();
    const rng = new HostRandom(seed);
    const { x, labels } = ringData(rng, 16);
    const p0 = initParams(rng);
    const params = Object.fromEntries(NAMES.map((n, i) => [n, toTensor(p0[i]!, true)])) as Record<Name, E.Tensor>;
    const loss = E.tidy(() => {
      const l = mlpGpu(params, toTensor(x), E.tensor(labels, [16], 'i32'));
      E.backward(l);
      return l;
    });
    expectClose(await loss.read(), mlpRef(p0, x, labels).data, 1e-5, `mlp loss seed=${seed}`);
    const fd = finiteDifferenceGrads((ps) => mlpRef(ps, x, labels), p0, NDArray.from([1], []));
    for (const [i, n] of NAMES.entries()) expectClose(await params[n].grad!.read(), fd[i]!.data, 1e-4, `mlp grad ${n} seed=${seed}`);
  });

  it('the first 5 AdamW steps follow the float64 trajectory', async () => {
    const seed = freshSeed();
    const rng = new HostRandom(seed);
    const { x, labels } = ringData(rng, 32);
    const ref = initParams(rng);
    const params = Object.fromEntries(NAMES.map((n, i) => [n, toTensor(ref[i]!, true)])) as Record<Name, E.Tensor>;
    const [lr, wd] = [0.01, 0.1];
    const opt = new E.AdamW([{ params: Object.values(params), lr, weightDecay: wd }]);
    const xt = toTensor(x);
    const yt = E.tensor(labels, [32], 'i32');
    const state = { m: ref.map((p) => new Float64Array(p.size)), v: ref.map((p) => new Float64Array(p.size)), scale: ref.map((p) => new Float64Array(p.size)) };
    for (let t = 1; t <= 5; t++) {
      E.tidy(() => E.backward(mlpGpu(params, xt, yt)));
      // The reference steps with the engine's own gradients (the test above checks those against
      // finite differences): AdamW's first steps move each weight by about lr·g/(|g| + eps), which
      // for a gradient near 0 magnifies any difference in g, so reference gradients of their own
      // (finite differences, ~1e-8 off) made this a test of their conditioning, not of the update.
      const grads = await Promise.all(NAMES.map(async (n, i) => NDArray.from(Float64Array.from(await params[n].grad!.read()), ref[i]!.shape)));
      opt.step();
      opt.zeroGrad();
      adamwRef(ref, grads, state, t, lr, wd);
      for (const [i, n] of NAMES.entries()) expectClose(await params[n].read(), ref[i]!.data, 1e-6, `step ${t} ${n} seed=${seed}`, state.scale[i]!);
    }
    opt.dispose();
  });

  it('AdamW steps from zero weights match float64 to f32 rounding, at awkward sizes (the update is the whole result)', async () => {
    const seed = freshSeed();
    const rng = new HostRandom(seed);
    const [lr, wd] = [0.01, 0.1];
    for (const n of AWKWARD) {
      const w = E.parameter(new Float32Array(n), [n], 'w');
      const opt = new E.AdamW([{ params: [w], lr, weightDecay: wd }]);
      const ref = [NDArray.from(new Float64Array(n), [n])];
      const state = { m: [new Float64Array(n)], v: [new Float64Array(n)], scale: [new Float64Array(n)] };
      for (let t = 1; t <= 3; t++) {
        const g = Float32Array.from({ length: n }, () => rng.normal() * 10 ** (rng.int(7) - 3));
        w.grad?.dispose();
        w.grad = E.tensor(g, [n]);
        opt.step();
        adamwRef(ref, [NDArray.from(Float64Array.from(g), [n])], state, t, lr, wd);
        // About a dozen f32 roundings per update (moments, bias corrections, √, division): ≤ ~7e-7 of
        // the terms; 1 − β2 rounded in f32 (the bug this caught) was 6.4e-6.
        expectClose(await w.read(), ref[0]!.data, 3e-6, `n=${n} step ${t} seed=${seed}`, state.scale[0]!);
      }
      opt.dispose();
      w.dispose();
    }
  });

  it('learns the rings problem, with a negative-lr group ascending, clipping, and a warmup schedule @slow', async () => {
    const seed = freshSeed();
    const rng = new HostRandom(seed);
    const { x, labels } = ringData(rng, 256);
    const params = Object.fromEntries(NAMES.map((n, i) => [n, toTensor(initParams(rng)[i]!, true)])) as Record<Name, E.Tensor>;
    // A scalar that the loss pushes down but a negative learning rate moves up: ascent.
    const lambda = toTensor(NDArray.from([0], [1]), true);
    const opt = new E.AdamW(
      [
        { params: Object.values(params), lr: 0.03, weightDecay: 0.01 },
        { params: [lambda], lr: -0.01 },
      ],
      { maxGradNorm: 1.0 },
    );
    const xt = toTensor(x);
    const yt = E.tensor(labels, [256], 'i32');
    const losses: number[] = [];
    const steps = 150;
    for (let step = 0; step < steps; step++) {
      const loss = E.tidy(() => {
        const l = E.add(mlpGpu(params, xt, yt), E.sum(lambda));
        E.backward(l);
        opt.step(E.linearWarmupDecay(step, 10, steps));
        opt.zeroGrad();
        return l;
      });
      if (step % 30 === 0 || step === steps - 1) losses.push(await loss.item());
      loss.dispose();
    }
    const [scale, norm] = await opt.lastClip!.read();
    expect(norm, 'gradient norm is measured').to.be.greaterThan(0);
    expect(scale).to.be.at.most(1);
    // λ ascends by about lr each step while the loss pushes it down.
    expect(await lambda.item(), `seed=${seed}`).to.be.greaterThan(0.3);
    const final = losses[losses.length - 1]! - (await lambda.item());
    expect(final, `losses ${losses.map((l) => l.toFixed(3)).join(' → ')} seed=${seed}`).to.be.below(0.35);
    opt.dispose();
  });

  it('gradient clipping measures the float64 global norm over gradients of awkward sizes', async () => {
    const seed = freshSeed();
    const rng = new HostRandom(seed);
    // Sizes below, at and past a vec4 and a partial-sum block of the CPU kernel (256 vec4s).
    const arrays = [1, 7, 33, 129, 1024, 1031, 4099].map((n) => randomArray(rng, [n], -3, 3));
    const params = arrays.map((a) => toTensor(a, true));
    const grads = arrays.map((a) => randomArray(rng, a.shape, -2, 2));
    params.forEach((p, i) => (p.grad = E.keep(toTensor(grads[i]!))));
    const norm = Math.sqrt(grads.reduce((s, g) => s + g.data.reduce((t, v) => t + v * v, 0), 0));
    const opt = new E.AdamW([{ params, lr: 0 }], { maxGradNorm: norm / 4 });
    opt.step();
    const [scale, measured] = await opt.lastClip!.read();
    expect(Math.abs(measured! - norm) / norm, `norm ${measured} vs ${norm} seed=${seed}`).to.be.below(1e-6);
    expect(Math.abs(scale! - (norm / 4) / (norm + 1e-6)), `scale seed=${seed}`).to.be.below(1e-6);
    opt.dispose();
    for (const p of params) p.dispose();
  });

  it('memory after step 50 equals memory after step 5', async () => {
    const rng = new HostRandom(freshSeed());
    const { x, labels } = ringData(rng, 64);
    const params = Object.fromEntries(NAMES.map((n, i) => [n, toTensor(initParams(rng)[i]!, true)])) as Record<Name, E.Tensor>;
    const opt = new E.AdamW([{ params: Object.values(params), lr: 0.01 }], { maxGradNorm: 1 });
    const xt = toTensor(x);
    const yt = E.tensor(labels, [64], 'i32');
    const engine = E.getEngine();
    let at5: E.MemoryStats | null = null;
    for (let step = 1; step <= 50; step++) {
      E.tidy(() => {
        // Dropout draws a fresh key each step: the random stream must not hold memory either.
        const l = E.add(mlpGpu(params, E.dropout(xt, 0.1), yt), E.mean(E.dropout(E.ones([64, 16]), 0.1)));
        E.backward(l);
        opt.step();
        opt.zeroGrad();
      });
      if (step === 5) at5 = engine.memory();
    }
    const at50 = engine.memory();
    expect(at50.liveTensors, 'live tensors').to.equal(at5!.liveTensors);
    expect(at50.inUseBytes, 'bytes in use').to.equal(at5!.inUseBytes);
    expect(at50.allocatedBytes, 'bytes allocated (pool reuse)').to.equal(at5!.allocatedBytes);
    opt.dispose();
  });
});
