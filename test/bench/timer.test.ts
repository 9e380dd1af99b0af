import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { BENCH_DAWN_OPTIONS, GpuTimer, MAX_COPIES, ROTATION_BYTES, randomTensor, randomValues, rotationCopies, summarize } from '../../bench/timer.ts';
import { useBenchTestEngine } from './helpers.ts';

describe('bench: timer @gpu', () => {
  before(useBenchTestEngine);

  it('summarize: median of odd and even counts, min and max', () => {
    expect(summarize([3, 1, 2])).to.deep.equal({ median: 2, min: 1, max: 3 });
    expect(summarize([4, 1, 3, 2])).to.deep.equal({ median: 2.5, min: 1, max: 4 });
    expect(() => summarize([])).to.throw(/no samples/);
    expect(() => summarize([1, NaN])).to.throw(/non-finite/);
  });

  it('times a GPU op: positive median, min ≤ median ≤ max, one sample per repeat', async () => {
    const x = randomTensor([96, 80], 1);
    const w = randomTensor([80, 72], 2);
    const gpu = E.getEngine().gpu;
    const unquantized = gpu.features.has('timestamp-query') && gpu.dawnOptions.includes(BENCH_DAWN_OPTIONS[0]!);
    for (const prefer of unquantized ? (['auto', 'gpu', 'wall'] as const) : (['auto', 'wall'] as const)) {
      const timer = new GpuTimer(E.getEngine(), prefer);
      const m = await timer.time(() => E.tidy(() => void E.matmul(x, w)), { warmup: 1, repeats: 3 });
      timer.dispose();
      expect(m.method, prefer).to.equal(prefer !== 'wall' && unquantized ? 'gpu-timestamps' : 'wall-clock');
      expect(timer.quantized).to.equal(m.method === 'gpu-timestamps' ? false : null);
      expect(m.samples).to.have.length(3);
      expect(m.median).to.be.greaterThan(0);
      expect(m.min).to.be.at.most(m.median);
      expect(m.median).to.be.at.most(m.max);
      expect(m.wall.min).to.be.at.most(m.wall.median);
      expect(m.wall.median).to.be.at.most(m.wall.max);
    }
    x.dispose();
    w.dispose();
  });

  it('interleaves recorders round-robin, warm-up rounds first, and counts runs', async () => {
    const calls: string[] = [];
    let runs = 0;
    const timer = new GpuTimer(E.getEngine());
    const x = randomTensor([16], 3);
    const rec = (tag: string) => (i: number) => {
      calls.push(`${tag}${i}`);
      E.tidy(() => void E.add(x, x));
    };
    const ms = await timer.timeInterleaved([rec('a'), rec('b')], { warmup: 1, repeats: 2, onRun: () => runs++ });
    timer.dispose();
    x.dispose();
    expect(calls).to.deep.equal(['a0', 'b0', 'a1', 'b1', 'a2', 'b2']);
    expect(runs).to.equal(6);
    expect(ms).to.have.length(2);
    for (const m of ms) expect(m.samples).to.have.length(2);
    await expectRejects(() => new GpuTimer(E.getEngine()).time(() => {}, { repeats: 0 }), /repeats must be a positive integer/);
    await expectRejects(() => new GpuTimer(E.getEngine()).time(() => {}, { warmup: -1 }), /warmup must be/);
  });

  it('random inputs: deterministic per seed, never zero, uniform in [-1, 1)', () => {
    const a = randomValues(100000, 7);
    expect([...randomValues(1000, 7)]).to.deep.equal([...a.subarray(0, 1000)]);
    expect([...randomValues(1000, 8)]).to.not.deep.equal([...a.subarray(0, 1000)]);
    let mean = 0;
    let bad = 0;
    for (const v of a) {
      if (v === 0 || v < -1 || v >= 1) bad++;
      mean += v / a.length;
    }
    expect(bad, 'values that are 0 or outside [-1, 1)').to.equal(0);
    expect(Math.abs(mean)).to.be.below(0.02);
    const t = randomTensor([3, 4], 1);
    expect(t.shape).to.deep.equal([3, 4]);
    t.dispose();
  });

  it('rotation copies: enough to exceed the caches, at most MAX_COPIES, at least 1', () => {
    expect(rotationCopies(1024)).to.equal(MAX_COPIES);
    expect(rotationCopies(ROTATION_BYTES / 3)).to.equal(3);
    expect(rotationCopies(ROTATION_BYTES * 4)).to.equal(1);
    expect(() => rotationCopies(0)).to.throw(/positive/);
  });
});

async function expectRejects(f: () => Promise<unknown>, re: RegExp): Promise<void> {
  let err: Error | undefined;
  try {
    await f();
  } catch (e) {
    err = e as Error;
  }
  expect(err?.message, 'expected a rejection').to.match(re);
}
