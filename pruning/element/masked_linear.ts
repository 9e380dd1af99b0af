/**
 * A Linear whose weight is masked element-wise, y = x·(W ⊙ M)ᵀ + b, the one product of
 * element-wise pruning (L0 gates per weight, Louizos, Welling, Kingma 2018; movement pruning,
 * Sanh, Wolf, Rush 2020). The mask is applied as the weight is staged into workgroup memory
 * (pruning/kernels/masked_gemm.wgsl), so W ⊙ M is never materialised: no extra pass over the
 * weight, forward or backward.
 *
 * Gradients, with G = dyᵀ·x the gradient of the masked weight W ⊙ M:
 *   dx = dy·(W ⊙ M)        (the mask again folded into the operand load)
 *   dW = G ⊙ M,  dM = G ⊙ W (one GEMM, both written by its epilogue)
 *   db = Σ_rows dy
 * dM is what the mask's producer needs: the hard-concrete sample's backward (L0) or the
 * straight-through scores of movement pruning (∂L/∂S = ∂L/∂M).
 */
import * as E from '../../engine/index.ts';
import { Tensor, defineOp, launch, shapeString } from '../../engine/index.ts';
import { PRUNING_KERNELS } from '../kernels/index.ts';

interface Gemm {
  M: number;
  N: number;
  K: number;
  a: Tensor;
  b: Tensor;
  transA?: boolean;
  transB?: boolean;
  /** Multiplies b's loads (same layout as b) in epilogue 0; the output's factor in epilogue 1. */
  mask?: Tensor | null;
  w?: Tensor | null;
  bias?: Tensor | null;
  epilogue?: 0 | 1;
  c: Tensor | null;
  c2?: Tensor | null;
}

function gemm(g: Gemm): void {
  // Unused read_write outputs still need a buffer of their own (a writable binding cannot share
  // the read-only placeholder).
  const c = g.c ?? Tensor.empty([1], 'f32', 'masked_gemm_unused#');
  const c2 = g.c2 ?? Tensor.empty([1], 'f32', 'masked_gemm_unused#');
  launch(PRUNING_KERNELS.maskedGemm, {
    tensors: { a: g.a, b: g.b, mask: g.mask ?? null, w: g.w ?? null, bias: g.bias ?? null, c, c2 },
    uniforms: {
      params: {
        M: g.M,
        N: g.N,
        K: g.K,
        trans_a: g.transA ? 1 : 0,
        trans_b: g.transB ? 1 : 0,
        mask_b: (g.epilogue ?? 0) === 0 && g.mask ? 1 : 0,
        has_bias: g.bias ? 1 : 0,
        epilogue: g.epilogue ?? 0,
        write_c: g.c ? 1 : 0,
        write_c2: g.c2 ? 1 : 0,
      },
    },
    workgroups: [Math.ceil(g.N / 64), Math.ceil(g.M / 64)],
  });
  if (!g.c) c.dispose();
  if (!g.c2) c2.dispose();
}

interface Attrs {
  /** Rows (product of x's leading dimensions), output and input features. */
  rows: number;
  out: number;
  in: number;
  hasBias: boolean;
}

const maskedLinearOp = defineOp<Attrs>({
  name: 'masked_linear',
  forward(inputs, { rows, out, in: inF, hasBias }) {
    const [x, w, m] = inputs as [Tensor, Tensor, Tensor];
    const y = Tensor.empty([...x.shape.slice(0, -1), out], 'f32', 'masked_linear#');
    gemm({ M: rows, N: out, K: inF, a: x, b: w, transB: true, mask: m, bias: hasBias ? inputs[3]! : null, c: y });
    return { output: y, saved: undefined };
  },
  backward({ inputs, attrs: { rows, out, in: inF, hasBias } }, g) {
    const [x, w, m] = inputs as [Tensor, Tensor, Tensor];
    const bias = hasBias ? inputs[3]! : null;
    let dx: Tensor | null = null;
    if (x.requiresGrad) {
      dx = Tensor.empty(x.shape, 'f32', 'masked_linear_dx#');
      gemm({ M: rows, N: inF, K: out, a: g, b: w, mask: m, c: dx });
    }
    const dw = w.requiresGrad ? Tensor.empty(w.shape, 'f32', 'masked_linear_dw#') : null;
    const dm = m.requiresGrad ? Tensor.empty(m.shape, 'f32', 'masked_linear_dmask#') : null;
    if (dw || dm) gemm({ M: out, N: inF, K: rows, a: g, b: x, transA: true, mask: m, w, epilogue: 1, c: dw, c2: dm });
    const db = bias?.requiresGrad ? E.sumTo(g, bias.shape) : null;
    return hasBias ? [dx, dw, dm, db] : [dx, dw, dm];
  },
});

/**
 * x·(W ⊙ M)ᵀ + b with the mask folded into the GEMM's weight loads (see the module comment).
 * Shapes: x [..., in], W [out, in], M [out, in] (any values: 0/1 masks or hard-concrete samples),
 * b [out] → [..., out]. Gradients flow to every input that requires one.
 * @throws Error naming the tensor when shapes disagree or a tensor is not f32
 */
export function maskedLinear(x: Tensor, w: Tensor, mask: Tensor, bias?: Tensor | null): Tensor {
  const fail = (why: string) => new Error(`maskedLinear: ${why}`);
  for (const t of [x, w, mask, ...(bias ? [bias] : [])]) {
    if (t.dtype !== 'f32') throw fail(`${t.label} is ${t.dtype}, expected f32`);
  }
  if (w.shape.length !== 2) throw fail(`weight ${w.label} ${shapeString(w.shape)} is not [out, in]`);
  const [out, inF] = w.shape as [number, number];
  if (x.shape.length < 1 || x.shape[x.shape.length - 1] !== inF) throw fail(`x ${x.label} ${shapeString(x.shape)} does not end in in = ${inF} (weight ${shapeString(w.shape)})`);
  if (mask.shape.length !== 2 || mask.shape[0] !== out || mask.shape[1] !== inF) throw fail(`mask ${mask.label} ${shapeString(mask.shape)} is not the weight's ${shapeString(w.shape)}`);
  if (bias && (bias.shape.length !== 1 || bias.shape[0] !== out)) throw fail(`bias ${bias.label} ${shapeString(bias.shape)} is not [${out}]`);
  const rows = x.size / inF;
  return maskedLinearOp(bias ? [x, w, mask, bias] : [x, w, mask], { rows, out, in: inF, hasBias: !!bias });
}
