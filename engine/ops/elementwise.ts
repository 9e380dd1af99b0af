/**
 * Elementwise ops: unary functions (unary.wgsl), broadcast binary arithmetic and comparisons
 * (binary.wgsl), and where (where.wgsl).
 *
 * Unary and binary ops are tables of data: a kernel op code and a derivative. Binary backward
 * passes are written with the forward ops themselves, then summed back to each operand's shape.
 */
import { defineOp } from '../autograd.ts';
import { getEngine } from '../context.ts';
import { full } from '../creation.ts';
import { Tensor, grid1d, vec4Grid } from '../tensor.ts';
import { launch } from './dispatch.ts';
import { broadcastShapes, broadcastStrides, mergeDims, pack8, sameShape } from './layout.ts';
import { sumTo } from './reduce.ts';
import { K } from '../kernels/index.ts';
import { addF16, geluF16, tanhF16 } from './f16.ts'; // f16 inference routes

/** Op codes of unary.wgsl and unary_backward.wgsl. */
export const UNARY_OPS = {
  neg: 0,
  exp: 1,
  log: 2,
  sqrt: 3,
  tanh: 4,
  sigmoid: 5,
  gelu: 6,
  relu: 7,
  abs: 8,
  affine: 9,
  pow: 10,
  clamp: 11,
  square: 12,
  reciprocal: 13,
  rsqrt: 14,
} as const;
export type UnaryOpName = keyof typeof UNARY_OPS;

interface UnaryAttrs {
  alpha: number;
  beta: number;
}

function checkF32(op: string, ...ts: Tensor[]): void {
  for (const t of ts) if (t.dtype !== 'f32') throw new Error(`${op}: ${t.label} is ${t.dtype}, expected f32`);
}

const unaryOps = new Map<UnaryOpName, (inputs: readonly Tensor[], attrs: UnaryAttrs) => Tensor>();
function unaryOp(name: UnaryOpName) {
  let op = unaryOps.get(name);
  if (!op) {
    const code = UNARY_OPS[name];
    op = defineOp<UnaryAttrs>({
      name,
      forward([x], attrs) {
        checkF32(name, x!);
        const y = Tensor.empty(x!.shape, 'f32', `${name}#`);
        const cpu = getEngine().deviceClass === 'cpu';
        launch(cpu ? K.unaryCpu : K.unary, {
          constants: { OP: code },
          tensors: { x: x!, y },
          uniforms: { params: { n: x!.size, alpha: attrs.alpha, beta: attrs.beta } },
          workgroups: cpu ? vec4Grid(x!.size) : grid1d(x!.size),
        });
        return { output: y, saved: undefined };
      },
      backward({ inputs: [x], output, attrs }, dy) {
        const dx = Tensor.empty(x!.shape);
        const cpu = getEngine().deviceClass === 'cpu';
        launch(cpu ? K.unaryBackwardCpu : K.unaryBackward, {
          constants: { OP: code },
          tensors: { x: x!, y: output, dy, dx },
          uniforms: { params: { n: x!.size, alpha: attrs.alpha, beta: attrs.beta } },
          workgroups: cpu ? vec4Grid(x!.size) : grid1d(x!.size),
        });
        return [dx];
      },
    });
    unaryOps.set(name, op);
  }
  return op;
}

function unary(name: UnaryOpName, x: Tensor, alpha = 0, beta = 0): Tensor {
  return unaryOp(name)([x], { alpha, beta });
}

export const neg = (x: Tensor) => unary('neg', x);
export const exp = (x: Tensor) => unary('exp', x);
export const log = (x: Tensor) => unary('log', x);
export const sqrt = (x: Tensor) => unary('sqrt', x);
export const tanh = (x: Tensor) => (x.dtype === 'f16' ? tanhF16(x) : unary('tanh', x));
export const sigmoid = (x: Tensor) => unary('sigmoid', x);
/** GELU: x Φ(x) with the exact normal CDF (the erf form, not the tanh approximation). */
export const gelu = (x: Tensor) => (x.dtype === 'f16' ? geluF16(x) : unary('gelu', x));
export const relu = (x: Tensor) => unary('relu', x);
export const abs = (x: Tensor) => unary('abs', x);
export const square = (x: Tensor) => unary('square', x);
export const reciprocal = (x: Tensor) => unary('reciprocal', x);
export const rsqrt = (x: Tensor) => unary('rsqrt', x);
/** alpha·x + beta. */
export const affine = (x: Tensor, alpha: number, beta: number) => unary('affine', x, alpha, beta);
/** x · s. */
export const scale = (x: Tensor, s: number) => unary('affine', x, s, 0);
/** x + s. */
export const addScalar = (x: Tensor, s: number) => unary('affine', x, 1, s);
/** x^p for a scalar exponent. */
export const powScalar = (x: Tensor, p: number) => unary('pow', x, p, 0);
/** x clamped to [lo, hi]; the gradient passes where lo ≤ x ≤ hi (as PyTorch's clamp). */
export const clamp = (x: Tensor, lo: number, hi: number) => unary('clamp', x, lo, hi);

/** Op codes of binary.wgsl. */
export const BINARY_OPS = { add: 0, sub: 1, mul: 2, div: 3, maximum: 4, minimum: 5, pow: 6, gt: 7, ge: 8, lt: 9, le: 10, eq: 11 } as const;
export type BinaryOpName = keyof typeof BINARY_OPS;

/**
 * How binary_cpu.wgsl / where_cpu.wgsl read an operand with these merged strides
 * (lib/strided_vec4.wgsl): a vec4 (innermost stride 1, other strides on vec4s), one broadcast
 * element (innermost stride 0), or element by element.
 */
function vec4Mode(strides: readonly number[]): number {
  const inner = strides[strides.length - 1] ?? 0;
  if (inner === 0) return 2;
  if (inner === 1 && strides.slice(0, -1).every((s) => s % 4 === 0)) return 1;
  return 0;
}

/**
 * How binary_cpu.wgsl reads an operand with these strides over the merged output shape (modes in
 * lib/strided_vec4.wgsl): laid out as the output (3), a single element (4), one row repeated over
 * the rows (5), else by vec4 rows (1, 2)
 * when the innermost dimension is a multiple of 4, else element by element (0).
 */
function operandMode(shape: readonly number[], strides: readonly number[]): number {
  let expected = 1;
  let same = true;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (strides[d] !== expected) same = false;
    expected *= shape[d]!;
  }
  if (same) return 3;
  if (strides.every((s) => s === 0)) return 4;
  const inner = shape[shape.length - 1] ?? 1;
  if (shape.length === 2 && strides[0] === 0 && strides[1] === 1 && inner % 4 === 0) return 5;
  return (shape[shape.length - 1] ?? 1) % 4 === 0 ? vec4Mode(strides) : 0;
}

function launchBinary(name: BinaryOpName, a: Tensor, b: Tensor): Tensor {
  checkF32(name, a, b);
  const shape = broadcastShapes(name, a.shape, b.shape);
  const c = Tensor.empty(shape, 'f32', `${name}#`);
  const merged = mergeDims(shape, [broadcastStrides(a.shape, shape), broadcastStrides(b.shape, shape)]);
  if (getEngine().deviceClass === 'cpu') {
    const mode = (strides: readonly number[]) => operandMode(merged.shape, strides);
    launch(K.binaryCpu, {
      constants: { OP: BINARY_OPS[name], A_MODE: mode(merged.strides[0]!), B_MODE: mode(merged.strides[1]!) },
      tensors: { a, b, c },
      uniforms: {
        params: {
          n: c.size,
          rank: merged.shape.length,
          row_len: merged.shape[merged.shape.length - 1] ?? 1,
          shape: pack8(merged.shape, name),
          a_strides: pack8(merged.strides[0]!, name),
          b_strides: pack8(merged.strides[1]!, name),
        },
      },
      workgroups: vec4Grid(c.size),
    });
    return c;
  }
  launch(K.binary, {
    constants: { OP: BINARY_OPS[name] },
    tensors: { a, b, c },
    uniforms: {
      params: {
        n: c.size,
        rank: merged.shape.length,
        shape: pack8(merged.shape, name),
        a_strides: pack8(merged.strides[0]!, name),
        b_strides: pack8(merged.strides[1]!, name),
      },
    },
    workgroups: grid1d(c.size),
  });
  return c;
}

type BinaryGrad = (a: Tensor, b: Tensor, out: Tensor, g: Tensor, needA: boolean, needB: boolean) => [Tensor | null, Tensor | null];

/** Gradients of each binary op with respect to a and b, at the broadcast shape. */
const BINARY_GRADS: Partial<Record<BinaryOpName, BinaryGrad>> = {
  add: (_a, _b, _o, g) => [g, g],
  sub: (_a, _b, _o, g, _na, needB) => [g, needB ? neg(g) : null],
  mul: (a, b, _o, g, needA, needB) => [needA ? mul(g, b) : null, needB ? mul(g, a) : null],
  div: (_a, b, out, g, needA, needB) => [needA ? div(g, b) : null, needB ? neg(div(mul(g, out), b)) : null],
  // The larger (smaller) operand takes the gradient; ties split it evenly, as PyTorch does.
  maximum: (a, b, _o, g) => {
    const w = add(gt(a, b), scale(eq(a, b), 0.5));
    return [mul(g, w), mul(g, addScalar(neg(w), 1))];
  },
  minimum: (a, b, _o, g) => {
    const w = add(lt(a, b), scale(eq(a, b), 0.5));
    return [mul(g, w), mul(g, addScalar(neg(w), 1))];
  },
  pow: (a, b, out, g, needA, needB) => [
    needA ? mul(g, mul(b, pow(a, addScalar(b, -1)))) : null,
    needB ? mul(g, mul(out, log(a))) : null,
  ],
};

const binaryOps = new Map<BinaryOpName, (inputs: readonly Tensor[], attrs: undefined) => Tensor>();
function binaryOp(name: BinaryOpName) {
  let op = binaryOps.get(name);
  if (!op) {
    const grad = BINARY_GRADS[name];
    op = defineOp({
      name,
      forward: ([a, b]) => ({ output: launchBinary(name, a!, b!), saved: undefined }),
      backward: grad
        ? ({ inputs: [a, b], output }, g) => {
            const [ga, gb] = grad(a!, b!, output, g, a!.requiresGrad, b!.requiresGrad);
            return [reduceGrad(ga, a!), reduceGrad(gb, b!)];
          }
        : undefined,
    });
    binaryOps.set(name, op);
  }
  return op;
}

/** Sums a gradient at the broadcast shape back to the operand's shape. */
function reduceGrad(g: Tensor | null, operand: Tensor): Tensor | null {
  if (!g || !operand.requiresGrad) return null;
  return sameShape(g.shape, operand.shape) ? g : sumTo(g, operand.shape);
}

export const add = (a: Tensor, b: Tensor) => (a.dtype === 'f16' ? addF16(a, b) : binaryOp('add')([a, b], undefined));
export const sub = (a: Tensor, b: Tensor) => binaryOp('sub')([a, b], undefined);
export const mul = (a: Tensor, b: Tensor) => binaryOp('mul')([a, b], undefined);
export const div = (a: Tensor, b: Tensor) => binaryOp('div')([a, b], undefined);
export const maximum = (a: Tensor, b: Tensor) => binaryOp('maximum')([a, b], undefined);
export const minimum = (a: Tensor, b: Tensor) => binaryOp('minimum')([a, b], undefined);
export const pow = (a: Tensor, b: Tensor) => binaryOp('pow')([a, b], undefined);
/** 1 where a > b, else 0 (no gradient). */
export const gt = (a: Tensor, b: Tensor) => binaryOp('gt')([a, b], undefined);
export const ge = (a: Tensor, b: Tensor) => binaryOp('ge')([a, b], undefined);
export const lt = (a: Tensor, b: Tensor) => binaryOp('lt')([a, b], undefined);
export const le = (a: Tensor, b: Tensor) => binaryOp('le')([a, b], undefined);
export const eq = (a: Tensor, b: Tensor) => binaryOp('eq')([a, b], undefined);

const whereOp = defineOp({
  name: 'where',
  forward([cond, a, b]) {
    checkF32('where', cond!, a!, b!);
    const shape = broadcastShapes('where', cond!.shape, a!.shape, b!.shape);
    const out = Tensor.empty(shape, 'f32', 'where#');
    const merged = mergeDims(shape, [cond!, a!, b!].map((t) => broadcastStrides(t.shape, shape)));
    if (getEngine().deviceClass === 'cpu') {
      launch(K.whereCpu, {
        tensors: { cond: cond!, a: a!, b: b!, out },
        uniforms: {
          params: {
            n: out.size,
            rank: merged.shape.length,
            vec4_rows: (merged.shape[merged.shape.length - 1] ?? 1) % 4 === 0 ? 1 : 0,
            cond_mode: vec4Mode(merged.strides[0]!),
            a_mode: vec4Mode(merged.strides[1]!),
            b_mode: vec4Mode(merged.strides[2]!),
            shape: pack8(merged.shape, 'where'),
            cond_strides: pack8(merged.strides[0]!, 'where'),
            a_strides: pack8(merged.strides[1]!, 'where'),
            b_strides: pack8(merged.strides[2]!, 'where'),
          },
        },
        workgroups: vec4Grid(out.size),
      });
      return { output: out, saved: undefined };
    }
    launch(K.where, {
      tensors: { cond: cond!, a: a!, b: b!, out },
      uniforms: {
        params: {
          n: out.size,
          rank: merged.shape.length,
          shape: pack8(merged.shape, 'where'),
          cond_strides: pack8(merged.strides[0]!, 'where'),
          a_strides: pack8(merged.strides[1]!, 'where'),
          b_strides: pack8(merged.strides[2]!, 'where'),
        },
      },
      workgroups: grid1d(out.size),
    });
    return { output: out, saved: undefined };
  },
  backward({ inputs: [cond, a, b] }, g) {
    if (cond!.requiresGrad) throw new Error(`where: condition ${cond!.label} cannot take a gradient`);
    const zero = full([], 0);
    const ga = a!.requiresGrad ? reduceGrad(where(cond!, g, zero), a!) : null;
    const gb = b!.requiresGrad ? reduceGrad(where(cond!, zero, g), b!) : null;
    return [null, ga, gb];
  },
});

/**
 * cond != 0 ? a : b elementwise, with broadcasting. The condition takes no gradient.
 * @throws Error when the shapes do not broadcast or a tensor is not f32
 */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  return whereOp([cond, a, b], undefined);
}
