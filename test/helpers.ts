/**
 * Test helpers: fresh seeds, random inputs shared by GPU and reference, relative-error checks
 * that also catch unwritten (NaN-poisoned) outputs, and float64 finite-difference gradients.
 */
import { appendFileSync, existsSync } from 'node:fs';
import * as path from 'node:path';
import { expect } from 'chai';
import { type DeviceClass, type Tensor, backward, getEngine, initEngine, tensor, tidy } from '../engine/index.ts';
import { defaultDataDir } from '../data/paths.ts';
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

/**
 * ‖out − ref‖ / ‖m‖ with m_i = max(|ref_i|, scale_i): the error relative to the magnitude the
 * problem's conditioning allows. Without `scale` this is the plain relative error ‖out − ref‖ / ‖ref‖,
 * right for well-conditioned outputs; for a sum with cancellation pass scale_i = Σ|terms| of
 * element i (a float32 sum is only ever accurate to a few ulps of Σ|terms|, never of a result that
 * cancels to near zero). The absolute norm ‖out − ref‖ when m is all zeros.
 */
export function relativeError(out: ArrayLike<number>, ref: ArrayLike<number>, scale?: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (out[i]! - ref[i]!) ** 2;
    den += Math.max(Math.abs(ref[i]!), scale === undefined ? 0 : Math.abs(scale[i]!)) ** 2;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}

/**
 * Asserts same length, no NaN/Inf where the reference is finite (a NaN usually means an element
 * the kernel never wrote over the poison), and error below `tol` relative to the reference, or to
 * max(|ref|, scale) elementwise when `scale` is given (see {@link relativeError}).
 * With WEBPRUNE_TEST_ERRLOG=FILE every check appends {"check", "ratio": error / tol} to FILE (seed
 * left out of the name), to audit how close the checks come to their bounds over many seeds.
 */
export function expectClose(out: ArrayLike<number>, ref: ArrayLike<number>, tol: number, context: string, scaleOf?: ArrayLike<number> | (() => ArrayLike<number>)): number {
  expect(out.length, `${context}: length`).to.equal(ref.length);
  for (let i = 0; i < ref.length; i++) {
    if (Number.isFinite(ref[i]!) && !Number.isFinite(out[i]!)) {
      expect.fail(`${context}: element ${i} is ${out[i]} (reference ${ref[i]}): unwritten or invalid`);
    }
  }
  // A scale only loosens the bound (max(|ref|, scale) ≥ |ref|): a costly one (a function) is
  // computed only when the plain relative error does not pass.
  let scale: ArrayLike<number> | undefined;
  let err = relativeError(out, ref);
  if (scaleOf !== undefined && !(err < tol)) {
    scale = typeof scaleOf === 'function' ? scaleOf() : scaleOf;
    expect(scale.length, `${context}: scale length`).to.equal(ref.length);
    err = relativeError(out, ref, scale);
  }
  const log = process.env.WEBPRUNE_TEST_ERRLOG;
  if (log) appendFileSync(log, `${JSON.stringify({ check: context.replace(/ ?seed=\d+/g, ''), ratio: err / tol })}\n`);
  const what = scale === undefined ? 'relative error' : 'error relative to Σ|terms|';
  expect(err, `${context}: ${what} ${err.toExponential(2)} ≥ ${tol}`).to.be.lessThan(tol);
  return err;
}

/** A gradient by finite differences: the central difference and the two one-sided slopes. */
export interface FiniteDifference {
  central: NDArray;
  /** (L(x) − L(x − h)) / h */
  below: NDArray;
  /** (L(x + h) − L(x)) / h */
  above: NDArray;
}

/**
 * Gradients of L(x) = Σ upstream ⊙ f(x) with respect to every input, by differences in float64
 * (step h·max(1, |x|)): central, and one-sided on each side (they differ where a kink of relu, abs,
 * clamp or max lies within the step; see {@link subgradientReference}).
 */
export function finiteDifferences(f: (inputs: NDArray[]) => NDArray, inputs: NDArray[], upstream: NDArray, h = 1e-6): FiniteDifference[] {
  const loss = (xs: NDArray[]) => {
    const y = f(xs);
    let s = 0;
    for (let i = 0; i < y.size; i++) s += y.data[i]! * upstream.data[i]!;
    return s;
  };
  // Perturbs copies in place (one element at a time), so each difference costs two evaluations of f.
  const xs = inputs.map((x) => x.map((v) => v));
  const base = loss(xs);
  return xs.map((x) => {
    const d = { central: NDArray.zeros(x.shape), below: NDArray.zeros(x.shape), above: NDArray.zeros(x.shape) };
    for (let i = 0; i < x.size; i++) {
      const orig = x.data[i]!;
      const step = h * Math.max(1, Math.abs(orig));
      x.data[i] = orig + step;
      const plus = loss(xs);
      x.data[i] = orig - step;
      const minus = loss(xs);
      x.data[i] = orig;
      d.central.data[i] = (plus - minus) / (2 * step);
      d.below.data[i] = (base - minus) / step;
      d.above.data[i] = (plus - base) / step;
    }
    return d;
  });
}

/** Central-difference gradients of L(x) = Σ upstream ⊙ f(x) (see {@link finiteDifferences}). */
export function finiteDifferenceGrads(f: (inputs: NDArray[]) => NDArray, inputs: NDArray[], upstream: NDArray, h = 1e-6): NDArray[] {
  return finiteDifferences(f, inputs, upstream, h).map((d) => d.central);
}

/**
 * The reference to judge a computed gradient by: the central difference where L is smooth. Where
 * the two one-sided slopes differ by more than curvature and rounding explain (over 1e-6 of the
 * slope), a kink lies within the step (relu or abs at 0, clamp at a bound, max at a tie): every
 * value between the slopes is a valid subgradient, so the reference there is the computed value
 * clamped into that interval. (A central difference across a kink is the average of the two sides,
 * which no kernel computes: judging by it fails for the seeds that put an input within 1e-6 of a kink.)
 */
export function subgradientReference(computed: ArrayLike<number>, fd: FiniteDifference): Float64Array {
  return fd.central.data.map((c, i) => {
    const lo = Math.min(fd.below.data[i]!, fd.above.data[i]!);
    const hi = Math.max(fd.below.data[i]!, fd.above.data[i]!);
    if (hi - lo <= 1e-6 * Math.max(1, Math.abs(lo), Math.abs(hi))) return c;
    return Math.min(hi, Math.max(lo, computed[i]!));
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
  /**
   * The op (or its gradient) sums terms of both signs (sum, mean, matmul, a broadcast operand's
   * gradient): judge errors against Σ|terms| per element rather than against a result that can
   * cancel to near zero. The forward scale is the op on |inputs|; a gradient's is the larger of the
   * finite-difference gradients with |upstream| at the inputs (Σ|terms| of a routed sum: max, where)
   * and at |inputs| (Σ|terms| of a sum of products: mul, matmul). Exact for multilinear ops.
   */
  absScale?: boolean;
}

/** Σ|terms| of each gradient element for OpCase.absScale: the larger of two finite-difference gradients. */
function absGradientScale(f: (xs: NDArray[]) => NDArray, inputs: NDArray[], absInputs: NDArray[], absUpstream: NDArray): Float64Array[] {
  const routed = finiteDifferenceGrads(f, inputs, absUpstream);
  const products = finiteDifferenceGrads(f, absInputs, absUpstream);
  return routed.map((r, k) => r.data.map((v, i) => Math.max(Math.abs(v), Math.abs(products[k]!.data[i]!))));
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
  const absInputs = c.absScale ? inputs.map((a) => a.map(Math.abs)) : undefined;
  const scale = absInputs && (() => c.ref(absInputs).data);
  const result = { forward: expectClose(await out.read(), ref.data, c.tol ?? 1e-5, `${ctx} forward`, scale), grads: [] as number[] };
  expect(out.shape, `${ctx} output shape`).to.deep.equal(ref.shape);
  if (wantGrad) {
    const fd = finiteDifferences(c.ref, inputs, upstream);
    let gradScale: Float64Array[] | undefined;
    const gradScaleOf = (i: number) => () => (gradScale ??= absGradientScale(c.ref, inputs, absInputs!, upstream.map(Math.abs)))[i]!;
    for (let i = 0; i < inputs.length; i++) {
      if ((c.noGrad ?? []).includes(i)) continue;
      expect(grads[i], `${ctx}: no gradient for input ${i}`).to.not.equal(null);
      const got = await grads[i]!.read();
      const want = subgradientReference(got, fd[i]!);
      result.grads.push(expectClose(got, want, (c.gradTol as number | undefined) ?? 1e-4, `${ctx} gradient of input ${i}`, absInputs && gradScaleOf(i)));
    }
  }
  out.dispose();
  for (const t of tensors) t.dispose();
  return result;
}

/**
 * Skips the running test (or hook), printing why, where the machine lacks something the test needs.
 * Where CI's machine provides it (`ci: 'provides'`: the data root, lavapipe's subgroups and timestamp
 * queries, koffi, a SLURM cluster started by .ci/run), CI=true fails the test instead: a missing
 * capability there is a failure CI must see, never a silent skip.
 * @throws Error under CI for what CI provides; mocha's Pending otherwise (the skip)
 */
export function skipBecause(ctx: Mocha.Context, why: string, ci: 'provides' | 'lacks'): never {
  if (ci === 'provides' && process.env['CI']) throw new Error(`CI provides this, so it must not be skipped: ${why}`);
  console.log(`      skipped: ${why}`);
  return ctx.skip();
}

/**
 * Skips (printing which paths are missing, failing under CI) unless every path exists under the data
 * root (`../shared/data` or $WEBPRUNE_DATA).
 */
export function needData(ctx: Mocha.Context, ...relativePaths: string[]): void {
  const root = defaultDataDir();
  const missing = relativePaths.filter((p) => !existsSync(path.join(root, p)));
  if (missing.length > 0) skipBecause(ctx, `no ${missing.join(', ')} under the data root ${root} (set WEBPRUNE_DATA)`, 'provides');
}
