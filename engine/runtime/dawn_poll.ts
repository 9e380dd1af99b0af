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
 * JavaScript callback is scheduled as before). A wait (a chain of polls: Dawn schedules the next
 * one from inside the current one) first polls at full speed for SPIN_MS, so short waits cost
 * what they did; after that each poll first sleeps a tenth of the time waited so far (a futex
 * sleep through Atomics.wait below 1 ms, a 1 ms timer from 10 ms on), so a long wait ends at most
 * ~10% (and 1 ms) after its work. SPIN_MS by measurement (bench kernels' softmax, layer norm and
 * GELU rows, single kernels of 0.6–3 ms, and `npm run test:fast`, many short waits): spinning 5 ms
 * kept those kernels at about half speed (1.6–2.9 ms for softmax), 0.5 ms still at times (medians
 * 1.86 ms, minimum 1.46), 0.1 ms not (1.38–1.47 ms, tight); the tests took 31.6 s with 0.1 ms,
 * 30.9–31.1 s with 0.5–2 ms, 31.3–33.6 s with Dawn's own polling. (A first version told waits
 * apart by the gap between polls, and a new wait inherited the previous one's long sleeps: every
 * short wait then lasted ≥ 1 ms and the tests took 37 s. A chain is now told apart by whether it
 * is scheduled from inside a poll.)
 * Dawn looks setImmediate up on the global object at each call, which is what makes this work;
 * the test in test/engine/dawn_poll.test.ts checks that it still does.
 */

/** How long a wait polls at full speed before it sleeps between polls (ms). */
export const SPIN_MS = 0.1;
/** A poll sleeps this fraction of the time waited so far, at most MAX_SLEEP_MS. */
export const SLEEP_FRACTION = 0.1;
export const MAX_SLEEP_MS = 1;

/** Environment variable: `spin` keeps Dawn's own polling (for A/B measurements), `throttle` (default) does not. */
export const POLL_ENV = 'WEBPRUNE_DAWN_POLL';

interface Throttle {
  original: typeof setImmediate;
  /** Native callbacks scheduled: at once, and after a sleep. */
  immediate: number;
  delayed: number;
}

let installed: Throttle | null = null;
const sleeper = new Int32Array(new SharedArrayBuffer(4));

const isNative = (fn: unknown): boolean => typeof fn === 'function' && /\{\s*\[native code\]\s*\}\s*$/.test(Function.prototype.toString.call(fn));

/**
 * Installs the throttle (once per process; later calls do nothing). Returns false when
 * WEBPRUNE_DAWN_POLL=spin asks for Dawn's own polling.
 * @throws Error naming WEBPRUNE_DAWN_POLL when it is set to anything but spin or throttle
 */
export function installPollThrottle(env: NodeJS.ProcessEnv = process.env): boolean {
  const mode = env[POLL_ENV];
  if (mode !== undefined && mode !== '' && mode !== 'spin' && mode !== 'throttle') {
    throw new Error(`${POLL_ENV}=${JSON.stringify(mode.slice(0, 200))}: expected spin (Dawn's own polling) or throttle (the default on CPU adapters)`);
  }
  if (mode === 'spin') return false;
  if (installed) return true;
  const original = globalThis.setImmediate;
  const state: Throttle = { original, immediate: 0, delayed: 0 };
  let waitStart = 0;
  // Dawn schedules the next poll from inside the current one while work is pending: a native
  // setImmediate outside a poll starts a new wait.
  let inPoll = false;
  const poll = (callback: (...args: unknown[]) => void, args: unknown[]) => {
    inPoll = true;
    try {
      callback(...args);
    } finally {
      inPoll = false;
    }
  };
  const throttled = function (this: unknown, callback: (...args: unknown[]) => void, ...args: unknown[]) {
    if (!isNative(callback)) return original(callback, ...args);
    const now = performance.now();
    if (!inPoll) waitStart = now;
    const waited = now - waitStart;
    if (waited < SPIN_MS) {
      state.immediate++;
      return original(poll, callback, args);
    }
    state.delayed++;
    const sleep = Math.min(MAX_SLEEP_MS, SLEEP_FRACTION * waited);
    // A Timeout, not an Immediate: Dawn never cancels its polls, so the handle type does not matter.
    if (sleep >= MAX_SLEEP_MS) return setTimeout(poll, MAX_SLEEP_MS, callback, args) as unknown as NodeJS.Immediate;
    // Below Node's 1 ms timer granularity: block the (otherwise idle) main thread on a futex.
    return original(() => {
      Atomics.wait(sleeper, 0, 0, sleep);
      poll(callback, args);
    });
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
