import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { residualInput, residualOutput } from '../../models/ops/masked_residual.ts';
import { HostRandom } from '../../engine/random.ts';
import { AWKWARD, checkOp, describeEachDeviceClass, freshSeed } from '../helpers.ts';
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

/** engine/ops/dropout.ts's mask for this key (tested against its own reference): 0 or 1/(1 − p) per element. */
async function dropoutMask(shape: number[], p: number, key: [number, number]): Promise<Float64Array> {
  const m = E.dropout(E.full(shape, 1), p, true, key);
  const values = Float64Array.from(await m.read());
  m.dispose();
  return values;
}

describeEachDeviceClass('residualInput: the fused masked residual input (float64 reference, finite-difference gradients) @gpu', () => {
  for (const p of [0.1, 0.5, 0]) {
    for (const withHz of [true, false]) {
      for (const [rows, H] of [[1, 1], [7, 33], [3, 129], [129, 7]] as const) {
        it(`p = ${p}, ${withHz ? 'with' : 'without'} hz, [${rows}, ${H}]`, async () => {
          const shape = [rows, H];
          const seed = freshSeed();
          const rng = new HostRandom(seed);
          const key: [number, number] = [Math.floor(rng.uniform() * 2 ** 32), Math.floor(rng.uniform() * 2 ** 32)];
          const mask = p > 0 ? await dropoutMask(shape, p, key) : new Float64Array(rows * H).fill(1);
          await checkOp({
            name: `residualInput p=${p} hz=${withHz} key=${key} (key seed=${seed})`,
            shapes: withHz ? [shape, shape, [H]] : [shape, shape],
            gpu: ([out, x, hz]) => residualInput(out!, x!, hz, p, true, key),
            ref: ([out, x, hz]) => new NDArray(out!.data.map((v, i) => v * (hz ? hz.data[i % H]! : 1) * mask[i]! + x!.data[i]!), out!.shape),
            absScale: true,
          });
        });
      }
    }
  }

  it('is out ⊙ hz + x outside training, and consumes no random key', async () => {
    const shape = [2, AWKWARD[1], AWKWARD[2]];
    await checkOp({
      name: 'residualInput eval rank 3',
      shapes: [shape, shape, [AWKWARD[2]]],
      gpu: ([out, x, hz]) => residualInput(out!, x!, hz, 0.1, false),
      ref: ([out, x, hz]) => new NDArray(out!.data.map((v, i) => v * hz!.data[i % AWKWARD[2]]! + x!.data[i]!), out!.shape),
      absScale: true,
    });
  });

  it('rejects mismatched shapes and p outside [0, 1)', () => {
    E.tidy(() => {
      const a = E.zeros([2, 3]);
      expect(() => residualInput(a, E.zeros([3, 3]), undefined, 0.1, true)).to.throw(/x \[3, ?3\]/);
      expect(() => residualInput(a, a, undefined, 1, true)).to.throw(/p = 1/);
    });
  });
});
