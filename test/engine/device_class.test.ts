import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { type AdapterFacts, chooseDeviceClass, classifyAdapter } from '../../engine/runtime/device_class.ts';
import { useTestEngine } from '../helpers.ts';

const facts = (f: Partial<AdapterFacts>): AdapterFacts => ({ vendor: '', architecture: '', device: '', description: '', ...f });

describe('device classes', () => {
  it('classifies CPU implementations from the adapter info, hardware as GPU', () => {
    const lavapipe = facts({ vendor: 'mesa', architecture: 'software', device: 'llvmpipe-llvm-15-0-6-256-bits-', description: 'llvmpipe: Mesa 25.0.7', isFallbackAdapter: true });
    expect(classifyAdapter(lavapipe)).to.deep.equal({ deviceClass: 'cpu', reason: 'isFallbackAdapter' });
    expect(classifyAdapter({ ...lavapipe, isFallbackAdapter: false }).reason).to.equal('architecture "software"');
    expect(classifyAdapter(facts({ vendor: 'google', device: 'SwiftShader Device (Subzero)' })).deviceClass).to.equal('cpu');
    expect(classifyAdapter(facts({ vendor: 'nvidia', architecture: 'hopper', device: 'NVIDIA H200', description: 'NVIDIA H200' }))).to.deep.equal({ deviceClass: 'gpu', reason: 'hardware adapter' });
    expect(classifyAdapter(facts({ vendor: 'amd', architecture: 'rdna-3', description: 'AMD Radeon RX 7900' })).deviceClass).to.equal('gpu');
  });

  it('is forced by the option, else by WEBPRUNE_DEVICE_CLASS, and rejects other values naming the source', () => {
    const gpu = facts({ vendor: 'nvidia', description: 'NVIDIA H200' });
    expect(chooseDeviceClass(gpu, undefined, {})).to.include({ deviceClass: 'gpu', detected: 'gpu' });
    expect(chooseDeviceClass(gpu, undefined, { WEBPRUNE_DEVICE_CLASS: 'cpu' })).to.include({ deviceClass: 'cpu', detected: 'gpu', reason: 'forced by WEBPRUNE_DEVICE_CLASS=cpu' });
    expect(chooseDeviceClass(gpu, 'gpu', { WEBPRUNE_DEVICE_CLASS: 'cpu' }).deviceClass).to.equal('gpu');
    expect(chooseDeviceClass(gpu, 'auto', { WEBPRUNE_DEVICE_CLASS: 'auto' }).deviceClass).to.equal('gpu');
    expect(() => chooseDeviceClass(gpu, undefined, { WEBPRUNE_DEVICE_CLASS: 'tpu' })).to.throw(/WEBPRUNE_DEVICE_CLASS: device class must be cpu, gpu or auto \(got "tpu"\)/);
  });

  it('the engine reports its class and subgroup size, and the class can be switched', async () => {
    await useTestEngine();
    const engine = E.getEngine();
    expect(E.DEVICE_CLASSES).to.include(engine.deviceClass);
    expect(engine.deviceClassChoice.reason).to.be.a('string').and.not.equal('');
    const before = engine.deviceClass;
    engine.deviceClass = before === 'cpu' ? 'gpu' : 'cpu';
    expect(engine.cpuSubgroupKernels).to.equal(engine.deviceClass === 'cpu' && engine.subgroupSize !== null);
    engine.deviceClass = before;
  });
});
