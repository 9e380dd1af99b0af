/**
 * Test helpers: fresh seeds, random inputs shared by GPU and reference, relative-error checks
 * that also catch unwritten (NaN-poisoned) outputs, and float64 finite-difference gradients.
 */
import { expect } from 'chai';
import { type DeviceClass, type Tensor, backward, getEngine, initEngine, tensor, tidy } from '../engine/index.ts';
import { DEVICE_CLASSES } from '../engine/runtime/device_class.ts';
import { HostRandom } from '../engine/random.ts';
import { NDArray } from './reference/ndarray.ts';

/** Opens the engine with NaN poisoning of every fresh op output. Call from before(). */
export async function useTestEngine(): Promise<void> {
  await initEngine({ poison: true });
}

/**
 * Declares the suite `body` once per device class (`title [cpu kernels]`, `title [gpu kernels]`),
 * each with the test engine switched to that class's kernel variants, so both variants run on
 * whatever adapter the tests have, against the same references. Restores the class afterwards.
 */
export function describeEachDeviceClass(title: string, body: (deviceClass: DeviceClass) => void): void {
  for (const deviceClass of DEVICE_CLASSES) {
    describe(`${title} [${deviceClass} kernels]`, () => {
      let previous: DeviceClass;
      before(async () => {
        await useTestEngine();
        previous = getEngine().deviceClass;
        getEngine().deviceClass = deviceClass;
      });
      after(() => {
        getEngine().deviceClass = previous;
      });
      body(deviceClass);
    });
  }
}

/** A fresh seed per call (printed in every failure message). WEBPRUNE_TEST_SEED pins it. */
export function freshSeed(): number {
  const pinned = process.env.WEBPRUNE_TEST_SEED;
  if (pinned) return Number(pinned);
  return Math.floor(Math.random() * 2 ** 31);
}

/** Sizes that are not multiples of any tile: the edges every kernel must handle. */
export const AWKWARD = [1, 7, 33, 129] as const;

/**
 * Random values representable in f32 (so the GPU and the float64 reference see the same input).
 * @param range values uniform in [lo, hi]
 */
export function randomArray(rng: HostRandom, shape: readonly number[], lo = -1, hi = 1): NDArray {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = Math.fround(lo + (hi - lo) * rng.uniform());
  return new NDArray(data, shape);
}

export function toTensor(a: NDArray, requiresGrad = false): Tensor {
  const t = tensor(Float32Array.from(a.data), a.shape);
  t.requiresGrad = requiresGrad;
  return t;
}

/** ‖out − ref‖ / ‖ref‖ (absolute norm when ‖ref‖ is 0). */
export function relativeError(out: ArrayLike<number>, ref: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (out[i]! - ref[i]!) ** 2;
    den += ref[i]! ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/**
 * Asserts same length, no NaN/Inf where the reference is finite (a NaN usually means an element
 * the kernel never wrote over the poison), and relative error below `tol`.
 */
export function expectClose(out: ArrayLike<number>, ref: ArrayLike<number>, tol: number, context: string): number {
  expect(out.length, `${context}: length`).to.equal(ref.length);
  for (let i = 0; i < ref.length; i++) {
    if (Number.isFinite(ref[i]!) && !Number.isFinite(out[i]!)) {
      expect.fail(`${context}: element ${i} is ${out[i]} (reference ${ref[i]}): unwritten or invalid`);
    }
  }
  const err = relativeError(out, ref);
  expect(err, `${context}: relative error ${err.toExponential(2)} ≥ ${tol}`).to.be.lessThan(tol);
  return err;
}

/**
 * Gradients of L(x) = Σ upstream ⊙ f(x) with respect to every input, by central differences in
 * float64 (step h·max(1, |x|)).
 */
export function finiteDifferenceGrads(f: (inputs: NDArray[]) => NDArray, inputs: NDArray[], upstream: NDArray, h = 1e-6): NDArray[] {
  const loss = (xs: NDArray[]) => {
    const y = f(xs);
    let s = 0;
    for (let i = 0; i < y.size; i++) s += y.data[i]! * upstream.data[i]!;
    return s;
  };
  return inputs.map((x, k) => {
    const g = NDArray.zeros(x.shape);
    for (let i = 0; i < x.size; i++) {
      const orig = x.data[i]!;
      const step = h * Math.max(1, Math.abs(orig));
      const plus = inputs.map((t, j) => (j === k ? t.map((v, idx) => (idx === i ? orig + step : v)) : t));
      const minus = inputs.map((t, j) => (j === k ? t.map((v, idx) => (idx === i ? orig - step : v)) : t));
      g.data[i] = (loss(plus) - loss(minus)) / (2 * step);
    }
    return g;
  });
}

/** One op checked forward and backward against its float64 reference. */
export interface OpCase {
  name: string;
  /** Input shapes. */
  shapes: number[][];
  /** Uniform range of the random inputs (default [-1, 1]); per input or shared. */
  range?: [number, number] | Array<[number, number]>;
  gpu: (xs: Tensor[]) => Tensor;
  ref: (xs: NDArray[]) => NDArray;
  /** Forward tolerance on relative error (default 1e-5). */
  tol?: number;
  /** Gradient tolerance (default 1e-4); false skips the gradient check. */
  gradTol?: number | false;
  /** Inputs that take no gradient (indices). */
  noGrad?: number[];
}

/** Checks an op's forward against the reference and its gradients against finite differences. */
export async function checkOp(c: OpCase): Promise<{ forward: number; grads: number[] }> {
  const seed = freshSeed();
  const rng = new HostRandom(seed);
  const ctx = `${c.name} shapes ${JSON.stringify(c.shapes)} seed=${seed}`;
  const inputs = c.shapes.map((s, i) => {
    const r = Array.isArray(c.range?.[0]) ? (c.range as Array<[number, number]>)[i]! : ((c.range as [number, number] | undefined) ?? [-1, 1]);
    return randomArray(rng, s, r[0], r[1]);
  });
  const ref = c.ref(inputs);
  const wantGrad = c.gradTol !== false;
  const upstream = randomArray(rng, ref.shape);
  const tensors = inputs.map((a, i) => toTensor(a, wantGrad && !(c.noGrad ?? []).includes(i)));
  const { out, grads } = tidy(() => {
    const y = c.gpu(tensors);
    if (wantGrad) backward(y, toTensor(upstream));
    return { out: y, grads: tensors.map((t) => t.grad) };
  });
  const result = { forward: expectClose(await out.read(), ref.data, c.tol ?? 1e-5, `${ctx} forward`), grads: [] as number[] };
  expect(out.shape, `${ctx} output shape`).to.deep.equal(ref.shape);
  if (wantGrad) {
    const fd = finiteDifferenceGrads(c.ref, inputs, upstream);
    for (let i = 0; i < inputs.length; i++) {
      if ((c.noGrad ?? []).includes(i)) continue;
      expect(grads[i], `${ctx}: no gradient for input ${i}`).to.not.equal(null);
      result.grads.push(expectClose(await grads[i]!.read(), fd[i]!.data, (c.gradTol as number | undefined) ?? 1e-4, `${ctx} gradient of input ${i}`));
    }
  }
  out.dispose();
  for (const t of tensors) t.dispose();
  return result;
}
