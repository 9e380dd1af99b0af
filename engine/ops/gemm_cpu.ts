/**
 * The CPU GEMM kernel (matmul_cpu.wgsl) as a raw launch: strided, two-level batched products with a
 * per-batch scale, for ops that run on CPU adapters (E.matmul's CPU path, and models' attention,
 * which addresses heads of a [B, S, heads·d] projection in place). No autograd: callers are ops.
 */
import { getEngine } from '../context.ts';
import { cpuGemmTile } from '../kernels/cpu_tiles.ts';
import { K } from '../kernels/index.ts';
import type { Tensor } from '../tensor.ts';
import { launch } from './dispatch.ts';

/** Start of batch entry z = z1·inner + z2 in an operand: z1·outer + z2·inner (elements). */
export interface BatchStrides {
  outer: number;
  inner: number;
}

export interface CpuGemm {
  a: Tensor;
  b: Tensor;
  /** Written: M×N per batch entry at its offset, rows ldc apart (other elements untouched). */
  c: Tensor;
  M: number;
  N: number;
  K: number;
  transA?: boolean;
  transB?: boolean;
  /** Row strides (elements); defaults: the stored row length of each operand. */
  lda?: number;
  ldb?: number;
  ldc?: number;
  /** Batch entries: outer × inner (default 1 × 1). */
  batch?: [number, number];
  strideA?: BatchStrides;
  strideB?: BatchStrides;
  strideC?: BatchStrides;
  /** [N] added to every row. */
  bias?: Tensor | null;
  /** c = scale · alpha[z mod alpha.size] · op(a)·op(b): per-batch factors (e.g. a mask per attention head), optional. */
  alpha?: Tensor | null;
  /** Use alpha only as a gate: batch entries where it is 0 give 0, the others scale · op(a)·op(b). */
  alphaGate?: boolean;
  scale?: number;
}

const NONE: BatchStrides = { outer: 0, inner: 0 };
const whole = (...xs: number[]) => (xs.every((x) => x % 4 === 0) ? 1 : 0);

/**
 * Records c = scale · alpha(z) · op(a)·op(b) (+ bias) with matmul_cpu.wgsl on the engine's subgroup.
 * @throws Error when the engine has no fixed subgroup size (the CPU kernels need one)
 */
export function launchCpuGemm(g: CpuGemm): void {
  const engine = getEngine();
  if (engine.subgroupSize === null) throw new Error('launchCpuGemm: the adapter has no fixed subgroup size');
  const SG = engine.subgroupSize;
  const transA = !!g.transA;
  const transB = !!g.transB;
  const lda = g.lda ?? (transA ? g.M : g.K);
  const ldb = g.ldb ?? (transB ? g.K : g.N);
  const ldc = g.ldc ?? g.N;
  const [outer, inner] = g.batch ?? [1, 1];
  const [sa, sb, sc] = [g.strideA ?? NONE, g.strideB ?? NONE, g.strideC ?? NONE];
  const tile = cpuGemmTile(g.M, transA, transB, SG);
  launch(K.matmulCpu, {
    defines: { SG, ...tile },
    constants: { TRANS_A: transA ? 1 : 0, TRANS_B: transB ? 1 : 0, A_VEC4: whole(lda, sa.outer, sa.inner), B_VEC4: whole(ldb, sb.outer, sb.inner) },
    tensors: { a: g.a, b: g.b, bias: g.bias ?? null, alpha: g.alpha ?? null, c: g.c },
    uniforms: {
      params: {
        M: g.M,
        N: g.N,
        K: g.K,
        lda,
        ldb,
        ldc,
        inner: Math.max(1, inner),
        sa1: sa.outer,
        sa2: sa.inner,
        sb1: sb.outer,
        sb2: sb.inner,
        sc1: sc.outer,
        sc2: sc.inner,
        alpha_period: g.alpha ? g.alpha.size : 0,
        alpha_gate: g.alphaGate ? 1 : 0,
        alpha_scale: g.scale ?? 1,
        has_bias: g.bias ? 1 : 0,
        c_vec4: whole(ldc, sc.outer, sc.inner, g.N),
      },
    },
    workgroups: [Math.ceil(g.N / (4 * tile.TQ * SG)), Math.ceil(g.M / tile.TM), outer * inner],
  });
}
