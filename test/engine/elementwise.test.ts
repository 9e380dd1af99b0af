import * as E from '../../engine/index.ts';
import { AWKWARD, type OpCase, checkOp, describeEachDeviceClass } from '../helpers.ts';
import { erf64, gelu64, zipWith } from '../reference/ndarray.ts';

const sigmoid64 = (x: number) => 1 / (1 + Math.exp(-x));

/** Unary ops: [name, gpu, float64 reference, input range]. */
const UNARY: Array<[string, (x: E.Tensor) => E.Tensor, (x: number) => number, [number, number]]> = [
  ['neg', E.neg, (x) => -x, [-2, 2]],
  ['exp', E.exp, Math.exp, [-3, 3]],
  ['log', E.log, Math.log, [0.1, 4]],
  ['sqrt', E.sqrt, Math.sqrt, [0.1, 4]],
  // tanh and sigmoid reach far into saturation, where a derivative computed as 1 − y² or y(1 − y)
  // from the rounded output y loses every digit (their kernels use exp(-2|x|) instead).
  ['tanh', E.tanh, Math.tanh, [-7, 7]],
  ['sigmoid', E.sigmoid, sigmoid64, [-12, 12]],
  ['gelu', E.gelu, gelu64, [-5, 5]],
  ['relu', E.relu, (x) => Math.max(x, 0), [-2, 2]],
  ['abs', E.abs, Math.abs, [-2, 2]],
  ['square', E.square, (x) => x * x, [-2, 2]],
  ['reciprocal', E.reciprocal, (x) => 1 / x, [0.5, 3]],
  ['rsqrt', E.rsqrt, (x) => 1 / Math.sqrt(x), [0.5, 3]],
  ['affine', (x) => E.affine(x, -1.5, 0.25), (x) => -1.5 * x + 0.25, [-2, 2]],
  ['powScalar', (x) => E.powScalar(x, 2.5), (x) => x ** 2.5, [0.2, 2]],
  ['clamp', (x) => E.clamp(x, -0.5, 0.3), (x) => Math.min(Math.max(x, -0.5), 0.3), [-1, 1]],
];

/** Binary ops with broadcasting: [name, gpu, reference, range of b]. */
const BINARY: Array<[string, (a: E.Tensor, b: E.Tensor) => E.Tensor, (x: number, y: number) => number, [number, number]]> = [
  ['add', E.add, (x, y) => x + y, [-1, 1]],
  ['sub', E.sub, (x, y) => x - y, [-1, 1]],
  ['mul', E.mul, (x, y) => x * y, [-1, 1]],
  ['div', E.div, (x, y) => x / y, [0.5, 2]],
  ['maximum', E.maximum, Math.max, [-1, 1]],
  ['minimum', E.minimum, Math.min, [-1, 1]],
];

/**
 * Shape pairs: equal, row broadcast, column broadcast, both broadcast, rank-extended; then the same
 * kinds with an innermost dimension that is a multiple of 4 (the CPU kernels' vec4 reads of whole,
 * broadcast and strided operands).
 */
const BROADCASTS: Array<[number[], number[]]> = [
  [[7, 33], [7, 33]],
  [[33, 7], [7]],
  [[7, 1], [7, 33]],
  [[3, 1, 7], [1, 5, 1]],
  [[129], [1]],
  [[2, 3, 4, 5], [3, 1, 5]],
  [[3, 12], [3, 12]],
  [[5, 8], [8]],
  [[6, 1], [6, 4]],
  [[4, 1, 8], [1, 3, 8]],
];

describeEachDeviceClass('unary ops (float64 reference, finite-difference gradients) @gpu', () => {
  for (const [name, gpu, ref, range] of UNARY) {
    it(`${name} at sizes ${AWKWARD.join(', ')}`, async () => {
      for (const n of AWKWARD) {
        const c: OpCase = { name, shapes: [[n, 3]], range, gpu: ([x]) => gpu(x!), ref: ([x]) => x!.map(ref) };
        await checkOp(c);
      }
    });
  }

  it('tanh and sigmoid derivatives keep their relative precision deep in saturation', async () => {
    // Elementwise relative error: a norm over a tensor would hide the small elements.
    const cases: Array<[string, (x: E.Tensor) => E.Tensor, (x: number) => number, number[]]> = [
      ['tanh', E.tanh, (x) => 1 / Math.cosh(x) ** 2, [0.5, -3, 4, 6, -8, 9.5]],
      ['sigmoid', E.sigmoid, (x) => sigmoid64(x) * sigmoid64(-x), [0.5, -6, 9, 12, -15, 20]],
    ];
    for (const [name, f, derivative, xs] of cases) {
      const x = E.tensor(xs, [xs.length]);
      x.requiresGrad = true;
      E.tidy(() => E.backward(E.sum(f(x))));
      const got = await x.grad!.read();
      xs.forEach((v, i) => {
        const want = derivative(Math.fround(v));
        const err = Math.abs(got[i]! - want) / want;
        if (!(err < 1e-5)) throw new Error(`d${name}/dx at ${v} = ${got[i]}, float64 gives ${want} (relative error ${err.toExponential(2)})`);
      });
      x.dispose();
    }
  });
});

describeEachDeviceClass('binary ops and where (float64 reference, finite-difference gradients) @gpu', () => {
  it('gelu is the erf form (not the tanh approximation)', async () => {
    // At x = 1 the two forms differ by 1.6e-4, far above f32 error.
    const y = await E.gelu(E.tensor([1])).read();
    const exact = 0.5 * (1 + erf64(1 / Math.SQRT2));
    if (Math.abs(y[0]! - exact) > 1e-6) throw new Error(`gelu(1) = ${y[0]}, erf form gives ${exact}`);
  });

  for (const [name, gpu, ref, range] of BINARY) {
    it(`${name} with broadcasting`, async () => {
      for (const [sa, sb] of BROADCASTS) {
        // A broadcast operand's gradient sums upstream terms of both signs (129 of them for [1]):
        // judged against Σ|terms|. maximum/minimum ties within the finite-difference step are
        // kinks, judged by subgradientReference.
        await checkOp({ name, shapes: [sa, sb], range: [[-1, 1], range], gpu: ([a, b]) => gpu(a!, b!), ref: ([a, b]) => zipWith(a!, b!, ref), absScale: true });
      }
    });
  }

  it('comparisons give 0/1 and take no gradient', async () => {
    const cases: Array<[string, (a: E.Tensor, b: E.Tensor) => E.Tensor, (x: number, y: number) => number]> = [
      ['gt', E.gt, (x, y) => +(x > y)],
      ['ge', E.ge, (x, y) => +(x >= y)],
      ['lt', E.lt, (x, y) => +(x < y)],
      ['le', E.le, (x, y) => +(x <= y)],
      ['eq', E.eq, (x, y) => +(x === y)],
    ];
    for (const [name, gpu, ref] of cases) {
      await checkOp({ name, shapes: [[33, 7], [7]], gpu: ([a, b]) => gpu(a!, b!), ref: ([a, b]) => zipWith(a!, b!, ref), gradTol: false });
    }
  });

  it('where selects with broadcasting and routes gradients', async () => {
    for (const shapes of [[[7, 1], [7, 33], [33]], [[5, 1], [5, 8], [8]]]) {
      await checkOp({
        name: 'where',
        shapes,
        gpu: ([c, a, b]) => E.where(E.gt(c!, E.zeros([1])), a!, b!),
        ref: ([c, a, b]) => {
          const ab = zipWith(a!, b!, () => 0);
          return ab.map((_, i) => {
            const idx = ab.unravel(i);
            return c!.atBroadcast(idx) > 0 ? a!.atBroadcast(idx) : b!.atBroadcast(idx);
          });
        },
        noGrad: [0],
        absScale: true, // b's gradient sums the upstream values routed to it
      });
    }
  });
});
