/** BERT's f16 inference kernels as typed handles (models/ops/f16_inference.ts), spread into BERT_KERNELS. */
import { defineKernel } from '../../../engine/index.ts';
import attentionForwardF16 from './attention_forward_f16.wgsl';

export const BERT_F16_KERNELS = {
  attentionForwardF16: defineKernel('attention_forward_f16', attentionForwardF16),
} as const;
