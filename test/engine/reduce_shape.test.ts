import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { checkOp, describeEachDeviceClass, useTestEngine } from '../helpers.ts';
import { NDArray, permuteRef, sumAxes } from '../reference/ndarray.ts';

function maxRef(x: NDArray, axis: number): NDArray {
  const a = axis < 0 ? axis + x.shape.length : axis;
  const outer = x.shape.slice(0, a).reduce((p, q) => p * q, 1);
  const R = x.shape[a]!;
  const inner = x.shape.slice(a + 1).reduce((p, q) => p * q, 1);
  const out = NDArray.zeros(x.shape.filter((_, i) => i !== a));
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let best = -Infinity;
      for (let r = 0; r < R; r++) best = Math.max(best, x.data[(o * R + r) * inner + i]!);
      out.data[o * inner + i] = best;
    }
  }
  return out;
}

function sliceRef(x: NDArray, starts: number[], ends: number[]): NDArray {
  const shape = x.shape.map((d, i) => (i < starts.length ? ends[i]! - starts[i]! : d));
  const out = NDArray.zeros(shape);
  const strides = x.strides;
  for (let i = 0; i < out.size; i++) {
    const idx = out.unravel(i);
    out.data[i] = x.data[idx.reduce((acc, v, d) => acc + (v + (starts[d] ?? 0)) * strides[d]!, 0)]!;
  }
  return out;
}

function concatRef(xs: NDArray[], axis: number): NDArray {
  const shape = [...xs[0]!.shape];
  shape[axis] = xs.reduce((acc, x) => acc + x.shape[axis]!, 0);
  const out = NDArray.zeros(shape);
  for (let i = 0; i < out.size; i++) {
    const idx = out.unravel(i);
    let k = idx[axis]!;
    let j = 0;
    while (k >= xs[j]!.shape[axis]!) k -= xs[j++]!.shape[axis]!;
    const src = [...idx];
    src[axis] = k;
    out.data[i] = xs[j]!.data[src.reduce((acc, v, d) => acc + v * xs[j]!.strides[d]!, 0)]!;
  }
  return out;
}

describeEachDeviceClass('reductions @gpu', () => {
  const SUMS: Array<[number[], number[] | undefined, boolean]> = [
    [[129], undefined, false],
    [[7, 33], [0], false],
    [[7, 33], [1], true],
    [[33, 129], [0], false], // column sums (wide inner): reduce_sum_cols
    [[3, 7, 33], [0, 2], false], // non-adjacent axes: one reduction per run of adjacent axes
    [[1, 7, 1], [0, 2], true],
    [[7, 33, 2], [0, 2], false], // the second reduction (over 7, inner 33) by columns
    [[2, 3, 1, 7], [0, 1, 3], true],
    [[2, 3, 2, 5, 2], [0, 2, 4], false], // three runs
  ];
  it('sum and mean over axes', async () => {
    for (const [shape, axes, keep] of SUMS) {
      await checkOp({ name: `sum${JSON.stringify(axes)}`, shapes: [shape], gpu: ([x]) => E.sum(x!, axes, keep), ref: ([x]) => sumAxes(x!, axes, keep), absScale: true });
      const count = axes ? axes.reduce((acc, a) => acc * shape[a]!, 1) : shape.reduce((p, q) => p * q, 1);
      await checkOp({ name: `mean${JSON.stringify(axes)}`, shapes: [shape], gpu: ([x]) => E.mean(x!, axes, keep), ref: ([x]) => sumAxes(x!, axes, keep).map((v) => v / count), absScale: true });
    }
  });

  it('long sums are split into chunks and reduced again', async () => {
    // 3 chunks of rows (4096 each) and 5 column chunks (256 rows each) exercise the second pass.
    // Judged against Σ|x|: a sum of 9000 terms of both signs can cancel to near zero, and no float32
    // summation order is accurate relative to that (seed 706109630 failed a plain relative bound).
    await checkOp({ name: 'sum all', shapes: [[9000]], gpu: ([x]) => E.sum(x!), ref: ([x]) => sumAxes(x!, undefined, false), gradTol: false, absScale: true });
    await checkOp({ name: 'sum cols', shapes: [[1100, 40]], gpu: ([x]) => E.sum(x!, 0), ref: ([x]) => sumAxes(x!, [0], false), gradTol: false, absScale: true });
  });

  it('max along an axis, gradient to the maximum', async () => {
    for (const [shape, axis] of [[[7, 33], 1], [[33, 7], 0], [[3, 7, 5], 1], [[129], 0]] as Array<[number[], number]>) {
      await checkOp({ name: `max axis ${axis}`, shapes: [shape], gpu: ([x]) => E.max(x!, axis), ref: ([x]) => maxRef(x!, axis) });
    }
  });
});

describe('shape ops @gpu', () => {
  before(useTestEngine);

  it('reshape shares storage and infers -1', async () => {
    const x = E.tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const y = E.reshape(x, [3, -1]);
    expect(y.shape).to.deep.equal([3, 2]);
    expect(y.buffer).to.equal(x.buffer);
    expect(() => E.reshape(x, [4, -1])).to.throw(/cannot reshape/);
  });

  it('permute and transpose', async () => {
    for (const perm of [[1, 0], [2, 0, 1], [0, 2, 1, 3]]) {
      const shape = [7, 33, 5, 3].slice(0, perm.length);
      await checkOp({ name: `permute ${perm}`, shapes: [shape], gpu: ([x]) => E.permute(x!, perm), ref: ([x]) => permuteRef(x!, perm) });
    }
    await checkOp({ name: 'transpose', shapes: [[2, 7, 33]], gpu: ([x]) => E.transpose(x!, 1, 2), ref: ([x]) => permuteRef(x!, [0, 2, 1]) });
  });

  it('slice and narrow', async () => {
    await checkOp({ name: 'slice', shapes: [[7, 33, 5]], gpu: ([x]) => E.slice(x!, [1, 3], [6, 32]), ref: ([x]) => sliceRef(x!, [1, 3], [6, 32]) });
    await checkOp({ name: 'narrow', shapes: [[129, 3]], gpu: ([x]) => E.narrow(x!, 0, 100, 29), ref: ([x]) => sliceRef(x!, [100], [129]) });
    expect(() => E.slice(E.zeros([4]), [2], [6])).to.throw(/outside axis 0/);
  });

  it('concat along any axis', async () => {
    await checkOp({ name: 'concat0', shapes: [[1, 7], [33, 7], [7, 7]], gpu: (xs) => E.concat(xs, 0), ref: (xs) => concatRef(xs, 0) });
    await checkOp({ name: 'concat1', shapes: [[3, 1, 5], [3, 7, 5]], gpu: (xs) => E.concat(xs, 1), ref: (xs) => concatRef(xs, 1) });
  });

  it('expand broadcasts and sums gradients back', async () => {
    await checkOp({
      name: 'expand',
      shapes: [[7, 1]],
      gpu: ([x]) => E.expand(x!, [3, 7, 33]),
      absScale: true, // the gradient sums 99 upstream values per element
      ref: ([x]) => {
        const out = NDArray.zeros([3, 7, 33]);
        return out.map((_, i) => x!.atBroadcast(out.unravel(i)));
      },
    });
  });
});
