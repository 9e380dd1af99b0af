/**
 * webprune's engine: GPU tensors, reverse-mode autograd, ops and optimizers over WebGPU.
 *
 *   await initEngine();
 *   const w = parameter(data, [4, 3], 'w');
 *   tidy(() => { const loss = mean(square(matmul(x, w))); backward(loss); });
 */
export { initEngine, getEngine, Engine, type EngineOptions, type MemoryStats } from './context.ts';
export { Tensor, type Shape, sizeOf, shapeString, grid1d, vec4Grid } from './tensor.ts';
export { launch, type LaunchArgs } from './ops/dispatch.ts';
export { defineKernel, definedKernels, type KernelHandle, type DefineKernelOptions } from './runtime/kernel_registry.ts';
export type { DType } from './dtype.ts';
export { tensor, zeros, ones, full, zerosLike, randn, rand, parameter } from './creation.ts';
export { tidy, keep, startScope, endScope } from './scope.ts';
export { backward, noGrad, isGradEnabled, setGradEnabled, defineOp, type OpDefinition, type OpContext, type GradNode } from './autograd.ts';
export * from './ops/elementwise.ts';
export * from './ops/reduce.ts';
export * from './ops/shape.ts';
export * from './ops/matmul.ts';
export * from './ops/softmax.ts';
export * from './ops/layer_norm.ts';
export * from './ops/dropout.ts';
export * from './ops/indexing.ts';
export * from './ops/losses.ts';
export * from './ops/f16.ts';
export { INFERENCE_DTYPES, type InferenceDType } from './dtype.ts';
export { F16UnsupportedError } from './context.ts';
export { FiniteWatch, type NonFiniteValue, type NonFiniteKind, describeNonFiniteValue } from './finite_watch.ts';
export { AdamW, type ParamGroup, type AdamWOptions, linearWarmupDecay } from './optim/adamw.ts';
export { HostRandom, philox4x32, uniformStream } from './random.ts';
export { NoAdapterError } from './runtime/gpu.ts';
export { type DeviceClass, DEVICE_CLASSES, DEVICE_CLASS_ENV } from './runtime/device_class.ts';
export { Profiler, startProfiling, profileStep, profileStepStart, activeProfiler, formatProfile, type ProfileReport, type ProfileOptions, type KernelProfile, type StepProfile } from './runtime/profiler.ts';
