/**
 * The output of BERT's post-LN residual under CoFi's masks, fused into one elementwise kernel
 * (models/kernels/residual_output.wgsl) with a one-kernel backward:
 *
 *   y = out + x     when out is all zero (its layer's z is 0: CoFi passes x through unnormalised)
 *   y = ln ⊙ hz     otherwise
 *
 * where ln = LN(dropout(out ⊙ hz) + x) is the layer norm's output. Composed from engine ops this
 * was mul, abs, sum, fill, eq, add and where forward and about as many dispatches backward; fused
 * it is abs, sum and one kernel forward, one kernel and one row sum (the hz gradient) backward.
 */
import { abs, defineOp, grid1d, launch, noGrad, shapeString, sum, sumTo, Tensor } from '../../engine/index.ts';
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
  const same = (t: Tensor) => t.shape.length === ln.shape.length && t.shape.every((d, i) => d === ln.shape[i]);
  const H = ln.shape[ln.shape.length - 1]!;
  if (!same(out) || !same(x) || (hz && (hz.shape.length !== 1 || hz.shape[0] !== H))) {
    const hzShape = hz ? shapeString(hz.shape) : 'none';
    throw new Error(`residualOutput: ln ${shapeString(ln.shape)}, out ${shapeString(out.shape)}, x ${shapeString(x.shape)} must match and hz (${hzShape}) be [${H}]`);
  }
  return residualOutputOp(hz ? [ln, out, x, hz] : [ln, out, x], { hasHz: !!hz });
}
