/**
 * Index ops: indexSelect (embedding lookups) and gather, with deterministic backward passes.
 *
 * Scatter-adds are deterministic because no two threads add into one element: for indexSelect
 * the host sorts positions by index value (from the index tensor's host copy) and one thread sums
 * each distinct index's positions in order; for gather one thread per input element scans the
 * indices.
 */
import { defineOp } from '../autograd.ts';
import { tensor, zeros } from '../creation.ts';
import { Tensor, grid1d, shapeString, sizeOf } from '../tensor.ts';
import { launch } from './dispatch.ts';
import { normalizeAxis } from './layout.ts';
import { reshape } from './shape.ts';
import { K } from '../kernels/index.ts';
import { embeddingF16 } from './f16.ts'; // f16 inference route

function checkIndex(op: string, idx: Tensor): void {
  if (idx.dtype !== 'i32') throw new Error(`${op}: indices ${idx.label} are ${idx.dtype}, expected i32`);
}

/** Validates indices against [0, D) when their host copy is known (GPU-made indices are checked by NaN). */
function checkRange(op: string, idx: Tensor, D: number): void {
  const host = idx.hostCopy;
  if (!host) return;
  for (let j = 0; j < host.length; j++) {
    const v = host[j]!;
    if (v < 0 || v >= D) throw new Error(`${op}: index ${v} at position ${j} of ${idx.label} is outside [0, ${D})`);
  }
}

/**
 * Positions sorted stably by index value (perm), the start of each run of equal values (seg, with
 * a final end), and the distinct values: the plan of index_select_backward.wgsl. Positions whose
 * index equals `skip` are left out (their rows get no gradient).
 */
export function scatterPlan(indices: ArrayLike<number>, skip?: number): { perm: Int32Array; seg: Int32Array; values: Int32Array } {
  const perm = Int32Array.from({ length: indices.length }, (_, i) => i).filter((i) => indices[i] !== skip);
  const n = perm.length;
  perm.sort((a, b) => indices[a]! - indices[b]! || a - b);
  const seg: number[] = [];
  const values: number[] = [];
  for (let s = 0; s < n; s++) {
    const v = indices[perm[s]!]!;
    if (s === 0 || v !== values[values.length - 1]) {
      seg.push(s);
      values.push(v);
    }
  }
  seg.push(n);
  return { perm, seg: Int32Array.from(seg), values: Int32Array.from(values) };
}

interface View3 {
  outer: number;
  D: number;
  inner: number;
}

const indexSelectOp = defineOp<{ axis: number; skip?: number }, View3>({
  name: 'index_select',
  forward([x, idx], { axis }) {
    checkIndex('index_select', idx!);
    if (idx!.shape.length !== 1) throw new Error(`index_select: indices ${idx!.label} must be 1-D, got ${shapeString(idx!.shape)}`);
    const v: View3 = { outer: sizeOf(x!.shape.slice(0, axis)), D: x!.shape[axis]!, inner: sizeOf(x!.shape.slice(axis + 1)) };
    checkRange('index_select', idx!, v.D);
    const shape = [...x!.shape];
    shape[axis] = idx!.size;
    const out = Tensor.empty(shape, 'f32', 'index_select#');
    launch(K.indexSelect, {
      tensors: { x: x!, idx: idx!, out },
      uniforms: { params: { n: out.size, D: v.D, count: idx!.size, inner: v.inner } },
      workgroups: grid1d(out.size),
    });
    return { output: out, saved: v };
  },
  backward({ inputs: [x, idx], attrs: { skip }, saved: { outer, D, inner } }, dy) {
    if (!idx!.hostCopy) {
      throw new Error(`index_select backward: indices ${idx!.label} have no host copy; create them with tensor(data, shape, 'i32')`);
    }
    const plan = scatterPlan(idx!.hostCopy, skip);
    const perm = tensor(plan.perm, [plan.perm.length], 'i32');
    const seg = tensor(plan.seg, [plan.seg.length], 'i32');
    const values = tensor(plan.values, [plan.values.length], 'i32');
    const dx = zeros(x!.shape);
    const distinct = plan.values.length;
    const n = outer * distinct * inner;
    launch(K.indexSelectBackward, {
      tensors: { dy, perm, seg, values, dx },
      uniforms: { params: { n, D, count: idx!.size, inner, distinct } },
      workgroups: grid1d(n),
    });
    perm.dispose();
    seg.dispose();
    values.dispose();
    return [dx, null];
  },
});

/**
 * The entries of x at `indices` along `axis` (PyTorch's index_select). Shapes: x [..., D, ...],
 * indices [n] (i32) → [..., n, ...]. The backward pass needs indices made from host data.
 * @throws Error for non-i32 or non-1-D indices, or a host-known index outside [0, D)
 */
export function indexSelect(x: Tensor, axis: number, indices: Tensor, options: { skipGradientOf?: number } = {}): Tensor {
  return indexSelectOp([x, indices], { axis: normalizeAxis(axis, x.shape.length, 'index_select'), skip: options.skipGradientOf });
}

/**
 * Embedding lookup: table [V, H], ids [...] (i32) → [..., H]. The row of `paddingIdx` gets no
 * gradient, as PyTorch's nn.Embedding(padding_idx) (transformers' word embeddings use pad_token_id).
 * @throws Error for an id outside [0, V) (checked on the ids' host copy)
 */
export function embedding(table: Tensor, ids: Tensor, options: { paddingIdx?: number } = {}): Tensor {
  if (table.dtype === 'f16') return embeddingF16(table, ids); // f16 inference (engine/ops/f16.ts)
  if (table.shape.length !== 2) throw new Error(`embedding: table ${table.label} must be [vocab, dim], got ${shapeString(table.shape)}`);
  const flat = reshape(ids, [ids.size]);
  const rows = indexSelect(table, 0, flat, { skipGradientOf: options.paddingIdx });
  return reshape(rows, [...ids.shape, table.shape[1]!]);
}

const gatherOp = defineOp<{ axis: number }, View3 & { J: number }>({
  name: 'gather',
  forward([x, idx], { axis }) {
    checkIndex('gather', idx!);
    const ok = idx!.shape.length === x!.shape.length && idx!.shape.every((d, i) => i === axis || d === x!.shape[i]);
    if (!ok) throw new Error(`gather: indices ${idx!.label} ${shapeString(idx!.shape)} must match ${x!.label} ${shapeString(x!.shape)} except on axis ${axis}`);
    const v = { outer: sizeOf(x!.shape.slice(0, axis)), D: x!.shape[axis]!, inner: sizeOf(x!.shape.slice(axis + 1)), J: idx!.shape[axis]! };
    checkRange('gather', idx!, v.D);
    const out = Tensor.empty(idx!.shape, 'f32', 'gather#');
    launch(K.gather, {
      tensors: { x: x!, idx: idx!, out },
      uniforms: { params: { n: out.size, D: v.D, J: v.J, inner: v.inner } },
      workgroups: grid1d(out.size),
    });
    return { output: out, saved: v };
  },
  backward({ inputs: [x, idx], saved: { D, J, inner } }, dy) {
    const dx = Tensor.empty(x!.shape);
    launch(K.gatherBackward, {
      tensors: { dy, idx: idx!, dx },
      uniforms: { params: { n: x!.size, D, J, inner } },
      workgroups: grid1d(x!.size),
    });
    return [dx, null];
  },
});

/**
 * out[..., j, ...] = x[..., indices[..., j, ...], ...] along `axis` (PyTorch's gather): indices
 * have x's shape except on `axis`. Meant for few picks per row (the backward pass scans them).
 * @throws Error for mismatched shapes, non-i32 indices, or a host-known index out of range
 */
export function gather(x: Tensor, axis: number, indices: Tensor): Tensor {
  return gatherOp([x, indices], { axis: normalizeAxis(axis, x.shape.length, 'gather') });
}

