/**
 * Shape ops: reshape (a view), and permute, expand, slice, concat, which are all one strided copy
 * kernel (copy_strided.wgsl) with different strides and offsets.
 */
import { defineOp } from '../autograd.ts';
import { zeros } from '../creation.ts';
import { type Shape, Tensor, grid1d, shapeString, sizeOf } from '../tensor.ts';
import { launch } from './dispatch.ts';
import { broadcastShapes, broadcastStrides, contiguousStrides, mergeDims, normalizeAxis, pack8, sameShape } from './layout.ts';
import { sumTo } from './reduce.ts';
import { K } from '../kernels/index.ts';

/**
 * Copies the elements of a `shape`-sized index space from `src` to `dst`, each addressed by an
 * offset and strides (in elements).
 */
export function stridedCopy(
  src: Tensor,
  dst: Tensor,
  shape: Shape,
  src_: { offset: number; strides: readonly number[] },
  dst_: { offset: number; strides: readonly number[] },
): void {
  const n = sizeOf(shape);
  if (n === 0) return;
  const merged = mergeDims(shape, [src_.strides, dst_.strides]);
  launch(K.copyStrided, {
    defines: { T: src.dtype },
    tensors: { inp: src, out: dst },
    uniforms: {
      params: {
        n,
        rank: merged.shape.length,
        in_offset: src_.offset,
        out_offset: dst_.offset,
        shape: pack8(merged.shape, 'copy'),
        in_strides: pack8(merged.strides[0]!, 'copy'),
        out_strides: pack8(merged.strides[1]!, 'copy'),
      },
    },
    workgroups: grid1d(n),
  });
}

/** Resolves one -1 in a target shape. @throws Error when the sizes cannot match */
function resolveShape(shape: Shape, size: number, label: string): number[] {
  const unknown = shape.indexOf(-1);
  const known = sizeOf(shape.filter((d) => d !== -1));
  const out = [...shape];
  if (unknown >= 0) {
    if (shape.indexOf(-1, unknown + 1) >= 0 || known === 0 || size % known !== 0) {
      throw new Error(`reshape: cannot reshape ${label} of ${size} elements to ${shapeString(shape)}`);
    }
    out[unknown] = size / known;
  }
  if (sizeOf(out) !== size) throw new Error(`reshape: cannot reshape ${label} of ${size} elements to ${shapeString(shape)}`);
  return out;
}

const reshapeOp = defineOp<{ shape: number[] }>({
  name: 'reshape',
  forward: ([x], { shape }) => ({ output: x!.view(shape), saved: undefined }),
  backward: ({ inputs: [x] }, g) => [g.view(x!.shape)],
});

/**
 * The same elements in another shape (one dimension may be -1). Shares storage: no copy.
 * @throws Error when the element counts differ
 */
export function reshape(x: Tensor, shape: Shape): Tensor {
  return reshapeOp([x], { shape: resolveShape(shape, x.size, x.label) });
}

const permuteOp = defineOp<{ perm: number[] }>({
  name: 'permute',
  forward([x], { perm }) {
    const strides = contiguousStrides(x!.shape);
    const shape = perm.map((p) => x!.shape[p]!);
    const out = Tensor.empty(shape, x!.dtype, 'permute#');
    stridedCopy(x!, out, shape, { offset: 0, strides: perm.map((p) => strides[p]!) }, { offset: 0, strides: contiguousStrides(shape) });
    return { output: out, saved: undefined };
  },
  backward({ attrs: { perm } }, g) {
    const inverse = new Array<number>(perm.length);
    perm.forEach((p, i) => (inverse[p] = i));
    return [permute(g, inverse)];
  },
});

/**
 * Reorders axes: out.shape[i] = x.shape[perm[i]]. Copies.
 * @throws Error when perm is not a permutation of the axes
 */
export function permute(x: Tensor, perm: readonly number[]): Tensor {
  const p = perm.map((a) => normalizeAxis(a, x.shape.length, 'permute'));
  if (p.length !== x.shape.length || new Set(p).size !== p.length) {
    throw new Error(`permute: [${perm.join(', ')}] is not a permutation of the axes of ${x.label} ${shapeString(x.shape)}`);
  }
  if (p.every((a, i) => a === i)) return reshape(x, x.shape);
  return permuteOp([x], { perm: p });
}

/** Swaps two axes. */
export function transpose(x: Tensor, axis0 = -2, axis1 = -1): Tensor {
  const rank = x.shape.length;
  const perm = [...Array(rank).keys()];
  const a = normalizeAxis(axis0, rank, 'transpose');
  const b = normalizeAxis(axis1, rank, 'transpose');
  [perm[a], perm[b]] = [perm[b]!, perm[a]!];
  return permute(x, perm);
}

const expandOp = defineOp<{ shape: number[] }>({
  name: 'expand',
  forward([x], { shape }) {
    const out = Tensor.empty(shape, x!.dtype, 'expand#');
    stridedCopy(x!, out, shape, { offset: 0, strides: broadcastStrides(x!.shape, shape) }, { offset: 0, strides: contiguousStrides(shape) });
    return { output: out, saved: undefined };
  },
  backward: ({ inputs: [x] }, g) => [sumTo(g, x!.shape)],
});

/**
 * Broadcasts x to `shape` (NumPy rules), materialising the copy.
 * @throws Error when x does not broadcast to shape
 */
export function expand(x: Tensor, shape: Shape): Tensor {
  const target = broadcastShapes('expand', x.shape, shape);
  if (!sameShape(target, shape)) throw new Error(`expand: ${x.label} ${shapeString(x.shape)} does not broadcast to ${shapeString(shape)}`);
  return expandOp([x], { shape: [...shape] });
}

interface SliceAttrs {
  starts: number[];
  shape: number[];
}

const sliceOp = defineOp<SliceAttrs>({
  name: 'slice',
  forward([x], { starts, shape }) {
    const strides = contiguousStrides(x!.shape);
    const offset = starts.reduce((acc, s, d) => acc + s * strides[d]!, 0);
    const out = Tensor.empty(shape, x!.dtype, 'slice#');
    stridedCopy(x!, out, shape, { offset, strides }, { offset: 0, strides: contiguousStrides(shape) });
    return { output: out, saved: undefined };
  },
  backward({ inputs: [x], attrs: { starts, shape } }, g) {
    const dx = zeros(x!.shape);
    const strides = contiguousStrides(x!.shape);
    const offset = starts.reduce((acc, s, d) => acc + s * strides[d]!, 0);
    stridedCopy(g, dx, shape, { offset: 0, strides: contiguousStrides(shape) }, { offset, strides });
    return [dx];
  },
});

/**
 * x[starts[0]:ends[0], starts[1]:ends[1], ...]; missing trailing axes are taken whole, negative
 * indices count from the end.
 * @throws Error when a range is outside the tensor or empty-reversed
 */
export function slice(x: Tensor, starts: readonly number[], ends: readonly number[]): Tensor {
  const rank = x.shape.length;
  if (starts.length > rank || ends.length !== starts.length) {
    throw new Error(`slice: ${starts.length} starts and ${ends.length} ends for ${x.label} ${shapeString(x.shape)}`);
  }
  const s: number[] = [];
  const shape: number[] = [];
  for (let d = 0; d < rank; d++) {
    const size = x.shape[d]!;
    let a = d < starts.length ? starts[d]! : 0;
    let b = d < ends.length ? ends[d]! : size;
    if (a < 0) a += size;
    if (b < 0) b += size;
    if (!(Number.isInteger(a) && Number.isInteger(b) && a >= 0 && b <= size && a <= b)) {
      throw new Error(`slice: range ${starts[d]}:${ends[d]} outside axis ${d} of ${x.label} ${shapeString(x.shape)}`);
    }
    s.push(a);
    shape.push(b - a);
  }
  return sliceOp([x], { starts: s, shape });
}

/** `length` entries of one axis starting at `start`. */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  const a = normalizeAxis(axis, x.shape.length, 'narrow');
  const starts = x.shape.map((_, d) => (d === a ? start : 0));
  const ends = x.shape.map((size, d) => (d === a ? start + length : size));
  return slice(x, starts, ends);
}

const concatOp = defineOp<{ axis: number }>({
  name: 'concat',
  forward(xs, { axis }) {
    const shape = [...xs[0]!.shape];
    shape[axis] = xs.reduce((acc, t) => acc + t.shape[axis]!, 0);
    const out = Tensor.empty(shape, xs[0]!.dtype, 'concat#');
    const outStrides = contiguousStrides(shape);
    let at = 0;
    for (const t of xs) {
      stridedCopy(t, out, t.shape, { offset: 0, strides: contiguousStrides(t.shape) }, { offset: at * outStrides[axis]!, strides: outStrides });
      at += t.shape[axis]!;
    }
    return { output: out, saved: undefined };
  },
  backward({ inputs, attrs: { axis } }, g) {
    let at = 0;
    return inputs.map((t) => {
      const start = at;
      at += t.shape[axis]!;
      return t.requiresGrad ? narrow(g, axis, start, t.shape[axis]!) : null;
    });
  },
});

/**
 * Joins tensors along an axis.
 * @throws Error when the list is empty, or shapes differ outside the axis, or dtypes differ
 */
export function concat(xs: readonly Tensor[], axis: number): Tensor {
  if (xs.length === 0) throw new Error('concat: no tensors');
  const first = xs[0]!;
  const a = normalizeAxis(axis, first.shape.length, 'concat');
  for (const t of xs) {
    if (t.dtype !== first.dtype || t.shape.length !== first.shape.length || t.shape.some((d, i) => i !== a && d !== first.shape[i])) {
      throw new Error(`concat: ${t.label} ${shapeString(t.shape)} ${t.dtype} does not fit ${first.label} ${shapeString(first.shape)} ${first.dtype} along axis ${axis}`);
    }
  }
  return concatOp(xs, { axis: a });
}
