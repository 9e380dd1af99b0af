/** The one way ops launch kernels: by handle (engine/runtime/kernel_registry.ts), with tensors bound by WGSL binding name. */
import { getEngine } from '../context.ts';
import type { BoundBuffer } from '../runtime/command_queue.ts';
import type { UniformValues } from '../runtime/kernel.ts';
import type { KernelHandle } from '../runtime/kernel_registry.ts';
import type { Tensor } from '../tensor.ts';

export interface LaunchArgs {
  /** Template values of the kernel source ({{T}}, ...). */
  defines?: Readonly<Record<string, string | number>>;
  /** Override constants. */
  constants?: Readonly<Record<string, number>>;
  /**
   * Tensors by storage binding name. null binds a placeholder for a binding the chosen variant
   * does not read (a matmul without bias).
   */
  tensors: Readonly<Record<string, Tensor | null>>;
  uniforms?: Readonly<Record<string, UniformValues>>;
  workgroups: readonly [number, number?, number?];
}

/** Records one dispatch of the kernel. @throws Error naming the kernel for a binding it does not declare */
export function launch(handle: KernelHandle, args: LaunchArgs): void {
  const engine = getEngine();
  const kernel = engine.kernel(handle, args.defines);
  const name = handle.name;
  const buffers: Record<string, BoundBuffer> = {};
  for (const [binding, t] of Object.entries(args.tensors)) {
    if (t) buffers[binding] = t.bind();
    else {
      const info = kernel.binding(binding);
      if (!info || info.kind !== 'storage') throw new Error(`kernel ${name}: no storage binding '${binding}'`);
      buffers[binding] = engine.placeholder(info.dtype);
    }
  }
  engine.queue.dispatch(kernel, { buffers, uniforms: args.uniforms, constants: args.constants, workgroups: args.workgroups });
}
