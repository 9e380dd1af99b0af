/**
 * The engine context: one GPU device with its buffer pool, command queue and kernel cache.
 *
 * Ops find it through getEngine(); initEngine() opens the device once per process.
 */
import { CORE_LIBRARY } from './kernels/index.ts';
import type { DType } from './dtype.ts';
import { BufferPool, type PoolStats, STORAGE_USAGE } from './runtime/buffer_pool.ts';
import { type BoundBuffer, CommandQueue } from './runtime/command_queue.ts';
import { type DeviceClass, type DeviceClassChoice, chooseDeviceClass } from './runtime/device_class.ts';
import { type Gpu, type OpenGpuOptions, openGpu } from './runtime/gpu.ts';
import { Kernel, preprocess } from './runtime/kernel.ts';
import type { KernelHandle } from './runtime/kernel_registry.ts';

export interface EngineOptions extends OpenGpuOptions {
  /**
   * Fill every newly allocated op output with NaN (integers with 0x7fc00000) before the op runs,
   * so tests catch elements a kernel forgets to write. Costs one extra dispatch per allocation.
   */
  poison?: boolean;
  /** Seed of the engine's RNG stream (dropout masks, random masks of custom ops). Default 0. */
  seed?: number;
  /**
   * Kernel variants to launch: 'cpu' (CPU adapters such as lavapipe) or 'gpu'; 'auto' (default)
   * classifies the adapter, unless the environment variable WEBPRUNE_DEVICE_CLASS forces one
   * (runtime/device_class.ts).
   */
  deviceClass?: DeviceClass | 'auto';
}

export interface MemoryStats extends PoolStats {
  /** Tensors created and not yet disposed. */
  liveTensors: number;
}

export class Engine {
  readonly pool: BufferPool;
  readonly queue: CommandQueue;
  poison: boolean;
  /** How the class was chosen at start-up (the adapter's class, or what forced another). */
  readonly deviceClassChoice: DeviceClassChoice;
  /**
   * The class whose kernel variants ops launch. Settable (tests run both variants on one adapter);
   * change it only between steps, never while a step's tensors are being recorded.
   */
  deviceClass: DeviceClass;
  /**
   * Lanes per subgroup when the device has 'subgroups' and one fixed subgroup size (lavapipe: 8
   * with 256-bit vectors); null otherwise. CPU kernels that share values across lanes need it
   * (without it those ops launch their GPU variant).
   */
  readonly subgroupSize: number | null;
  /** Counter of the engine's random stream: each random op takes the next 64-bit seed. */
  private rngCounter = 0n;
  private rngSeed: bigint;
  /** Maintained by Tensor: tensors alive. */
  liveTensors = 0;
  private readonly kernels = new Map<string, Kernel>();
  private readonly placeholders = new Map<DType, GPUBuffer>();

  constructor(
    readonly gpu: Gpu,
    options: EngineOptions,
  ) {
    this.pool = new BufferPool(gpu.device);
    this.queue = new CommandQueue(gpu.device);
    this.poison = options.poison ?? false;
    this.rngSeed = BigInt(options.seed ?? 0);
    this.deviceClassChoice = chooseDeviceClass(gpu.description, options.deviceClass);
    this.deviceClass = this.deviceClassChoice.deviceClass;
    const { subgroupMinSize: lo, subgroupMaxSize: hi } = gpu.description;
    this.subgroupSize = gpu.features.has('subgroups') && lo > 0 && lo === hi ? lo : null;
  }

  /** Whether ops should launch their CPU variants that share values across a subgroup. */
  get cpuSubgroupKernels(): boolean {
    return this.deviceClass === 'cpu' && this.subgroupSize !== null;
  }

  get device(): GPUDevice {
    return this.gpu.device;
  }

  /**
   * The kernel of `handle` compiled with these template values (cached per handle and values).
   * @throws KernelSourceError when an include is missing or a template value is missing
   */
  kernel(handle: KernelHandle, defines: Readonly<Record<string, string | number>> = {}): Kernel {
    const key = `${handle.name}|${JSON.stringify(defines)}`;
    let k = this.kernels.get(key);
    if (!k) {
      const library = { ...CORE_LIBRARY, ...handle.library };
      k = new Kernel(handle.name, enableF16(handle.name, preprocess(handle.name, handle.source, library, defines), this.gpu));
      this.kernels.set(key, k);
    }
    return k;
  }

  /**
   * A small buffer bound where a kernel variant ignores a binding (each dtype its own, since
   * bindings are type-checked). Never written: bindings that take it are read-only.
   */
  placeholder(dtype: DType): BoundBuffer {
    let buffer = this.placeholders.get(dtype);
    if (!buffer) {
      buffer = this.gpu.device.createBuffer({ size: 16, usage: STORAGE_USAGE });
      this.placeholders.set(dtype, buffer);
    }
    return { buffer, bytes: 16, dtype, label: `placeholder<${dtype}>` };
  }

  /** Restarts the random stream (dropout, custom ops' noise) at `seed`. */
  setSeed(seed: number): void {
    this.rngSeed = BigInt(seed);
    this.rngCounter = 0n;
  }

  /** The state of the random stream, for checkpoints. */
  rngState(): { seed: string; counter: string } {
    return { seed: this.rngSeed.toString(), counter: this.rngCounter.toString() };
  }

  restoreRngState(state: { seed: string; counter: string }): void {
    this.rngSeed = BigInt(state.seed);
    this.rngCounter = BigInt(state.counter);
  }

  /** The next key of the random stream as two u32 words (a Philox key). */
  nextRandomKey(): [number, number] {
    const c = this.rngCounter++;
    // Mix seed and counter so that seeds s and s+1 do not give shifted copies of one stream.
    const x = splitmix64(this.rngSeed ^ splitmix64(c));
    return [Number(x & 0xffffffffn), Number((x >> 32n) & 0xffffffffn)];
  }

  memory(): MemoryStats {
    return { ...this.pool.stats(), liveTensors: this.liveTensors };
  }

  /** Flushes pending work and waits for the GPU. */
  async sync(): Promise<void> {
    await this.queue.sync();
  }
}

/** Thrown when an f16 kernel is needed on an adapter without 'shader-f16'; names the option to change. */
export class F16UnsupportedError extends Error {
  constructor(kernel: string, adapter: string) {
    super(
      `--dtype f16 needs the WebGPU feature 'shader-f16' (kernel ${kernel}), which this adapter (${adapter}) does not offer: ` +
        'run with --dtype f32, or on an adapter that has it (webprune info lists the features)',
    );
    this.name = 'F16UnsupportedError';
  }
}

/**
 * WGSL that uses f16 (its own kernels, or a templated one instantiated with T = f16) gets the
 * `enable f16;` directive it needs, once the device has 'shader-f16' (requested by openGpu when
 * the adapter offers it).
 * @throws F16UnsupportedError when the code uses f16 and the device lacks the feature
 */
function enableF16(name: string, code: string, gpu: Pick<Gpu, 'features' | 'description'>): string {
  if (!/\bf16\b/.test(code.replace(/\/\/.*$/gm, ''))) return code;
  if (!gpu.features.has('shader-f16')) throw new F16UnsupportedError(name, gpu.description.description || gpu.description.device);
  return /^\s*enable\s+f16\s*;/m.test(code) ? code : `enable f16;\n${code}`;
}

function splitmix64(x: bigint): bigint {
  const M = (1n << 64n) - 1n;
  let z = (x + 0x9e3779b97f4a7c15n) & M;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
  return z ^ (z >> 31n);
}

let current: Engine | null = null;
let opening: Promise<Engine> | null = null;

/**
 * Opens the GPU and makes the engine current. Calling it again returns the same engine
 * (options of later calls other than `poison`, `seed` and `deviceClass` are ignored).
 * @throws NoAdapterError when no WebGPU adapter exists
 * @throws Error when deviceClass or WEBPRUNE_DEVICE_CLASS is not cpu, gpu or auto
 */
export async function initEngine(options: EngineOptions = {}): Promise<Engine> {
  if (!opening) opening = openGpu(options).then((gpu) => (current = new Engine(gpu, options)));
  const engine = await opening;
  if (options.poison !== undefined) engine.poison = options.poison;
  if (options.seed !== undefined) engine.setSeed(options.seed);
  if (options.deviceClass !== undefined) {
    engine.deviceClass = options.deviceClass === 'auto' ? engine.deviceClassChoice.detected : options.deviceClass;
  }
  return engine;
}

/** The current engine. @throws Error when initEngine() has not completed */
export function getEngine(): Engine {
  if (!current) throw new Error('webprune engine not initialised: await initEngine() first');
  return current;
}
