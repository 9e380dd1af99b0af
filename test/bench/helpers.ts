/** Helpers of the benchmark tests. */
import { initEngine } from '../../engine/index.ts';
import { BENCH_DAWN_OPTIONS } from '../../bench/timer.ts';

/**
 * Opens the test engine (outputs poisoned with NaN) as the benchmarks open it, with unquantised
 * timestamps, unless another test opened it first (then its options stay). Call from before().
 */
export async function useBenchTestEngine(): Promise<void> {
  await initEngine({ dawnOptions: [...BENCH_DAWN_OPTIONS], poison: true });
}
