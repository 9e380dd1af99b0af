/**
 * Loading the peer engines of `bench peers`: each is an optional devDependency, so a missing one is
 * reported (with the command that installs it) rather than failing the benchmark.
 *
 * The peers find WebGPU as a browser offers it, at navigator.gpu; Node has no navigator.gpu, so the
 * engine's own Dawn instance (`webgpu` package) is put there while the peers load and run: every
 * engine then asks the same Dawn instance for the same adapter (each for its own device).
 */
import { loadJax } from './jax.ts';
import { loadOrt } from './ort.ts';
import { PEER_NAMES, type PeerEngine, type PeerName } from './runner.ts';
import { loadTfjs } from './tfjs.ts';

/** How a peer fared at load time. */
export interface PeerStatus {
  name: PeerName;
  status: 'ok' | 'missing' | 'failed';
  version?: string;
  /** Why it is missing or failed, and what to do. */
  note?: string;
}

/** npm packages of each peer (installed with `npm install --no-save ...` when missing). */
export const PEER_PACKAGES: Record<PeerName, string[]> = {
  tfjs: ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu'],
  'jax-js': ['@jax-js/jax'],
  onnxruntime: ['onnxruntime-node'],
};

const LOADERS: Record<PeerName, () => Promise<PeerEngine>> = { tfjs: loadTfjs, 'jax-js': loadJax, onnxruntime: loadOrt };

/**
 * Sets navigator.gpu to `gpu` (Node 21+ has a navigator without gpu; Node 20 has none).
 * @returns a function that restores what was there
 */
export function installNavigatorGpu(gpu: GPU): () => void {
  const had = Object.getOwnPropertyDescriptor(globalThis, 'navigator');
  const base = (globalThis as { navigator?: object }).navigator;
  const nav = Object.create(base ?? null, {
    gpu: { value: gpu, configurable: true },
    userAgent: { value: (base as { userAgent?: string } | undefined)?.userAgent ?? `Node.js/${process.versions.node}`, configurable: true },
  });
  Object.defineProperty(globalThis, 'navigator', { value: nav, configurable: true, writable: true });
  return () => {
    if (had) Object.defineProperty(globalThis, 'navigator', had);
    else delete (globalThis as { navigator?: object }).navigator;
  };
}

function isMissingModule(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND';
}

/**
 * Loads the wanted peers (navigator.gpu must be installed).
 * @returns the engines that loaded, and a status for every wanted peer
 */
export async function loadPeers(wanted: readonly PeerName[] = PEER_NAMES): Promise<{ engines: PeerEngine[]; statuses: PeerStatus[] }> {
  const engines: PeerEngine[] = [];
  const statuses: PeerStatus[] = [];
  for (const name of wanted) {
    try {
      const engine = await LOADERS[name]();
      engines.push(engine);
      statuses.push({ name, status: 'ok', version: engine.version });
    } catch (err) {
      if (isMissingModule(err)) statuses.push({ name, status: 'missing', note: `not installed: npm install --no-save ${PEER_PACKAGES[name].join(' ')}` });
      else statuses.push({ name, status: 'failed', note: (err as Error).message.split('\n')[0] });
    }
  }
  return { engines, statuses };
}
