/**
 * Device classes: whether the WebGPU adapter is a GPU or a CPU implementation (Mesa's lavapipe,
 * SwiftShader, WARP), so that ops can launch the kernel variant written for it.
 *
 * The two classes want opposite kernels. A GPU runs thousands of threads and hides memory latency
 * with workgroup memory and barriers. A CPU driver runs the invocations of a workgroup as the
 * SIMD lanes of one thread (lavapipe: 8 lanes of 256-bit vectors), turns a barrier into a
 * coroutine switch, spills registers past the vector register file, and (Mesa 25.0) loads every
 * storage element with a per-lane loop of scalar loads and bounds checks, so a load costs as much
 * as several FMAs. CPU variants therefore load each element once per SIMD lane group, share values
 * across lanes with subgroup shuffles, read vec4s, and avoid barriers (see each kernel's header).
 */

export type DeviceClass = 'cpu' | 'gpu';
export const DEVICE_CLASSES: readonly DeviceClass[] = ['cpu', 'gpu'];

/** Environment variable that forces the class (cpu|gpu); EngineOptions.deviceClass wins over it. */
export const DEVICE_CLASS_ENV = 'WEBPRUNE_DEVICE_CLASS';

/** What the classification reads: WebGPU's GPUAdapterInfo (and Dawn's extension fields). */
export interface AdapterFacts {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** GPUAdapterInfo.isFallbackAdapter: the implementation runs on the CPU. */
  isFallbackAdapter?: boolean;
}

/** A class with the reason it was chosen (shown by `webprune info` and bench reports). */
export interface DeviceClassChoice {
  deviceClass: DeviceClass;
  /** The class the adapter's facts give, whatever was forced. */
  detected: DeviceClass;
  /** Why: 'isFallbackAdapter', 'architecture "software"', a matched name, or the override. */
  reason: string;
}

/** Names of CPU implementations of Vulkan/D3D/WebGPU, as they appear in adapter info strings. */
const CPU_NAMES = /\b(llvmpipe|lavapipe|softpipe|swiftshader|warp|microsoft basic render)\b/i;

/**
 * The class of an adapter from its info: CPU when WebGPU marks it a fallback adapter, when its
 * architecture is "software" (Dawn reports Vulkan's VK_PHYSICAL_DEVICE_TYPE_CPU so), or when a
 * known CPU implementation is named in its device or description; GPU otherwise.
 */
export function classifyAdapter(facts: AdapterFacts): { deviceClass: DeviceClass; reason: string } {
  if (facts.isFallbackAdapter) return { deviceClass: 'cpu', reason: 'isFallbackAdapter' };
  if (facts.architecture.toLowerCase() === 'software') return { deviceClass: 'cpu', reason: 'architecture "software"' };
  for (const field of [facts.device, facts.description, facts.vendor]) {
    const m = CPU_NAMES.exec(field);
    if (m) return { deviceClass: 'cpu', reason: `"${m[0]}" in the adapter info` };
  }
  return { deviceClass: 'gpu', reason: 'hardware adapter' };
}

/**
 * Parses a forced class (an option or the environment variable's value).
 * @throws Error naming the source and the accepted values for anything but cpu, gpu or auto
 */
export function parseDeviceClass(value: string, source: string): DeviceClass | 'auto' {
  const v = value.trim().toLowerCase();
  if (v === 'cpu' || v === 'gpu' || v === 'auto') return v;
  throw new Error(`${source}: device class must be cpu, gpu or auto (got "${value}")`);
}

/**
 * The class to run with: `forced` (EngineOptions.deviceClass), else the environment variable
 * WEBPRUNE_DEVICE_CLASS, else the adapter's own class.
 * @throws Error for an invalid forced value or environment value
 */
export function chooseDeviceClass(facts: AdapterFacts, forced?: DeviceClass | 'auto', env: NodeJS.ProcessEnv = process.env): DeviceClassChoice {
  const { deviceClass: detected, reason } = classifyAdapter(facts);
  if (forced && forced !== 'auto') return { deviceClass: parseDeviceClass(forced, 'EngineOptions.deviceClass') as DeviceClass, detected, reason: 'forced by EngineOptions.deviceClass' };
  const fromEnv = env[DEVICE_CLASS_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    const v = parseDeviceClass(fromEnv, DEVICE_CLASS_ENV);
    if (v !== 'auto') return { deviceClass: v, detected, reason: `forced by ${DEVICE_CLASS_ENV}=${fromEnv}` };
  }
  return { deviceClass: detected, detected, reason };
}
