/**
 * The single stream of GPU work: dispatches recorded into a shared command encoder and submitted
 * in batches.
 *
 * Uniform structs of all dispatches of a batch live in one "arena" buffer, mapped at creation and
 * written while recording; it is unmapped just before the batch is submitted and destroyed after.
 * Nothing is read back unless read() is called, so a training step is a few submits and no waits.
 */
import type { DType } from '../dtype.ts';
import { type Kernel, type UniformValues, packUniform } from './kernel.ts';

/** A buffer range bound to a storage binding, with the element type it holds. */
export interface BoundBuffer {
  buffer: GPUBuffer;
  /** Bytes bound from offset 0 (a multiple of 4, at least 4). */
  bytes: number;
  dtype: DType;
  /** Names the tensor in error messages. */
  label: string;
}

export interface DispatchArgs {
  /** Storage bindings by the names the WGSL declares. */
  buffers: Readonly<Record<string, BoundBuffer>>;
  /** Uniform structs by binding name, each given by member name. */
  uniforms?: Readonly<Record<string, UniformValues>>;
  /** Pipeline-overridable constants (`override` declarations). */
  constants?: Readonly<Record<string, number>>;
  /** Workgroup counts; each at most maxComputeWorkgroupsPerDimension. */
  workgroups: readonly [number, number?, number?];
}

export interface QueueStats {
  dispatches: number;
  submits: number;
}

/** Watches the command stream (the profiler, runtime/profiler.ts). */
export interface QueueObserver {
  /**
   * A dispatch of `kernel` is being recorded. Returning timestamp writes puts the dispatch in a
   * compute pass of its own that writes them.
   */
  onDispatch(kernel: string): GPUComputePassTimestampWrites | null;
  onSubmit(): void;
  /** The host waited `ms` for the GPU: a read of `readBytes` bytes, or a sync (null). */
  onWait(ms: number, readBytes: number | null): void;
}

/** Where a recorded region writes its two GPU timestamps (see CommandQueue.region). */
export interface RegionTimestamps {
  querySet: GPUQuerySet;
  /** Query index written before the region's first command. */
  beginIndex: number;
  /** Query index written after the region's last command. */
  endIndex: number;
}

const ARENA_BYTES = 1 << 16;

export class CommandQueue {
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private arena: { buffer: GPUBuffer; view: DataView; used: number } | null = null;
  private commandsInBatch = 0;
  private retired: GPUBuffer[] = [];
  private deviceError: string | null = null;
  /** Open region() calls: while > 0 nothing is submitted (see region()). */
  private holds = 0;
  private readonly uniformAlign: number;
  private readonly maxWorkgroups: number;
  readonly stats: QueueStats = { dispatches: 0, submits: 0 };
  /** Set by the profiler while it runs. */
  observer: QueueObserver | null = null;

  /**
   * @param maxCommandsPerSubmit a batch is submitted once it holds this many commands, so the GPU
   *   starts working while the host keeps recording
   */
  constructor(
    readonly device: GPUDevice,
    private readonly maxCommandsPerSubmit = 256,
  ) {
    this.uniformAlign = Math.max(device.limits.minUniformBufferOffsetAlignment, 16);
    this.maxWorkgroups = device.limits.maxComputeWorkgroupsPerDimension;
    device.onuncapturederror = (event: GPUUncapturedErrorEvent) => {
      this.deviceError ??= event.error.message;
    };
  }

  /**
   * Records one dispatch of `kernel`.
   * @throws Error naming the kernel and binding when a binding is missing, unknown, of the wrong
   *   element type, or a written buffer is also bound elsewhere; or when a workgroup count is too large
   */
  dispatch(kernel: Kernel, args: DispatchArgs): void {
    const [x, y = 1, z = 1] = args.workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    if (x > this.maxWorkgroups || y > this.maxWorkgroups || z > this.maxWorkgroups) {
      throw new Error(`kernel ${kernel.name}: dispatch (${x}, ${y}, ${z}) exceeds ${this.maxWorkgroups} workgroups per dimension`);
    }
    const { pipeline, bindGroupLayouts } = kernel.pipeline(this.device, args.constants);
    const entriesByGroup: GPUBindGroupEntry[][] = bindGroupLayouts.map(() => []);
    const uniforms = args.uniforms ?? {};
    for (const name of Object.keys(args.buffers)) {
      const info = kernel.binding(name);
      if (!info || info.kind !== 'storage') throw new Error(`kernel ${kernel.name}: no storage binding '${name}'`);
    }
    for (const name of Object.keys(uniforms)) {
      const info = kernel.binding(name);
      if (!info || info.kind !== 'uniform') throw new Error(`kernel ${kernel.name}: no uniform binding '${name}'`);
    }
    // Reserve arena room for all uniforms of this dispatch up front, so that a flush for a full
    // arena cannot strand a uniform already written for it.
    let uniformBytes = 0;
    for (const info of kernel.bindings) if (info.kind === 'uniform') uniformBytes += this.alignUniform(info.size);
    if (this.arena && this.arena.used + uniformBytes > this.arena.view.byteLength) {
      // Inside a region a full arena is replaced without submitting; elsewhere the batch goes.
      if (this.holds > 0) this.retireArena();
      else this.flush();
    }
    for (const info of kernel.bindings) {
      if (info.kind === 'storage') {
        const b = args.buffers[info.name];
        if (!b) throw new Error(`kernel ${kernel.name}: storage binding '${info.name}' not bound`);
        if (b.dtype !== info.dtype) {
          throw new Error(`kernel ${kernel.name}: binding '${info.name}' is array<${info.dtype}> but tensor ${b.label} is ${b.dtype}`);
        }
        if (info.access === 'read_write') {
          for (const [other, ob] of Object.entries(args.buffers)) {
            if (other !== info.name && ob.buffer === b.buffer) {
              throw new Error(`kernel ${kernel.name}: '${info.name}' is written but its buffer is also bound as '${other}'`);
            }
          }
        }
        // A vector array binds whole elements: the tensor's bytes rounded up (pooled buffers are
        // multiples of 256 bytes, so the rounded range exists).
        const unit = 4 * info.components;
        const size = Math.min(b.buffer.size, Math.ceil(b.bytes / unit) * unit);
        entriesByGroup[info.group]!.push({ binding: info.binding, resource: { buffer: b.buffer, offset: 0, size } });
      } else {
        const values = uniforms[info.name];
        if (!values) throw new Error(`kernel ${kernel.name}: uniform '${info.name}' not given`);
        const { buffer, offset } = this.uniformSlot(info.size, (view, at) => packUniform(kernel.name, info, values, view, at));
        entriesByGroup[info.group]!.push({ binding: info.binding, resource: { buffer, offset, size: info.size } });
      }
    }
    const timestampWrites = this.observer?.onDispatch(kernel.name) ?? null;
    if (timestampWrites) this.beginTimedPass(timestampWrites);
    const pass = this.computePass();
    pass.setPipeline(pipeline);
    entriesByGroup.forEach((entries, group) => {
      pass.setBindGroup(group, this.device.createBindGroup({ layout: bindGroupLayouts[group]!, entries }));
    });
    pass.dispatchWorkgroups(x, y, z);
    if (timestampWrites) this.endPass();
    this.stats.dispatches++;
    this.countCommand();
  }

  /** Records zero-filling of `size` bytes of `buffer` from `offset` (both multiples of 4). */
  clear(buffer: GPUBuffer, offset: number, size: number): void {
    if (size === 0) return;
    this.endPass();
    this.commandEncoder().clearBuffer(buffer, offset, size);
    this.countCommand();
  }

  /** Records a buffer-to-buffer copy (offsets and size multiples of 4). */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, size: number): void {
    if (size === 0) return;
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, size);
    this.countCommand();
  }

  /**
   * Writes host data into a buffer. Work recorded before it is submitted first, since
   * queue.writeBuffer takes effect ahead of commands still waiting in the encoder.
   */
  upload(buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
    if (this.holds > 0) {
      // Inside a region: stage the data and record a copy, so the region stays unsubmitted and
      // the write keeps its place in the command stream.
      const size = Math.ceil(data.byteLength / 4) * 4;
      if (size === 0) return;
      const staging = this.device.createBuffer({ size, usage: 0x0004 /* COPY_SRC */, mappedAtCreation: true });
      new Uint8Array(staging.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      staging.unmap();
      this.retired.push(staging);
      this.copy(staging, 0, buffer, offset, size);
      return;
    }
    this.flush();
    this.device.queue.writeBuffer(buffer, offset, data.buffer, data.byteOffset, data.byteLength);
  }

  /**
   * Records the commands of `record()` as one contiguous, unsubmitted stretch of the command
   * stream, optionally between two GPU timestamps (feature 'timestamp-query'), and returns what
   * `record` returns. Inside the region the 256-command batch limit is suspended, a full uniform
   * arena is replaced instead of flushed, and upload() records a copy from a staging buffer instead
   * of flushing; so the timestamps bracket the region's GPU execution only, without host gaps. The
   * timestamps are written by two empty compute passes, one before and one after the region, so
   * the region's own passes, copies and clears all fall between them. The region is submitted
   * by the next flush() after it (the caller's, or the next batch limit).
   * Regions nest; timestamps are written only by the regions that are given them.
   * @throws Error when `record` submits (flush(), read(), sync()) — the region would be split —
   *   or returns a promise (a region cannot span an await)
   */
  region<T>(record: () => T, timestamps?: RegionTimestamps): T {
    if (timestamps) this.timestampPass({ querySet: timestamps.querySet, beginningOfPassWriteIndex: timestamps.beginIndex });
    this.holds++;
    let result: T;
    try {
      result = record();
    } finally {
      this.holds--;
    }
    if (result instanceof Promise) throw new Error('CommandQueue.region() takes a synchronous function: a region cannot span an await');
    if (timestamps) this.timestampPass({ querySet: timestamps.querySet, endOfPassWriteIndex: timestamps.endIndex });
    return result;
  }

  /** Whether commands are being recorded inside region(). */
  get inRegion(): boolean {
    return this.holds > 0;
  }

  /**
   * Submits everything recorded so far.
   * @throws Error inside region() (the region would be split across submits)
   */
  flush(): void {
    if (this.holds > 0) throw new Error('CommandQueue: cannot submit inside region() (read(), sync() and flush() split the region); record only GPU work there');
    this.endPass();
    this.retireArena();
    if (this.encoder) {
      this.device.queue.submit([this.encoder.finish()]);
      this.encoder = null;
      this.stats.submits++;
      this.observer?.onSubmit();
    }
    // Destroying a buffer used by submitted work is allowed: the implementation keeps it alive
    // until that work is done.
    for (const b of this.retired) b.destroy();
    this.retired = [];
    this.commandsInBatch = 0;
    this.throwDeviceError();
  }

  /**
   * Copies `bytes` bytes of `buffer` to the host; flushes and waits for the GPU.
   * @throws Error when the device reported a validation or out-of-memory error
   */
  async read(buffer: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const staging = this.device.createBuffer({ size, usage: 0x0001 /* MAP_READ */ | 0x0008 /* COPY_DST */ });
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(buffer, offset, staging, 0, size);
    this.flush();
    const t0 = performance.now();
    await staging.mapAsync(0x0001 /* GPUMapMode.READ */);
    this.observer?.onWait(performance.now() - t0, bytes);
    const out = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    this.throwDeviceError();
    return out;
  }

  /** Flushes and waits until the GPU has finished all submitted work. */
  async sync(): Promise<void> {
    this.flush();
    const t0 = performance.now();
    await this.device.queue.onSubmittedWorkDone();
    this.observer?.onWait(performance.now() - t0, null);
    this.throwDeviceError();
  }

  /** Ends the current compute pass so the next commands start a new one (timestamped passes use it). */
  endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  /** Begins a compute pass with timestamp writes; later dispatches go into it until endPass(). */
  beginTimedPass(timestampWrites: GPUComputePassTimestampWrites): void {
    this.endPass();
    this.pass = this.commandEncoder().beginComputePass({ timestampWrites });
  }

  /** Records resolving a query set into a buffer (for GPU timestamps). */
  resolveQueries(querySet: GPUQuerySet, first: number, count: number, destination: GPUBuffer, offset: number): void {
    this.endPass();
    this.commandEncoder().resolveQuerySet(querySet, first, count, destination, offset);
  }

  private throwDeviceError(): void {
    if (this.deviceError) {
      const message = this.deviceError;
      this.deviceError = null;
      throw new Error(`WebGPU device error: ${message}`);
    }
  }

  /** Unmaps the uniform arena (its uniforms are all written) and frees it after the next submit. */
  private retireArena(): void {
    if (!this.arena) return;
    this.arena.buffer.unmap();
    this.retired.push(this.arena.buffer);
    this.arena = null;
  }

  /** An empty compute pass that only writes timestamps. */
  private timestampPass(timestampWrites: GPUComputePassTimestampWrites): void {
    this.endPass();
    this.commandEncoder().beginComputePass({ timestampWrites }).end();
  }

  private commandEncoder(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  private computePass(): GPUComputePassEncoder {
    return (this.pass ??= this.commandEncoder().beginComputePass());
  }

  private countCommand(): void {
    if (++this.commandsInBatch >= this.maxCommandsPerSubmit && this.holds === 0) this.flush();
  }

  private alignUniform(size: number): number {
    return Math.ceil(size / this.uniformAlign) * this.uniformAlign;
  }

  private uniformSlot(size: number, write: (view: DataView, offset: number) => void): { buffer: GPUBuffer; offset: number } {
    const need = this.alignUniform(size);
    if (!this.arena) {
      const buffer = this.device.createBuffer({ size: ARENA_BYTES, usage: 0x0040 /* UNIFORM */, mappedAtCreation: true });
      this.arena = { buffer, view: new DataView(buffer.getMappedRange()), used: 0 };
    }
    const offset = this.arena.used;
    write(this.arena.view, offset);
    this.arena.used += need;
    return { buffer: this.arena.buffer, offset };
  }
}
