/**
 * Acquiring a WebGPU device through Dawn's Node bindings (npm `webgpu`).
 *
 * On a machine without a GPU the adapter is Mesa's lavapipe (a Vulkan driver on the CPU); Debian
 * bookworm's own Mesa 22.3 is refused by Dawn, Mesa 25 from bookworm-backports works
 * (`scripts/setup.sh` installs it).
 */
import { create, globals } from 'webgpu';
import { installPollThrottle } from './dawn_poll.ts';
import { classifyAdapter } from './device_class.ts';
import { DAWN_LIMIT_NOTICES, withNativeStderrFiltered } from './native_stderr.ts';

// Dawn's bindings export the WebGPU constants (GPUBufferUsage, GPUMapMode, ...) instead of
// defining them globally as a browser does; the rest of the engine uses them as globals.
Object.assign(globalThis, globals);

/** Features requested whenever the adapter offers them. */
export const OPTIONAL_FEATURES: readonly GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];

/** Limits raised from WebGPU's defaults to whatever the adapter supports. */
const RAISED_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
] as const;

/** What `webprune info` prints about the adapter. */
export interface AdapterDescription {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** GPUAdapterInfo.isFallbackAdapter: a CPU implementation (see device_class.ts). */
  isFallbackAdapter: boolean;
  /** GPUAdapterInfo.subgroupMinSize / subgroupMaxSize (0 when the adapter does not say). */
  subgroupMinSize: number;
  subgroupMaxSize: number;
  features: string[];
  limits: Record<string, number>;
}

/** An opened device with the adapter it came from. */
export interface Gpu {
  /**
   * Dawn's instance. Held for the life of the device: once it is garbage-collected, Dawn's event
   * processing uses freed memory and the process crashes.
   */
  readonly instance: GPU;
  readonly adapter: GPUAdapter;
  readonly device: GPUDevice;
  readonly description: AdapterDescription;
  /** Features enabled on the device (a subset of OPTIONAL_FEATURES plus what Dawn adds). */
  readonly features: ReadonlySet<string>;
  /** The Dawn toggles the instance was created with (e.g. whether timestamps are unquantised). */
  readonly dawnOptions: readonly string[];
}

/** Thrown when no WebGPU adapter can be found; the message says how to get one. */
export class NoAdapterError extends Error {
  constructor(detail: string) {
    super(
      `No WebGPU adapter found (${detail}).\n` +
        'webprune needs a Vulkan driver that Dawn accepts. With a GPU, install its Vulkan driver.\n' +
        "Without one, install Mesa's lavapipe (a Vulkan driver on the CPU) version 25 or later; on Debian bookworm:\n" +
        '  sudo scripts/setup.sh\n' +
        "which adds bookworm-backports and runs 'apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1'\n" +
        "(bookworm's own Mesa 22.3 is refused by Dawn). Check with: webprune info",
    );
    this.name = 'NoAdapterError';
  }
}

export interface OpenGpuOptions {
  /** Dawn toggles such as 'disable-dawn-features=timestamp_quantization' (the bench uses it). */
  dawnOptions?: string[];
  powerPreference?: GPUPowerPreference;
}

/**
 * Opens the default adapter and a device with the optional features and raised limits.
 * @throws NoAdapterError when Dawn finds no adapter (no Vulkan driver, or one too old).
 */
export async function openGpu(options: OpenGpuOptions = {}): Promise<Gpu> {
  let gpu: GPU;
  try {
    gpu = create(options.dawnOptions ?? []);
  } catch (err) {
    throw new NoAdapterError(`Dawn could not start: ${(err as Error).message}`);
  }
  // Dawn prints two limit-clamping notices while it enumerates adapters: dropped at the source (native_stderr.ts).
  const adapter = await withNativeStderrFiltered(DAWN_LIMIT_NOTICES, () => gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' }));
  if (!adapter) throw new NoAdapterError('requestAdapter() returned null');
  const description = describeAdapter(adapter);
  // On a CPU adapter Dawn's busy polling competes with the driver's threads (dawn_poll.ts).
  if (classifyAdapter(description).deviceClass === 'cpu') installPollThrottle();

  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const name of RAISED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });

  return {
    instance: gpu,
    adapter,
    device,
    description,
    features: new Set(device.features),
    dawnOptions: [...(options.dawnOptions ?? [])],
  };
}

function describeAdapter(adapter: GPUAdapter): AdapterDescription {
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean; subgroupMinSize?: number; subgroupMaxSize?: number };
  const limits: Record<string, number> = {};
  // GPUSupportedLimits exposes its fields as prototype getters, so enumerate with for-in.
  for (const key in adapter.limits) limits[key] = (adapter.limits as unknown as Record<string, number>)[key]!;
  return {
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallbackAdapter: info.isFallbackAdapter ?? false,
    subgroupMinSize: info.subgroupMinSize ?? 0,
    subgroupMaxSize: info.subgroupMaxSize ?? 0,
    features: [...adapter.features].sort(),
    limits,
  };
}
