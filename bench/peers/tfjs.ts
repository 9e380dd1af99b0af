/**
 * TensorFlow.js's WebGPU backend (@tensorflow/tfjs + @tensorflow/tfjs-backend-webgpu, optional
 * devDependencies) as a `bench peers` engine, on Dawn's navigator.gpu from the `webgpu` package.
 * (The union package, not tfjs-core alone: its Node bundle registers the gradients of every op;
 * tfjs-core's registers them only from ES modules that Node cannot load.)
 *
 * Each problem in tfjs's own best idiom: Linear layers through tf.fused.matMul (the bias fused into
 * its matmul kernel), attention as batched matMul + softmax on [B, h, S, d], the layer's backward
 * through tf.grads. Small tensors are kept on the GPU (WEBGPU_CPU_FORWARD off): tfjs would otherwise
 * run ops on tensors under 1000 elements on the CPU.
 */
import { createRequire } from 'node:module';
import type * as TfCore from '@tensorflow/tfjs-core';
import { LAYER_NORM_EPS, LAYER_PARAMS, type HostTensor, type Inputs, type Problem } from './problems.ts';

/** The problems this engine runs. */
type TensorProblem = Exclude<Problem, { kind: 'bert' }>;
import type { PeerEngine, Runner } from './runner.ts';

type Tf = typeof TfCore;
type Tensor = TfCore.Tensor;

/** The WebGPU backend's members this file uses (tfjs-backend-webgpu's WebGPUBackend). */
interface WebGpuBackend {
  device: GPUDevice;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

/** Loads tfjs with its WebGPU backend on navigator.gpu (installNavigatorGpu must have run). @throws Error when a package is missing or the backend does not start */
export async function loadTfjs(): Promise<PeerEngine> {
  const require = createRequire(import.meta.url);
  const tf = require('@tensorflow/tfjs') as Tf;
  require('@tensorflow/tfjs-backend-webgpu');
  tf.env().set('WEBGPU_CPU_FORWARD', false);
  if (!(await tf.setBackend('webgpu'))) throw new Error("tfjs: the 'webgpu' backend did not start (is navigator.gpu set?)");
  await tf.ready();
  const backend = tf.backend() as unknown as WebGpuBackend;
  // Ends tfjs's open compute pass and submits what it recorded (as its own reads do).
  const flush = () => {
    backend.ensureCommandEncoderReady();
    backend.endComputePassEncoder();
    backend.submitQueue();
  };
  return {
    name: 'tfjs',
    version: tf.version_core,
    // Not BERT inference: ONNX Runtime is the peer there.
    kinds: ['gemm', 'attention', 'layer'],
    prepare: async (p, inputs) => (p.kind === 'bert' ? null : tfjsRunner(tf, backend, flush, p, inputs)),
    dispose: () => tf.engine().reset(),
  };
}

function tfjsRunner(tf: Tf, backend: WebGpuBackend, flush: () => void, p: TensorProblem, inputs: Inputs): Runner {
  const held: Tensor[] = [];
  const up = (t: HostTensor, shape = t.shape) => {
    const x = tf.tensor(t.data, shape, 'float32');
    held.push(x);
    return x;
  };
  const { timed, outputs } = problemFunctions(tf, p, inputs, up);
  return {
    async run() {
      const out = tf.tidy(timed);
      flush();
      await backend.device.queue.onSubmittedWorkDone();
      tf.dispose(out);
    },
    async outputs() {
      const out = tf.tidy(outputs);
      const data = await Promise.all(out.map(async (t) => (await t.data()) as Float32Array));
      tf.dispose(out);
      return data;
    },
    dispose: () => tf.dispose(held),
  };
}

/**
 * The problem as functions of tensors uploaded once: what a timed run computes, and the outputs in
 * outputNames order (for the layer: the forward output too, which the timed forward + backward
 * does not return).
 */
function problemFunctions(tf: Tf, p: TensorProblem, inputs: Inputs, up: (t: HostTensor, shape?: number[]) => Tensor): { timed: () => Tensor[]; outputs: () => Tensor[] } {
  switch (p.kind) {
    case 'gemm': {
      const [x, w, b] = [up(inputs.x!), up(inputs.w!), up(inputs.b!)] as [TfCore.Tensor2D, TfCore.Tensor2D, Tensor];
      const f = () => [tf.fused.matMul({ a: x, b: w, transposeB: true, bias: b })];
      return { timed: f, outputs: f };
    }
    case 'attention': {
      const [q, k, v] = [up(inputs.q!), up(inputs.k!), up(inputs.v!)];
      const mask = up(inputs.mask!, [p.B, 1, 1, p.S]);
      const scale = up({ shape: [], data: Float32Array.of(1 / Math.sqrt(p.d)) });
      const f = () => [attention(tf, q, k, v, mask, scale, p.B, p.S, p.heads, p.d)];
      return { timed: f, outputs: f };
    }
    case 'layer': {
      const x = up(inputs.x!);
      const dy = up(inputs.dy!);
      const mask = up(inputs.mask!, [p.B, 1, 1, p.S]);
      const scale = up({ shape: [], data: Float32Array.of(1 / Math.sqrt(p.H / p.heads)) });
      const params = LAYER_PARAMS.map((n) => up(inputs[n]!));
      const forward = (xs: Tensor, ps: Tensor[]) => layer(tf, xs, ps, mask, scale, p);
      const gradients = tf.grads((...args: Tensor[]) => tf.sum(tf.mul(forward(args[0]!, args.slice(1)), dy)));
      return { timed: () => gradients([x, ...params]), outputs: () => [forward(x, params), ...gradients([x, ...params])] };
    }
  }
}

/** softmax(q·kᵀ·scale + mask)·v per head; q, k, v [B, S, h·d], mask [B, 1, 1, S] → [B, S, h·d]. */
function attention(tf: Tf, q: Tensor, k: Tensor, v: Tensor, mask: Tensor, scale: Tensor, B: number, S: number, h: number, d: number): Tensor {
  const heads = (t: Tensor) => tf.transpose(tf.reshape(t, [B, S, h, d]), [0, 2, 1, 3]);
  const scores = tf.add(tf.mul(tf.matMul(heads(q), heads(k), false, true), scale), mask);
  const context = tf.matMul(tf.softmax(scores), heads(v));
  return tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [B, S, h * d]);
}

/** A post-LN BERT layer on x [B, S, H] with the 16 parameters in LAYER_PARAMS order. */
function layer(tf: Tf, x: Tensor, ps: Tensor[], mask: Tensor, scale: Tensor, p: Extract<Problem, { kind: 'layer' }>): Tensor {
  const [wq, bq, wk, bk, wv, bv, wo, bo, g1, be1, w1, b1, w2, b2, g2, be2] = ps as [Tensor, ...Tensor[]];
  const T = p.B * p.S;
  const linear = (a: Tensor, w: Tensor, b: Tensor) => tf.fused.matMul({ a: a as TfCore.Tensor2D, b: w as TfCore.Tensor2D, transposeB: true, bias: b });
  const norm = (a: Tensor, g: Tensor, b: Tensor) => {
    const { mean, variance } = tf.moments(a, -1, true);
    return tf.add(tf.mul(tf.mul(tf.sub(a, mean), tf.rsqrt(tf.add(variance, LAYER_NORM_EPS))), g), b);
  };
  const gelu = (a: Tensor) => tf.mul(tf.mul(a, 0.5), tf.add(tf.erf(tf.mul(a, Math.SQRT1_2)), 1));
  const x2 = tf.reshape(x, [T, p.H]);
  const context = attention(tf, linear(x2, wq!, bq!), linear(x2, wk!, bk!), linear(x2, wv!, bv!), mask, scale, p.B, p.S, p.heads, p.H / p.heads);
  const a = norm(tf.add(linear(tf.reshape(context, [T, p.H]), wo!, bo!), x2), g1!, be1!);
  const out = norm(tf.add(linear(gelu(linear(a, w1!, b1!)), w2!, b2!), a), g2!, be2!);
  return tf.reshape(out, [p.B, p.S, p.H]);
}
