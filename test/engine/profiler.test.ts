import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { useTestEngine } from '../helpers.ts';

describe('profiler', () => {
  before(useTestEngine);

  it('counts dispatches, submits and readbacks per step and times each kernel with GPU timestamps; work between steps is left out', async () => {
    const engine = E.getEngine();
    const x = E.keep(E.ones([64, 64]));
    const profiler = E.startProfiling(engine);
    expect(() => E.startProfiling(engine), 'one profile at a time').to.throw(/already running/);
    for (let step = 0; step < 3; step++) {
      E.tidy(() => void E.exp(x)); // between steps (as an evaluation would be): left out by profileStepStart
      E.profileStepStart();
      const y = E.tidy(() => E.keep(E.sum(E.matmul(x, x))));
      expect(await y.item()).to.equal(64 * 64 * 64);
      y.dispose();
      E.profileStep();
    }
    E.tidy(() => void E.exp(x)); // after the last step: not counted
    const r = await profiler.stop();
    expect(engine.queue.observer).to.equal(null);
    expect(r.steps).to.equal(3);
    expect(r.stepList).to.have.length(3);
    for (const s of r.stepList) {
      expect(s.readbacks).to.equal(1);
      expect(s.readback_bytes).to.equal(4);
      expect(s.dispatches).to.be.greaterThan(1);
      expect(s.wall_ms).to.be.at.least(s.host_ms);
    }
    const names = r.kernels.map((k) => k.kernel);
    expect(names).to.include(engine.deviceClass === 'cpu' && engine.subgroupSize ? 'matmul_cpu' : 'matmul');
    expect(names.some((n) => n.startsWith('unary'))).to.equal(false);
    expect(r.kernels.reduce((n, k) => n + k.dispatches, 0)).to.equal(r.stepList.reduce((n, s) => n + s.dispatches, 0));
    if (r.timestamps) {
      for (const k of r.kernels) expect(k.gpu_ms, k.kernel).to.be.at.least(0);
      expect(r.kernels.reduce((s, k) => s + k.gpu_share!, 0)).to.be.closeTo(1, 1e-9);
      expect(r.perStep.gpu_ms).to.be.greaterThan(0);
    }
    const table = E.formatProfile(r);
    expect(table).to.include('| kernel | dispatches/step | GPU ms/step |');
    expect(table).to.include(`| ${r.kernels[0]!.kernel} |`);
    x.dispose();
  });
});
