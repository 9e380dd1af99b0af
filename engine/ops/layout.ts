/** Shape arithmetic shared by ops: strides, broadcasting, axis normalisation, dimension merging. */
import { type Shape, shapeString } from '../tensor.ts';

/** Maximum rank of strided kernels (two vec4<u32> per shape in their uniforms). */
export const MAX_RANK = 8;

/** Row-major strides of a contiguous tensor. */
export function contiguousStrides(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d]!;
  }
  return strides;
}

/**
 * The broadcast shape of several shapes (NumPy rules: align on the right, sizes equal or 1).
 * @throws Error naming `op` and the shapes when they do not broadcast
 */
export function broadcastShapes(op: string, ...shapes: Shape[]): number[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const s of shapes) {
    for (let i = 0; i < s.length; i++) {
      const d = rank - s.length + i;
      const v = s[i]!;
      if (v === out[d] || v === 1) continue;
      if (out[d] === 1) out[d] = v;
      else throw new Error(`${op}: shapes ${shapes.map(shapeString).join(' and ')} do not broadcast`);
    }
  }
  return out;
}

/** Strides of a contiguous tensor of `shape` read at every index of `outShape` (0 where broadcast). */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const own = contiguousStrides(shape);
  const offset = outShape.length - shape.length;
  return outShape.map((_, d) => (d < offset || shape[d - offset] === 1 ? 0 : own[d - offset]!));
}

/**
 * Merges neighbouring dimensions that every operand walks contiguously, and drops size-1
 * dimensions, so strided kernels loop over as few dimensions as possible.
 */
export function mergeDims(shape: Shape, strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const size = shape[d]!;
    if (size === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, k) => outStrides[k]![last] === s[d]! * size)) {
      outShape[last]! *= size;
      strides.forEach((s, k) => (outStrides[k]![last] = s[d]!));
    } else {
      outShape.push(size);
      strides.forEach((s, k) => outStrides[k]!.push(s[d]!));
    }
  }
  if (outShape.length === 0) return { shape: [1], strides: strides.map(() => [0]) };
  return { shape: outShape, strides: outStrides };
}

/** Pads a list of at most MAX_RANK numbers to MAX_RANK for a uniform of two vec4<u32>. */
export function pack8(values: readonly number[], op: string): number[] {
  if (values.length > MAX_RANK) throw new Error(`${op}: rank ${values.length} exceeds ${MAX_RANK}`);
  return [...values, ...new Array<number>(MAX_RANK - values.length).fill(0)];
}

/** An axis in [0, rank), accepting negative axes. @throws Error naming `op` when out of range */
export function normalizeAxis(axis: number, rank: number, op: string): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw new Error(`${op}: axis ${axis} out of range for rank ${rank}`);
  return a;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
