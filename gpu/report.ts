/**
 * The GPU program's results (scripts/gpu-run.sh): reading its results folder, the summary table it
 * prints last, and bench/RESULTS.md.
 *
 * The folder (results/ inside the run's results.tar) holds env.txt ("key: value" lines), stages.tsv
 * (stage, status, seconds, note), commands.txt, info.json (`webprune info --json`), tests.log (mocha,
 * ending "N passed, N failed, N skipped"), kernels.json, speedup.json, peers.json (the bench reports),
 * pretrain/ (metrics.jsonl, summary.json, budget.json, run.json) and mini-f16/ (the converted model
 * without its shards). Any of them may be missing: a stage failed or was skipped.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AdapterDescription } from '../engine/runtime/gpu.ts';
import type { PretrainSummary } from '../jobs/pretrain.ts';
import { type KernelReport, type KernelRow, formatBytes } from '../bench/kernels.ts';
import type { PeersReport } from '../bench/peers.ts';
import type { SpeedupReport } from '../bench/speedup.ts';
import type { BudgetPlan } from './pretrain_budget.ts';

export interface StageRecord {
  stage: string;
  status: string;
  seconds: number;
  note: string;
}

/** One metrics.jsonl row of a pretraining run. */
export interface PretrainMetric {
  step: number;
  loss?: number;
  valid_loss?: number;
}

/** Everything a results folder holds that the reports use. */
export interface GpuRunRecord {
  dir: string;
  env: Record<string, string>;
  stages: StageRecord[];
  commands: string[];
  adapter?: AdapterDescription;
  tests?: { passed: number; failed: number; skipped: number };
  kernels?: KernelReport;
  speedup?: SpeedupReport;
  peers?: PeersReport;
  pretrain?: {
    summary?: PretrainSummary;
    plan?: BudgetPlan;
    metrics: PretrainMetric[];
    /** Trajectory options of the run (run.json's fingerprint): '--config', '--batch-size', ... */
    options: Record<string, unknown>;
  };
  /** Files of the converted model folder (mini-f16/), shards not included. */
  modelFiles: string[];
}

function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** "key: value" lines. */
export function parseEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const i = line.indexOf(': ');
    if (i > 0) env[line.slice(0, i).trim()] = line.slice(i + 2).trim();
  }
  return env;
}

/** stages.tsv (with its header line). */
export function parseStages(text: string): StageRecord[] {
  return text
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '')
    .map((l) => {
      const [stage = '', status = '', seconds = '0', note = ''] = l.split('\t');
      return { stage, status, seconds: Number(seconds), note };
    });
}

/** The counts of the closing "N passed, N failed, N skipped" line of the project's mocha reporter. */
export function parseTestCounts(log: string): { passed: number; failed: number; skipped: number } | undefined {
  const m = [...log.matchAll(/^(\d+) passed, (\d+) failed, (\d+) skipped$/gm)].pop();
  return m ? { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3]) } : undefined;
}

/** Reads a results folder; missing or unreadable files leave their fields undefined. */
export function readGpuRun(dir: string): GpuRunRecord {
  const p = (...parts: string[]) => path.join(dir, ...parts);
  const tests = readText(p('tests.log'));
  const metricsText = readText(p('pretrain', 'metrics.jsonl'));
  const run = readJson<{ fingerprint?: Record<string, unknown> }>(p('pretrain', 'run.json'));
  const pretrainSummary = readJson<PretrainSummary>(p('pretrain', 'summary.json'));
  const plan = readJson<BudgetPlan>(p('pretrain', 'budget.json'));
  const metrics: PretrainMetric[] = (metricsText ?? '')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as PretrainMetric];
      } catch {
        return [];
      }
    });
  return {
    dir,
    env: parseEnv(readText(p('env.txt')) ?? ''),
    stages: parseStages(readText(p('stages.tsv')) ?? ''),
    commands: (readText(p('commands.txt')) ?? '').split('\n').filter((l) => l.trim() !== ''),
    adapter: readJson<{ adapter: AdapterDescription }>(p('info.json'))?.adapter,
    tests: tests === undefined ? undefined : parseTestCounts(tests),
    kernels: readJson<KernelReport>(p('kernels.json')),
    speedup: readJson<SpeedupReport>(p('speedup.json')),
    peers: readJson<PeersReport>(p('peers.json')),
    pretrain: metricsText !== undefined || pretrainSummary || plan ? { summary: pretrainSummary, plan, metrics, options: run?.fingerprint ?? {} } : undefined,
    modelFiles: fs.existsSync(p('mini-f16')) ? fs.readdirSync(p('mini-f16')).sort() : [],
  };
}

const num = (x: number, digits = 3) => (Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toPrecision(digits));
const ratio = (x: number | null | undefined) => (x === null || x === undefined || !Number.isFinite(x) ? '—' : `${x.toFixed(2)}×`);
const pct = (x: number) => `${(100 * x).toFixed(0)}%`;

/** GFLOP/s of a row's PyTorch fp32 median. */
function torchGflops(row: KernelRow): number | undefined {
  const t = row.torch_result?.fp32_ms.median;
  return t && row.flops ? row.flops / (t * 1e-3) / 1e9 : undefined;
}

/** One line per bench finding for the summary: the compute peak beside PyTorch, the training step, speedup at 95%. */
function benchHighlights(r: GpuRunRecord): string[] {
  const out: string[] = [];
  const k = r.kernels;
  if (k) {
    const peak = k.rows.find((x) => x.name === k.peaks.compute_row);
    const tg = peak && torchGflops(peak);
    out.push(`peak GEMM ${num(k.peaks.gflops)} GFLOP/s${tg ? ` (PyTorch fp32 ${num(tg)}: ours/torch time ${ratio(peak!.torch_result!.ours_over_fp32)})` : ''}; copy ${num(k.peaks.gbps)} GB/s`);
    const step = k.rows.find((x) => x.kind === 'train_step');
    if (step) {
      const t = step.torch_result;
      const mem = step.peak_memory_bytes !== undefined ? `, memory ${formatBytes(step.peak_memory_bytes)}${t?.peak_memory_bytes ? ` vs PyTorch ${formatBytes(t.peak_memory_bytes)}` : ''}` : '';
      out.push(`${step.name} (${step.shape}) ${num(step.time_ms.median)} ms${t ? ` vs PyTorch fp32 ${num(t.fp32_ms.median)} ms (${ratio(t.ours_over_fp32)})` : ''}${mem}`);
    }
  }
  const s = r.speedup;
  if (s) {
    const at = s.rows.find((x) => Math.abs(x.sparsity - 0.95) < 1e-9) ?? s.rows[s.rows.length - 1];
    const dense = s.rows.find((x) => x.sparsity === 0);
    if (at) {
      out.push(`${s.model} at ${(100 * at.sparsity).toFixed(0)}% sparsity: ${at.speedup.toFixed(2)}× faster than dense (ideal ${at.ideal_speedup.toFixed(2)}×)` +
        (dense?.torch_result ? `; dense forward ${num(dense.latency_ms.median)} ms vs PyTorch fp32 ${num(dense.torch_result.fp32_ms.median)} ms (${ratio(dense.torch_result.ours_over_fp32)})` : ''));
    }
  }
  if (r.peers) {
    for (const peer of r.peers.peers) {
      const ratios = r.peers.rows.map((row) => row.peers[peer.name]?.ours_over_peer).filter((x): x is number => x !== undefined);
      if (peer.status !== 'ok') out.push(`peer ${peer.name}: ${peer.status}${peer.note ? ` (${peer.note})` : ''}`);
      else if (ratios.length) out.push(`peer ${peer.name}: ours/theirs ${ratio(Math.min(...ratios))} to ${ratio(Math.max(...ratios))} over ${ratios.length} rows`);
    }
  }
  return out;
}

/** The held-out losses of a pretraining run, in step order. */
export function validCurve(metrics: readonly PretrainMetric[]): Array<{ step: number; loss: number }> {
  return metrics.filter((m) => typeof m.valid_loss === 'number').map((m) => ({ step: m.step, loss: m.valid_loss! }));
}

function pretrainHighlight(r: GpuRunRecord): string | undefined {
  const p = r.pretrain;
  if (!p) return undefined;
  const curve = validCurve(p.metrics);
  const steps = p.summary?.steps ?? p.metrics.at(-1)?.step;
  const config = p.options['--config'] ?? p.summary?.config ?? '?';
  const parts = [`${config}: ${steps ?? '?'} steps${p.plan ? ` (planned ${p.plan.steps}, ${p.plan.calibration.stepSeconds.toFixed(3)} s each)` : ''}`];
  if (curve.length) parts.push(`held-out MLM loss ${curve[0]!.loss.toFixed(3)} (step ${curve[0]!.step}) → ${curve.at(-1)!.loss.toFixed(3)} (step ${curve.at(-1)!.step})`);
  return parts.join('; ');
}

/** The summary the GPU program prints last: where each stage got to and the numbers that matter. */
export function summaryMarkdown(r: GpuRunRecord): string {
  const device = r.env['gpu'] || r.adapter?.description || 'unknown device';
  const lines = [
    `## webprune GPU run${isDryRun(r) ? ' (DRY RUN on lavapipe: not GPU results)' : ''}: ${device}`,
    '',
    `${r.env['date'] ?? ''} · commit ${r.env['commit'] ?? 'unknown'} · budget ${r.env['budget'] ?? '?'} · Node ${r.env['node']?.split(' ')[0] ?? '?'} · torch ${r.env['torch'] ?? '?'}`,
    '',
    '| stage | status | seconds | result |',
    '|---|---|---|---|',
    ...r.stages.map((s) => `| ${s.stage} | ${s.status} | ${s.seconds} | ${s.note.replace(/\|/g, '\\|')} |`),
  ];
  const highlights = [...benchHighlights(r)];
  const pre = pretrainHighlight(r);
  if (pre) highlights.push(`pretraining ${pre}`);
  if (highlights.length) lines.push('', ...highlights.map((h) => `- ${h}`));
  return `${lines.join('\n')}\n`;
}

function kernelSection(k: KernelReport): string[] {
  const lines = [
    `Peaks of this run: ${num(k.peaks.gflops)} GFLOP/s (${k.peaks.compute_row}) and ${num(k.peaks.gbps)} GB/s (${k.peaks.bandwidth_row}), each measured first and last, the faster counting. ` +
      `"of peak" is a row's GFLOP/s over that measured GEMM peak. Timing: ${k.timing.method}, ${k.timing.warmup} warm-up + ${k.timing.repeats} timed runs, medians.` +
      (k.torch ? ` PyTorch ${k.torch.torch_version} on ${k.torch.device_name} (${k.torch.device}), eager, fp32 with TF32 ${k.torch.tf32 ? 'on' : 'off'}, and fp16.` : ' PyTorch was not run.'),
    '',
    '| row | shape | ours ms | GFLOP/s | of peak | torch fp32 ms | ours / torch fp32 | torch fp16 ms | ours / torch fp16 |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const row of k.rows) {
    const t = row.torch_result;
    lines.push(`| ${row.name} | ${row.shape} | ${num(row.time_ms.median)} | ${row.flops ? num(row.gflops) : '—'} | ${row.flops ? pct(row.frac_peak_flops) : '—'} | ` +
      `${t ? num(t.fp32_ms.median) : '—'} | ${ratio(t?.ours_over_fp32)} | ${t?.fp16_ms ? num(t.fp16_ms.median) : '—'} | ${ratio(t?.ours_over_fp16)} |`);
  }
  for (const row of k.rows.filter((x) => x.peak_memory_bytes !== undefined)) {
    const tm = row.torch_result?.peak_memory_bytes;
    lines.push('', `${row.name} (${row.shape}): peak GPU memory ${formatBytes(row.peak_memory_bytes!)} (webprune's buffer pool)${tm ? ` beside PyTorch's ${formatBytes(tm)} (max_memory_allocated, fp32)` : ''}.`);
  }
  return lines;
}

function speedupSection(s: SpeedupReport): string[] {
  const lines = [
    `Model ${s.model}, batch ${s.batch_size} × sequence ${s.seq_len}, inference forward; structures drawn like CoFi's; ideal = dense encoder FLOPs / pruned encoder FLOPs.`,
    '',
    '| sparsity | ours ms | speedup | ideal | speedup / ideal | torch fp32 ms | ours / torch fp32 | torch speedup |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const row of s.rows) {
    const t = row.torch_result;
    lines.push(`| ${(100 * row.sparsity).toFixed(0)}% | ${num(row.latency_ms.median)} | ${ratio(row.speedup)} | ${ratio(row.ideal_speedup)} | ${row.efficiency.toFixed(2)} | ` +
      `${t ? num(t.fp32_ms.median) : '—'} | ${ratio(t?.ours_over_fp32)} | ${ratio(t?.torch_speedup_fp32)} |`);
  }
  const at = s.rows.find((x) => Math.abs(x.sparsity - 0.95) < 1e-9);
  if (at) lines.push('', `At 95% sparsity: ${at.speedup.toFixed(2)}× measured beside ${at.ideal_speedup.toFixed(2)}× ideal (${pct(at.efficiency)} of ideal)${at.torch_result ? `; PyTorch fp32 gets ${at.torch_result.torch_speedup_fp32.toFixed(2)}×` : ''}.`);
  return lines;
}

function peersSection(p: PeersReport): string[] {
  const names = p.peers.map((x) => x.name);
  const lines = [
    `Same adapter, same inputs, outputs checked equal to ours before timing; ${p.timing.method}, ${p.timing.warmup} warm-up + ${p.timing.repeats} timed runs round-robin, medians. Peers: ` +
      p.peers.map((x) => `${x.name} ${x.version ?? ''} (${x.status}${x.note ? `: ${x.note}` : ''})`).join('; ') + '.',
    '',
    `| row | shape | ours ms | ${names.map((n) => `${n} ms | ours / ${n}`).join(' | ')} |`,
    `|---|---|---|${names.map(() => '---|---').join('|')}|`,
  ];
  for (const row of p.rows) {
    const cells = names.map((n) => {
      const res = row.peers[n];
      if (!res || res.status !== 'ok') return `${res?.status ?? '—'} | —`;
      return `${num(res.ms!.median)} | ${ratio(res.ours_over_peer)}`;
    });
    lines.push(`| ${row.name} | ${row.shape} | ${num(row.ours_ms.median)} | ${cells.join(' | ')} |`);
  }
  return lines;
}

function pretrainSection(r: GpuRunRecord, shards: readonly string[]): string[] {
  const p = r.pretrain!;
  const o = p.options;
  const curve = validCurve(p.metrics);
  const lines = [
    `\`${o['--config'] ?? p.summary?.config ?? '?'}\` from random weights, batch ${o['--batch-size'] ?? '?'} × ${o['--max-seq-length'] ?? '?'} tokens, peak lr ${o['--lr'] ?? '?'}, seed ${o['--seed'] ?? '?'}` +
      (p.summary ? `: ${p.summary.steps} steps in ${p.summary.seconds.toFixed(0)} s (tokenizing ${p.summary.pretokenizeSeconds.toFixed(0)} s), last training loss ${p.summary.trainLoss.toFixed(3)}, held-out loss ${p.summary.validLoss.toFixed(3)}.` : ' (no summary: the run did not finish).'),
  ];
  if (p.plan) lines.push(`Planned by gpu/pretrain_budget.ts: ${p.plan.steps} steps in ${p.plan.secondsLeft.toFixed(0)} s at ${p.plan.calibration.stepSeconds.toFixed(3)} s per step (calibration: ${p.plan.calibration.steps} steps).`);
  if (curve.length) lines.push('', '| step | held-out MLM loss |', '|---|---|', ...curve.map((c) => `| ${c.step} | ${c.loss.toFixed(4)} |`));
  if (r.modelFiles.length || shards.length) lines.push('', `Converted to f16 (\`webprune convert --dtype f16 --max-shard-mb 15\`): ${[...r.modelFiles, ...shards].join(', ')}.`);
  return lines;
}

/** Whether the record is of `gpu-run.sh --dry-run` (lavapipe, tiny sizes), or has no mode at all. */
export function isDryRun(r: GpuRunRecord): boolean {
  return r.env['mode'] !== 'gpu';
}

/** The warning at the top of a dry run's RESULTS.md. */
export const DRY_RUN_BANNER =
  '> **Dry run on lavapipe (Mesa\'s CPU Vulkan driver) at tiny sizes, to prove the GPU program works end to end. ' +
  'No number below was measured on a GPU; none may be quoted as a GPU result.**';

/**
 * bench/RESULTS.md from a GPU run's results folder: device, date, commands, ours over PyTorch per
 * row, each GEMM's fraction of the measured peak, speedup at 95% beside ideal, peers, pretraining.
 * @param shards the model's safetensors files (they travel beside results.tar)
 */
export function resultsMarkdown(r: GpuRunRecord, shards: readonly string[] = []): string {
  const device = r.env['gpu'] || r.adapter?.description || 'unknown device';
  const dry = isDryRun(r);
  const lines = [
    dry ? `# DRY RUN of the GPU program on ${device}: not GPU results` : `# webprune on ${device}`,
    '',
    ...(dry ? [DRY_RUN_BANNER, ''] : []),
    `Measured ${r.env['date'] ?? '(date unknown)'} by \`scripts/gpu-run.sh\`${dry ? ' --dry-run (lavapipe, tiny sizes: not GPU numbers)' : ''} at commit ${r.env['commit'] ?? 'unknown'}; ` +
      'generated by `scripts/gpu-results.sh` from the run\'s output folder. Every ratio is within one run on one machine.',
    '',
    `- GPU: ${r.env['gpu'] ?? '(nvidia-smi not available)'}; CPU: ${r.env['cpu'] ?? '?'}`,
    `- WebGPU adapter: ${r.adapter ? `${r.adapter.description} (${r.adapter.vendor} / ${r.adapter.architecture})` : '?'}, Dawn through npm webgpu ${r.env['webgpu'] ?? '?'}, Node ${r.env['node']?.split(' ')[0] ?? '?'}`,
    `- PyTorch: ${r.env['torch'] ?? 'none'}`,
    `- Stages: ${r.stages.map((s) => `${s.stage} ${s.status} (${s.seconds} s)`).join(', ')}`,
  ];
  if (r.tests) lines.push(`- Tests on the adapter: ${r.tests.passed} passed, ${r.tests.failed} failed, ${r.tests.skipped} skipped (${dry ? 'a dry run: BERT parity with transformers only' : 'the @gpu tests of the engine, models and pruning: engine ops, attention, masked FFN, BERT and its parity with transformers, compaction'}), the same float64-checked tests and bounds as on lavapipe`);
  lines.push('', 'Commands, as run:', '', '```sh', ...r.commands.map((c) => c.replace(/^\S*node --import \.\/scripts\/ts-register\.mjs --enable-source-maps (cli\/webprune|gpu\/main)\.ts/, (_m, f: string) => (f === 'cli/webprune' ? 'webprune' : 'node gpu/main.ts'))), '```');
  if (r.kernels) lines.push('', `## Kernels (\`bench kernels --size ${r.kernels.size}\`)`, '', ...kernelSection(r.kernels));
  if (r.speedup) lines.push('', `## Speedup of compacted models (\`bench speedup --model ${r.speedup.model}\`)`, '', ...speedupSection(r.speedup));
  if (r.peers) lines.push('', `## Other WebGPU engines on the same adapter (\`bench peers --size ${r.peers.size}\`)`, '', ...peersSection(r.peers));
  if (r.pretrain) lines.push('', '## Pretraining', '', ...pretrainSection(r, shards));
  return `${lines.join('\n')}\n`;
}
