/** Inverted dropout with a counter-based RNG (dropout.wgsl, Philox4x32-10). */
import { defineOp } from '../autograd.ts';
import { getEngine } from '../context.ts';
import { zerosLike } from '../creation.ts';
import { Tensor, grid1d, vec4Grid } from '../tensor.ts';
import { launch } from './dispatch.ts';
import { K } from '../kernels/index.ts';

function applyMask(x: Tensor, p: number, key: readonly [number, number]): Tensor {
  const y = Tensor.empty(x.shape, 'f32', 'dropout#');
  const cpu = getEngine().deviceClass === 'cpu';
  launch(cpu ? K.dropoutCpu : K.dropout, {
    tensors: { x, y },
    uniforms: { params: { n: x.size, p, scale: 1 / (1 - p), key: [...key] } },
    workgroups: cpu ? vec4Grid(x.size) : grid1d(Math.ceil(x.size / 4), 64),
  });
  return y;
}

const dropoutOp = defineOp<{ p: number; key: [number, number] }>({
  name: 'dropout',
  forward: ([x], { p, key }) => ({ output: applyMask(x!, p, key), saved: undefined }),
  // The mask is regenerated from the same key: nothing is stored between the passes.
  backward: ({ attrs: { p, key } }, dy) => [applyMask(dy, p, key)],
});

/**
 * Zeroes each element with probability p and scales the rest by 1/(1 − p) (Srivastava et al.
 * 2014, inverted form). Element i is dropped when the i-th Philox uniform of a fresh key from the
 * engine's random stream is below p, so runs are reproducible from the engine seed
 * (initEngine({ seed }) / Engine.setSeed).
 * @param key fixes the mask (tests, or replaying a step); default: next key of the engine stream
 * @throws Error when p is outside [0, 1]
 */
export function dropout(x: Tensor, p: number, training = true, key?: [number, number]): Tensor {
  if (!(p >= 0 && p <= 1)) throw new Error(`dropout: p = ${p} is outside [0, 1]`);
  if (!training || p === 0) return x;
  if (p === 1) return zerosLike(x);
  return dropoutOp([x], { p, key: key ?? getEngine().nextRandomKey() });
}
