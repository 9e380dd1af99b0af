import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { useTestEngine, skipBecause } from '../helpers.ts';

describe('command queue regions (timed benchmark regions) @gpu', () => {
  before(useTestEngine);

  it('records a region without submitting: uploads become staged copies, results stay right', async () => {
    const queue = E.getEngine().queue;
    const x = E.tensor([1, 2, 3, 4]);
    await E.getEngine().sync();
    const submits = queue.stats.submits;
    const y = queue.region(() => {
      expect(queue.inRegion).to.equal(true);
      // tensor() uploads: inside a region this must neither submit nor jump ahead of recorded work.
      const a = E.add(x, x); // [2, 4, 6, 8]
      const b = E.tensor([10, 20, 30, 40]);
      return E.keep(E.mul(a, b));
    });
    expect(queue.inRegion).to.equal(false);
    expect(queue.stats.submits, 'nothing submitted inside the region').to.equal(submits);
    expect([...(await y.read())]).to.deep.equal([20, 80, 180, 320]);
    x.dispose();
    y.dispose();
  });

  it('keeps more than a batch of commands and a full uniform arena in one submit', async () => {
    const queue = E.getEngine().queue;
    const x = E.tensor([1, -2, 3]);
    await E.getEngine().sync();
    const submits = queue.stats.submits;
    const n = 700; // > 256 commands per batch; 700 uniforms of ≥ 256 bytes each overflow the 64 KiB arena
    const y = queue.region(() =>
      E.tidy(() => {
        let acc = x;
        for (let i = 0; i < n; i++) acc = E.scale(acc, 1.001);
        return E.keep(acc);
      }),
    );
    expect(queue.stats.submits).to.equal(submits);
    const out = await y.read();
    expect(queue.stats.submits).to.equal(submits + 1);
    const f = 1.001 ** n;
    [1, -2, 3].forEach((v, i) => expect(out[i]).to.be.closeTo(v * f, 1e-3 * Math.abs(v * f)));
    x.dispose();
    y.dispose();
  });

  it('refuses to submit inside a region, and refuses async recorders', async () => {
    const queue = E.getEngine().queue;
    expect(() => queue.region(() => queue.flush())).to.throw(/cannot submit inside region/);
    expect(queue.inRegion).to.equal(false);
    const x = E.tensor([1]);
    let pending: Promise<unknown> | undefined;
    queue.region(() => {
      pending = x.read();
    });
    let error: Error | undefined;
    await pending!.catch((e: Error) => (error = e));
    expect(error?.message).to.match(/cannot submit inside region/);
    expect(() => queue.region(async () => 1)).to.throw(/synchronous/);
    x.dispose();
    await E.getEngine().sync();
  });

  it('writes GPU timestamps around the region', async function () {
    const engine = E.getEngine();
    if (!engine.gpu.features.has('timestamp-query')) skipBecause(this, 'the adapter has no timestamp-query', 'provides');
    const qs = engine.device.createQuerySet({ type: 'timestamp', count: 2 });
    const dst = engine.device.createBuffer({ size: 256, usage: 0x0200 /* QUERY_RESOLVE */ | 0x0004 /* COPY_SRC */ });
    const x = E.randn([128, 128], { seed: 1 });
    engine.queue.region(() => E.tidy(() => void E.matmul(x, x)), { querySet: qs, beginIndex: 0, endIndex: 1 });
    engine.queue.resolveQueries(qs, 0, 2, dst, 0);
    const t = new BigUint64Array(await engine.queue.read(dst, 16));
    expect(t[1]! > t[0]!, `timestamps ${t[0]} → ${t[1]}`).to.equal(true);
    x.dispose();
    qs.destroy();
    dst.destroy();
  });
});
