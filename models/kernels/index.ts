/**
 * BERT's fused kernels as typed handles: masked multi-head attention (forward, dQ, dK/dV, d head_z)
 * the masked FFN (active-unit list, indexed GEMM, column sums) and the masked residual's input and output. Their ops are in models/ops/.
 * `*Cpu` handles are the variants for CPU adapters (engine/runtime/device_class.ts), launched by
 * the same ops with the same contract (attention on CPU adapters is composed from engine kernels:
 * models/ops/masked_attention_cpu.ts).
 */
import { defineKernel } from '../../engine/index.ts';
import attentionBackwardDkv from './attention_backward_dkv.wgsl';
import attentionBackwardDq from './attention_backward_dq.wgsl';
import attentionDz from './attention_dz.wgsl';
import attentionForward from './attention_forward.wgsl';
import ffnColsum from './ffn_colsum.wgsl';
import ffnCompact from './ffn_compact.wgsl';
import ffnGemm from './ffn_gemm.wgsl';
import ffnGemmCpu from './ffn_gemm_cpu.wgsl';
import ffnGatherCpu from './ffn_gather_cpu.wgsl';
import attentionKvTiles from './lib/attention_kv_tiles.wgsl';
import attentionRows from './lib/attention_rows.wgsl';
import ffnGemmIo from './lib/ffn_gemm_io.wgsl';
import residualInput from './residual_input.wgsl';
import residualInputBackward from './residual_input_backward.wgsl';
import residualOutput from './residual_output.wgsl';
import residualOutputBackward from './residual_output_backward.wgsl';
// f16 inference kernels (models/ops/f16_inference.ts), defined in their own table and spread in.
import { BERT_F16_KERNELS } from './f16/index.ts';

/** Row loaders and K/V tiles shared by the attention kernels. */
const ATTENTION_LIBRARY = {
  'lib/attention_kv_tiles.wgsl': attentionKvTiles,
  'lib/attention_rows.wgsl': attentionRows,
};

/** Parameters, bindings and epilogues shared by the two masked-FFN GEMM kernels. */
const FFN_GEMM_LIBRARY = { 'lib/ffn_gemm_io.wgsl': ffnGemmIo };

export const BERT_KERNELS = {
  attentionForward: defineKernel('attention_forward', attentionForward, { library: ATTENTION_LIBRARY }),
  attentionBackwardDq: defineKernel('attention_backward_dq', attentionBackwardDq, { library: ATTENTION_LIBRARY }),
  attentionBackwardDkv: defineKernel('attention_backward_dkv', attentionBackwardDkv, { library: ATTENTION_LIBRARY }),
  attentionDz: defineKernel('attention_dz', attentionDz),
  ffnCompact: defineKernel('ffn_compact', ffnCompact),
  ffnGemm: defineKernel('ffn_gemm', ffnGemm, { library: FFN_GEMM_LIBRARY }),
  ffnGemmCpu: defineKernel('ffn_gemm_cpu', ffnGemmCpu, { library: FFN_GEMM_LIBRARY }),
  ffnGatherCpu: defineKernel('ffn_gather_cpu', ffnGatherCpu),
  ffnColsum: defineKernel('ffn_colsum', ffnColsum),
  residualInput: defineKernel('residual_input', residualInput),
  residualInputBackward: defineKernel('residual_input_backward', residualInputBackward),
  residualOutput: defineKernel('residual_output', residualOutput),
  residualOutputBackward: defineKernel('residual_output_backward', residualOutputBackward),
  ...BERT_F16_KERNELS,
} as const;
