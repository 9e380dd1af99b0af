/**
 * `webprune bench kernels` and `webprune bench speedup`: whether structured sparsity buys real
 * speed on this machine's GPU, measured beside the ideal and beside PyTorch (--torch).
 */
import * as fs from 'node:fs';
import { SingleBar } from 'cli-progress';
import { type Command, InvalidArgumentError } from 'commander';
import type { DeviceClass } from '../../engine/index.ts';
import { runGemmSweep, sweepTable } from '../../bench/gemm_sweep.ts';
import { KERNEL_BENCH_SIZES, type KernelBenchSize, kernelCases, kernelTable, runKernelBench } from '../../bench/kernels.ts';
import { inferenceCase, profileCase } from '../../bench/profile.ts';
import { COFI_BATCH, COFI_SEQ, SPEEDUP_RUNTIMES, SPEEDUP_STRATEGIES, type SpeedupRuntime, type SpeedupStrategy, resolveModel, runSpeedupBench, speedupTable, writeSpeedupOutputs } from '../../bench/speedup.ts';
import { resolveModelSource } from '../../hub/model.ts';
import { writeProfile } from '../../training/run/profile.ts';
import { registerBenchPeers } from './bench_peers.ts';
import { INFERENCE_DTYPES, type InferenceDType } from '../../engine/dtype.ts';

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer (got "${v}")`);
    return n;
  };
}

function nonNegativeInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer (got "${v}")`);
    return n;
  };
}

function sparsityList(v: string): number[] {
  const xs = v.split(',').map((s) => s.trim());
  return xs.map((s) => {
    const x = Number(s);
    if (s === '' || !(x >= 0 && x < 1)) throw new InvalidArgumentError(`each sparsity must be a number in [0, 1) (got "${s}" in "${v}")`);
    return x;
  });
}

function variantsArg(v: string): 'auto' | 'both' | DeviceClass {
  if (!['auto', 'both', 'cpu', 'gpu'].includes(v)) throw new InvalidArgumentError(`--variants must be auto, both, cpu or gpu (got "${v}")`);
  return v as 'auto' | 'both' | DeviceClass;
}

function runtimeList(v: string): SpeedupRuntime[] {
  return v.split(',').map((s) => {
    const r = s.trim();
    if (!(SPEEDUP_RUNTIMES as readonly string[]).includes(r)) throw new InvalidArgumentError(`each runtime must be one of ${SPEEDUP_RUNTIMES.join(', ')} (got "${r}" in "${v}")`);
    return r as SpeedupRuntime;
  });
}

function strategyList(v: string): SpeedupStrategy[] {
  const xs = v.split(',').map((s) => s.trim());
  for (const s of xs) if (!(SPEEDUP_STRATEGIES as readonly string[]).includes(s)) throw new InvalidArgumentError(`each strategy must be one of ${SPEEDUP_STRATEGIES.join(', ')} (got "${s}" in "${v}")`);
  return [...new Set(xs)] as SpeedupStrategy[];
}

function dtypeList(v: string): InferenceDType[] {
  const xs = v.split(',').map((s) => s.trim());
  for (const s of xs) if (!(INFERENCE_DTYPES as readonly string[]).includes(s)) throw new InvalidArgumentError(`each dtype must be one of ${INFERENCE_DTYPES.join(', ')} (got "${s}" in "${v}")`);
  return [...new Set(xs)] as InferenceDType[];
}

function sizeName(v: string): KernelBenchSize {
  if (!(KERNEL_BENCH_SIZES as readonly string[]).includes(v)) throw new InvalidArgumentError(`size must be one of ${KERNEL_BENCH_SIZES.join(', ')} (got "${v}")`);
  return v as KernelBenchSize;
}

/** A progress bar on stderr (hidden when stderr is not a terminal, so logs stay clean). */
function progressBar(label: string) {
  const bar = new SingleBar({
    format: `${label} [{bar}] {value}/{total} runs | {row}`,
    stream: process.stderr,
    noTTYOutput: false,
    hideCursor: true,
    clearOnComplete: true,
  });
  let started = false;
  return {
    update(done: number, total: number, row = '') {
      if (!process.stderr.isTTY) return;
      if (!started) {
        bar.start(total, 0, { row });
        started = true;
      }
      bar.update(done, { row });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

interface CommonOptions {
  json?: string;
  profile?: string;
  repeats: number;
  warmup: number;
  seed: number;
  wallClock?: boolean;
  torch?: boolean;
  python?: string;
  torchDevice: 'auto' | 'cpu' | 'cuda';
}

function addCommon(cmd: Command, defaults: { repeats: number; warmup: number }): Command {
  return cmd
    .option('--json <file>', 'write the report as JSON to FILE')
    .option('--profile <file>', 'also profile a few runs of the training step (kernels) or the dense forward (speedup): per-kernel GPU time, dispatches, host time and readbacks per step, printed and written as JSON to FILE')
    .option('--repeats <n>', 'timed runs per row', positiveInt('--repeats'), defaults.repeats)
    .option('--warmup <n>', 'untimed runs first', nonNegativeInt('--warmup'), defaults.warmup)
    .option('--seed <n>', 'seed of inputs, weights and structures', nonNegativeInt('--seed'), 0)
    .option('--wall-clock', 'time with the wall clock even when GPU timestamps are available')
    .option('--torch', 'also time the same rows with PyTorch (bench/torch_bench.py) and print ours over theirs (for speedup: same as --runtime torch)')
    .option('--python <path>', 'interpreter for --torch (default $WEBPRUNE_PYTHON, else python3)')
    .option('--torch-device <device>', 'auto, cpu or cuda, for --torch', 'auto');
}

function torchOptions(o: CommonOptions) {
  if (!['auto', 'cpu', 'cuda'].includes(o.torchDevice)) throw new Error(`--torch-device must be auto, cpu or cuda (got "${o.torchDevice}")`);
  return o.torch ? { python: o.python, device: o.torchDevice } : undefined;
}

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('benchmarks: kernels at BERT shapes, and the speedup of compacted models');

  addCommon(
    bench
      .command('kernels')
      .description('GEMMs (incl. uneven pruned shapes), attention products, softmax, layer norm, GELU and a training step: time, GFLOP/s, GB/s, fractions of this run\'s peaks')
      .option('--size <size>', `shape set: ${KERNEL_BENCH_SIZES.join(', ')} (tiny and small finish on a CPU Vulkan driver)`, sizeName, 'tiny' as KernelBenchSize)
      .option('--variants <v>', 'kernel variants per row: auto (the adapter\'s class; the peak GEMM with both), both, cpu or gpu', variantsArg, 'auto')
      .option('--sweep', 'instead: measure the CPU GEMM tile candidates at BERT shapes and print the tile table (engine/kernels/cpu_tiles.ts)'),
    { repeats: 5, warmup: 2 },
  ).action(async (o: CommonOptions & { size: KernelBenchSize; variants: 'auto' | 'both' | DeviceClass; sweep?: boolean }) => {
    if (o.sweep) {
      const bar = progressBar('bench kernels --sweep');
      const sweep = await runGemmSweep({ onProgress: (d, t, what) => bar.update(d, t, what) }).finally(() => bar.stop());
      if (o.json) fs.writeFileSync(o.json, `${JSON.stringify(sweep, null, 2)}\n`);
      process.stdout.write(sweepTable(sweep));
      return;
    }
    const bar = progressBar(`bench kernels --size ${o.size}`);
    const report = await runKernelBench({
      size: o.size,
      repeats: o.repeats,
      warmup: o.warmup,
      seed: o.seed,
      wallClock: o.wallClock,
      variants: o.variants,
      torch: torchOptions(o),
      onProgress: (d, t, row) => bar.update(d, t, row),
    }).finally(() => bar.stop());
    if (o.json) fs.writeFileSync(o.json, `${JSON.stringify(report, null, 2)}\n`);
    process.stdout.write(kernelTable(report));
    if (o.profile) {
      const step = kernelCases(o.size).find((c) => c.kind === 'train_step')!;
      writeProfile(await profileCase(step, { seed: o.seed }), o.profile, `profile of ${step.name} (${step.shape})`);
    }
  });

  addCommon(
    bench
      .command('speedup')
      .description('inference latency of compacted models (CoFi-like structures) against the dense one, with the ideal FLOP speedup')
      .requiredOption('--model <dir|size|hub-id>', 'a named size (tiny, mini, small, base), a model directory with config.json, or a hub id')
      .option('--runtime <list>', `runtimes to time, comma-separated: ${SPEEDUP_RUNTIMES.join(', ')} (webprune is always timed; onnxruntime = its CPU execution provider)`, runtimeList, ['webprune'] as SpeedupRuntime[])
      .option('--runtime-repeats <n>', 'timed runs per model in ONNX Runtime (CPU) and PyTorch (default: --repeats)', positiveInt('--runtime-repeats'))
      .option('--sparsities <list>', 'comma-separated target sparsities in [0, 1)', sparsityList, [0, 0.4, 0.7, 0.9, 0.95, 0.98])
      .option('--strategies <list>', 'structures drawn per sparsity at equal parameter counts: structured (CoFi-like), rank (every Linear factorised)', strategyList, ['structured'] as SpeedupStrategy[])
      .option('--batch-size <n>', 'sequences per batch', positiveInt('--batch-size'), COFI_BATCH)
      .option('--seq-len <n>', 'sequence length (padded)', positiveInt('--seq-len'), COFI_SEQ)
      .option('--dtype <list>', `precisions to time every model in, comma-separated: ${INFERENCE_DTYPES.join(', ')} (f16 needs the adapter feature shader-f16)`, dtypeList, ['f32'] as InferenceDType[])
      .option('--out <dir>', 'write speedup.json, speedup.md and speedup.svg to DIR'),
    { repeats: 5, warmup: 1 },
  ).action(async (o: CommonOptions & { model: string; strategies: SpeedupStrategy[]; sparsities: number[]; batchSize: number; seqLen: number; out?: string; runtime: SpeedupRuntime[]; runtimeRepeats?: number; dtype: InferenceDType[] }) => {
    const model = await resolveModelSource(o.model); // hub ids → the HF cache (hub/model.ts)
    const bar = progressBar('bench speedup');
    const report = await runSpeedupBench({
      model,
      strategies: o.strategies,
      runtimes: o.runtime,
      runtimeRepeats: o.runtimeRepeats,
      sparsities: o.sparsities,
      batchSize: o.batchSize,
      seqLen: o.seqLen,
      dtypes: o.dtype,
      repeats: o.repeats,
      warmup: o.warmup,
      seed: o.seed,
      wallClock: o.wallClock,
      torch: torchOptions({ ...o, torch: o.torch || o.runtime.includes('torch') }),
      onProgress: (d, t) => bar.update(d, t),
    }).finally(() => bar.stop());
    if (o.json) fs.writeFileSync(o.json, `${JSON.stringify(report, null, 2)}\n`);
    if (o.out) await writeSpeedupOutputs(report, o.out);
    process.stdout.write(speedupTable(report));
    if (o.profile) {
      const forward = inferenceCase(resolveModel(model).dense, o.batchSize, o.seqLen);
      writeProfile(await profileCase(forward, { seed: o.seed }), o.profile, `profile of the dense model's ${forward.name}`);
    }
  });

  registerBenchPeers(bench);
}
