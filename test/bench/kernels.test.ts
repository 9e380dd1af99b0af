import { expect } from 'chai';
import * as E from '../../engine/index.ts';
import { type KernelReport, kernelCases, kernelTable, linearCase, opCase, runKernelBench } from '../../bench/kernels.ts';
import { GpuTimer } from '../../bench/timer.ts';
import { runGemmSweep, sweepTable } from '../../bench/gemm_sweep.ts';
import { profileCase } from '../../bench/profile.ts';
import { CPU_GEMM_TILES, cpuGemmTile } from '../../engine/kernels/cpu_tiles.ts';
import { useBenchTestEngine } from './helpers.ts';
import { skipBecause } from '../helpers.ts';

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
    // Every row with the engine's kernel variants, and the peak GEMM with the other class's as well.
    const active = E.getEngine().deviceClass;
    const other = active === 'cpu' ? 'gpu' : 'cpu';
    const expected = kernelCases('tiny').flatMap((c) => (c.peak === 'compute' ? [`${c.name} ${active}`, `${c.name} ${other}`] : [`${c.name} ${active}`]));
    expect(report.rows.map((r) => `${r.name} ${r.variant}`)).to.deep.equal(expected);
    expect(report.device.class).to.equal(active);
    expect(report.dispatch_cost.in_pass_us).to.be.greaterThan(0);
    expect(report.dispatch_cost.own_pass_us).to.be.greaterThan(0);
    for (const r of report.rows) {
      expect(r.cpu_ms.median, r.name).to.be.greaterThan(0);
      for (const k of ['name', 'variant', 'kind', 'shape', 'flops', 'bytes', 'time_ms', 'wall_ms', 'cpu_ms', 'gflops', 'gbps', 'frac_peak_flops', 'frac_peak_bw']) {
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
      const row = report.rows.find((r) => r.name === p.row && r.variant === active)!;
      expect(row.time_ms.median, 'the faster of the two peak measurements counts').to.equal(Math.min(p.first_ms, p.last_ms));
    }
    expect(report.rows.find((r) => r.name === report.peaks.compute_row && r.variant === active)!.frac_peak_flops).to.equal(1);
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

  it('prints a markdown table with every row, its variant, the peaks and the per-dispatch cost', () => {
    const table = kernelTable(report);
    for (const r of report.rows) expect(table).to.include(`| ${r.name} | ${r.variant} |`);
    expect(table).to.include('peaks of this run');
    expect(table).to.match(/dispatch cost: \d+ µs per dispatch in a shared compute pass/);
    expect(table).to.match(/peak GEMM [^:]*: cpu kernels [\d.]+× the speed of the gpu kernels/);
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

  it('--sweep times every candidate tile per layout and chooses the fastest; the GEMMs return to the committed table', async function () {
    if (E.getEngine().subgroupSize === null) skipBecause(this, 'the adapter has no subgroups, which the CPU GEMM tiles need', 'provides');
    const tiles = [
      { TM: 8, TQ: 1, KU: 1 },
      { TM: 16, TQ: 1, KU: 1 },
    ];
    const r = await runGemmSweep({ tiles, shapes: [[40, 36, 20]], layouts: ['NT', 'TN'], warmup: 0, repeats: 1 });
    expect(r.cells).to.have.length(4);
    for (const c of r.cells) expect(c.cpu_gflops, JSON.stringify(c)).to.be.greaterThan(0);
    for (const l of ['NT', 'TN'] as const) {
      expect(r.ranking[l]!.map((x) => x.tile)).to.have.members(tiles);
      expect(r.chosen.byLayout[l]).to.equal(r.ranking[l]![0]!.tile);
    }
    expect(r.compile_cpu_ms).to.have.length(4);
    expect(sweepTable(r)).to.include('| TM=8 TQ=1 KU=1 |');
    expect(cpuGemmTile(1000, false, true, E.getEngine().subgroupSize!)).to.deep.equal(CPU_GEMM_TILES.byLayout.NT);
  });

  it('--profile profiles runs of a row: kernels, dispatches and host time per step', async () => {
    const c = opCase({ name: 'gelu 256', kind: 'gelu', shape: '256', flops: 0, bytes: 2048, inputs: [[256]], record: ([x]) => E.gelu(E.scale(x!, 2)) });
    const r = await profileCase(c, { warmup: 1, steps: 2 });
    expect(r.steps).to.equal(2);
    expect(r.perStep.dispatches).to.equal(2);
    expect(r.kernels.map((k) => k.kernel).sort()).to.deep.equal(E.getEngine().deviceClass === 'cpu' ? ['unary_cpu'] : ['unary']);
  });
});
