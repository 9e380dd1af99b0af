/** Creating tensors from host data, constants and seeded random draws. */
import { getEngine } from './context.ts';
import type { DType } from './dtype.ts';
import { HostRandom } from './random.ts';
import { keep } from './scope.ts';
import { type Shape, Tensor, checkShape, grid1d, shapeString, sizeOf } from './tensor.ts';
import { K } from './kernels/index.ts';
import { cast } from './ops/f16.ts';

/** `x` cast to `dtype` in a new tensor with x's label; x is disposed. */
function castFrom(x: Tensor, dtype: 'f16'): Tensor {
  const y = cast(x, dtype);
  y.label = x.label;
  x.dispose();
  return y;
}

/**
 * A tensor holding `data` (row-major). Integer tensors keep a host copy (Tensor.hostCopy). f16
 * tensors are uploaded as f32 and rounded on the GPU (ops/f16.ts cast).
 * @param shape defaults to [data.length]
 * @throws Error when data.length does not match the shape, or an i32/u32 value is not an integer
 */
export function tensor(data: ArrayLike<number>, shape: Shape = [data.length], dtype: DType = 'f32', label?: string): Tensor {
  if (dtype === 'f16') return castFrom(tensor(data, shape, 'f32', label), 'f16'); // f16 inference
  checkShape(shape, label ?? 'tensor');
  if (data.length !== sizeOf(shape)) throw new Error(`tensor${label ? ` ${label}` : ''}: ${data.length} values for shape ${shapeString(shape)}`);
  const t = Tensor.empty(shape, dtype, label);
  let host: Float32Array | Int32Array | Uint32Array;
  if (dtype === 'f32') host = data instanceof Float32Array ? data : Float32Array.from(data);
  else {
    for (let i = 0; i < data.length; i++) {
      if (!Number.isInteger(data[i])) throw new Error(`tensor${label ? ` ${label}` : ''}: ${dtype} value ${data[i]} at ${i} is not an integer`);
    }
    host = dtype === 'i32' ? Int32Array.from(data) : Uint32Array.from(data);
    t.hostCopy = host as Int32Array | Uint32Array;
  }
  if (host.length > 0) getEngine().queue.upload(t.buffer, host);
  return t;
}

/** A tensor with every element equal to `value`. */
export function full(shape: Shape, value: number, dtype: DType = 'f32', label?: string): Tensor {
  if (dtype === 'f16') return castFrom(full(shape, value, 'f32', label), 'f16'); // f16 inference
  const t = Tensor.empty(shape, dtype, label);
  const bits = new DataView(new ArrayBuffer(4));
  if (dtype === 'f32') bits.setFloat32(0, value, true);
  else bits.setInt32(0, value, true);
  const engine = getEngine();
  engine.queue.dispatch(engine.kernel(K.fill, { T: dtype }), {
    buffers: { out: t.bind() },
    uniforms: { params: { n: t.size, bits: bits.getUint32(0, true) } },
    workgroups: grid1d(t.size),
  });
  return t;
}

export function zeros(shape: Shape, dtype: DType = 'f32', label?: string): Tensor {
  const t = Tensor.empty(shape, dtype, label);
  getEngine().queue.clear(t.buffer, 0, t.bytes);
  return t;
}

export function ones(shape: Shape, dtype: DType = 'f32', label?: string): Tensor {
  return full(shape, 1, dtype, label);
}

export function zerosLike(t: Tensor): Tensor {
  return zeros(t.shape, t.dtype);
}

export interface RandomOptions {
  seed: number;
  label?: string;
}

/** Normal(mean, std²) values drawn on the host from a seeded Philox stream. */
export function randn(shape: Shape, options: RandomOptions & { mean?: number; std?: number }): Tensor {
  const rng = new HostRandom(options.seed);
  const n = sizeOf(shape);
  const data = new Float32Array(n);
  const mean = options.mean ?? 0;
  const std = options.std ?? 1;
  for (let i = 0; i < n; i++) data[i] = mean + std * rng.normal();
  return tensor(data, shape, 'f32', options.label);
}

/** Uniform values in (low, high) drawn on the host from a seeded Philox stream. */
export function rand(shape: Shape, options: RandomOptions & { low?: number; high?: number }): Tensor {
  const rng = new HostRandom(options.seed);
  const n = sizeOf(shape);
  const data = new Float32Array(n);
  const low = options.low ?? 0;
  const high = options.high ?? 1;
  for (let i = 0; i < n; i++) data[i] = low + (high - low) * rng.uniform();
  return tensor(data, shape, 'f32', options.label);
}

/**
 * A trainable leaf: kept out of every scope, with requiresGrad set.
 * @param data initial values (copied)
 */
export function parameter(data: ArrayLike<number>, shape: Shape, label: string): Tensor {
  const t = tensor(data, shape, 'f32', label);
  t.requiresGrad = true;
  return keep(t);
}
