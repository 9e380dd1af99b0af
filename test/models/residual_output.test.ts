import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { residualOutput } from '../../models/ops/residual_output.ts';
import { AWKWARD, checkOp, describeEachDeviceClass } from '../helpers.ts';
import { NDArray } from '../reference/ndarray.ts';

/** float64 reference: out + x where Σ|out| = 0, else ln ⊙ hz (ln without hz). */
function reference(ln: NDArray, out: NDArray, x: NDArray, hz: NDArray | undefined, outScale: number): NDArray {
  const o = out.data.map((v) => v * outScale);
  const passing = o.every((v) => v === 0);
  const H = ln.shape[ln.shape.length - 1]!;
  const y = ln.data.map((v, i) => (passing ? o[i]! + x.data[i]! : v * (hz ? hz.data[i % H]! : 1)));
  return new NDArray(y, ln.shape);
}

describeEachDeviceClass('residualOutput: the fused masked residual output (float64 reference, finite-difference gradients) @gpu', () => {
  // outScale 0 makes the sub-layer output all zero: the pass-through branch (its layer's z is 0).
  for (const outScale of [1, 0]) {
    for (const withHz of [true, false]) {
      for (const [rows, H] of [[1, 1], [7, 33], [3, 129], [129, 7]] as const) {
        const shape = [rows, H];
        const branch = outScale === 0 ? 'pass-through' : 'ln ⊙ hz';
        it(`${branch}, ${withHz ? 'with' : 'without'} hz, [${rows}, ${H}]`, async () => {
          await checkOp({
            name: `residualOutput ${branch} hz=${withHz}`,
            shapes: withHz ? [shape, shape, shape, [H]] : [shape, shape, shape],
            gpu: ([ln, out, x, hz]) => residualOutput(ln!, outScale === 1 ? out! : E.scale(out!, 0), x!, hz),
            ref: ([ln, out, x, hz]) => reference(ln!, out!, x!, hz, outScale),
            absScale: true,
          });
        });
      }
    }
  }

  it(`takes leading batch dimensions: [2, ${AWKWARD[1]}, ${AWKWARD[2]}]`, async () => {
    const shape = [2, AWKWARD[1], AWKWARD[2]];
    await checkOp({
      name: 'residualOutput rank 3',
      shapes: [shape, shape, shape, [AWKWARD[2]]],
      gpu: ([ln, out, x, hz]) => residualOutput(ln!, out!, x!, hz),
      ref: ([ln, out, x, hz]) => reference(ln!, out!, x!, hz, 1),
      absScale: true,
    });
  });

  it('names the shapes when they disagree', () => {
    E.tidy(() => {
      const a = E.zeros([2, 3]);
      expect(() => residualOutput(a, E.zeros([2, 4]), a, undefined)).to.throw(/out \[2, ?4\]/);
      expect(() => residualOutput(a, a, a, E.zeros([4]))).to.throw(/hz \(\[4\]\) be \[3\]/);
    });
  });
});
