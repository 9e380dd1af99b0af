/**
 * Helpers of the f16 inference tests: inputs rounded to f16 on the host (so the GPU and the float64
 * reference see the same values), and elementwise error bounds built from f16's unit roundoff.
 */
import { appendFileSync } from 'node:fs';
import { expect } from 'chai';
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import type { HostRandom } from '../engine/random.ts';
import { f16BitsToF32, f32ToF16Bits } from '../models/io/half.ts';
import { NDArray } from './reference/ndarray.ts';
import { randomArray } from './helpers.ts';

/**
 * The relative error of one rounding to f16 that WGSL allows: a value between two adjacent f16 may
 * become either of them (WGSL § floating-point conversion), so |fl(x) − x| ≤ 2^-10·|x| in the
 * normal range, twice the unit roundoff 2^-11 of rounding to nearest (which lavapipe does: the
 * cast test checks the neighbours, and reports ties-to-even agreement).
 */
export const U16 = 2 ** -10;
/** f32's unit roundoff 2^-24. */
export const U32 = 2 ** -24;
/** The spacing of f16 subnormals: the absolute rounding error near 0 (either neighbour). */
export const F16_TINY = 2 ** -24;

/** x rounded to the nearest f16 (ties to even), as a JS number (the host's rounding: models/io/half.ts). */
export function toF16(x: number): number {
  return f16BitsToF32(f32ToF16Bits(x));
}

/** Uniform values in [lo, hi], rounded to f16. */
export function randomF16(rng: HostRandom, shape: readonly number[], lo = -1, hi = 1): NDArray {
  return randomArray(rng, shape, lo, hi).map(toF16);
}

/** An f16 tensor holding `a` (whose values are f16-representable: the cast is exact). */
export function f16Tensor(a: NDArray): Tensor {
  return E.tensor(a.data, a.shape, 'f16');
}

/**
 * Asserts |out_i − ref_i| ≤ bound_i for every element, and that out is finite where ref is (a NaN
 * is an element the kernel never wrote over the poison). Reports the worst error / bound; with
 * WEBPRUNE_TEST_ERRLOG=FILE appends it to FILE as expectClose does (auditing bounds over many seeds).
 * @returns the largest error / bound ratio
 */
export function expectWithinBounds(out: ArrayLike<number>, ref: ArrayLike<number>, bound: ArrayLike<number>, context: string): number {
  expect(out.length, `${context}: length`).to.equal(ref.length);
  let worst = 0;
  let at = -1;
  for (let i = 0; i < ref.length; i++) {
    if (Number.isFinite(ref[i]!) && !Number.isFinite(out[i]!)) expect.fail(`${context}: element ${i} is ${out[i]} (reference ${ref[i]}): unwritten or invalid`);
    const r = Math.abs(out[i]! - ref[i]!) / bound[i]!;
    if (r > worst) [worst, at] = [r, i];
  }
  const log = process.env.WEBPRUNE_TEST_ERRLOG;
  if (log) appendFileSync(log, `${JSON.stringify({ check: context.replace(/ ?seed=\d+/g, ''), ratio: worst })}\n`);
  expect(worst, `${context}: element ${at} = ${out[at]}, reference ${ref[at]}, error ${Math.abs(out[at]! - ref[at]!).toExponential(2)} > bound ${Number(bound[at]).toExponential(2)}`).to.be.at.most(1);
  return worst;
}
