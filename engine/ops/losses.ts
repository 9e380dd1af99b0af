/** Training losses: cross-entropy from logits, mean squared error, distillation KL divergence. */
import { defineOp } from '../autograd.ts';
import { Tensor, grid1d, shapeString } from '../tensor.ts';
import { launch } from './dispatch.ts';
import { div, exp, mul, scale, square, sub } from './elementwise.ts';
import { sum, mean } from './reduce.ts';
import { reshape } from './shape.ts';
import { logSoftmax } from './softmax.ts';
import { K } from '../kernels/index.ts';

interface CeSaved {
  lse: Tensor;
  count: Tensor;
}

const crossEntropyOp = defineOp<{ ignoreIndex: number }, CeSaved>({
  name: 'cross_entropy',
  forward([logits, labels], { ignoreIndex }) {
    const cols = logits!.shape[logits!.shape.length - 1]!;
    const rows = logits!.size / cols;
    if (labels!.dtype !== 'i32') throw new Error(`cross_entropy: labels ${labels!.label} are ${labels!.dtype}, expected i32`);
    if (labels!.size !== rows) {
      throw new Error(`cross_entropy: ${rows} rows of logits ${shapeString(logits!.shape)} but labels ${labels!.label} ${shapeString(labels!.shape)}`);
    }
    const host = labels!.hostCopy;
    if (host) {
      host.forEach((v, i) => {
        if (v !== ignoreIndex && (v < 0 || v >= cols)) throw new Error(`cross_entropy: label ${v} at ${i} is outside [0, ${cols})`);
      });
    }
    const losses = Tensor.empty([rows]);
    const valid = Tensor.empty([rows]);
    const lse = Tensor.empty([rows]);
    const [gx, gy] = grid1d(rows, 1);
    launch(K.crossEntropy, {
      tensors: { logits: logits!, labels: labels!, losses, valid, lse },
      uniforms: { params: { rows, cols, ignore_index: ignoreIndex } },
      workgroups: [gx, gy],
    });
    const total = sum(losses);
    const count = sum(valid);
    // As PyTorch: the mean over rows whose label is not ignore_index (NaN when there are none).
    const loss = div(total, count);
    for (const t of [losses, valid, total]) t.dispose();
    return { output: loss, saved: { lse, count } };
  },
  backward({ inputs: [logits, labels], attrs: { ignoreIndex }, saved: { lse, count } }, g) {
    const cols = logits!.shape[logits!.shape.length - 1]!;
    const dlogits = Tensor.empty(logits!.shape);
    launch(K.crossEntropyBackward, {
      tensors: { logits: logits!, labels: labels!, lse, grad: g, count, dlogits },
      uniforms: { params: { n: logits!.size, cols, ignore_index: ignoreIndex } },
      workgroups: grid1d(logits!.size),
    });
    return [dlogits, null];
  },
});

/**
 * Mean cross-entropy −log softmax(logits)[label] over rows whose label ≠ ignoreIndex.
 * Shapes: logits [..., C], labels [...] (i32) → scalar [].
 * @throws Error for mismatched shapes, non-i32 labels, or a host-known label outside [0, C)
 */
export function crossEntropy(logits: Tensor, labels: Tensor, options: { ignoreIndex?: number } = {}): Tensor {
  return crossEntropyOp([logits, labels], { ignoreIndex: options.ignoreIndex ?? -100 });
}

/**
 * Mean squared error mean((pred − target)²); target may have pred's shape or the same size
 * (e.g. [N] against a regression head's [N, 1]).
 * @throws Error when the sizes differ
 */
export function mseLoss(pred: Tensor, target: Tensor): Tensor {
  if (pred.size !== target.size) throw new Error(`mse_loss: ${pred.label} ${shapeString(pred.shape)} vs ${target.label} ${shapeString(target.shape)}`);
  const t = reshape(target, pred.shape);
  return mean(square(sub(pred, t)));
}

/**
 * Distillation loss of Hinton et al. (2015):
 * T² · KL(softmax(teacher/T) ‖ softmax(student/T)) summed over classes and averaged over rows
 * (PyTorch's kl_div with reduction 'batchmean'). Shapes: [..., C] each → scalar.
 * The teacher takes a gradient only if it requires one (normally it is frozen).
 */
export function klDivLoss(studentLogits: Tensor, teacherLogits: Tensor, temperature: number): Tensor {
  if (studentLogits.size !== teacherLogits.size) {
    throw new Error(`kl_div: student ${shapeString(studentLogits.shape)} vs teacher ${shapeString(teacherLogits.shape)}`);
  }
  const cols = studentLogits.shape[studentLogits.shape.length - 1]!;
  const rows = studentLogits.size / cols;
  const logPs = logSoftmax(scale(studentLogits, 1 / temperature));
  const logPt = logSoftmax(scale(reshape(teacherLogits, studentLogits.shape), 1 / temperature));
  const kl = sum(mul(exp(logPt), sub(logPt, logPs)));
  return scale(kl, (temperature * temperature) / rows);
}
