/**
 * Fused vs unfused attention and FFN, forward + backward, at tiny-BERT layer sizes, timed in the
 * same process, interleaved: median wall time and median process CPU time (lavapipe's work, less
 * sensitive to other load on a shared machine) over `reps`. Usage:
 *   node --import ./scripts/ts-register.mjs bench/fused_ops.ts [B] [S] [reps]
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import { maskedAttention } from '../models/ops/masked_attention.ts';
import { maskedFfn } from '../models/ops/masked_ffn.ts';

const [bArg = '4', sArg = '32', repsArg = '15'] = process.argv.slice(2);
const [B, S, reps] = [Number(bArg), Number(sArg), Number(repsArg)];
const [H, heads, I] = [128, 2, 512];
const d = H / heads;
await E.initEngine({ seed: 0 });

const rnd = (shape: number[], scale = 1) => {
  const t = E.keep(E.randn(shape, { seed: Math.floor(Math.random() * 1e9), std: scale }));
  t.requiresGrad = true;
  return t;
};
const third = (n: number) => E.keep(E.tensor(Float32Array.from({ length: n }, (_, i) => [0, 1, 0.5][i % 3]!), [n]));
const [q, k, v] = [rnd([B, S, H]), rnd([B, S, H]), rnd([B, S, H])];
const mask = E.keep(E.zeros([B, S]));
const x = rnd([B, S, H]);
const [w1, b1, w2, b2] = [rnd([I, H], 0.02), rnd([I], 0.02), rnd([H, I], 0.02), rnd([H], 0.02)];
const headZ = third(heads);
const iz = third(I);

function unfusedAttention(z: Tensor | undefined): Tensor {
  const split = (t: Tensor) => E.permute(E.reshape(t, [B, S, heads, d]), [0, 2, 1, 3]);
  const probs = E.dropout(E.softmax(E.matmul(split(E.scale(q, 1 / Math.sqrt(d))), split(k), { transB: true }), { mask: E.reshape(mask, [B, 1, 1, S]) }), 0.1, true);
  let context = E.matmul(probs, split(v));
  if (z) context = E.mul(context, E.reshape(z, [heads, 1, 1]));
  return E.reshape(E.permute(context, [0, 2, 1, 3]), [B, S, H]);
}
function unfusedFfn(z: Tensor | null): Tensor {
  let h = E.gelu(E.matmul(x, w1, { transB: true, bias: b1 }));
  if (z) h = E.mul(h, z);
  return E.matmul(h, w2, { transB: true, bias: b2 });
}

const cases: Record<string, () => Tensor> = {
  'attention unfused': () => unfusedAttention(undefined),
  'attention fused': () => maskedAttention(q, k, v, { heads, mask, dropout: 0.1, training: true }),
  'attention unfused, head_z': () => unfusedAttention(headZ),
  'attention fused, head_z': () => maskedAttention(q, k, v, { heads, mask, headZ, dropout: 0.1, training: true }),
  'FFN unfused': () => unfusedFfn(null),
  'FFN fused': () => maskedFfn(x, w1, b1, w2, b2, null),
  'FFN unfused, z (1/3 zeros)': () => unfusedFfn(iz),
  'FFN fused, z (1/3 zeros)': () => maskedFfn(x, w1, b1, w2, b2, iz),
};
const times = new Map<string, number[]>(Object.keys(cases).map((n) => [n, []]));
const cpuTimes = new Map<string, number[]>(Object.keys(cases).map((n) => [n, []]));
for (let r = 0; r < reps + 2; r++) {
  for (const [name, f] of Object.entries(cases)) {
    await E.getEngine().sync();
    const t0 = performance.now();
    const u0 = process.cpuUsage();
    E.tidy(() => E.backward(E.sum(f())));
    await E.getEngine().sync();
    const u = process.cpuUsage(u0);
    if (r >= 2) {
      times.get(name)!.push(performance.now() - t0);
      cpuTimes.get(name)!.push((u.user + u.system) / 1000);
    }
    for (const t of [q, k, v, x, w1, b1, w2, b2]) {
      t.grad?.dispose();
      t.grad = null;
    }
  }
}
const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!.toFixed(1);
console.log(`B=${B} S=${S} H=${H} heads=${heads} I=${I}, forward + backward:`);
for (const [name, ts] of times) console.log(`  ${name.padEnd(28)} ${median(ts)} ms (cpu ${median(cpuTimes.get(name)!)} ms)`);
