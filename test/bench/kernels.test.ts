import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { type KernelReport, kernelCases, kernelTable, linearCase, opCase, runKernelBench } from '../../bench/kernels.ts';
import { GpuTimer } from '../../bench/timer.ts';
import { useBenchTestEngine } from './helpers.ts';

describe('bench: kernels @gpu', function () {
  this.timeout(300000);
  before(useBenchTestEngine);
  let report: KernelReport;

  before(async () => {
    report = await runKernelBench({ size: 'tiny', repeats: 2, warmup: 1 });
    report = JSON.parse(JSON.stringify(report)) as KernelReport; // what --json writes
  });

  it('reports device, timing method, the run\'s peaks and every row with its measurements', () => {
    expect(report.command).to.equal('bench kernels');
    expect(report.size).to.equal('tiny');
    expect(report.device.description).to.be.a('string').and.not.equal('');
    expect(['gpu-timestamps', 'wall-clock']).to.include(report.timing.method);
    expect(report.timing).to.include({ warmup: 1, repeats: 2 });
    expect(report.peaks.gflops).to.be.greaterThan(0);
    expect(report.peaks.gbps).to.be.greaterThan(0);
    const names = kernelCases('tiny').map((c) => c.name);
    expect(report.rows.map((r) => r.name)).to.deep.equal(names);
    for (const r of report.rows) {
      for (const k of ['name', 'kind', 'shape', 'flops', 'bytes', 'time_ms', 'wall_ms', 'gflops', 'gbps', 'frac_peak_flops', 'frac_peak_bw']) {
        expect(r, `${r.name}: ${k}`).to.have.property(k);
      }
      expect(r.time_ms.median, r.name).to.be.greaterThan(0);
      expect(r.time_ms.min, r.name).to.be.at.most(r.time_ms.median);
      expect(r.time_ms.median, r.name).to.be.at.most(r.time_ms.max);
      expect(r.gbps, r.name).to.be.closeTo(r.bytes / (r.time_ms.median * 1e6), 1e-9 * r.gbps);
      expect(r.gflops, r.name).to.be.closeTo(r.flops / (r.time_ms.median * 1e6), 1e-9 * (r.gflops + 1));
      expect(r.frac_peak_flops, r.name).to.be.closeTo(r.gflops / report.peaks.gflops, 1e-9);
      expect(r.frac_peak_bw, r.name).to.be.closeTo(r.gbps / report.peaks.gbps, 1e-9);
    }
    expect(report.peaks.measured.map((p) => p.row)).to.deep.equal([report.peaks.compute_row, report.peaks.bandwidth_row]);
    for (const p of report.peaks.measured) {
      const row = report.rows.find((r) => r.name === p.row)!;
      expect(row.time_ms.median, 'the faster of the two peak measurements counts').to.equal(Math.min(p.first_ms, p.last_ms));
    }
    expect(report.rows.find((r) => r.name === report.peaks.compute_row)!.frac_peak_flops).to.equal(1);
    expect(report.rows.find((r) => r.name === report.peaks.bandwidth_row)!.frac_peak_bw).to.equal(1);
  });

  it('covers GEMMs, uneven pruned GEMMs beside their neighbours, attention, softmax, layer norm, GELU and a training step', () => {
    const kinds = new Set(report.rows.map((r) => r.kind));
    for (const k of ['gemm', 'bmm', 'softmax', 'layer_norm', 'gelu', 'copy', 'train_step']) expect(kinds, k).to.include(k);
    for (const n of ['heads N=384', 'heads N=448 (7·64)', 'heads N=512', 'FFN in N=1317', 'FFN out K=1317']) expect(report.rows.map((r) => r.name)).to.include(n);
    const g = report.rows.find((r) => r.name === 'FFN in N=1317')!;
    expect(g.flops).to.equal(2 * 256 * 1317 * 256);
    expect(g.bytes).to.equal(4 * (256 * 256 + 1317 * 256 + 1317 + 256 * 1317));
    const step = report.rows.find((r) => r.kind === 'train_step')!;
    expect(step.peak_memory_bytes).to.be.greaterThan(0);
    expect(step.torch).to.have.property('op', 'bert_train_step');
  });

  it('prints a markdown table with every row and the peaks', () => {
    const table = kernelTable(report);
    for (const r of report.rows) expect(table).to.include(`| ${r.name} |`);
    expect(table).to.include('peaks of this run');
  });

  it('a new row is one opCase entry; it frees what it allocates', async () => {
    const c = opCase({
      name: 'scaled add',
      kind: 'elementwise',
      shape: '64',
      flops: 128,
      bytes: 3 * 4 * 64,
      inputs: [[64], [64]],
      record: ([a, b]) => E.add(E.scale(a!, 2), b!),
    });
    const live = E.getEngine().liveTensors;
    const p = c.prepare(1);
    const timer = new GpuTimer();
    const m = await timer.time(p.run, { warmup: 1, repeats: 2 });
    timer.dispose();
    p.dispose();
    expect(m.median).to.be.greaterThan(0);
    expect(E.getEngine().liveTensors).to.equal(live);
    expect(linearCase('x', 3, 5, 7)).to.include({ flops: 2 * 3 * 5 * 7, bytes: 4 * (21 + 35 + 5 + 15) });
    expect(() => kernelCases('huge' as 'tiny')).to.throw(/unknown bench size/);
  });

  it('every size set has unique row names, one compute and one bandwidth peak, and torch descriptors', () => {
    for (const size of ['tiny', 'small', 'base'] as const) {
      const cases = kernelCases(size);
      expect(new Set(cases.map((c) => c.name)).size, size).to.equal(cases.length);
      expect(cases.filter((c) => c.peak === 'compute'), size).to.have.length(1);
      expect(cases.filter((c) => c.peak === 'bandwidth'), size).to.have.length(1);
      for (const c of cases) expect(c.torch, c.name).to.have.property('op');
    }
    const base = kernelCases('base').map((c) => c.name);
    for (const n of ['base QKV/O T=4096', 'base FFN in T=16384', 'QKᵀ [128,12,128,64]', 'train step base']) expect(base).to.include(n);
  });
});
