import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { HostRandom } from '../../engine/random.ts';
import { maskedLinear } from '../../pruning/element/masked_linear.ts';
import { TOPK_MAX_ELEMENTS, topKMask } from '../../pruning/element/topk.ts';
import { AWKWARD, checkOp, expectClose, freshSeed, randomArray, toTensor, useTestEngine } from '../helpers.ts';
import { NDArray } from '../reference/ndarray.ts';

/** float64 x·(w ⊙ m)ᵀ + b over the last axis of x. */
function maskedLinearRef(x: NDArray, w: NDArray, m: NDArray, b?: NDArray): NDArray {
  const [out, inF] = w.shape as [number, number];
  const rows = x.size / inF;
  const y = NDArray.zeros([...x.shape.slice(0, -1), out]);
  for (let r = 0; r < rows; r++) {
    for (let o = 0; o < out; o++) {
      let s = b ? b.data[o]! : 0;
      for (let i = 0; i < inF; i++) s += x.data[r * inF + i]! * w.data[o * inF + i]! * m.data[o * inF + i]!;
      y.data[r * out + o] = s;
    }
  }
  return y;
}

/** A mask with exact zeros, soft values and ones (as hard-concrete samples are). */
function mixedMask(rng: HostRandom, shape: number[]): NDArray {
  return NDArray.from(
    Array.from({ length: shape[0]! * shape[1]! }, () => {
      const u = rng.uniform();
      return u < 0.35 ? 0 : u < 0.7 ? 1 : Math.fround(rng.uniform());
    }),
    shape,
  );
}

describe('masked linear (element-wise pruning GEMM) @gpu', () => {
  before(useTestEngine);

  it('matches the float64 reference forward, and finite differences for x, W, mask and bias, at awkward sizes', async () => {
    for (const [rows, inF, out] of [[1, 7, 33], [7, 33, 1], [33, 1, 7], [2, 7, 7], [5, 33, 33]] as const) {
      await checkOp({
        name: `maskedLinear rows=${rows} in=${inF} out=${out}`,
        shapes: [[rows, inF], [out, inF], [out, inF], [out]],
        range: [[-1, 1], [-1, 1], [0, 1], [-0.5, 0.5]],
        gpu: ([x, w, m, b]) => maskedLinear(x!, w!, m!, b!),
        ref: ([x, w, m, b]) => maskedLinearRef(x!, w!, m!, b!),
      });
    }
    // Stacked rows [B, S, in], no bias.
    await checkOp({ name: 'maskedLinear [2, 3, 7] no bias', shapes: [[2, 3, 7], [33, 7], [33, 7]], gpu: ([x, w, m]) => maskedLinear(x!, w!, m!), ref: ([x, w, m]) => maskedLinearRef(x!, w!, m!) });
  });

  it('equals x·(W ⊙ M)ᵀ + b of the engine ops at 129 (forward and every gradient), with 0/1 and soft masks', async () => {
    for (const [rows, inF, out] of [[129, 129, 33], [7, 129, 129], [129, 1, 129]] as const) {
      const seed = freshSeed();
      const rng = new HostRandom(seed);
      const ctx = `rows=${rows} in=${inF} out=${out} seed=${seed}`;
      const arrays = [randomArray(rng, [rows, inF]), randomArray(rng, [out, inF]), mixedMask(rng, [out, inF]), randomArray(rng, [out], -0.5, 0.5)];
      const upstream = toTensor(randomArray(rng, [rows, out]));
      const run = async (fused: boolean) => {
        const leaves = arrays.map((a) => toTensor(a, true));
        const [x, w, m, b] = leaves as [E.Tensor, E.Tensor, E.Tensor, E.Tensor];
        const y = E.tidy(() => {
          const out = fused ? maskedLinear(x, w, m, b) : E.matmul(x, E.mul(w, m), { transB: true, bias: b });
          E.backward(out, upstream);
          return out;
        });
        const result = { y: await y.read(), grads: await Promise.all(leaves.map((t) => t.grad!.read())) };
        for (const t of [...leaves, y]) t.dispose();
        return result;
      };
      const fused = await run(true);
      const ref = await run(false);
      expectClose(fused.y, ref.y, 1e-5, `${ctx} forward`);
      ['dx', 'dW', 'dM', 'db'].forEach((n, i) => expectClose(fused.grads[i]!, ref.grads[i]!, 1e-5, `${ctx} ${n}`));
      upstream.dispose();
    }
  });

  it('computes only the gradients required (a fixed mask takes none)', async () => {
    const seed = freshSeed();
    const rng = new HostRandom(seed);
    const x = toTensor(randomArray(rng, [7, 33]), true);
    const w = toTensor(randomArray(rng, [5, 33]), true);
    const m = toTensor(mixedMask(rng, [5, 33]));
    const y = E.tidy(() => {
      const out = maskedLinear(x, w, m);
      E.backward(out, E.ones([7, 5]));
      return out;
    });
    expect(m.grad, `seed=${seed}`).to.equal(null);
    // Weights under a zero mask get exactly zero gradient.
    const [dw, mask] = [await w.grad!.read(), await m.read()];
    mask.forEach((v, i) => v === 0 && expect(dw[i], `dW[${i}] under mask 0, seed=${seed}`).to.equal(0));
    for (const t of [x, w, m, y]) t.dispose();
  });

  it('rejects shapes that do not fit, naming them', () => {
    const x = E.zeros([2, 4], 'f32', 'x');
    expect(() => maskedLinear(x, E.zeros([3, 5], 'f32', 'w'), E.zeros([3, 5]))).to.throw(/x x \[2, 4\] does not end in in = 5/);
    expect(() => maskedLinear(x, E.zeros([3, 4]), E.zeros([4, 3], 'f32', 'm'))).to.throw(/mask m \[4, 3\] is not the weight's \[3, 4\]/);
    expect(() => maskedLinear(x, E.zeros([3, 4]), E.zeros([3, 4]), E.zeros([4], 'f32', 'b'))).to.throw(/bias b \[4\] is not \[3\]/);
  });
});

/** The k largest by (score desc, index asc): the reference top-k. */
function topKRef(scores: ArrayLike<number>, k: number): Float64Array {
  const order = [...Array(scores.length).keys()].sort((a, b) => scores[b]! - scores[a]! || a - b);
  const out = new Float64Array(scores.length);
  for (let i = 0; i < k; i++) out[order[i]!] = 1;
  return out;
}

describe('exact top-k mask (movement pruning) @gpu', () => {
  before(useTestEngine);

  it('selects exactly the k largest scores, ties to the lower index, at awkward sizes and every kind of k', async () => {
    for (const n of [...AWKWARD, 33 * 129, 300_001]) {
      const seed = freshSeed();
      const rng = new HostRandom(seed);
      // Continuous scores, then heavily tied ones (a few values, ±0 among them).
      for (const tied of [false, true]) {
        const data = Float32Array.from({ length: n }, () => (tied ? [-1, -0, 0, 0.5, 2][rng.int(5)]! : (rng.uniform() - 0.5) * 10 ** (6 * rng.uniform() - 3)));
        const scores = E.tensor(data, [n]);
        for (const k of new Set([0, 1, n, Math.max(0, n - 1), rng.int(n + 1), Math.floor(n / 2)])) {
          const mask = await E.tidy(() => topKMask(scores, k)).read();
          const want = topKRef(data, k);
          const ctx = `n=${n} k=${k} tied=${tied} seed=${seed}`;
          expect(Array.from(mask).reduce((a, v) => a + v, 0), `${ctx}: count`).to.equal(k);
          for (let i = 0; i < n; i++) if (mask[i] !== want[i]) expect.fail(`${ctx}: element ${i} (score ${data[i]}) is ${mask[i]}, want ${want[i]}`);
        }
        scores.dispose();
      }
    }
  });

  it('passes the gradient straight through to the scores', async () => {
    const seed = freshSeed();
    const rng = new HostRandom(seed);
    const s = toTensor(randomArray(rng, [7, 33]), true);
    const up = randomArray(rng, [7, 33]);
    E.tidy(() => E.backward(topKMask(s, 100), toTensor(up)));
    expectClose(await s.grad!.read(), up.data, 1e-12, `seed=${seed}`);
    s.dispose();
  });

  it('rejects a k outside [0, n] and too many elements', () => {
    const s = E.zeros([3, 4], 'f32', 'scores');
    expect(() => topKMask(s, 13)).to.throw(/k = 13 must be an integer in \[0, 12\] for scores scores \[3, 4\]/);
    expect(() => topKMask(s, 1.5)).to.throw(/k = 1.5/);
    expect(TOPK_MAX_ELEMENTS).to.equal(2 ** 24);
  });
});
