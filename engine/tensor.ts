/**
 * Tensors: row-major arrays on the GPU with a shape and a dtype.
 *
 * A tensor owns a reference to a pooled storage buffer; reshape() and detach() make new tensors that
 * share it. dispose() drops the reference (and the gradient's); the buffer returns to the pool when
 * its last tensor is disposed. Values reach the host only through read().
 */
import type { GradNode } from './autograd.ts';
import { getEngine } from './context.ts';
import { BYTES_PER_ELEMENT, type DType, storageBytes, typedArray } from './dtype.ts';
import type { BoundBuffer } from './runtime/command_queue.ts';
import { setTensorTest, trackTensor } from './scope.ts';
import { K } from './kernels/index.ts';

export type Shape = readonly number[];

/** Number of elements of a shape (1 for a scalar shape []). */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** @throws Error naming `what` when a dimension is not a non-negative integer */
export function checkShape(shape: Shape, what: string): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`${what}: invalid shape [${shape.join(', ')}]`);
  }
}

export function shapeString(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** A pooled buffer shared by the tensors that view it. */
class Storage {
  refs = 1;
  constructor(readonly buffer: GPUBuffer) {}
}

let nextTensorId = 1;

export class Tensor {
  /** Creation order; autograd replays the tape in decreasing id. */
  readonly id = nextTensorId++;
  readonly size: number;
  /** Set for tensors whose gradient is wanted; leaves accumulate it in `grad`. */
  requiresGrad = false;
  /** Accumulated gradient of a leaf (same shape), owned by this tensor. */
  grad: Tensor | null = null;
  /** The op that produced this tensor, when recorded for autograd. */
  node: GradNode | null = null;
  /**
   * Host copy of the values of integer tensors created from host data. Index ops use it to
   * build deterministic backward plans without reading the GPU.
   */
  hostCopy: Int32Array | Uint32Array | null = null;
  private storage: Storage | null;

  /** @internal Use the creation functions (tensor, zeros, empty, ...) instead. */
  constructor(
    readonly shape: Shape,
    readonly dtype: DType,
    storage: Storage | GPUBuffer,
    /** Names the tensor in error messages (a parameter name, or op#id). */
    public label = '',
  ) {
    this.size = sizeOf(shape);
    this.storage = storage instanceof Storage ? storage : new Storage(storage);
    if (!this.label) this.label = `tensor#${this.id}`;
    getEngine().liveTensors++;
    trackTensor(this);
  }

  /** An uninitialised tensor from the pool (poisoned with NaN in poison mode). */
  static empty(shape: Shape, dtype: DType = 'f32', label?: string): Tensor {
    checkShape(shape, label ?? 'empty');
    const engine = getEngine();
    const t = new Tensor([...shape], dtype, engine.pool.acquire(storageBytes(dtype, sizeOf(shape))), label);
    if (engine.poison) poisonTensor(t);
    return t;
  }

  get disposed(): boolean {
    return this.storage === null;
  }

  /** @throws Error naming the tensor when it was disposed */
  get buffer(): GPUBuffer {
    if (!this.storage) throw new Error(`tensor ${this.label} ${shapeString(this.shape)} used after dispose()`);
    return this.storage.buffer;
  }

  /** Bytes of the tensor's elements, rounded up to 4 (at least 4: empty tensors still bind one element). */
  get bytes(): number {
    return storageBytes(this.dtype, this.size);
  }

  get rank(): number {
    return this.shape.length;
  }

  /** The binding of this tensor for a kernel dispatch. */
  bind(): BoundBuffer {
    return { buffer: this.buffer, bytes: this.bytes, dtype: this.dtype, label: this.label };
  }

  /** A new tensor of another shape with the same elements, sharing storage (no copy, no grad). */
  view(shape: Shape): Tensor {
    if (sizeOf(shape) !== this.size) {
      throw new Error(`cannot view ${this.label} ${shapeString(this.shape)} as ${shapeString(shape)}`);
    }
    this.storage!.refs++;
    const t = new Tensor([...shape], this.dtype, this.storage!, this.label);
    t.hostCopy = this.hostCopy;
    return t;
  }

  /** Copies the values to the host (flushes pending GPU work and waits for it). */
  async read(): Promise<Float32Array | Int32Array | Uint32Array> {
    if (this.dtype === 'f16') return readF16(this);
    const data = await getEngine().queue.read(this.buffer, this.size * BYTES_PER_ELEMENT);
    return typedArray(this.dtype, data, this.size);
  }

  /** The single value of a one-element tensor. @throws Error when size != 1 */
  async item(): Promise<number> {
    if (this.size !== 1) throw new Error(`item(): ${this.label} has shape ${shapeString(this.shape)}, not one element`);
    return (await this.read())[0]!;
  }

  /** Releases the storage (and the gradient); safe to call twice. */
  dispose(): void {
    if (!this.storage) return;
    const engine = getEngine();
    if (--this.storage.refs === 0) engine.pool.release(this.storage.buffer);
    this.storage = null;
    engine.liveTensors--;
    this.grad?.dispose();
    this.grad = null;
    this.node = null;
  }

  toString(): string {
    return `Tensor(${this.label}, ${shapeString(this.shape)}, ${this.dtype})`;
  }
}

setTensorTest((v): v is Tensor => v instanceof Tensor);

/** Fills a tensor with NaN bits (f32; f16: 0x7e00 in both halves of every word) or 0x7fc00000 (integers). */
function poisonTensor(t: Tensor): void {
  const engine = getEngine();
  // f16 holds two elements per word: its words are filled as u32 (a NaN in each half).
  const f16 = t.dtype === 'f16';
  const n = f16 ? t.bytes / 4 : t.size;
  engine.queue.dispatch(engine.kernel(K.fill, { T: f16 ? 'u32' : t.dtype }), {
    buffers: { out: f16 ? { ...t.bind(), dtype: 'u32' } : t.bind() },
    uniforms: { params: { n, bits: f16 ? 0x7e007e00 : 0x7fc00000 } },
    workgroups: grid1d(Math.max(n, 1)),
  });
}

/** The values of an f16 tensor as f32 (exact): widened on the GPU (cast_f16.wgsl), then read. */
async function readF16(t: Tensor): Promise<Float32Array> {
  const engine = getEngine();
  const wide = engine.pool.acquire(storageBytes('f32', t.size));
  try {
    engine.queue.dispatch(engine.kernel(K.castF16, { FROM: 'f16', TO: 'f32' }), {
      buffers: { x: t.bind(), y: { buffer: wide, bytes: storageBytes('f32', t.size), dtype: 'f32', label: `${t.label} (as f32)` } },
      uniforms: { params: { n: t.size } },
      workgroups: grid1d(Math.max(t.size, 1)),
    });
    return new Float32Array(await engine.queue.read(wide, t.size * BYTES_PER_ELEMENT), 0, t.size);
  } finally {
    engine.pool.release(wide);
  }
}

/** Workgroup counts covering n threads in groups of `wg`, spilling into y past 65535 groups. */
export function grid1d(n: number, wg = 256): [number, number, number] {
  const groups = Math.ceil(n / wg);
  if (groups <= 65535) return [groups, 1, 1];
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y, 1];
}

/**
 * Workgroups of 64 for the CPU elementwise kernels (unary_cpu.wgsl and kin), whose invocations
 * each take 4 vec4s: ⌈n / 16⌉ invocations.
 */
export function vec4Grid(n: number): [number, number, number] {
  return grid1d(Math.max(1, Math.ceil(n / 16)), 64);
}
