/** The pruning methods' kernels as typed handles: hard-concrete sampling and CoFi's layer alignment. */
import { defineKernel } from '../../engine/index.ts';
import hardConcrete from './hard_concrete.wgsl';
import layerAlignment from './layer_alignment.wgsl';

export const PRUNING_KERNELS = {
  hardConcrete: defineKernel('hard_concrete', hardConcrete),
  layerAlignment: defineKernel('layer_alignment', layerAlignment),
} as const;
