/**
 * Dawn's event polling without a spinning thread, for CPU adapters.
 *
 * Dawn's Node bindings wait for GPU work (onSubmittedWorkDone, mapAsync, device requests) by
 * calling instance.ProcessEvents() from a chain of setImmediate callbacks: while anything is
 * pending, Node's main thread polls at full speed. On a GPU that costs a CPU core the GPU does not
 * need. On a CPU adapter (lavapipe) the "GPU" is the CPU's own cores, and the polling thread takes
 * one from the driver's worker threads. Measured on 2 cores, 8 GEMMs 2048×2048×1024 waited for one
 * by one: 1767 ms wall, the main thread 1180 ms of CPU and each of llvmpipe's two threads 1070 ms;
 * with this throttle 1120 ms wall, 40 ms, 1050 ms.
 *
 * installPollThrottle() reroutes the setImmediate calls whose callback is native code (Dawn's; a
 * JavaScript callback is scheduled as before): a wait first polls at once, so short waits stay
 * short, and once it has lasted SPIN_MS it polls every millisecond (Node's timer granularity).
 * Dawn looks setImmediate up on the global object at each call, which is what makes this work;
 * the test in test/engine/dawn_poll.test.ts checks that it still does.
 */

/** How long a wait polls at full speed before it sleeps between polls (ms). */
export const SPIN_MS = 0.5;
/** A native setImmediate this long after the previous one starts a new wait (ms). */
const NEW_WAIT_GAP_MS = 2;

/** Environment variable: `spin` keeps Dawn's own polling (for A/B measurements). */
export const POLL_ENV = 'WEBPRUNE_DAWN_POLL';

interface Throttle {
  original: typeof setImmediate;
  /** Native callbacks scheduled: at once, and after a sleep. */
  immediate: number;
  delayed: number;
}

let installed: Throttle | null = null;

const isNative = (fn: unknown): boolean => typeof fn === 'function' && /\{\s*\[native code\]\s*\}\s*$/.test(Function.prototype.toString.call(fn));

/**
 * Installs the throttle (once per process; later calls do nothing). Returns false when
 * WEBPRUNE_DAWN_POLL=spin asks for Dawn's own polling.
 */
export function installPollThrottle(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env[POLL_ENV] === 'spin') return false;
  if (installed) return true;
  const original = globalThis.setImmediate;
  const state: Throttle = { original, immediate: 0, delayed: 0 };
  let waitStart = -Infinity;
  let last = -Infinity;
  const throttled = function (this: unknown, callback: (...args: unknown[]) => void, ...args: unknown[]) {
    if (!isNative(callback)) return original(callback, ...args);
    const now = performance.now();
    if (now - last > NEW_WAIT_GAP_MS) waitStart = now;
    last = now;
    if (now - waitStart < SPIN_MS) {
      state.immediate++;
      return original(callback, ...args);
    }
    state.delayed++;
    // A Timeout, not an Immediate: Dawn never cancels its polls, so the handle type does not matter.
    return setTimeout(callback, 1, ...args) as unknown as NodeJS.Immediate;
  };
  // Keeps setImmediate.__promisify__ and friends.
  Object.assign(throttled, original);
  globalThis.setImmediate = throttled as unknown as typeof setImmediate;
  installed = state;
  return true;
}

/** Counts of Dawn's polls since installation (null when not installed), for tests and benches. */
export function pollThrottleCounts(): { immediate: number; delayed: number } | null {
  return installed ? { immediate: installed.immediate, delayed: installed.delayed } : null;
}
