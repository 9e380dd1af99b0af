/**
 * Matrix products: 2-D and batched, either operand transposed, with a fused bias. GPU adapters run
 * matmul.wgsl (64×64 tiles through workgroup memory), CPU adapters matmul_cpu.wgsl (register
 * tiles shared through subgroup shuffles; lib/gemm_cpu.wgsl says why).
 */
import { defineOp } from '../autograd.ts';
import { getEngine } from '../context.ts';
import { launchCpuGemm } from './gemm_cpu.ts';
import { type Shape, Tensor, shapeString, sizeOf } from '../tensor.ts';
import { launch } from './dispatch.ts';
import { sameShape } from './layout.ts';
import { sumTo } from './reduce.ts';
import { K } from '../kernels/index.ts';
import { matmulF16 } from './f16.ts'; // f16 inference route

export interface MatmulOptions {
  /** Use aᵀ: a is [..., K, M]. */
  transA?: boolean;
  /** Use bᵀ: b is [..., N, K] (a Linear layer's weight [out, in]). */
  transB?: boolean;
  /** [N], added to every row of the result. */
  bias?: Tensor;
}

interface Plan {
  M: number;
  N: number;
  K: number;
  batch: number;
  strideA: number;
  strideB: number;
  outShape: number[];
}

export function planMatmul(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Plan {
  const fail = (why: string) =>
    new Error(`matmul: ${a.label} ${shapeString(a.shape)}${transA ? 'ᵀ' : ''} · ${b.label} ${shapeString(b.shape)}${transB ? 'ᵀ' : ''}: ${why}`);
  if (a.shape.length < 2 || b.shape.length < 2) throw fail('operands need rank ≥ 2');
  const ar = a.shape.length;
  const br = b.shape.length;
  const [M, Ka] = transA ? [a.shape[ar - 1]!, a.shape[ar - 2]!] : [a.shape[ar - 2]!, a.shape[ar - 1]!];
  const [Kb, N] = transB ? [b.shape[br - 1]!, b.shape[br - 2]!] : [b.shape[br - 2]!, b.shape[br - 1]!];
  if (Ka !== Kb) throw fail(`inner dimensions ${Ka} and ${Kb} differ`);
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const nA = sizeOf(batchA);
  const nB = sizeOf(batchB);
  // A 2-D b against a stacked, untransposed a is one GEMM with the stack folded into M.
  if (br === 2 && !transA) {
    return { M: M * nA, N, K: Ka, batch: 1, strideA: 0, strideB: 0, outShape: [...batchA, M, N] };
  }
  let batchShape: Shape;
  if (sameShape(batchA, batchB)) batchShape = batchA;
  else if (nB === 1 && batchB.length <= batchA.length) batchShape = batchA;
  else if (nA === 1 && batchA.length <= batchB.length) batchShape = batchB;
  else throw fail('batch dimensions must be equal, or one operand unbatched');
  return {
    M,
    N,
    K: Ka,
    batch: sizeOf(batchShape),
    strideA: nA === 1 ? 0 : M * Ka,
    strideB: nB === 1 ? 0 : Ka * N,
    outShape: [...batchShape, M, N],
  };
}

interface MatmulAttrs {
  transA: boolean;
  transB: boolean;
}

/** Launches the GEMM kernel (no autograd). */
function gemm(a: Tensor, b: Tensor, bias: Tensor | null, transA: boolean, transB: boolean): Tensor {
  for (const t of [a, b, ...(bias ? [bias] : [])]) {
    if (t.dtype !== 'f32') throw new Error(`matmul: ${t.label} is ${t.dtype}, expected f32`);
  }
  const p = planMatmul(a, b, transA, transB);
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== p.N)) {
    throw new Error(`matmul: bias ${bias.label} ${shapeString(bias.shape)} does not match N = ${p.N}`);
  }
  const c = Tensor.empty(p.outShape, 'f32', 'matmul#');
  if (getEngine().cpuSubgroupKernels) {
    launchCpuGemm({
      a,
      b,
      c,
      M: p.M,
      N: p.N,
      K: p.K,
      transA,
      transB,
      bias,
      batch: [p.batch, 1],
      strideA: { outer: p.strideA, inner: 0 },
      strideB: { outer: p.strideB, inner: 0 },
      strideC: { outer: p.M * p.N, inner: 0 },
    });
    return c;
  }
  launch(K.matmul, {
    constants: { TRANS_A: transA ? 1 : 0, TRANS_B: transB ? 1 : 0, HAS_BIAS: bias ? 1 : 0 },
    tensors: { a, b, bias, c },
    uniforms: { params: { M: p.M, N: p.N, K: p.K, stride_a: p.strideA, stride_b: p.strideB, stride_c: p.M * p.N } },
    workgroups: [Math.ceil(p.N / 64), Math.ceil(p.M / 64), p.batch],
  });
  return c;
}

const matmulOp = defineOp<MatmulAttrs>({
  name: 'matmul',
  forward([a, b, bias], { transA, transB }) {
    return { output: gemm(a!, b!, bias ?? null, transA, transB), saved: undefined };
  },
  backward({ inputs: [a, b, bias], attrs: { transA, transB } }, g) {
    // With A' = op(A), B' = op(B), C = A'B': dA' = dC B'ᵀ and dB' = A'ᵀ dC, transposed back
    // when the operand was given transposed.
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (a!.requiresGrad) {
      da = transA ? gemm(b!, g, null, transB, true) : gemm(g, b!, null, false, !transB);
      da = fitGrad(da, a!);
    }
    if (b!.requiresGrad) {
      if (b!.shape.length === 2 && !transA) {
        // a was folded to [P·M, K]: the batch sum happens inside one GEMM.
        const K = a!.shape[a!.shape.length - 1]!;
        const a2 = a!.view([a!.size / K, K]);
        const g2 = g.view([g.size / g.shape[g.shape.length - 1]!, g.shape[g.shape.length - 1]!]);
        db = transB ? gemm(g2, a2, null, true, false) : gemm(a2, g2, null, true, false);
        a2.dispose();
        g2.dispose();
      } else {
        db = transB ? gemm(g, a!, null, true, transA) : gemm(a!, g, null, !transA, false);
        db = fitGrad(db, b!);
      }
    }
    const dbias = bias?.requiresGrad ? sumTo(g, bias.shape) : null;
    return [da, db, dbias];
  },
});

/** Sums a per-batch gradient over batch entries an operand was broadcast across. */
function fitGrad(grad: Tensor, operand: Tensor): Tensor {
  if (sameShape(grad.shape, operand.shape)) return grad;
  if (grad.size === operand.size) {
    const v = grad.view(operand.shape);
    grad.dispose();
    return v;
  }
  const r = sumTo(grad, [...new Array(grad.shape.length - operand.shape.length).fill(1), ...operand.shape]);
  grad.dispose();
  const v = r.view(operand.shape);
  r.dispose();
  return v;
}

/**
 * op(a) · op(b) (+ bias) over the last two axes, batched over the leading ones.
 *
 * Shapes: a [..., M, K] (or [..., K, M] with transA), b [..., K, N] (or [..., N, K] with transB),
 * result [..., M, N]. Batch dimensions must be equal, or one operand unbatched; a 2-D b is applied
 * to every matrix of a stacked a as a single GEMM.
 * @throws Error naming both operands when shapes do not fit, or a tensor is not f32
 */
export function matmul(a: Tensor, b: Tensor, options: MatmulOptions = {}): Tensor {
  if (a.dtype === 'f16') return matmulF16(a, b, options); // f16 inference (engine/ops/f16.ts)
  const inputs = options.bias ? [a, b, options.bias] : [a, b];
  return matmulOp(inputs, { transA: options.transA ?? false, transB: options.transB ?? false });
}
