import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { K } from '../../engine/kernels/index.ts';
import { HostRandom } from '../../engine/random.ts';
import { f16BitsToF32, f32ToF16Bits } from '../../models/io/half.ts';
import { F16_TINY, U16, U32, expectWithinBounds, f16Tensor, randomF16 } from '../f16_helpers.ts';
import { AWKWARD, freshSeed, randomArray, useTestEngine } from '../helpers.ts';
import { layerNormRef } from '../reference/nn.ts';
import { NDArray, gelu64, matmulRef } from '../reference/ndarray.ts';

// f16 inference kernels against float64 references computed on the same f16 inputs. Every bound is
// one f16 rounding of the result as WGSL allows it (U16·|ref|, U16 = 2^-10: either neighbour) plus
// the f32 arithmetic's error on the problem's conditioning (Σ|terms| for sums), plus F16_TINY for
// results in f16's subnormal range.
describe('f16 inference ops @gpu', () => {
  before(useTestEngine);

  it('cast rounds f32 to an adjacent f16 (WGSL: either neighbour; lavapipe: the nearest, ties to even) and widens exactly', async () => {
    const seed = freshSeed();
    const rng = new HostRandom(seed);
    let nearest = 0;
    let total = 0;
    for (const n of AWKWARD) {
      total += n;
      // Magnitudes from 2^-14 (f16's smallest normal) to 2^15, both signs.
      const x = Float32Array.from({ length: n }, () => (rng.uniform() < 0.5 ? -1 : 1) * 2 ** (-14 + 29 * rng.uniform()));
      const h = E.cast(E.tensor(x), 'f16');
      const back = await h.read();
      const wide = await E.cast(h, 'f32').read();
      for (let i = 0; i < n; i++) {
        const bits = f32ToF16Bits(x[i]!);
        // The other neighbour: the next f16 in magnitude on x's side of the nearest (bit patterns of
        // one sign are ordered by magnitude).
        const other = f16BitsToF32(Math.abs(x[i]!) > Math.abs(f16BitsToF32(bits)) ? bits + 1 : bits - 1);
        expect([f16BitsToF32(bits), other], `cast of ${x[i]} (n=${n} seed=${seed})`).to.include(back[i]);
        if (back[i] === f16BitsToF32(bits)) nearest++;
        expect(wide[i], `widening (n=${n} seed=${seed})`).to.equal(back[i]);
      }
      expect(h.bytes, 'f16 storage is 2 bytes per element, rounded up to a word').to.equal(Math.max(4, Math.ceil(n / 2) * 4));
    }
    if (nearest < total) console.log(`      note: ${total - nearest} of ${total} casts rounded to the farther neighbour (allowed by WGSL; not round-to-nearest)`);
  });

  it('fresh f16 outputs are poisoned with NaN', async () => {
    const t = E.Tensor.empty([7], 'f16');
    expect([...(await t.read())].every(Number.isNaN)).to.equal(true);
    t.dispose();
  });

  it('GEMM: f16 operands, f32 accumulation, fused bias and GELU/tanh, at awkward sizes', async () => {
    const seed = freshSeed();
    const rng = new HostRandom(seed);
    const act = { none: (v: number) => v, gelu: gelu64, tanh: Math.tanh };
    // Each case is one pipeline (transposes, bias and activation are override constants).
    const cases = [
      { transA: false, transB: true, bias: true, activation: 'none' as const },
      { transA: false, transB: false, bias: false, activation: 'gelu' as const },
      { transA: true, transB: false, bias: true, activation: 'tanh' as const },
    ];
    const sizes = [[1, 7, 33], [7, 129, 1], [33, 1, 129], [129, 33, 7]] as const;
    for (const c of cases) {
      for (const [M, Kd, N] of sizes) {
        const a = randomF16(rng, c.transA ? [Kd, M] : [M, Kd]);
        const b = randomF16(rng, c.transB ? [N, Kd] : [Kd, N]);
        const bias = c.bias ? randomArray(rng, [N]) : undefined;
        const out = E.tidy(() => E.matmul(f16Tensor(a), f16Tensor(b), { transA: c.transA, transB: c.transB, bias: bias && E.tensor(Float32Array.from(bias.data)) }));
        // E.matmul takes no activation: the fused epilogue (activation before rounding) is matmulF16's.
        const direct = E.tidy(() => E.matmulF16(f16Tensor(a), f16Tensor(b), { transA: c.transA, transB: c.transB, bias: bias && E.tensor(Float32Array.from(bias.data)), activation: c.activation }));
        const pre = matmulRef(a, b, c.transA, c.transB, bias);
        const absTerms = matmulRef(a.map(Math.abs), b.map(Math.abs), c.transA, c.transB, bias?.map(Math.abs));
        const ref = pre.data.map(act[c.activation]);
        // f32 accumulation: |Δpre| ≤ (K + 1)·U32·Σ|a b| (+|bias|); GELU and tanh have slope ≤ 1.13 and
        // their f32 evaluation errs by ≤ 1e-6·(1 + |pre|); the result is rounded to f16 once.
        const bound = ref.map((r, i) => U16 * Math.abs(r) + 1.13 * (Kd + 2) * U32 * absTerms.data[i]! + (c.activation === 'none' ? 0 : 1e-6 * (1 + Math.abs(pre.data[i]!))) + F16_TINY);
        const context = `matmul f16 ${JSON.stringify(c)} M=${M} K=${Kd} N=${N} seed=${seed}`;
        expectWithinBounds(await direct.read(), ref, bound, `${context} (fused)`);
        expectWithinBounds(await out.read(), pre.data, pre.data.map((r, i) => U16 * Math.abs(r) + (Kd + 2) * U32 * absTerms.data[i]! + F16_TINY), context);
        for (const t of [out, direct]) t.dispose();
      }
    }
  });

  it('GEMM: a stacked f16 activation times a 2-D weight, and batched operands', async () => {
    const seed = freshSeed();
    const rng = new HostRandom(seed);
    const a = randomF16(rng, [3, 7, 33]);
    const w = randomF16(rng, [5, 33]);
    const b = randomF16(rng, [3, 33, 5]);
    for (const [name, bOp, transB] of [['linear', w, true], ['batched', b, false]] as const) {
      const out = E.tidy(() => E.matmul(f16Tensor(a), f16Tensor(bOp), { transB }));
      expect(out.shape).to.deep.equal([3, 7, 5]);
      const ref = matmulRef(a, bOp, false, transB);
      const absTerms = matmulRef(a.map(Math.abs), bOp.map(Math.abs), false, transB);
      expectWithinBounds(await out.read(), ref.data, ref.data.map((r, i) => U16 * Math.abs(r) + 35 * U32 * absTerms.data[i]! + F16_TINY), `matmul f16 ${name} seed=${seed}`);
      out.dispose();
    }
  });

  it('layer norm: f32 statistics of f16 rows, at awkward sizes', async () => {
    const seed = freshSeed();
    const rng = new HostRandom(seed);
    for (const [rows, cols] of [[1, 129], [7, 33], [33, 7], [129, 1], [3, 768]] as const) {
      // An offset of 3 checks the mean is removed in f32 (f16 holds 3 ± 1 to 2^-10).
      const x = randomF16(rng, [rows, cols], 2, 4);
      const gamma = randomArray(rng, [cols], 0.5, 1.5);
      const beta = randomArray(rng, [cols]);
      const eps = 1e-12;
      const y = E.tidy(() => E.layerNorm(f16Tensor(x), E.tensor(Float32Array.from(gamma.data)), E.tensor(Float32Array.from(beta.data)), { eps }));
      const ref = layerNormRef(x, gamma, beta, eps);
      // Normalised values x̂ are O(1): f32 two-pass statistics err by ≲ (cols + 4)·U32 relative, in
      // x̂ by that times (1 + |x̂|) (σ's error scales x̂), then gamma·x̂ + beta in f32 and one f16 rounding.
      const bound = ref.data.map((r, i) => {
        const c = i % cols;
        const xhat = gamma.data[c] === 0 ? 0 : Math.abs((r - beta.data[c]!) / gamma.data[c]!);
        return U16 * Math.abs(r) + 2 * (cols + 6) * U32 * (Math.abs(gamma.data[c]!) * (1 + xhat) + Math.abs(beta.data[c]!)) + F16_TINY;
      });
      expectWithinBounds(await y.read(), ref.data, bound, `layerNorm f16 ${rows}×${cols} seed=${seed}`);
      y.dispose();
    }
  });

  it('add (broadcast over leading axes), GELU, tanh and embedding rows', async () => {
    const seed = freshSeed();
    const rng = new HostRandom(seed);
    for (const n of AWKWARD) {
      const a = randomF16(rng, [2, n, 3], -4, 4);
      const b = randomF16(rng, [n, 3], -4, 4);
      const sum = E.tidy(() => E.add(f16Tensor(a), f16Tensor(b)));
      const sumRef = a.data.map((v, i) => v + b.data[i % b.size]!);
      // The f32 sum of two f16 values errs by ≤ U32·|sum|, then one f16 rounding (of the rounded sum: U16·(1 + U32)).
      expectWithinBounds(await sum.read(), sumRef, sumRef.map((r) => (U16 + 2 * U32) * Math.abs(r) + F16_TINY), `add f16 n=${n} seed=${seed}`);
      for (const [name, f, ref] of [['gelu', E.gelu, gelu64], ['tanh', E.tanh, Math.tanh]] as const) {
        const y = E.tidy(() => f(f16Tensor(a)));
        const r = a.data.map(ref);
        expectWithinBounds(await y.read(), r, r.map((v, i) => U16 * Math.abs(v) + 1e-6 * (1 + Math.abs(a.data[i]!)) + F16_TINY), `${name} f16 n=${n} seed=${seed}`);
        y.dispose();
      }
      const table = randomF16(rng, [n + 2, 5]);
      const ids = Int32Array.from({ length: 2 * n }, () => rng.int(n + 2));
      const rows = E.tidy(() => E.embedding(f16Tensor(table), E.tensor(ids, [2, n], 'i32')));
      expect(rows.shape).to.deep.equal([2, n, 5]);
      const rowsRef = Float64Array.from({ length: 2 * n * 5 }, (_, i) => table.data[ids[Math.floor(i / 5)]! * 5 + (i % 5)]!);
      expect([...(await rows.read())], `embedding f16 n=${n} seed=${seed}`).to.deep.equal([...rowsRef]);
      for (const t of [sum, rows]) t.dispose();
    }
  });

  it('tensor() and full() make f16 tensors; shape ops (narrow) carry f16 through the templated copy kernel', async () => {
    const x = E.tensor([1, 2, 3, 4, 5, 6], [2, 3], 'f16');
    const col = E.narrow(x, 1, 1, 1);
    expect([...(await col.read())]).to.deep.equal([2, 5]);
    expect(col.dtype).to.equal('f16');
    const half = E.full([3], 1 / 3, 'f16');
    for (const v of await half.read()) expect(Math.abs(v - 1 / 3), 'full rounds to an adjacent f16').to.be.at.most((U16 / 3) * 1.0001);
    for (const t of [x, col, half]) t.dispose();
  });

  it('refuses f16 operands that want a gradient, mixed dtypes, and f16 kernels without shader-f16 (naming --dtype)', () => {
    const a = f16Tensor(NDArray.from([1, 2], [1, 2]));
    const w32 = E.tensor([1, 2], [1, 2]);
    expect(() => E.matmul(a, w32, { transB: true })).to.throw(/matmul \(f16\): .* is f32, expected f16/);
    expect(() => E.layerNorm(a, a, a, { eps: 1e-5 })).to.throw(/layerNorm \(f16\): .* is f16, expected f32/);
    a.requiresGrad = true;
    expect(() => E.gelu(a)).to.throw(/inference-only/);
    a.requiresGrad = false;
    const features = E.getEngine().gpu.features as Set<string>;
    features.delete('shader-f16');
    try {
      // A template value no kernel uses makes a new cache entry, so the check runs again.
      expect(() => E.getEngine().kernel(K.castF16, { FROM: 'f32', TO: 'f16', UNCACHED: 1 })).to.throw(E.F16UnsupportedError, /--dtype f16 needs the WebGPU feature 'shader-f16'.*--dtype f32/);
      // f32 kernels are unaffected.
      expect(() => E.getEngine().kernel(K.fill, { T: 'f32', UNCACHED: 1 })).not.to.throw();
    } finally {
      features.add('shader-f16');
    }
    for (const t of [a, w32]) t.dispose();
  });
});
