/**
 * The engine's f16 inference kernels as typed handles (engine/ops/f16.ts launches them): f16
 * storage with f32 arithmetic. Spread into the engine's handle table K (../index.ts). Each source
 * has `enable f16;`: engine/context.ts refuses them on a device without 'shader-f16'.
 */
import { defineKernel } from '../../runtime/kernel_registry.ts';
import castF16Source from './cast_f16.wgsl';
import elementwiseF16Source from './elementwise_f16.wgsl';
import embeddingF16Source from './embedding_f16.wgsl';
import layerNormF16Source from './layer_norm_f16.wgsl';
import matmulF16Source from './matmul_f16.wgsl';

export const F16_KERNELS = {
  castF16: defineKernel('cast_f16', castF16Source),
  elementwiseF16: defineKernel('elementwise_f16', elementwiseF16Source),
  embeddingF16: defineKernel('embedding_f16', embeddingF16Source),
  layerNormF16: defineKernel('layer_norm_f16', layerNormF16Source),
  matmulF16: defineKernel('matmul_f16', matmulF16Source),
} as const;
