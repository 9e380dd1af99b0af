import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { encoderFlops } from '../../bench/flops.ts';
import { type SpeedupReport, resolveModel, runSpeedupBench, speedupChartSpec, speedupTable, writeSpeedupOutputs } from '../../bench/speedup.ts';
import { cofiLikeStructure, rankLikeStructure } from '../../bench/structures.ts';
import { runTorchBench } from '../../bench/torch.ts';
import { configToJson, namedConfig, parameterCount, writeConfig } from '../../models/config.ts';
import { useBenchTestEngine } from './helpers.ts';
import { skipBecause } from '../helpers.ts';

const ROW_FIELDS = ['sparsity', 'params', 'flops', 'latency_ms', 'speedup', 'ideal_speedup'];

describe('bench: speedup @gpu @slow', function () {
  this.timeout(300000);
  before(useBenchTestEngine);
  let report: SpeedupReport;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-speedup-'));
  after(() => fs.rmSync(tmp, { recursive: true, force: true }));

  before(async () => {
    report = await runSpeedupBench({ model: 'tiny', sparsities: [0.9, 0.5], batchSize: 2, seqLen: 16, repeats: 2 });
    report = JSON.parse(JSON.stringify(report)) as SpeedupReport;
  });

  it('reports per sparsity params, FLOPs, latency, speedup and the ideal, with the device', () => {
    expect(report.command).to.equal('bench speedup');
    expect(report.device.description).to.be.a('string').and.not.equal('');
    expect(report).to.include({ batch_size: 2, seq_len: 16, model: 'tiny' });
    expect(report.rows.map((r) => r.sparsity)).to.deep.equal([0, 0.5, 0.9]);
    const dense = namedConfig('tiny');
    for (const r of report.rows) {
      for (const k of ROW_FIELDS) expect(r, k).to.have.property(k);
      const c = cofiLikeStructure(dense, r.sparsity, 0);
      expect(r.params).to.equal(parameterCount(c).total);
      expect(r.flops).to.equal(encoderFlops(c, 2, 16).total);
      expect(r.ideal_speedup).to.be.closeTo(encoderFlops(dense, 2, 16).total / r.flops, 1e-9);
      expect(r.latency_ms.median).to.be.greaterThan(0);
      expect(r.latency_ms.min).to.be.at.most(r.latency_ms.median);
      expect(r.latency_ms.median).to.be.at.most(r.latency_ms.max);
      expect(r.speedup).to.be.closeTo(report.rows[0]!.latency_ms.median / r.latency_ms.median, 1e-9);
      expect(Math.abs(r.achieved_sparsity - r.sparsity)).to.be.below(0.005);
    }
    expect(report.rows[0]!.speedup).to.equal(1);
  });

  it('writes JSON, a markdown table and an SVG plot with the ideal line', async () => {
    const files = await writeSpeedupOutputs(report, path.join(tmp, 'out'));
    expect(files.map((f) => path.basename(f))).to.deep.equal(['speedup.json', 'speedup.md', 'speedup.svg']);
    expect(JSON.parse(fs.readFileSync(files[0]!, 'utf8')).rows).to.have.length(3);
    const md = fs.readFileSync(files[1]!, 'utf8');
    expect(md).to.include('| sparsity |').and.include('| 90.0% |');
    expect(md).to.equal(speedupTable(report));
    const svg = fs.readFileSync(files[2]!, 'utf8');
    expect(svg.startsWith('<svg')).to.equal(true);
    expect(svg).to.include('ideal (FLOPs)').and.include('measured');
    const series = new Set((speedupChartSpec(report).data as { values: Array<{ series: string }> }).values.map((v) => v.series));
    expect([...series]).to.deep.equal(['measured', 'ideal (FLOPs)']);
  });

  it('takes a model directory: a pruned checkpoint\'s own structure is measured beside the drawn ones', async () => {
    const dir = path.join(tmp, 'ckpt');
    fs.mkdirSync(dir);
    writeConfig(dir, cofiLikeStructure(namedConfig('tiny'), 0.6, 3));
    const resolved = resolveModel(dir);
    expect(resolved.dense.hiddenSize).to.equal(128);
    expect(resolved.dense.layers).to.deep.equal(namedConfig('tiny').layers);
    expect(resolved.dense.poolerSize).to.equal(undefined);
    expect(resolved.checkpoint!.layers).to.deep.equal(cofiLikeStructure(namedConfig('tiny'), 0.6, 3).layers);
    const r = await runSpeedupBench({ model: dir, sparsities: [], batchSize: 1, seqLen: 8, repeats: 1 });
    expect(r.rows.map((x) => x.source)).to.deep.equal(['drawn', 'checkpoint']);
    expect(r.rows[1]!.sparsity).to.be.closeTo(0.6, 0.005);
    expect(r.notes.join('\n')).to.include('random weights (the directory has none)');
    expect(() => resolveModel(path.join(tmp, 'missing'))).to.throw(/neither a model directory/);
  });

  it('times a pruned checkpoint with its own weights', async () => {
    const dir = await savePrunedTiny(path.join(tmp, 'weights'), 0.6);
    const r = await runSpeedupBench({ model: dir, sparsities: [], batchSize: 1, seqLen: 8, repeats: 1 });
    expect(r.rows.map((x) => x.source)).to.deep.equal(['drawn', 'checkpoint']);
    expect(r.notes.join('\n')).to.include('with its own weights');
  });

  it('times rank-pruned structures beside CoFi-like ones at equal parameter counts, and a rank-pruned checkpoint', async () => {
    const r = await runSpeedupBench({ model: 'tiny', sparsities: [0.7], strategies: ['structured', 'rank'], batchSize: 1, seqLen: 8, repeats: 1, warmup: 0 });
    expect(r.rows.map((x) => `${x.strategy} ${x.sparsity}`)).to.deep.equal(['dense 0', 'structured 0.7', 'rank 0.7']);
    const [, structured, rank] = r.rows;
    expect(Math.abs(rank!.params - structured!.params) / parameterCount(namedConfig('tiny')).total).to.be.below(0.005);
    expect(rank!.flops).to.equal(encoderFlops(rankLikeStructure(namedConfig('tiny'), 0.7), 1, 8).total);
    expect(rank!.structure.ranks).to.have.length(2);
    expect(speedupTable(r)).to.include('| strategy |').and.include('| rank |');
    expect(JSON.stringify(speedupChartSpec(r))).to.include('measured (rank)');
    expect(r.notes.join('\n')).to.include('element-wise pruning has no row');
    const { Bert } = await import('../../models/bert.ts');
    const { saveModel } = await import('../../models/load.ts');
    const dir = path.join(tmp, 'rank-ckpt');
    const pruned = Bert.random(rankLikeStructure(namedConfig('tiny'), 0.5), 'classification', 1);
    await saveModel(pruned, dir);
    pruned.dispose();
    const c = await runSpeedupBench({ model: dir, sparsities: [], batchSize: 1, seqLen: 8, repeats: 1 });
    expect(c.rows.map((x) => x.strategy)).to.deep.equal(['dense', 'checkpoint']);
    expect(c.rows[1]!.sparsity).to.be.closeTo(0.5, 0.005);
    expect(c.notes.join('\n')).to.include('with its own weights');
    expect((await rejection(runSpeedupBench({ model: 'tiny', sparsities: [0.5], strategies: ['rank'], torch: {} })))?.message).to.match(/--torch does not time rank-pruned rows/);
  });

  it('times the same models in ONNX Runtime beside ours, each against its own dense model', async () => {
    // ORT's WebGPU provider takes long to start on a CPU Vulkan driver: WEBPRUNE_TEST_ORT_WEBGPU=1 adds it.
    const RUNTIMES: Array<'onnxruntime' | 'onnxruntime-webgpu'> = process.env.WEBPRUNE_TEST_ORT_WEBGPU ? ['onnxruntime', 'onnxruntime-webgpu'] : ['onnxruntime'];
    const dir = await savePrunedTiny(path.join(tmp, 'ort-weights'), 0.7);
    const r = await runSpeedupBench({ model: dir, sparsities: [], batchSize: 2, seqLen: 16, repeats: 2, runtimes: RUNTIMES });
    expect(r.rows.map((x) => x.source)).to.deep.equal(['drawn', 'checkpoint']);
    expect(r.runtimes.onnxruntime).to.match(/^onnxruntime-node \d+\.\d+\.\d+, CPU execution provider, \d+ threads/);
    for (const row of r.rows) {
      const ort = row.runtimes.onnxruntime!;
      expect(ort.latency_ms.median).to.be.greaterThan(0);
      expect(ort.speedup).to.be.closeTo(r.rows[0]!.runtimes.onnxruntime!.latency_ms.median / ort.latency_ms.median, 1e-9);
      expect(ort.efficiency).to.be.closeTo(ort.speedup / row.ideal_speedup, 1e-9);
      expect(ort.speedup_of_min).to.be.closeTo(r.rows[0]!.runtimes.onnxruntime!.latency_ms.min / ort.latency_ms.min, 1e-9);
      expect(row.runtimes.webprune!.speedup).to.equal(row.speedup);
    }
    // The WebGPU provider either ran or is reported as not measured.
    if (r.runtimes['onnxruntime-webgpu']) expect(r.rows.every((x) => x.runtimes['onnxruntime-webgpu']!.latency_ms.median > 0)).to.equal(true);
    else if (RUNTIMES.includes('onnxruntime-webgpu')) expect(r.notes.join('\n')).to.match(/onnxruntime-webgpu: not measured/);
    const md = speedupTable(r);
    expect(md).to.include('Speedup over the dense model in each runtime').and.include('| sparsity | ideal | webprune | ONNX Runtime CPU');
    const series = new Set((speedupChartSpec(r).data as { values: Array<{ series: string }> }).values.map((v) => v.series));
    expect(series.has('ONNX Runtime CPU')).to.equal(true);
  });

  it('times every model in f32 and f16 in one run: f16 rows against the f16 dense row, with f32/this', async () => {
    const r = await runSpeedupBench({ model: 'tiny', sparsities: [0.7], dtypes: ['f32', 'f16'], batchSize: 1, seqLen: 8, repeats: 1, warmup: 0 });
    expect(r.rows.map((x) => `${x.dtype} ${x.sparsity}`)).to.deep.equal(['f32 0', 'f32 0.7', 'f16 0', 'f16 0.7']);
    const [dense32, , dense16, pruned16] = r.rows;
    expect(pruned16!.speedup).to.be.closeTo(dense16!.latency_ms.median / pruned16!.latency_ms.median, 1e-9);
    expect(pruned16!.over_f32).to.be.closeTo(r.rows[1]!.latency_ms.median / pruned16!.latency_ms.median, 1e-9);
    expect(dense32!.over_f32).to.equal(1);
    expect(pruned16!.params, 'same structure in both dtypes').to.equal(r.rows[1]!.params);
    expect(speedupTable(r)).to.include('| dtype |').and.include('| f32/this |').and.include('| f16 | 70.0% |');
    expect(r.notes.join('\n')).to.include('f16 rows:');
    expect((await rejection(runSpeedupBench({ model: 'tiny', sparsities: [], batchSize: 1, seqLen: 8, dtypes: ['bf16' as 'f16'] })))?.message).to.match(/--dtype: bf16 is not one of f32, f16/);
  });

  it('refuses bad sparsities and too long sequences', async () => {
    expect((await rejection(runSpeedupBench({ model: 'tiny', sparsities: [1], batchSize: 1, seqLen: 8 })))?.message).to.match(/not in \[0, 1\)/);
    expect((await rejection(runSpeedupBench({ model: 'tiny', sparsities: [0.5], batchSize: 1, seqLen: 513 })))?.message).to.match(/exceeds max_position_embeddings/);
    expect((await rejection(runSpeedupBench({ model: 'tiny', sparsities: [0.5], batchSize: 1, seqLen: 8, runtimes: ['tvm' as 'torch'] })))?.message).to.match(/unknown runtime "tvm"/);
  });

  it('the CLI writes the same report as JSON and prints the table', async () => {
    const json = path.join(tmp, 'cli.json');
    const out = path.join(tmp, 'cli-out');
    const root = path.resolve(import.meta.dirname, '../..');
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--import', './scripts/ts-register.mjs', 'cli/webprune.ts', 'bench', 'speedup', '--model', 'tiny', '--sparsities', '0.9', '--batch-size', '1', '--seq-len', '8', '--repeats', '1', '--json', json, '--out', out],
        { cwd: root },
        (e, so, se) => (e ? reject(new Error(`${e.message}\n${se}`)) : resolve(so)),
      ),
    );
    expect(stdout).to.include('| sparsity |');
    const r = JSON.parse(fs.readFileSync(json, 'utf8')) as SpeedupReport;
    expect(r.rows.map((x) => x.sparsity)).to.deep.equal([0, 0.9]);
    for (const k of ROW_FIELDS) expect(r.rows[1], k).to.have.property(k);
    expect(fs.existsSync(path.join(out, 'speedup.svg'))).to.equal(true);
  });
});

/** Saves a random classifier with the CoFi-like tiny structure at `sparsity` to `dir`; returns dir. */
async function savePrunedTiny(dir: string, sparsity: number): Promise<string> {
  const { Bert } = await import('../../models/bert.ts');
  const { saveModel } = await import('../../models/load.ts');
  const pruned = Bert.random({ ...cofiLikeStructure(namedConfig('tiny'), sparsity, 4), numLabels: 2 }, 'classification', 1);
  await saveModel(pruned, dir);
  pruned.dispose();
  return dir;
}

/** The error a promise rejects with (undefined when it resolves). */
async function rejection(p: Promise<unknown>): Promise<Error | undefined> {
  try {
    await p;
  } catch (e) {
    return e as Error;
  }
  return undefined;
}

/** An interpreter with torch: $WEBPRUNE_PYTHON, or Debian's python3-torch. */
function torchPython(): string | null {
  for (const p of [process.env.WEBPRUNE_PYTHON, '/usr/bin/python3'].filter(Boolean) as string[]) {
    try {
      execFileSync(p, ['-c', 'import torch'], { stdio: 'ignore' });
      return p;
    } catch {
      // no torch there
    }
  }
  return null;
}

describe('bench: torch_bench.py @slow', function () {
  this.timeout(120000);

  it('times the same ops and a compacted BERT in PyTorch (when an interpreter with torch exists)', async function () {
    const python = torchPython();
    if (!python) skipBecause(this, 'no Python that imports torch (set WEBPRUNE_PYTHON)', 'lacks');
    const pruned = cofiLikeStructure(namedConfig('tiny'), 0.9, 0);
    const t = await runTorchBench(
      [
        { name: 'gemm', torch: { op: 'linear', m: 16, n: 24, k: 8 } },
        { name: 'qk', torch: { op: 'bmm', batch: [2, 2], m: 8, n: 8, k: 4, trans_b: true } },
        { name: 'sm', torch: { op: 'softmax', shape: [2, 2, 8, 8], mask_shape: [2, 1, 1, 8] } },
        { name: 'ln', torch: { op: 'layer_norm', rows: 8, cols: 16, eps: 1e-12 } },
        { name: 'gelu', torch: { op: 'gelu', shape: [8, 16] } },
        { name: 'copy', torch: { op: 'copy', bytes: 4096 } },
        { name: 'fwd', torch: { op: 'bert_forward', config: configToJson(pruned), batch: 2, seq: 8 } },
        { name: 'step', torch: { op: 'bert_train_step', config: configToJson(namedConfig('tiny')), batch: 2, seq: 8 } },
      ],
      { python, device: 'cpu', warmup: 1, repeats: 2 },
    );
    expect(t.device).to.equal('cpu');
    expect(t.tf32).to.equal(false);
    for (const name of ['gemm', 'qk', 'sm', 'ln', 'gelu', 'copy', 'fwd', 'step']) {
      const r = t.results[name]!;
      expect(r.fp32.median, name).to.be.greaterThan(0);
      expect(r.fp32.min, name).to.be.at.most(r.fp32.median);
      expect(r.fp16, 'fp16 only on CUDA').to.equal(null);
    }
  });

  it('accepts a bench report as its spec (rows with torch descriptors)', function () {
    const python = torchPython();
    if (!python) skipBecause(this, 'no Python that imports torch (set WEBPRUNE_PYTHON)', 'lacks');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-torchspec-'));
    try {
      const spec = path.join(dir, 'report.json');
      const out = path.join(dir, 'out.json');
      const rows = [0, 0.9].map((s) => ({ name: `sparsity ${s}`, torch: { op: 'bert_forward', config: configToJson(cofiLikeStructure(namedConfig('tiny'), s, 0)), batch: 1, seq: 8 } }));
      fs.writeFileSync(spec, JSON.stringify({ command: 'bench speedup', rows, warmup: 0 }));
      execFileSync(python, [path.resolve(import.meta.dirname, '../../bench/torch_bench.py'), '--spec', spec, '--out', out, '--device', 'cpu', '--repeats', '1'], { stdio: 'pipe' });
      const results = JSON.parse(fs.readFileSync(out, 'utf8')).results;
      expect(Object.keys(results)).to.deep.equal(['sparsity 0', 'sparsity 0.9']);
      // Round-robin (bench speedup's way): the same results, models run in turn.
      fs.writeFileSync(spec, JSON.stringify({ command: 'bench speedup', rows, warmup: 0, round_robin: true }));
      execFileSync(python, [path.resolve(import.meta.dirname, '../../bench/torch_bench.py'), '--spec', spec, '--out', out, '--device', 'cpu', '--repeats', '2'], { stdio: 'pipe' });
      const rr = JSON.parse(fs.readFileSync(out, 'utf8')).results;
      expect(Object.keys(rr)).to.deep.equal(['sparsity 0', 'sparsity 0.9']);
      for (const k of Object.keys(rr)) expect(rr[k].fp32.min).to.be.greaterThan(0).and.at.most(rr[k].fp32.median);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('names the interpreter when it cannot run', async () => {
    const err = await rejection(runTorchBench([{ name: 'g', torch: { op: 'linear', m: 1, n: 1, k: 1 } }], { python: '/nonexistent/python', warmup: 0, repeats: 1 }));
    expect(err?.message).to.match(/cannot run '\/nonexistent\/python'/);
  });
});
