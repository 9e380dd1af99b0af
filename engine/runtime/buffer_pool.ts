/**
 * A pool of GPU storage buffers, reused by size class.
 *
 * Tensors of a training step have the same sizes every step, so released buffers are kept in free
 * lists and handed out again instead of being created anew. Sizes are rounded up to a class with at
 * most 12.5% slack so that near-equal sizes share buffers.
 *
 * Reusing a buffer while commands that read it are still recorded but not submitted is safe: all
 * GPU work goes through the one command stream (CommandQueue), whose order WebGPU keeps. The only
 * out-of-stream write, queue.writeBuffer, is preceded by a flush (CommandQueue.upload).
 */

/** Usage of every pooled buffer: bound as storage, and copied to and from. */
export const STORAGE_USAGE = 0x0080 /* STORAGE */ | 0x0004 /* COPY_SRC */ | 0x0008; /* COPY_DST */

/** Memory statistics in bytes and buffer counts. */
export interface PoolStats {
  /** Bytes of all buffers the pool created and has not destroyed. */
  allocatedBytes: number;
  /** Bytes of buffers handed out and not yet released. */
  inUseBytes: number;
  /** Bytes waiting in free lists. */
  freeBytes: number;
  buffersAllocated: number;
  buffersInUse: number;
  /** Highest inUseBytes seen since creation or resetPeak(). */
  peakInUseBytes: number;
}

/** Rounds a byte count up to its size class: ≥ 256 bytes, then steps of 1/8 of the leading power of two. */
export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const step = 2 ** Math.max(Math.floor(Math.log2(bytes)) - 3, 8);
  return Math.ceil(bytes / step) * step;
}

export class BufferPool {
  private readonly free = new Map<number, GPUBuffer[]>();
  private allocatedBytes = 0;
  private inUseBytes = 0;
  private buffersAllocated = 0;
  private buffersInUse = 0;
  private peakInUseBytes = 0;

  constructor(private readonly device: GPUDevice) {}

  /** A buffer of at least `bytes` bytes (its `.size` is the size class). */
  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.free.get(size);
    let buffer = list?.pop();
    if (!buffer) {
      buffer = this.device.createBuffer({ size, usage: STORAGE_USAGE });
      this.allocatedBytes += size;
      this.buffersAllocated++;
    }
    this.inUseBytes += size;
    this.buffersInUse++;
    this.peakInUseBytes = Math.max(this.peakInUseBytes, this.inUseBytes);
    return buffer;
  }

  /** Returns a buffer obtained from acquire() to its free list. */
  release(buffer: GPUBuffer): void {
    const size = buffer.size;
    let list = this.free.get(size);
    if (!list) this.free.set(size, (list = []));
    list.push(buffer);
    this.inUseBytes -= size;
    this.buffersInUse--;
  }

  /** Destroys every free buffer (memory in use is untouched). */
  trim(): void {
    for (const list of this.free.values()) {
      for (const buffer of list) {
        this.allocatedBytes -= buffer.size;
        this.buffersAllocated--;
        buffer.destroy();
      }
    }
    this.free.clear();
  }

  resetPeak(): void {
    this.peakInUseBytes = this.inUseBytes;
  }

  stats(): PoolStats {
    return {
      allocatedBytes: this.allocatedBytes,
      inUseBytes: this.inUseBytes,
      freeBytes: this.allocatedBytes - this.inUseBytes,
      buffersAllocated: this.buffersAllocated,
      buffersInUse: this.buffersInUse,
      peakInUseBytes: this.peakInUseBytes,
    };
  }
}
