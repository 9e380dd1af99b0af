/**
 * Running bench/torch_bench.py as a subprocess, for PyTorch's time beside ours in the same run.
 *
 * The interpreter is `--python`, else $WEBPRUNE_PYTHON, else `python3`; it needs torch (on a machine
 * without a GPU, Debian's python3-torch at /usr/bin/python3 does; a pyenv python3 may not).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TimingStats } from './timer.ts';

/** What torch_bench.py times for one row (see its docstring for each op). */
export type TorchOp =
  | { op: 'linear'; m: number; n: number; k: number }
  | { op: 'bmm'; batch: number[]; m: number; n: number; k: number; trans_b: boolean }
  | { op: 'softmax'; shape: number[]; mask_shape: number[] }
  | { op: 'layer_norm'; rows: number; cols: number; eps: number }
  | { op: 'gelu'; shape: number[] }
  | { op: 'copy'; bytes: number }
  | { op: 'attention'; batch: number; heads: number; seq: number; dim: number }
  | { op: 'ffn'; m: number; h: number; n: number }
  | { op: 'bert_forward'; config: Record<string, unknown>; batch: number; seq: number }
  | { op: 'bert_train_step'; config: Record<string, unknown>; batch: number; seq: number };

/** PyTorch's result for one row. */
export interface TorchResult {
  fp32: TimingStats;
  /** Only on CUDA. */
  fp16: TimingStats | null;
  /** torch.cuda.max_memory_allocated of an fp32 training step (CUDA only). */
  peak_memory_bytes: number | null;
}

/** The whole output of torch_bench.py. */
export interface TorchReport {
  torch_version: string;
  device: string;
  device_name: string;
  tf32: boolean;
  warmup: number;
  repeats: number;
  results: Record<string, TorchResult>;
}

export interface TorchRunOptions {
  /** Interpreter (default $WEBPRUNE_PYTHON, else 'python3'). */
  python?: string;
  /** 'auto' (CUDA when available), 'cpu' or 'cuda'. */
  device?: 'auto' | 'cpu' | 'cuda';
  warmup: number;
  repeats: number;
  /** Kill the subprocess after this many ms (default: none). */
  timeoutMs?: number;
  /** Time bert_forward cases in turn rather than one after another (torch_bench.py's round_robin). */
  roundRobin?: boolean;
}

/** Path of torch_bench.py next to this file (bench/ in the source tree; next to the bundle in dist/). */
export function torchScriptPath(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const candidate of [path.join(here, 'torch_bench.py'), path.join(here, '..', 'bench', 'torch_bench.py')]) {
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error(`torch_bench.py not found next to ${here} (expected bench/torch_bench.py)`);
}

/** The interpreter to use: the option, else $WEBPRUNE_PYTHON, else 'python3'. */
export function pythonInterpreter(option?: string): string {
  return option || process.env.WEBPRUNE_PYTHON || 'python3';
}

/**
 * Times `cases` with torch_bench.py and returns its report.
 * @throws Error naming the interpreter when it cannot be started, has no torch, or the script
 *   fails (its stderr is included), or when a case is missing from its output
 */
export async function runTorchBench(cases: ReadonlyArray<{ name: string; torch: TorchOp }>, options: TorchRunOptions): Promise<TorchReport> {
  const python = pythonInterpreter(options.python);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webprune-torch-'));
  const spec = path.join(dir, 'spec.json');
  const out = path.join(dir, 'out.json');
  try {
    fs.writeFileSync(spec, JSON.stringify({ warmup: options.warmup, repeats: options.repeats, round_robin: options.roundRobin ?? false, cases: cases.map((c) => ({ name: c.name, torch: c.torch })) }));
    const args = [torchScriptPath(), '--spec', spec, '--out', out, '--device', options.device ?? 'auto'];
    await new Promise<void>((resolve, reject) => {
      execFile(python, args, { timeout: options.timeoutMs ?? 0, maxBuffer: 64 * 2 ** 20 }, (err, _stdout, stderr) => {
        if (!err) return resolve();
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'ENOENT') return reject(new Error(`--torch: cannot run '${python}' (not found); pass --python PATH or set WEBPRUNE_PYTHON`));
        const tail = stderr.trim().split('\n').slice(-8).join('\n');
        const hint = /No module named 'torch'/.test(stderr) ? ` ('${python}' has no torch; on Debian try --python /usr/bin/python3)` : '';
        reject(new Error(`--torch: '${python} ${path.basename(args[0]!)}' failed${hint}:\n${tail}`));
      });
    });
    const report = JSON.parse(fs.readFileSync(out, 'utf8')) as TorchReport;
    for (const c of cases) {
      if (!report.results[c.name]) throw new Error(`--torch: torch_bench.py returned no result for '${c.name}'`);
    }
    return report;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
