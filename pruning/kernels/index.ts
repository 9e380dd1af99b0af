/**
 * The pruning methods' kernels as typed handles: hard-concrete sampling, CoFi's layer alignment,
 * the masked-weight GEMM of element-wise pruning and the exact top-k mask of movement pruning.
 */
import { defineKernel } from '../../engine/index.ts';
import hardConcrete from './hard_concrete.wgsl';
import layerAlignment from './layer_alignment.wgsl';
import maskedGemm from './masked_gemm.wgsl';
import topkHistogram from './topk_histogram.wgsl';
import topkMask from './topk_mask.wgsl';
import topkSelect from './topk_select.wgsl';
import topkKey from './lib/topk_key.wgsl';

/** The ordered 56-bit keys (score, index) shared by the top-k kernels. */
const TOPK_LIBRARY = { 'lib/topk_key.wgsl': topkKey };

export const PRUNING_KERNELS = {
  hardConcrete: defineKernel('hard_concrete', hardConcrete),
  layerAlignment: defineKernel('layer_alignment', layerAlignment),
  maskedGemm: defineKernel('masked_gemm', maskedGemm),
  topkHistogram: defineKernel('topk_histogram', topkHistogram, { library: TOPK_LIBRARY }),
  topkSelect: defineKernel('topk_select', topkSelect),
  topkMask: defineKernel('topk_mask', topkMask, { library: TOPK_LIBRARY }),
} as const;
