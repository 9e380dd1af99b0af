/**
 * The masked FFN of a BERT layer, (gelu(x·w1ᵀ + b1) ⊙ z)·w2ᵀ + b2, with CoFi's intermediate_z
 * pruning skipped in the GEMMs rather than multiplied in.
 *
 * z lives on the GPU and changes every step, so the host never learns which units are zero:
 * ffn_compact.wgsl lists the active units (z ≠ 0) on the GPU, and every product runs through
 * ffn_gemm.wgsl, one indexed GEMM whose N or K dimension is that count (read from the list's
 * buffer; the grid covers the full width and workgroups past the count exit), gathering rows of
 * w1 / columns of w2 in its tile loads and scattering the gradients of w1 rows and w2 columns back
 * through the list. Activations are kept compact: [rows, I] with unit active[r] in column r.
 * On CPU adapters (ffn_gemm_cpu.wgsl) the active rows of w1 and columns of w2 are first copied
 * into compact buffers (ffn_gather_cpu.wgsl, saved for the backward): a lookup per load in the
 * k loop made a listed FFN run at half the speed of an unlisted one there (1024×512×2048 with all
 * units active: 247–288 ms before, 188–215 after, of which 6.7 ms the two copies).
 * Everything is deterministic (no atomics).
 */
import { defineOp, getEngine, grid1d, launch, shapeString, Tensor, zeros } from '../../engine/index.ts';
import { cpuGemmTile } from '../../engine/kernels/cpu_tiles.ts';
import { BERT_KERNELS } from '../kernels/index.ts';
import { ffnF16 } from './f16_inference.ts'; // f16 inference route

interface Attrs {
  /** Rows (the product of x's leading dimensions), hidden size, intermediate size. */
  M: number;
  H: number;
  I: number;
  hasZ: boolean;
}

interface Saved {
  /** [M, I] pre-activations x·w1ᵀ + b1, compact. */
  pre: Tensor;
  /** [M, I] gelu(pre) ⊙ z, compact. */
  act: Tensor;
  /** [1 + I] u32 list of active units (null without z: all units, in order). */
  active: Tensor | null;
  /** CPU kernels with a list: w1's active rows [I, H] and w2's active columns [H, W], compact (else null). */
  compact: { w1: Tensor; w2: Tensor } | null;
}

const COUNT_M = 1;
const COUNT_N = 2;
const COUNT_K = 4;

interface Gemm {
  /** Sizes; a counted dimension gives its full width I here (the grid covers it). */
  M: number;
  N: number;
  K: number;
  lda: number;
  ldb: number;
  ldc: number;
  a: Tensor;
  b: Tensor;
  c: Tensor;
  transA?: boolean;
  transB?: boolean;
  gatherN?: boolean;
  gatherK?: boolean;
  scatterM?: boolean;
  scatterN?: boolean;
  count?: number;
  epilogue?: 0 | 1 | 2;
  bias?: Tensor | null;
  z?: Tensor | null;
  aux?: Tensor | null;
  c2?: Tensor | null;
  active?: Tensor | null;
  /** b is already compact along its gathered axis (gatherWeights): loads do not look units up; the epilogue still does. */
  compactB?: boolean;
}

function gemm(g: Gemm): void {
  // c2 is written (read_write): it cannot share the f32 placeholder with the read-only bindings.
  const c2 = g.c2 ?? Tensor.empty([1], 'f32', 'ffn_unused#');
  const engine = getEngine();
  const cpu = engine.cpuSubgroupKernels;
  const SG = engine.subgroupSize ?? 1;
  const tile = cpu ? cpuGemmTile(g.M, !!g.transA, !!g.transB, SG) : null;
  launch(cpu ? BERT_KERNELS.ffnGemmCpu : BERT_KERNELS.ffnGemm, {
    defines: tile ? { SG, ...tile } : undefined,
    constants: tile ? cpuLoadConstants(g) : undefined,
    tensors: { a: g.a, b: g.b, bias: g.bias ?? null, z: g.z ?? null, aux: g.aux ?? null, units: g.active ?? null, c: g.c, c2 },
    uniforms: {
      params: {
        M: g.M,
        N: g.N,
        K: g.K,
        lda: g.lda,
        ldb: g.ldb,
        ldc: g.ldc,
        trans_a: g.transA ? 1 : 0,
        trans_b: g.transB ? 1 : 0,
        gather_n: g.gatherN ? 1 : 0,
        gather_k: g.gatherK ? 1 : 0,
        scatter_m: g.scatterM ? 1 : 0,
        scatter_n: g.scatterN ? 1 : 0,
        count: g.count ?? 0,
        epilogue: g.epilogue ?? 0,
        has_bias: g.bias ? 1 : 0,
        has_z: g.z ? 1 : 0,
        write_c2: g.c2 ? 1 : 0,
      },
    },
    workgroups: tile ? [Math.ceil(g.N / (4 * tile.TQ * SG)), Math.ceil(g.M / tile.TM)] : [Math.ceil(g.N / 64), Math.ceil(g.M / 64)],
  });
  if (!g.c2) c2.dispose();
}

/** The CPU kernel's pipeline constants: transposes, and which operand loads are whole vec4s. */
function cpuLoadConstants(g: Gemm): Record<string, number> {
  // ffn_gemm_cpu.wgsl never gathers in its loads: a list comes with compact weights.
  if ((g.gatherN || g.gatherK) && !g.compactB) throw new Error('masked FFN: the CPU GEMM needs compact weights with a unit list (gatherWeights)');
  return {
    TRANS_A: g.transA ? 1 : 0,
    TRANS_B: g.transB ? 1 : 0,
    A_VEC4: g.lda % 4 === 0 ? 1 : 0,
    B_VEC4: g.ldb % 4 === 0 ? 1 : 0,
  };
}

/**
 * For the CPU kernels with a unit list: w1's active rows and w2's active columns copied into
 * compact buffers (ffn_gather_cpu.wgsl), two passes over the weights that save the GEMMs a unit
 * lookup per load. Null on GPU kernels or without a list (the GPU tiles gather in workgroup memory).
 */
function gatherWeights(w1: Tensor, w2: Tensor, active: Tensor | null, H: number, I: number): { w1: Tensor; w2: Tensor } | null {
  if (!active || !getEngine().cpuSubgroupKernels) return null;
  const W = compactWidth(I);
  const w1c = Tensor.empty([I, H], 'f32', 'ffn_w1_active#');
  const w2c = Tensor.empty([H, W], 'f32', 'ffn_w2_active#');
  const copy = (src: Tensor, dst: Tensor, rows: number, cols: number, ldSrc: number, ldDst: number, mode: 0 | 1) =>
    launch(BERT_KERNELS.ffnGatherCpu, {
      tensors: { src, units: active, dst },
      uniforms: { params: { rows, cols, ld_src: ldSrc, ld_dst: ldDst, mode } },
      workgroups: grid1d(rows * Math.ceil(cols / 4), 64),
    });
  copy(w1, w1c, I, H, H, H, 0);
  copy(w2, w2c, H, I, I, W, 1);
  return { w1: w1c, w2: w2c };
}

/**
 * Row length of the compact [M, ·] activations: I, padded to a multiple of 4 for the CPU kernel
 * (its vec4 loads need rows that start on a vec4; columns past the count are never read).
 */
function compactWidth(I: number): number {
  return getEngine().cpuSubgroupKernels ? Math.ceil(I / 4) * 4 : I;
}

/** out[unit(r)] = Σ_m src[m·ld + r] over the active columns (all `cols` without a list). */
function columnSums(src: Tensor, rows: number, cols: number, ld: number, active: Tensor | null, out: Tensor): void {
  launch(BERT_KERNELS.ffnColsum, {
    tensors: { src, units: active, out },
    uniforms: { params: { rows, cols, ld, count: active ? 1 : 0, scatter: active ? 1 : 0 } },
    workgroups: [Math.ceil(cols / 64)],
  });
}

const maskedFfnOp = defineOp<Attrs, Saved>({
  name: 'masked_ffn',
  forward(inputs, { M, H, I, hasZ }) {
    const [x, w1, b1, w2, b2] = inputs as [Tensor, Tensor, Tensor, Tensor, Tensor];
    const z = hasZ ? inputs[5]! : null;
    let active: Tensor | null = null;
    if (z) {
      active = Tensor.empty([1 + I], 'u32', 'ffn_active#');
      launch(BERT_KERNELS.ffnCompact, { tensors: { z, units: active }, uniforms: { params: { n: I } }, workgroups: [1] });
    }
    const listed = !!active;
    const W = compactWidth(I);
    const pre = Tensor.empty([M, W], 'f32', 'ffn_pre#');
    const act = Tensor.empty([M, W], 'f32', 'ffn_act#');
    const compact = gatherWeights(w1, w2, active, H, I);
    const compactB = !!compact;
    // pre = x·w1[active]ᵀ + b1[active], act = gelu(pre) ⊙ z[active]: [M, count].
    gemm({ M, N: I, K: H, lda: H, ldb: H, ldc: W, a: x, b: compact?.w1 ?? w1, transB: true, gatherN: listed, compactB, count: listed ? COUNT_N : 0, epilogue: 1, bias: b1, z, c: pre, c2: act, active });
    // out = act·w2[:, active]ᵀ + b2: K = count.
    const out = Tensor.empty(x.shape, 'f32', 'masked_ffn#');
    gemm({ M, N: H, K: I, lda: W, ldb: compact ? W : I, ldc: H, a: act, b: compact?.w2 ?? w2, transB: true, gatherK: listed, compactB, count: listed ? COUNT_K : 0, bias: b2, c: out, active });
    return { output: out, saved: { pre, act, active, compact } };
  },
  backward({ inputs, attrs: { M, H, I, hasZ }, saved: { pre, act, active, compact } }, g) {
    const [x, w1, b1, w2, b2] = inputs as [Tensor, Tensor, Tensor, Tensor, Tensor];
    const z = hasZ ? inputs[5]! : null;
    const listed = !!active;
    const W = pre.shape[1]!;
    const needDpre = x.requiresGrad || w1.requiresGrad || b1.requiresGrad;
    const needT = !!z?.requiresGrad;
    let dx: Tensor | null = null;
    let dw1: Tensor | null = null;
    let db1: Tensor | null = null;
    let dw2: Tensor | null = null;
    let db2: Tensor | null = null;
    let dz: Tensor | null = null;
    // Units with z = 0 get zero gradients (w1 rows, b1, w2 columns, z): outputs that are
    // scattered through the list start from zero.
    const scattered = (shape: number[]) => (listed ? zeros(shape) : Tensor.empty(shape));

    if (w2.requiresGrad) {
      // dw2[:, active] = gᵀ·act: [H, count], scattered to columns.
      dw2 = scattered([H, I]);
      gemm({ M: H, N: I, K: M, lda: H, ldb: W, ldc: I, a: g, b: act, transA: true, scatterN: listed, count: listed ? COUNT_N : 0, c: dw2, active });
    }
    if (b2.requiresGrad) {
      db2 = Tensor.empty([H]);
      columnSums(g, M, H, H, null, db2);
    }
    if (needDpre || needT) {
      // da = g·w2[:, active]: [M, count]; dpre = da ⊙ z ⊙ gelu'(pre); t = da ⊙ gelu(pre) for dz.
      const dpre = Tensor.empty([M, W], 'f32', 'ffn_dpre#');
      const t = needT ? Tensor.empty([M, W], 'f32', 'ffn_dz_terms#') : null;
      gemm({ M, N: I, K: H, lda: H, ldb: compact ? W : I, ldc: W, a: g, b: compact?.w2 ?? w2, gatherN: listed, compactB: !!compact, count: listed ? COUNT_N : 0, epilogue: 2, z, aux: pre, c: dpre, c2: t, active });
      if (x.requiresGrad) {
        // dx = dpre·w1[active]: K = count.
        dx = Tensor.empty(x.shape);
        gemm({ M, N: H, K: I, lda: W, ldb: H, ldc: H, a: dpre, b: compact?.w1 ?? w1, gatherK: listed, compactB: !!compact, count: listed ? COUNT_K : 0, c: dx, active });
      }
      if (w1.requiresGrad) {
        // dw1[active] = dpreᵀ·x: [count, H], scattered to rows.
        dw1 = scattered([I, H]);
        gemm({ M: I, N: H, K: M, lda: W, ldb: H, ldc: H, a: dpre, b: x, transA: true, scatterM: listed, count: listed ? COUNT_M : 0, c: dw1, active });
      }
      if (b1.requiresGrad) {
        db1 = scattered([I]);
        columnSums(dpre, M, I, W, active, db1);
      }
      if (t) {
        // dz = Σ_rows da ⊙ gelu(pre) at active units, 0 at z = 0 (see maskedFfn).
        dz = zeros([I]);
        columnSums(t, M, I, W, active, dz);
        t.dispose();
      }
      dpre.dispose();
    }
    const grads = [dx, dw1, db1, dw2, db2];
    if (z) grads.push(dz);
    return grads;
  },
});

/**
 * (gelu(x·w1ᵀ + b1) ⊙ z)·w2ᵀ + b2, GELU in erf form (as E.gelu), with units whose z is exactly 0
 * skipped by the GEMMs. Without z it is the plain dense FFN.
 *
 * Gradients flow to x, w1, b1, w2, b2 and z (those that require one). Units with z = 0 get zero
 * gradients for their w1 row, b1 entry, w2 column (as the unfused product gives) and for z itself
 * (where the unfused product gives Σ dO·w2 ⊙ gelu(pre)): z = 0 is where a hard-concrete sample is
 * clamped, whose derivative with respect to log_alpha is 0, so the value never reaches a parameter.
 * Shapes: x [..., H], w1 [I, H], b1 [I], w2 [H, I], b2 [H], z [I] → [..., H].
 * @throws Error when shapes disagree or a tensor is not f32
 */
export function maskedFfn(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, z: Tensor | null): Tensor {
  if (x.dtype === 'f16') return ffnF16(x, w1, b1, w2, b2, z); // f16 inference (models/ops/f16_inference.ts)
  const fail = (why: string) => new Error(`maskedFfn: ${why}`);
  for (const t of [x, w1, b1, w2, b2, ...(z ? [z] : [])]) {
    if (t.dtype !== 'f32') throw fail(`${t.label} is ${t.dtype}, expected f32`);
  }
  if (x.shape.length < 1) throw fail(`x ${x.label} is a scalar`);
  const H = x.shape[x.shape.length - 1]!;
  if (w1.shape.length !== 2 || w1.shape[1] !== H) throw fail(`w1 ${w1.label} ${shapeString(w1.shape)} is not [I, ${H}]`);
  const I = w1.shape[0]!;
  const expect = (t: Tensor, shape: number[], what: string) => {
    if (t.shape.length !== shape.length || t.shape.some((n, i) => n !== shape[i])) throw fail(`${what} ${t.label} ${shapeString(t.shape)} is not ${shapeString(shape)}`);
  };
  expect(b1, [I], 'b1');
  expect(w2, [H, I], 'w2');
  expect(b2, [H], 'b2');
  if (z) expect(z, [I], 'z');
  const inputs = z ? [x, w1, b1, w2, b2, z] : [x, w1, b1, w2, b2];
  return maskedFfnOp(inputs, { M: x.size / Math.max(H, 1), H, I, hasZ: !!z });
}
