import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import type { Tensor } from '../../engine/index.ts';
import { HostRandom } from '../../engine/random.ts';
import { describeEachDeviceClass, expectClose, freshSeed, randomArray, toTensor } from '../helpers.ts';
import { maskedAttention } from '../../models/ops/masked_attention.ts';

/** transformers' additive mask value for padding (torch.finfo(float32).min). */
const MASK_MIN = -3.4028234663852886e38;

interface Case {
  B: number;
  S: number;
  heads: number;
  d: number;
  mask: boolean;
  /** head_z values (cycled over the heads), or null for none. */
  z: number[] | null;
  p: number;
  training: boolean;
}

/** The unfused composition of models/bert.ts (before the fused op): reshape/permute/matmul/softmax/dropout/matmul/mul/permute. */
function unfused(q: Tensor, k: Tensor, v: Tensor, c: Case, mask: Tensor | undefined, headZ: Tensor | undefined, key: [number, number]): Tensor {
  const { B, S, heads, d } = c;
  const split = (t: Tensor) => E.permute(E.reshape(t, [B, S, heads, d]), [0, 2, 1, 3]);
  const qs = split(E.scale(q, 1 / Math.sqrt(d)));
  const probs = E.dropout(E.softmax(E.matmul(qs, split(k), { transB: true }), { mask: mask ? E.reshape(mask, [B, 1, 1, S]) : undefined }), c.p, c.training, key);
  let context = E.matmul(probs, split(v));
  if (headZ) context = E.mul(context, E.reshape(headZ, [heads, 1, 1]));
  return E.reshape(E.permute(context, [0, 2, 1, 3]), [B, S, heads * d]);
}

function label(c: Case): string {
  return `B=${c.B} S=${c.S} heads=${c.heads} d=${c.d} mask=${c.mask} z=${JSON.stringify(c.z)} p=${c.p} training=${c.training}`;
}

const maxErrors = { forward: 0, grad: 0 };

/** Fused vs unfused on the same random inputs: output and the gradients of q, k, v, head_z. */
async function compare(c: Case): Promise<void> {
  const seed = freshSeed();
  const rng = new HostRandom(seed);
  const ctx = `${label(c)} seed=${seed}`;
  const { B, S, heads, d } = c;
  const shape = [B, S, heads * d];
  const arrays = [randomArray(rng, shape, -2, 2), randomArray(rng, shape, -2, 2), randomArray(rng, shape)];
  const upstream = toTensor(randomArray(rng, shape));
  // Padding at random key positions, never key 0 (every query keeps a key).
  const maskValues = Float32Array.from({ length: B * S }, (_, i) => (i % S > 0 && rng.uniform() < 0.35 ? MASK_MIN : 0));
  const mask = c.mask ? E.tensor(maskValues, [B, S]) : undefined;
  const zValues = c.z ? Array.from({ length: heads }, (_, h) => c.z![h % c.z!.length]!) : null;
  const key: [number, number] = [rng.int(2 ** 32), rng.int(2 ** 32)];

  const run = (fused: boolean) => {
    const [q, k, v] = arrays.map((a) => toTensor(a, true)) as [Tensor, Tensor, Tensor];
    const z = zValues ? E.tensor(zValues, [heads]) : undefined;
    if (z) z.requiresGrad = true;
    const out = E.tidy(() => {
      const y = fused
        ? maskedAttention(q, k, v, { heads, mask, headZ: z, dropout: c.p, training: c.training, key })
        : unfused(q, k, v, c, mask, z, key);
      E.backward(y, upstream);
      return y;
    });
    return { out, grads: [q.grad!, k.grad!, v.grad!, ...(z ? [z.grad!] : [])], leaves: [q, k, v, ...(z ? [z] : [])] };
  };
  const fused = run(true);
  const ref = run(false);
  expect(fused.out.shape, ctx).to.deep.equal(shape);
  maxErrors.forward = Math.max(maxErrors.forward, expectClose(await fused.out.read(), await ref.out.read(), 1e-5, `${ctx} forward`));
  const names = ['dq', 'dk', 'dv'];
  for (let i = 0; i < 3; i++) {
    const got = await fused.grads[i]!.read();
    maxErrors.grad = Math.max(maxErrors.grad, expectClose(got, await ref.grads[i]!.read(), 1e-4, `${ctx} ${names[i]}`));
  }
  if (zValues) {
    // dheadZ[h] = Σ dO ⊙ O / z_h over B·S·d terms of both signs: two f32 summation orders differ by
    // up to ~1e-7 · Σ|terms|, which can exceed 1e-4 of a sum that cancels. Bound the error by the
    // sum of absolute terms instead. At z = 0 it is 0 by definition (the hard-concrete sample has
    // zero derivative there).
    const got = await fused.grads[3]!.read();
    const want = await ref.grads[3]!.read();
    const up = await upstream.read();
    const out = await ref.out.read();
    zValues.forEach((z, h) => {
      if (z === 0) {
        expect(got[h], `${ctx} dheadZ[${h}] at z = 0`).to.equal(0);
        return;
      }
      let scale = 0;
      for (let e = 0; e < out.length; e++) if (Math.floor((e % (heads * d)) / d) === h) scale += Math.abs(up[e]! * out[e]!) / Math.abs(z);
      const err = Math.abs(got[h]! - want[h]!) / Math.max(scale, 1e-30);
      maxErrors.grad = Math.max(maxErrors.grad, err);
      expect(err, `${ctx} dheadZ[${h}]: error ${err.toExponential(2)} relative to Σ|terms| ${scale.toExponential(2)}`).to.be.below(1e-5);
    });
  }
  for (const r of [fused, ref]) {
    r.out.dispose();
    for (const t of r.leaves) t.dispose();
  }
  mask?.dispose();
  upstream.dispose();
}

describeEachDeviceClass('fused masked attention @gpu', () => {
  after(() => console.log(`      max relative error: forward ${maxErrors.forward.toExponential(2)}, gradients ${maxErrors.grad.toExponential(2)}`));

  const variants: Array<Pick<Case, 'mask' | 'z' | 'p' | 'training'>> = [
    { mask: false, z: null, p: 0, training: true },
    { mask: true, z: [0, 0.37, 1], p: 0.3, training: true },
    { mask: true, z: null, p: 0.5, training: false },
    { mask: false, z: [0.6, 0, 1], p: 0.2, training: true },
    { mask: true, z: [1, 0.25, 0], p: 0, training: true },
  ];

  it('matches the unfused ops forward and in every gradient at awkward sizes (S, d, heads)', async () => {
    let n = 0;
    for (const S of [1, 7, 33]) {
      for (const d of [1, 7, 8]) {
        for (const heads of [1, 3]) {
          for (let r = 0; r < 2; r++) await compare({ B: 2, S, heads, d, ...variants[n++ % variants.length]! });
        }
      }
    }
  });

  it('covers every mask / head_z / dropout combination', async () => {
    for (const mask of [false, true]) {
      for (const z of [null, [0.5, 0, 1]]) {
        for (const [p, training] of [[0, true], [0.4, true], [0.4, false]] as const) {
          await compare({ B: 2, S: 7, heads: 3, d: 7, mask, z, p, training });
        }
      }
    }
  });

  it('spans several query blocks and key tiles (S = 129, d = 8), with head_z of ones and zeros', async () => {
    await compare({ B: 1, S: 129, heads: 2, d: 8, mask: true, z: [1, 0], p: 0.1, training: true });
  });

  it('a head with z = 0 outputs exact zeros and gets exactly zero gradients', async () => {
    const seed = freshSeed();
    const rng = new HostRandom(seed);
    const [B, S, heads, d] = [2, 9, 3, 7];
    const shape = [B, S, heads * d];
    const [q, k, v] = [0, 1, 2].map(() => toTensor(randomArray(rng, shape), true)) as [Tensor, Tensor, Tensor];
    const z = E.tensor([0.7, 0, 1], [3]);
    z.requiresGrad = true;
    const out = E.tidy(() => {
      const y = maskedAttention(q, k, v, { heads, headZ: z, dropout: 0.2, training: true });
      E.backward(y, toTensor(randomArray(rng, shape)));
      return y;
    });
    const zeroHead = (data: ArrayLike<number>, what: string) => {
      for (let i = 0; i < B * S; i++) {
        for (let c = 0; c < d; c++) expect(data[i * heads * d + d + c], `${what} seed=${seed}`).to.equal(0);
        // The other heads are not zero.
        expect(Math.abs(data[i * heads * d]!) + Math.abs(data[i * heads * d + 2 * d]!), `${what} seed=${seed}`).to.be.greaterThan(0);
      }
    };
    zeroHead(await out.read(), 'output');
    zeroHead(await q.grad!.read(), 'dq');
    zeroHead(await k.grad!.read(), 'dk');
    zeroHead(await v.grad!.read(), 'dv');
    expect((await z.grad!.read())[1], `dheadZ seed=${seed}`).to.equal(0);
    for (const t of [q, k, v, z, out]) t.dispose();
  });

  it('drops exactly the elements E.dropout drops on the probabilities [B, h, S, S] with the same key', async () => {
    // q = 0 gives uniform probabilities 1/S, and v_j = e_j (d = S) makes the context of query i
    // the row i of the dropped probabilities: out·S = the dropout multipliers.
    const seed = freshSeed();
    const rng = new HostRandom(seed);
    const [B, S, heads, p] = [2, 8, 2, 0.4];
    const key: [number, number] = [rng.int(2 ** 32), rng.int(2 ** 32)];
    const q = E.zeros([B, S, heads * S]);
    const k = toTensor(randomArray(rng, [B, S, heads * S]));
    const v = E.tensor(Float32Array.from({ length: B * S * heads * S }, (_, i) => (Math.floor(i / (heads * S)) % S === i % S ? 1 : 0)), [B, S, heads * S]);
    const fused = await maskedAttention(q, k, v, { heads, dropout: p, training: true, key }).read();
    const ref = await E.dropout(E.full([B, heads, S, S], 1), p, true, key).read();
    let dropped = 0;
    for (let b = 0; b < B; b++) {
      for (let h = 0; h < heads; h++) {
        for (let i = 0; i < S; i++) {
          for (let j = 0; j < S; j++) {
            const want = ref[((b * heads + h) * S + i) * S + j]!;
            const got = fused[(b * S + i) * heads * S + h * S + j]! * S;
            if (want === 0) dropped++;
            expect(got === 0, `element (${b}, ${h}, ${i}, ${j}) seed=${seed}`).to.equal(want === 0);
            if (want !== 0) expect(got).to.be.closeTo(want, 1e-5);
          }
        }
      }
    }
    expect(dropped, `seed=${seed}`).to.be.within(0.25 * ref.length, 0.55 * ref.length);
  });

  it('draws a dropout key from the engine stream only when dropout is active', () => {
    const engine = E.getEngine();
    const x = E.zeros([1, 3, 14]);
    const before = engine.rngState().counter;
    maskedAttention(x, x, x, { heads: 2, dropout: 0.1, training: false });
    maskedAttention(x, x, x, { heads: 2, dropout: 0, training: true });
    expect(engine.rngState().counter).to.equal(before);
    maskedAttention(x, x, x, { heads: 2, dropout: 0.1, training: true });
    expect(BigInt(engine.rngState().counter)).to.equal(BigInt(before) + 1n);
  });

  it('rejects shapes that do not fit, naming them', () => {
    const x = E.zeros([2, 3, 6]);
    expect(() => maskedAttention(x, x, x, { heads: 4, dropout: 0, training: false })).to.throw(/4 heads do not divide the width 6/);
    expect(() => maskedAttention(x, E.zeros([2, 3, 4]), x, { heads: 2, dropout: 0, training: false })).to.throw(/differs from q/);
    expect(() => maskedAttention(x, x, x, { heads: 2, mask: E.zeros([2, 4]), dropout: 0, training: false })).to.throw(/mask/);
    expect(() => maskedAttention(x, x, x, { heads: 2, headZ: E.zeros([3]), dropout: 0, training: false })).to.throw(/headZ/);
  });
});
