/**
 * Every WGSL source of kernels/, by name (its path without `.wgsl`). Kernels are compiled from
 * here by Engine.kernel(); `#include "lib/x.wgsl"` resolves against the `lib/` entries.
 * test/engine/kernels.test.ts checks that each .wgsl file of this folder is listed.
 */
import libAttentionKvTiles from './lib/attention_kv_tiles.wgsl';
import libAttentionRows from './lib/attention_rows.wgsl';
import libGemmTile from './lib/gemm_tile.wgsl';
import libMath from './lib/math.wgsl';
import libPhilox from './lib/philox.wgsl';
import libStrided from './lib/strided.wgsl';
import libWorkgroupReduce from './lib/workgroup_reduce.wgsl';
import accumulate from './accumulate.wgsl';
import adamw from './adamw.wgsl';
import clipScale from './clip_scale.wgsl';
import binary from './binary.wgsl';
import copyStrided from './copy_strided.wgsl';
import fill from './fill.wgsl';
import matmul from './matmul.wgsl';
import reduceMax from './reduce_max.wgsl';
import reduceMaxBackward from './reduce_max_backward.wgsl';
import reduceSumCols from './reduce_sum_cols.wgsl';
import reduceSumRows from './reduce_sum_rows.wgsl';
import unary from './unary.wgsl';
import unaryBackward from './unary_backward.wgsl';
import where from './where.wgsl';
import softmax from './softmax.wgsl';
import softmaxBackward from './softmax_backward.wgsl';
import layerAlignment from './layer_alignment.wgsl';
import layerNorm from './layer_norm.wgsl';
import layerNormBackward from './layer_norm_backward.wgsl';
import layerNormParamGrad from './layer_norm_param_grad.wgsl';
import dropout from './dropout.wgsl';
import indexSelect from './index_select.wgsl';
import indexSelectBackward from './index_select_backward.wgsl';
import gather from './gather.wgsl';
import hardConcrete from './hard_concrete.wgsl';
import gatherBackward from './gather_backward.wgsl';
import crossEntropy from './cross_entropy.wgsl';
import crossEntropyBackward from './cross_entropy_backward.wgsl';
import attentionForward from './attention_forward.wgsl';
import attentionBackwardDq from './attention_backward_dq.wgsl';
import attentionBackwardDkv from './attention_backward_dkv.wgsl';
import attentionDz from './attention_dz.wgsl';
import ffnCompact from './ffn_compact.wgsl';
import ffnGemm from './ffn_gemm.wgsl';
import ffnColsum from './ffn_colsum.wgsl';

export const KERNEL_SOURCES: Readonly<Record<string, string>> = {
  'lib/attention_kv_tiles.wgsl': libAttentionKvTiles,
  'lib/attention_rows.wgsl': libAttentionRows,
  'lib/gemm_tile.wgsl': libGemmTile,
  'lib/math.wgsl': libMath,
  'lib/philox.wgsl': libPhilox,
  'lib/strided.wgsl': libStrided,
  'lib/workgroup_reduce.wgsl': libWorkgroupReduce,
  accumulate,
  adamw,
  clip_scale: clipScale,
  binary,
  copy_strided: copyStrided,
  fill,
  matmul,
  reduce_max: reduceMax,
  reduce_max_backward: reduceMaxBackward,
  reduce_sum_cols: reduceSumCols,
  reduce_sum_rows: reduceSumRows,
  unary,
  unary_backward: unaryBackward,
  where,
  softmax,
  softmax_backward: softmaxBackward,
  layer_alignment: layerAlignment,
  layer_norm: layerNorm,
  layer_norm_backward: layerNormBackward,
  layer_norm_param_grad: layerNormParamGrad,
  dropout,
  index_select: indexSelect,
  index_select_backward: indexSelectBackward,
  gather,
  hard_concrete: hardConcrete,
  gather_backward: gatherBackward,
  cross_entropy: crossEntropy,
  cross_entropy_backward: crossEntropyBackward,
  attention_forward: attentionForward,
  attention_backward_dq: attentionBackwardDq,
  attention_backward_dkv: attentionBackwardDkv,
  attention_dz: attentionDz,
  ffn_compact: ffnCompact,
  ffn_gemm: ffnGemm,
  ffn_colsum: ffnColsum,
};
