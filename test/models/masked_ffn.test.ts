import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { HostRandom } from '../../engine/random.ts';
import { AWKWARD, describeEachDeviceClass, expectClose, freshSeed, randomArray, toTensor } from '../helpers.ts';
import type { NDArray } from '../reference/ndarray.ts';
import { maskedFfn } from '../../models/ops/masked_ffn.ts';

/** The unfused FFN of models/bert.ts (before the fused op). */
function unfused(x: Tensor, w1: Tensor, b1: Tensor, w2: Tensor, b2: Tensor, z: Tensor | null): Tensor {
  let h = E.gelu(E.matmul(x, w1, { transB: true, bias: b1 }));
  if (z) h = E.mul(h, z);
  return E.matmul(h, w2, { transB: true, bias: b2 });
}

/** z values: exact zeros, soft values and ones, in random places. */
function mixedZ(rng: HostRandom, I: number): number[] {
  return Array.from({ length: I }, () => {
    const r = rng.uniform();
    return r < 0.35 ? 0 : r < 0.7 ? 1 : Math.fround(0.05 + 0.9 * rng.uniform());
  });
}

interface Inputs {
  arrays: NDArray[];
  z: number[] | null;
  upstream: NDArray;
}

function makeInputs(rng: HostRandom, rows: number[], H: number, I: number, z: 'mixed' | 'none' | 'zeros' | 'ones'): Inputs {
  const arrays = [randomArray(rng, [...rows, H]), randomArray(rng, [I, H]), randomArray(rng, [I], -0.5, 0.5), randomArray(rng, [H, I]), randomArray(rng, [H], -0.5, 0.5)];
  const zv = z === 'none' ? null : z === 'mixed' ? mixedZ(rng, I) : new Array<number>(I).fill(z === 'ones' ? 1 : 0);
  return { arrays, z: zv, upstream: randomArray(rng, [...rows, H]) };
}

/** Runs fused or unfused forward + backward on fresh leaves; returns the output and gradients as host arrays. */
async function run(inp: Inputs, fused: boolean): Promise<{ out: Float32Array; grads: Float32Array[] }> {
  const leaves = inp.arrays.map((a) => toTensor(a, true));
  const z = inp.z ? E.tensor(inp.z, [inp.z.length]) : null;
  if (z) z.requiresGrad = true;
  const upstream = toTensor(inp.upstream);
  const [x, w1, b1, w2, b2] = leaves as [Tensor, Tensor, Tensor, Tensor, Tensor];
  const out = E.tidy(() => {
    const y = (fused ? maskedFfn : unfused)(x, w1, b1, w2, b2, z);
    E.backward(y, upstream);
    return y;
  });
  const all = z ? [...leaves, z] : leaves;
  const result = { out: (await out.read()) as Float32Array, grads: [] as Float32Array[] };
  for (const t of all) result.grads.push((await t.grad!.read()) as Float32Array);
  for (const t of [...all, out, upstream]) t.dispose();
  return result;
}

/**
 * The magnitude each output and gradient element is a sum of: the unfused FFN run on |inputs| and
 * |upstream|, and on the inputs with |upstream|, elementwise the larger. The two summation orders
 * differ by a few ulps of Σ|terms|, and with I = 1 or H = 1 a gradient such as dz or db2 is one sum
 * of terms of both signs that can cancel to near zero: a plain relative bound fails for some seeds.
 */
async function sumScale(inp: Inputs): Promise<{ out: Float32Array; grads: Float32Array[] }> {
  const absUpstream = inp.upstream.map(Math.abs);
  const products = await run({ arrays: inp.arrays.map((a) => a.map(Math.abs)), z: inp.z, upstream: absUpstream }, false);
  const routed = await run({ ...inp, upstream: absUpstream }, false);
  const larger = (a: Float32Array, b: Float32Array) => a.map((v, i) => Math.max(Math.abs(v), Math.abs(b[i]!)));
  return { out: larger(products.out, routed.out), grads: products.grads.map((g, i) => larger(g, routed.grads[i]!)) };
}

const NAMES = ['dx', 'dw1', 'db1', 'dw2', 'db2', 'dz'];
const maxErrors = { forward: 0, grad: 0 };

async function compare(rows: number[], H: number, I: number, z: 'mixed' | 'none' | 'zeros' | 'ones'): Promise<void> {
  const seed = freshSeed();
  const ctx = `rows=${JSON.stringify(rows)} H=${H} I=${I} z=${z} seed=${seed}`;
  const inp = makeInputs(new HostRandom(seed), rows, H, I, z);
  const fused = await run(inp, true);
  const ref = await run(inp, false);
  const scale = await sumScale(inp);
  maxErrors.forward = Math.max(maxErrors.forward, expectClose(fused.out, ref.out, 1e-5, `${ctx} forward`, scale.out));
  for (let i = 0; i < ref.grads.length; i++) {
    const want = Float64Array.from(ref.grads[i]!);
    // dz is 0 where z = 0 by definition (the hard-concrete sample has zero derivative there).
    if (i === 5) inp.z!.forEach((zv, u) => zv === 0 && (want[u] = 0));
    maxErrors.grad = Math.max(maxErrors.grad, expectClose(fused.grads[i]!, want, 1e-4, `${ctx} ${NAMES[i]}`, scale.grads[i]));
    if (i === 5) inp.z!.forEach((zv, u) => zv === 0 && expect(fused.grads[i]![u], `${ctx} dz[${u}] at z = 0`).to.equal(0));
  }
}

describeEachDeviceClass('masked FFN @gpu', () => {
  after(() => console.log(`      max relative error: forward ${maxErrors.forward.toExponential(2)}, gradients ${maxErrors.grad.toExponential(2)}`));

  it('matches the unfused FFN forward and in every gradient at awkward H, I (z with zeros, soft values, ones; no z)', async () => {
    let n = 0;
    for (const H of AWKWARD) {
      for (const I of AWKWARD) {
        await compare(n % 3 === 2 ? [69] : [2, 5], H, I, n % 2 === 0 ? 'mixed' : 'none');
        n++;
      }
    }
  });

  it('z of all ones equals the dense FFN; z of all zeros outputs b2, with zero gradients for all but b2', async () => {
    await compare([3, 23], 33, 129, 'ones');
    await compare([3, 23], 33, 129, 'mixed');
    await compare([7], 7, 33, 'zeros');
    const seed = freshSeed();
    const inp = makeInputs(new HostRandom(seed), [7], 7, 33, 'zeros');
    const fused = await run(inp, true);
    const b2 = Float32Array.from(inp.arrays[4]!.data);
    for (let i = 0; i < fused.out.length; i++) expect(fused.out[i], `seed=${seed}`).to.equal(b2[i % 7]);
    for (const i of [0, 1, 2, 3, 5]) expect(fused.grads[i]!.every((v) => v === 0), `${NAMES[i]} seed=${seed}`).to.equal(true);
  });

  it('does not depend on the w1 rows and w2 columns of units with z = 0 (poisoned with huge values)', async () => {
    const seed = freshSeed();
    const [H, I] = [33, 129];
    const inp = makeInputs(new HostRandom(seed), [2, 9], H, I, 'mixed');
    const clean = await run(inp, true);
    const poisoned: Inputs = { ...inp, arrays: inp.arrays.map((a) => a.map((v) => v)) };
    const [w1, b1, w2] = [poisoned.arrays[1]!, poisoned.arrays[2]!, poisoned.arrays[3]!];
    inp.z!.forEach((zv, u) => {
      if (zv !== 0) return;
      for (let h = 0; h < H; h++) {
        w1.data[u * H + h] = 3e38;
        w2.data[h * I + u] = -3e38;
      }
      b1.data[u] = 3e38;
    });
    const dirty = await run(poisoned, true);
    expect(Array.from(dirty.out), `output seed=${seed}`).to.deep.equal(Array.from(clean.out));
    for (let i = 0; i < NAMES.length; i++) expect(Array.from(dirty.grads[i]!), `${NAMES[i]} seed=${seed}`).to.deep.equal(Array.from(clean.grads[i]!));
    // Gradients of pruned units are exactly zero.
    inp.z!.forEach((zv, u) => {
      if (zv !== 0) return;
      expect(clean.grads[2]![u], `db1[${u}] seed=${seed}`).to.equal(0);
      for (let h = 0; h < H; h++) {
        expect(clean.grads[1]![u * H + h], `dw1[${u}] seed=${seed}`).to.equal(0);
        expect(clean.grads[3]![h * I + u], `dw2[:, ${u}] seed=${seed}`).to.equal(0);
      }
    });
  });

  it('is deterministic: two runs agree bit for bit', async () => {
    const seed = freshSeed();
    const inp = makeInputs(new HostRandom(seed), [130], 33, 129, 'mixed');
    const a = await run(inp, true);
    const b = await run(inp, true);
    expect(Array.from(a.out)).to.deep.equal(Array.from(b.out));
    for (let i = 0; i < NAMES.length; i++) expect(Array.from(a.grads[i]!), `${NAMES[i]} seed=${seed}`).to.deep.equal(Array.from(b.grads[i]!));
  });

  it('computes only the gradients that are required', async () => {
    const seed = freshSeed();
    const inp = makeInputs(new HostRandom(seed), [5], 7, 33, 'mixed');
    const ref = await run(inp, false);
    const [x, w1, b1, w2, b2] = inp.arrays.map((a, i) => toTensor(a, i === 0)) as [Tensor, Tensor, Tensor, Tensor, Tensor];
    const z = E.tensor(inp.z!, [33]);
    const y = E.tidy(() => {
      const out = maskedFfn(x, w1, b1, w2, b2, z);
      E.backward(out, toTensor(inp.upstream));
      return out;
    });
    expectClose(await x.grad!.read(), ref.grads[0]!, 1e-4, `dx alone seed=${seed}`);
    for (const t of [w1, b1, w2, b2, z]) expect(t.grad).to.equal(null);
    for (const t of [x, w1, b1, w2, b2, z, y]) t.dispose();
  });

  it('rejects shapes that do not fit, naming them', () => {
    const x = E.zeros([2, 4]);
    const w1 = E.zeros([6, 4]);
    const b1 = E.zeros([6]);
    const w2 = E.zeros([4, 6]);
    const b2 = E.zeros([4]);
    expect(() => maskedFfn(x, E.zeros([6, 5]), b1, w2, b2, null)).to.throw(/w1 .* is not \[I, 4\]/);
    expect(() => maskedFfn(x, w1, E.zeros([5]), w2, b2, null)).to.throw(/b1/);
    expect(() => maskedFfn(x, w1, b1, E.zeros([6, 4]), b2, null)).to.throw(/w2/);
    expect(() => maskedFfn(x, w1, b1, w2, b2, E.zeros([5]))).to.throw(/z/);
  });
});
