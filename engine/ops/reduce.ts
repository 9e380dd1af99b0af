/**
 * Reductions over axes: sum, mean, max; and sumTo, which folds a broadcast gradient back to an
 * operand's shape.
 *
 * Every reduction is brought to the form [outer, R, inner] → [outer, inner]: reduced axes that are
 * not adjacent are reduced one run of adjacent axes at a time, the last run first (sumAxes), with no
 * permuted copy. Long reductions are split into chunks whose partial
 * sums are reduced again, so no thread or workgroup walks more than a few thousand elements.
 * CPU adapters run the sums with reduce_sum_*_cpu.wgsl (an invocation per output and chunk, vec4
 * accesses, no workgroup tree).
 */
import { defineOp } from '../autograd.ts';
import { getEngine } from '../context.ts';
import { zeros } from '../creation.ts';
import { type Shape, Tensor, grid1d, shapeString, sizeOf } from '../tensor.ts';
import { launch } from './dispatch.ts';
import { scale } from './elementwise.ts';
import { normalizeAxis } from './layout.ts';
import { expand } from './shape.ts';
import { K } from '../kernels/index.ts';

/** Elements one workgroup of reduce_sum_rows sums per chunk (64 threads × 64). */
const ROWS_CHUNK = 4096;
/** Rows one thread of reduce_sum_cols sums per chunk. */
const COLS_CHUNK = 256;

/**
 * scale · Σ_r x[o, r, i] for x viewed as [outer, R, inner]; the result has `outShape`
 * (outer·inner elements).
 */
function sum3(x: Tensor, outer: number, R: number, inner: number, scale: number, outShape: Shape): Tensor {
  const outputs = outer * inner;
  if (R === 0) return zeros(outShape);
  if (inner >= 32 && outer <= 65535) {
    const chunk = R <= 4 * COLS_CHUNK ? R : COLS_CHUNK;
    const chunks = Math.ceil(R / chunk);
    const last = chunks === 1;
    const partial = Tensor.empty(last ? outShape : [chunks, outputs]);
    // The CPU kernel takes 4 columns per invocation (reduce_sum_cols_cpu.wgsl).
    const cpu = getEngine().deviceClass === 'cpu';
    launch(cpu ? K.reduceSumColsCpu : K.reduceSumCols, {
      tensors: { x, partial },
      uniforms: { params: { outer, R, inner, chunk, scale: last ? scale : 1 } },
      workgroups: [Math.ceil(inner / (cpu ? 256 : 64)), outer, chunks],
    });
    if (last) return partial;
    const r = sum3(partial, 1, chunks, outputs, scale, outShape);
    partial.dispose();
    return r;
  }
  const chunks = Math.ceil(R / ROWS_CHUNK);
  const last = chunks === 1;
  const partial = Tensor.empty(last ? outShape : [outputs, chunks]);
  if (getEngine().deviceClass === 'cpu') {
    // One invocation per (output, chunk), no workgroup tree (reduce_sum_rows_cpu.wgsl).
    launch(K.reduceSumRowsCpu, {
      tensors: { x, partial },
      uniforms: { params: { outputs, R, inner, chunk: ROWS_CHUNK, scale: last ? scale : 1, chunks } },
      workgroups: grid1d(outputs * chunks, 64),
    });
  } else {
    const [gx, gy] = grid1d(outputs, 1);
    launch(K.reduceSumRows, {
      tensors: { x, partial },
      uniforms: { params: { outputs, R, inner, chunk: ROWS_CHUNK, scale: last ? scale : 1 } },
      workgroups: [gx, gy, chunks],
    });
  }
  if (last) return partial;
  const r = sum3(partial, outputs, chunks, 1, scale, outShape);
  partial.dispose();
  return r;
}

/**
 * Sums x over `axes` (sorted, distinct) without a permuted copy: the last run of adjacent reduced
 * axes is one strided reduction (outer × R × inner), and its result is reduced again until no
 * axis is left. Reducing [B·S, heads, d] over axes 0 and 2 used to permute x to [heads, B·S, d]
 * first (an activation-sized strided copy, 2.2 ms per pruning step of `npm start` on lavapipe);
 * now it is a row reduction over d and a column reduction over B·S, with a heads·B·S intermediate.
 * Summation order differs from one reduction over all axes only in where partial sums are taken.
 * @param scale multiplies the result (1 / count for a mean)
 */
function sumAxes(x: Tensor, axes: readonly number[], scale: number, outShape: Shape): Tensor {
  if (axes.length === 0) return sum3(x, x.size, 1, 1, scale, outShape);
  let current = x;
  let shape = [...x.shape];
  let remaining = [...axes];
  for (;;) {
    let start = remaining.length - 1;
    while (start > 0 && remaining[start - 1] === remaining[start]! - 1) start--;
    const first = remaining[start]!;
    const last = remaining[remaining.length - 1]!;
    const final = start === 0;
    const rest = [...shape.slice(0, first), ...shape.slice(last + 1)];
    const next = sum3(current, sizeOf(shape.slice(0, first)), sizeOf(shape.slice(first, last + 1)), sizeOf(shape.slice(last + 1)), final ? scale : 1, final ? outShape : rest);
    if (current !== x) current.dispose();
    if (final) return next;
    current = next;
    shape = rest;
    remaining = remaining.slice(0, start);
  }
}

interface SumAttrs {
  axes: readonly number[] | undefined;
  keepDims: boolean;
  mean: boolean;
}

const sumOp = defineOp<SumAttrs>({
  name: 'sum',
  forward([x], { axes, keepDims, mean }) {
    if (x!.dtype !== 'f32') throw new Error(`sum: ${x!.label} is ${x!.dtype}, expected f32`);
    const op = mean ? 'mean' : 'sum';
    const rank = x!.shape.length;
    const ax = axes === undefined ? [...Array(rank).keys()] : [...new Set(axes.map((a) => normalizeAxis(a, rank, op)))].sort((a, b) => a - b);
    const count = sizeOf(ax.map((a) => x!.shape[a]!));
    const out = sumAxes(x!, ax, mean ? 1 / count : 1, reducedShape(x!.shape, axes, keepDims, 'sum'));
    return { output: out, saved: undefined };
  },
  backward({ inputs: [x], attrs }, g) {
    // Broadcast the gradient back over the reduced axes (divided by their size for a mean).
    const kept = x!.shape.map((d, i) => (reducedAxes(x!.shape.length, attrs.axes).includes(i) ? 1 : d));
    const gk = g.view(kept);
    const dx = expand(gk, x!.shape);
    gk.dispose();
    if (!attrs.mean) return [dx];
    const scaled = scale(dx, g.size / Math.max(x!.size, 1));
    dx.dispose();
    return [scaled];
  },
});

function reducedAxes(rank: number, axes: readonly number[] | undefined): number[] {
  return axes === undefined ? [...Array(rank).keys()] : axes.map((a) => (a < 0 ? a + rank : a));
}

/** The shape after reducing `axes` (all when undefined). */
export function reducedShape(shape: Shape, axes: readonly number[] | undefined, keepDims: boolean, op: string): number[] {
  const ax = axes === undefined ? [...shape.keys()] : axes.map((a) => normalizeAxis(a, shape.length, op));
  return keepDims ? shape.map((d, i) => (ax.includes(i) ? 1 : d)) : shape.filter((_, i) => !ax.includes(i));
}

/**
 * Sum over `axes` (all axes when omitted).
 * @throws Error when an axis is out of range or x is not f32
 */
export function sum(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return sumOp([x], { axes: typeof axes === 'number' ? [axes] : axes, keepDims, mean: false });
}

/** Mean over `axes` (all axes when omitted). */
export function mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return sumOp([x], { axes: typeof axes === 'number' ? [axes] : axes, keepDims, mean: true });
}

/**
 * Sums a gradient of a broadcast result back to `shape`: over leading axes that `shape` lacks and
 * axes where `shape` has size 1.
 * @throws Error when `shape` does not broadcast to g's shape
 */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  const lead = g.shape.length - shape.length;
  if (lead < 0) throw new Error(`sumTo: cannot reduce ${shapeString(g.shape)} to ${shapeString(shape)}`);
  const axes: number[] = [];
  for (let d = 0; d < g.shape.length; d++) {
    if (d < lead) axes.push(d);
    else if (shape[d - lead] === 1 && g.shape[d] !== 1) axes.push(d);
    else if (shape[d - lead] !== g.shape[d]) throw new Error(`sumTo: cannot reduce ${shapeString(g.shape)} to ${shapeString(shape)}`);
  }
  if (axes.length === 0) return g.view(shape);
  const s = sum(g, axes, true);
  const r = s.view(shape);
  s.dispose();
  return r;
}

interface MaxSaved {
  indices: Tensor;
  outer: number;
  R: number;
  inner: number;
}

const maxOp = defineOp<{ axis: number; keepDims: boolean }, MaxSaved>({
  name: 'max',
  forward([x], { axis, keepDims }) {
    if (x!.dtype !== 'f32') throw new Error(`max: ${x!.label} is ${x!.dtype}, expected f32`);
    const a = normalizeAxis(axis, x!.shape.length, 'max');
    const outer = sizeOf(x!.shape.slice(0, a));
    const R = x!.shape[a]!;
    const inner = sizeOf(x!.shape.slice(a + 1));
    if (R === 0) throw new Error(`max: axis ${axis} of ${x!.label} ${shapeString(x!.shape)} is empty`);
    const shape = reducedShape(x!.shape, [a], keepDims, 'max');
    const values = Tensor.empty(shape, 'f32', 'max#');
    const indices = Tensor.empty(shape, 'i32', 'argmax#');
    launch(K.reduceMax, {
      tensors: { x: x!, values, indices },
      uniforms: { params: { outputs: outer * inner, R, inner } },
      workgroups: grid1d(outer * inner, 64),
    });
    return { output: values, saved: { indices, outer, R, inner } };
  },
  backward({ inputs: [x], saved }, g) {
    const dx = Tensor.empty(x!.shape);
    launch(K.reduceMaxBackward, {
      tensors: { dy: g, indices: saved.indices, dx },
      uniforms: { params: { n: x!.size, R: saved.R, inner: saved.inner } },
      workgroups: grid1d(x!.size),
    });
    return [dx];
  },
});

/**
 * Maximum along one axis. The gradient flows to the first maximal element (as PyTorch's max(dim)).
 * @throws Error when the axis is out of range or empty
 */
export function max(x: Tensor, axis: number, keepDims = false): Tensor {
  return maxOp([x], { axis, keepDims });
}
