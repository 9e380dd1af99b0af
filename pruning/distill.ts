/**
 * Distillation from a fine-tuned teacher during pruning, as CoFi does (Xia et al. 2022, §3.2;
 * trainer.py with layer_distill_version 4):
 *
 * - Layer distillation: a learned linear map W (H → H, initialised to the identity) transforms every
 *   student layer output; for each of four teacher layers (3, 6, 9, 12 of a 12-layer teacher: in
 *   general layers round(L_t·k/4), k = 1..4) the MSE against every transformed student layer is
 *   computed, and teacher layers are matched, last first, to the lowest-loss student layer below the
 *   previous match among layers whose attention is kept (head_layer_z ≠ 0). The matching runs on the
 *   GPU (pruning/kernels/layer_alignment.wgsl), so nothing is read back.
 * - Prediction distillation: T² · KL(softmax(teacher/T) ‖ softmax(student/T)), T = 2.
 * - loss = α_layer · layer loss + α_pred · prediction loss (CoFi: 0.9 and 0.1), replacing the task
 *   loss.
 */
import * as E from '../engine/index.ts';
import type { Tensor } from '../engine/index.ts';
import { PRUNING_KERNELS } from './kernels/index.ts';

export interface DistillOptions {
  layerAlpha: number;
  predictionAlpha: number;
  temperature: number;
}

/** Teacher layers (1-based) matched in layer distillation: round(L_t · k / 4) for k = 1..4, distinct. */
export function teacherLayers(teacherDepth: number): number[] {
  return [...new Set([1, 2, 3, 4].map((k) => Math.max(1, Math.round((teacherDepth * k) / 4))))];
}

/** The learned map from student to teacher hidden states. */
export class LayerTransformation {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(hidden: number, teacherHidden: number, prefix = 'layer_transformation') {
    const w = new Float32Array(teacherHidden * hidden);
    for (let i = 0; i < Math.min(hidden, teacherHidden); i++) w[i * hidden + i] = 1;
    this.weight = E.parameter(w, [teacherHidden, hidden], `${prefix}.weight`);
    this.bias = E.parameter(new Float32Array(teacherHidden), [teacherHidden], `${prefix}.bias`);
  }

  apply(x: Tensor): Tensor {
    return E.matmul(x, this.weight, { transB: true, bias: this.bias });
  }

  parameters(): Tensor[] {
    return [this.weight, this.bias];
  }

  dispose(): void {
    this.weight.dispose();
    this.bias.dispose();
  }
}

/**
 * CoFi's layer distillation loss (scalar).
 * @param student hidden states [embeddings, layer 1..L] of the student, each [B, S, H]
 * @param teacher the same of the teacher
 * @param headLayerZ [L] sampled head_layer_z (student layers with 0 are not matched), or null
 */
export function layerDistillationLoss(student: readonly Tensor[], teacher: readonly Tensor[], map: LayerTransformation, headLayerZ: Tensor | null): Tensor {
  const L = student.length - 1;
  const picks = teacherLayers(teacher.length - 1);
  const transformed = student.slice(1).map((s) => map.apply(s));
  const losses = E.reshape(E.concat(picks.flatMap((t) => transformed.map((s) => E.reshape(E.mseLoss(s, teacher[t]!), [1]))), 0), [picks.length, L]);
  const exists = headLayerZ ? E.noGrad(() => E.affine(headLayerZ, 1, 0)) : E.ones([L]);
  const selection = E.Tensor.empty([picks.length, L]);
  E.noGrad(() =>
    E.launch(PRUNING_KERNELS.layerAlignment, {
      tensors: { losses, exists, selection },
      uniforms: { params: { T: picks.length, L } },
      workgroups: [1],
    }),
  );
  return E.sum(E.mul(losses, selection));
}

/** α_layer · layer loss + α_pred · T² KL (see the file comment). */
export function distillationLoss(
  options: DistillOptions,
  student: { logits: Tensor; hidden: readonly Tensor[] },
  teacher: { logits: Tensor; hidden: readonly Tensor[] },
  map: LayerTransformation,
  headLayerZ: Tensor | null,
): { loss: Tensor; layer: Tensor; prediction: Tensor } {
  const layer = layerDistillationLoss(student.hidden, teacher.hidden, map, headLayerZ);
  const prediction = E.klDivLoss(student.logits, teacher.logits, options.temperature);
  return { loss: E.add(E.scale(layer, options.layerAlpha), E.scale(prediction, options.predictionAlpha)), layer, prediction };
}
