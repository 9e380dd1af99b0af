import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { POLL_ENV, SLEEP_FRACTION, SPIN_MS, installPollThrottle, pollThrottleCounts } from '../../engine/runtime/dawn_poll.ts';
import { skipBecause, useTestEngine } from '../helpers.ts';

// Dawn's Node bindings poll for finished GPU work from a setImmediate chain; on a CPU adapter the
// engine reroutes those polls so that a long wait sleeps between them (engine/runtime/dawn_poll.ts).
describe('Dawn polling on CPU adapters @gpu', () => {
  before(useTestEngine);

  it('reroutes Dawn’s polls: at once at the start of a wait, then sleeping a tenth of the wait so far, at most 1 ms', async function () {
    const engine = E.getEngine();
    if (engine.deviceClassChoice.detected !== 'cpu') return skipBecause(this, 'the adapter is a GPU: Dawn keeps its own polling there', 'lacks');
    if (process.env[POLL_ENV] === 'spin') return skipBecause(this, `${POLL_ENV}=spin keeps Dawn's polling (CI never sets it)`, 'provides');
    const before = pollThrottleCounts();
    expect(before, 'installed when the engine opened a CPU adapter').to.not.equal(null);
    // A wait long enough to leave the spinning phase: a GEMM of ~0.5 GFLOP on lavapipe.
    const a = E.randn([512, 512], { seed: 1 });
    const b = E.randn([512, 1024], { seed: 2 });
    await engine.sync();
    const mid = pollThrottleCounts()!;
    const t0 = performance.now();
    const c = E.noGrad(() => E.matmul(E.matmul(a, b), E.matmul(a, b), { transB: true }));
    await c.read();
    const waited = performance.now() - t0;
    const after = pollThrottleCounts()!;
    const immediate = after.immediate - mid.immediate;
    const delayed = after.delayed - mid.delayed;
    expect(immediate + delayed, 'Dawn polled through the throttle').to.be.greaterThan(0);
    if (waited > 20) expect(delayed, `a ${waited.toFixed(0)} ms wait reached the sleeping phase`).to.be.greaterThan(0);
    // Each sleeping poll sleeps a tenth of the time waited (at most 1 ms): the wait grows by 10% per
    // poll from SPIN_MS to 10 ms (⌈ln(10 / SPIN_MS) / ln 1.1⌉ polls), then by 1 ms.
    const growth = Math.ceil(Math.log(10 / SPIN_MS) / Math.log(1 + SLEEP_FRACTION));
    expect(delayed, `${delayed} sleeping polls in ${waited.toFixed(0)} ms`).to.be.at.most(growth + Math.ceil(waited));
    for (const t of [a, b, c]) t.dispose();
  });

  it('leaves JavaScript callbacks of setImmediate as they were, and can be turned off', async () => {
    const order: string[] = [];
    await new Promise<void>((resolve) => {
      setTimeout(() => {
        order.push('timeout');
        resolve();
      }, 5);
      setImmediate((x: string) => order.push(x), 'immediate');
    });
    expect(order).to.deep.equal(['immediate', 'timeout']);
    expect(installPollThrottle({ [POLL_ENV]: 'spin' })).to.equal(false);
    expect(() => installPollThrottle({ [POLL_ENV]: 'off' })).to.throw(`${POLL_ENV}="off": expected spin (Dawn's own polling) or throttle`);
  });
});
