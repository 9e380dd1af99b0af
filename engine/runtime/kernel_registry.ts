/**
 * Kernel handles: every WGSL kernel is defined once, by the module that owns it, and launched through
 * the handle that definition returns, never by a string name. A misspelt handle fails at compile
 * time; two owners defining the same kernel name fail when the second module loads.
 *
 *   // models/kernels/index.ts
 *   import forward from './attention_forward.wgsl';
 *   export const ATTENTION_FORWARD = defineKernel('attention_forward', forward, { library: ATTENTION_LIB });
 *   // models/ops/masked_attention.ts
 *   launch(ATTENTION_FORWARD, { tensors: { q, k, v, ... }, workgroups: [...] });
 *
 * `#include "lib/x.wgsl"` in a source resolves against the handle's own library first, then against
 * the engine's core library (engine/kernels/lib/: Philox, math, strided indexing, workgroup
 * reductions, the GEMM microkernel).
 */

/** One defined kernel: its name (for messages and caches), WGSL source and include library. */
export interface KernelHandle {
  readonly name: string;
  readonly source: string;
  /** Files `#include`d by path, beyond the engine's core library. */
  readonly library: Readonly<Record<string, string>>;
}

export interface DefineKernelOptions {
  /** Include files of the owner (keys as written in `#include "..."`). */
  library?: Readonly<Record<string, string>>;
}

const defined = new Map<string, KernelHandle>();

/**
 * Registers a kernel and returns its handle.
 * @throws Error when another module already defined a kernel of this name with a different source
 */
export function defineKernel(name: string, source: string, options: DefineKernelOptions = {}): KernelHandle {
  const existing = defined.get(name);
  if (existing) {
    // The same module evaluated twice (two import URLs of one file) defines the same source again.
    if (existing.source === source) return existing;
    throw new Error(`kernel '${name}' is defined twice, with different sources`);
  }
  const handle: KernelHandle = Object.freeze({ name, source, library: Object.freeze({ ...(options.library ?? {}) }) });
  defined.set(name, handle);
  return handle;
}

/** Every kernel defined so far (by the modules imported so far), by name. */
export function definedKernels(): ReadonlyMap<string, KernelHandle> {
  return defined;
}
