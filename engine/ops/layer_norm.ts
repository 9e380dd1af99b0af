/**
 * Layer normalisation over the last axis: layer_norm*.wgsl (a workgroup per row) on GPU adapters,
 * layer_norm*_cpu.wgsl (a row per invocation, parameters shared by subgroup shuffles) on CPU
 * adapters.
 */
import { defineOp } from '../autograd.ts';
import { getEngine } from '../context.ts';
import { Tensor, grid1d, shapeString } from '../tensor.ts';
import { launch } from './dispatch.ts';
import { sum } from './reduce.ts';
import { K } from '../kernels/index.ts';
import { layerNormF16 } from './f16.ts'; // f16 inference route

export interface LayerNormOptions {
  /** Added to the variance. */
  eps: number;
  /**
   * [cols] mask of the columns to normalise (≠ 0 kept). Statistics use kept columns only and the
   * other columns pass x through (a layer norm over a subset of the features).
   * Only which entries are zero matters, so it takes no gradient (a hidden_z that requires one
   * gets it through the multiplications around the layer norm).
   */
  keep?: Tensor;
}

interface Saved {
  mean: Tensor;
  rstd: Tensor;
}

const BLOCK = 256; // rows per partial sum in layer_norm_param_grad.wgsl

const layerNormOp = defineOp<{ eps: number; hasKeep: boolean }, Saved>({
  name: 'layer_norm',
  forward([x, gamma, beta, keep], { eps, hasKeep }) {
    const cols = x!.shape[x!.shape.length - 1]!;
    for (const [name, p] of [['gamma', gamma!], ['beta', beta!], ...(keep ? [['keep', keep]] : [])] as Array<[string, Tensor]>) {
      if (p.shape.length !== 1 || p.shape[0] !== cols) {
        throw new Error(`layer_norm: ${name} ${p.label} ${shapeString(p.shape)} does not match the last axis (${cols}) of ${x!.label}`);
      }
    }
    const rows = x!.size / cols;
    const y = Tensor.empty(x!.shape, 'f32', 'layer_norm#');
    const mean = Tensor.empty([rows]);
    const rstd = Tensor.empty([rows]);
    const engine = getEngine();
    const cpu = engine.cpuSubgroupKernels;
    const [gx, gy] = cpu ? grid1d(rows, 64) : grid1d(rows, 1);
    launch(cpu ? K.layerNormCpu : K.layerNorm, {
      defines: cpu ? { SG: engine.subgroupSize! } : undefined,
      constants: { HAS_KEEP: hasKeep ? 1 : 0 },
      tensors: { x: x!, gamma: gamma!, beta: beta!, keep: keep ?? null, y, mean, rstd },
      uniforms: { params: { rows, cols, eps } },
      workgroups: [gx, gy],
    });
    return { output: y, saved: { mean, rstd } };
  },
  backward({ inputs: [x, gamma, beta, keep], attrs: { hasKeep }, saved: { mean, rstd } }, dy) {
    const cols = x!.shape[x!.shape.length - 1]!;
    const rows = x!.size / cols;
    const constants = { HAS_KEEP: hasKeep ? 1 : 0 };
    const engine = getEngine();
    const cpu = engine.cpuSubgroupKernels;
    let dx: Tensor | null = null;
    if (x!.requiresGrad) {
      dx = Tensor.empty(x!.shape);
      const [gx, gy] = cpu ? grid1d(rows, 64) : grid1d(rows, 1);
      launch(cpu ? K.layerNormBackwardCpu : K.layerNormBackward, {
        defines: cpu ? { SG: engine.subgroupSize! } : undefined,
        constants,
        tensors: { x: x!, gamma: gamma!, keep: keep ?? null, mean, rstd, dy, dx },
        uniforms: { params: { rows, cols } },
        workgroups: [gx, gy],
      });
    }
    let dgamma: Tensor | null = null;
    let dbeta: Tensor | null = null;
    if (gamma!.requiresGrad || beta!.requiresGrad) {
      const blocks = Math.ceil(rows / BLOCK);
      const dgPart = Tensor.empty([blocks, cols]);
      const dbPart = Tensor.empty([blocks, cols]);
      launch(cpu ? K.layerNormParamGradCpu : K.layerNormParamGrad, {
        constants,
        tensors: { x: x!, keep: keep ?? null, mean, rstd, dy, dgamma_part: dgPart, dbeta_part: dbPart },
        uniforms: { params: { rows, cols } },
        // The CPU kernel takes 4 columns per invocation.
        workgroups: [Math.ceil(cols / (cpu ? 256 : 64)), blocks],
      });
      dgamma = gamma!.requiresGrad ? sum(dgPart, 0) : null;
      dbeta = beta!.requiresGrad ? sum(dbPart, 0) : null;
      dgPart.dispose();
      dbPart.dispose();
    }
    return [dx, dgamma, dbeta, null];
  },
});

/**
 * (x − μ) / √(σ² + eps) · gamma + beta over the last axis (Ba, Kiros, Hinton 2016), with the
 * biased variance as PyTorch uses. Shapes: x [..., C], gamma and beta [C].
 * @throws Error when gamma, beta or keep do not have shape [C]
 */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, options: LayerNormOptions): Tensor {
  if (x.dtype === 'f16') return layerNormF16(x, gamma, beta, options); // f16 inference (engine/ops/f16.ts)
  const inputs = options.keep ? [x, gamma, beta, options.keep] : [x, gamma, beta];
  return layerNormOp(inputs, { eps: options.eps, hasKeep: !!options.keep });
}
