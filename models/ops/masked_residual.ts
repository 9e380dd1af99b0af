/**
 * BERT's post-LN residual under CoFi's masks, LN(dropout(out ⊙ hz) + x) ⊙ hz, or out + x where out
 * is all zero (its layer's z is 0: CoFi passes x through unnormalised), as two fused elementwise
 * ops around the engine's layer norm, each one kernel forward and one backward:
 *
 *   residualInput:   dropout(out ⊙ hz) + x                     (residual_input.wgsl)
 *   residualOutput:  out + x if Σ|out| = 0, else ln ⊙ hz        (residual_output.wgsl)
 *
 * Composed from engine ops these were mul, dropout, add before the layer norm and mul, abs, sum,
 * fill, eq, add, where after it, with as many dispatches again backward; fused they are one kernel
 * before and abs, sum and one kernel after, one kernel plus a row sum (hz's gradient) each backward.
 * On lavapipe the elementwise passes over the activations, not the launches, are most of the saving.
 * f16 tensors (inference) take the composed engine ops, which have f16 routes.
 */
import { abs, add, defineOp, dropout, eq, getEngine, grid1d, launch, mul, noGrad, shapeString, sum, sumTo, Tensor, where, zeros } from '../../engine/index.ts';
import { BERT_KERNELS } from '../kernels/index.ts';

interface Saved {
  /** One element: Σ|out| (0 selects the pass-through). */
  absSum: Tensor;
}

const residualOutputOp = defineOp<{ hasHz: boolean }, Saved>({
  name: 'residual_output',
  forward([ln, out, x, hz], { hasHz }) {
    const absSum = noGrad(() => sum(abs(out!)));
    const y = Tensor.empty(ln!.shape, 'f32', 'residual_output#');
    launch(BERT_KERNELS.residualOutput, {
      constants: { HAS_HZ: hasHz ? 1 : 0 },
      tensors: { ln: ln!, hz: hasHz ? hz! : null, sub_out: out!, x: x!, abs_sum: absSum, y },
      uniforms: { params: { n: y.size, width: hasHz ? hz!.size : 1 } },
      workgroups: grid1d(y.size, 64),
    });
    return { output: y, saved: { absSum } };
  },
  backward({ inputs: [ln, , , hz], attrs: { hasHz }, saved: { absSum } }, g) {
    const gLn = Tensor.empty(ln!.shape, 'f32', 'residual_output.d_ln#');
    const gPass = Tensor.empty(ln!.shape, 'f32', 'residual_output.d_pass#');
    // Without hz the kernel never writes g_prod; one element stands in for the binding.
    const gProd = Tensor.empty(hasHz ? ln!.shape : [1], 'f32', 'residual_output.d_prod#');
    launch(BERT_KERNELS.residualOutputBackward, {
      constants: { HAS_HZ: hasHz ? 1 : 0 },
      tensors: { g, ln: ln!, hz: hasHz ? hz! : null, abs_sum: absSum, g_ln: gLn, g_pass: gPass, g_prod: gProd },
      uniforms: { params: { n: g.size, width: hasHz ? hz!.size : 1 } },
      workgroups: grid1d(g.size, 64),
    });
    const gHz = hasHz && hz!.requiresGrad ? sumTo(gProd, hz!.shape) : null;
    if (gHz !== gProd) gProd.dispose();
    return hasHz ? [gLn, gPass, gPass, gHz] : [gLn, gPass, gPass];
  },
});

/**
 * The residual's output: out + x where out is all zero, else ln ⊙ hz (ln without hz).
 * @param ln [..., H] the layer norm's output
 * @param out [..., H] the sub-layer's output (attention or FFN), before hz and dropout
 * @param x [..., H] the residual input
 * @param hz [H] hidden_z, or undefined
 * @returns [..., H]
 * @throws Error naming the shapes when ln, out and x differ or hz is not [H]
 */
export function residualOutput(ln: Tensor, out: Tensor, x: Tensor, hz: Tensor | undefined): Tensor {
  checkShapes('residualOutput', { ln, out, x }, hz);
  if ([ln, out, x].some((t) => t.dtype !== 'f32')) {
    // f16 inference (models/ops/f16_inference.ts): the engine ops' f16 routes, composed.
    const h = hz ? mul(ln, hz) : ln;
    return where(eq(sum(abs(out)), zeros([])), add(out, x), h);
  }
  return residualOutputOp(hz ? [ln, out, x, hz] : [ln, out, x], { hasHz: !!hz });
}

/** @throws Error naming every shape unless the tensors match and hz is [H] (H: their last dim) */
function checkShapes(op: string, tensors: Record<string, Tensor>, hz: Tensor | undefined): void {
  const [first, ...rest] = Object.values(tensors) as [Tensor, ...Tensor[]];
  const same = (t: Tensor) => t.shape.length === first.shape.length && t.shape.every((d, i) => d === first.shape[i]);
  const H = first.shape[first.shape.length - 1]!;
  if (rest.every(same) && (!hz || (hz.shape.length === 1 && hz.shape[0] === H))) return;
  const names = Object.entries(tensors).map(([k, t]) => `${k} ${shapeString(t.shape)}`).join(', ');
  throw new Error(`${op}: ${names} must match and hz (${hz ? shapeString(hz.shape) : 'none'}) be [${H}]`);
}

interface InputAttrs {
  hasHz: boolean;
  p: number;
  key: [number, number];
}

function residualInputParams(n: number, hz: Tensor | undefined, { p, key }: InputAttrs) {
  return { n, width: hz ? hz.size : 1, p, scale: 1 / (1 - p), key: [...key] };
}

const residualInputOp = defineOp<InputAttrs>({
  name: 'residual_input',
  forward([out, x, hz], attrs) {
    const y = Tensor.empty(out!.shape, 'f32', 'residual_input#');
    launch(BERT_KERNELS.residualInput, {
      constants: { HAS_HZ: attrs.hasHz ? 1 : 0 },
      tensors: { sub_out: out!, hz: attrs.hasHz ? hz! : null, x: x!, y },
      uniforms: { params: residualInputParams(y.size, hz, attrs) },
      workgroups: grid1d(Math.ceil(y.size / 4), 64),
    });
    return { output: y, saved: undefined };
  },
  // The dropout mask is regenerated from the same key, as engine/ops/dropout.ts does.
  backward({ inputs: [out, , hz], attrs }, g) {
    const gOut = Tensor.empty(out!.shape, 'f32', 'residual_input.d_out#');
    // Without hz the kernel never writes g_prod; one element stands in for the binding.
    const gProd = Tensor.empty(attrs.hasHz ? out!.shape : [1], 'f32', 'residual_input.d_prod#');
    launch(BERT_KERNELS.residualInputBackward, {
      constants: { HAS_HZ: attrs.hasHz ? 1 : 0 },
      tensors: { g, sub_out: out!, hz: attrs.hasHz ? hz! : null, g_out: gOut, g_prod: gProd },
      uniforms: { params: residualInputParams(g.size, hz, attrs) },
      workgroups: grid1d(Math.ceil(g.size / 4), 64),
    });
    const gHz = attrs.hasHz && hz!.requiresGrad ? sumTo(gProd, hz!.shape) : null;
    if (gHz !== gProd) gProd.dispose();
    return attrs.hasHz ? [gOut, g, gHz] : [gOut, g];
  },
});

/**
 * The residual's input dropout(out ⊙ hz) + x, with engine/ops/dropout.ts's mask for the same key
 * (inverted dropout, Srivastava et al. 2014).
 * @param out [..., H] the sub-layer's output (attention or FFN)
 * @param x [..., H] the residual input
 * @param hz [H] hidden_z, or undefined
 * @param p dropout probability in [0, 1); 0 or training = false: no dropout
 * @param key fixes the dropout mask (tests); default: next key of the engine's random stream
 * @returns [..., H]
 * @throws Error naming the shapes when out and x differ or hz is not [H], or when p is outside [0, 1)
 */
export function residualInput(out: Tensor, x: Tensor, hz: Tensor | undefined, p: number, training: boolean, key?: [number, number]): Tensor {
  checkShapes('residualInput', { out, x }, hz);
  if (!(p >= 0 && p < 1)) throw new Error(`residualInput: dropout p = ${p} is outside [0, 1)`);
  const q = training ? p : 0;
  if (out.dtype !== 'f32' || x.dtype !== 'f32') {
    // f16 inference (models/ops/f16_inference.ts): the engine ops' f16 routes, composed.
    return add(dropout(hz ? mul(out, hz) : out, q, q > 0, key), x);
  }
  const attrs = { hasHz: !!hz, p: q, key: key ?? (q > 0 ? getEngine().nextRandomKey() : ([0, 0] as [number, number])) };
  return residualInputOp(hz ? [out, x, hz] : [out, x], attrs);
}
