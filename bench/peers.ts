/**
 * `webprune bench peers`: webprune beside other WebGPU engines on the same adapter, same inputs, one
 * run: TensorFlow.js's WebGPU backend and jax-js (optional devDependencies; the report says which are
 * missing) on the GEMMs of BERT's Linear layers, attention, and one BERT layer forward + backward;
 * ONNX Runtime's WebGPU execution provider on BERT inference (bench/peers/ort.ts).
 *
 * Per problem (bench/peers/problems.ts): every engine gets the same host inputs; each peer's outputs
 * are checked against ours before it is timed (a peer that disagrees is reported as a mismatch,
 * with the measured error, and not timed); then all engines are timed round-robin by wall clock
 * (bench/peers/runner.ts) and each row reports our median over each peer's.
 */
import * as E from '../engine/index.ts';
import { type DeviceInfo, deviceInfo } from './kernels.ts';
import { type PeerStatus, installNavigatorGpu, loadPeers } from './peers/load.ts';
import { oursRunner } from './peers/ours.ts';
import { type Check, type Problem, checkOutputs, describeProblem, problemFlops, problemInputs } from './peers/problems.ts';
import { PEER_NAMES, type PeerEngine, type PeerName, type Runner, timeRoundRobin } from './peers/runner.ts';
import { type TimingStats, initBenchEngine } from './timer.ts';

export { PEER_NAMES, type PeerName };

/** Problem sets: `tiny` and `small` for lavapipe (BERT-mini and -small shapes), `base` for a GPU. */
export const PEERS_SIZES = ['tiny', 'small', 'base'] as const;
export type PeersSize = (typeof PEERS_SIZES)[number];

/** The problems of a size: the three Linear GEMMs of the model at B·S tokens, its attention, one layer, its inference. */
export function peerProblems(size: PeersSize): Problem[] {
  const models = { tiny: 'mini', small: 'small', base: 'base' } as const;
  const s = { tiny: { B: 4, S: 64, H: 256, heads: 4, I: 1024 }, small: { B: 8, S: 128, H: 512, heads: 8, I: 2048 }, base: { B: 32, S: 128, H: 768, heads: 12, I: 3072 } }[size];
  if (!s) throw new Error(`bench peers: unknown size "${size}" (known: ${PEERS_SIZES.join(', ')})`);
  const T = s.B * s.S;
  return [
    { kind: 'gemm', label: `QKV/O T=${T}`, T, N: s.H, K: s.H },
    { kind: 'gemm', label: `FFN in T=${T}`, T, N: s.I, K: s.H },
    { kind: 'gemm', label: `FFN out T=${T}`, T, N: s.H, K: s.I },
    { kind: 'attention', B: s.B, S: s.S, heads: s.heads, d: s.H / s.heads },
    { kind: 'layer', ...s },
    { kind: 'bert', model: models[size], B: s.B, S: s.S },
  ];
}

/** One peer on one row. */
export interface PeerResult {
  /** ok: checked and timed; mismatch: outputs differ from ours (not timed); error: it threw; n/a: not run on this problem. */
  status: 'ok' | 'mismatch' | 'error' | 'n/a';
  ms?: TimingStats;
  /** Our median over the peer's (below 1: we are faster). */
  ours_over_peer?: number;
  check?: Check;
  note?: string;
}

export interface PeerRow {
  name: string;
  kind: Problem['kind'];
  shape: string;
  flops: number;
  ours_ms: TimingStats;
  peers: Record<string, PeerResult>;
}

export interface PeersReport {
  command: 'bench peers';
  size: string;
  device: DeviceInfo;
  timing: { method: 'wall-clock'; warmup: number; repeats: number };
  peers: PeerStatus[];
  rows: PeerRow[];
  notes: string[];
}

export interface PeersOptions {
  size: PeersSize;
  /** Peers to run (default all). */
  peers?: readonly PeerName[];
  /** Problems instead of the size's (tests). */
  problems?: Problem[];
  warmup?: number;
  repeats?: number;
  seed?: number;
  onProgress?: (row: string) => void;
}

/** Checks one peer against our outputs; a runner that fails or disagrees is disposed and reported. */
async function checkedPeer(peer: PeerEngine, p: Problem, inputs: ReturnType<typeof problemInputs>, ours: Float32Array[]): Promise<{ runner?: Runner; result: PeerResult }> {
  let runner: Runner | null = null;
  try {
    runner = await peer.prepare(p, inputs);
    if (!runner) return { result: { status: 'n/a' } };
    const check = checkOutputs(p, inputs, ours, await runner.outputs());
    if (check.ok) return { runner, result: { status: 'ok', check } };
    runner.dispose();
    return { result: { status: 'mismatch', check, note: `${check.measure} = ${check.value.toExponential(2)} > ${check.limit} (${check.worst})` } };
  } catch (err) {
    runner?.dispose();
    return { result: { status: 'error', note: (err as Error).message.split('\n')[0] } };
  }
}

/**
 * Measures one problem: our outputs, each peer checked against them, then ours and the peers that
 * agree timed round-robin. Exported for tests (a peer engine can be a fake).
 * @throws Error when webprune itself fails on the problem
 */
export async function measureRow(p: Problem, peers: readonly PeerEngine[], warmup: number, repeats: number, seed: number): Promise<PeerRow> {
  const inputs = problemInputs(p, seed);
  const ours = oursRunner(p, inputs);
  const timed: Array<{ name: string; runner: Runner }> = [];
  const results: Record<string, PeerResult> = {};
  try {
    const reference = await ours.outputs();
    for (const peer of peers) {
      const { runner, result } = await checkedPeer(peer, p, inputs, reference);
      results[peer.name] = result;
      if (runner) timed.push({ name: peer.name, runner });
    }
    const stats = await timeRoundRobin([ours, ...timed.map((t) => t.runner)], warmup, repeats);
    timed.forEach((t, i) => {
      const ms = stats[i + 1]!;
      Object.assign(results[t.name]!, { ms, ours_over_peer: stats[0]!.median / ms.median });
    });
    const { name, shape } = describeProblem(p);
    return { name, kind: p.kind, shape, flops: problemFlops(p), ours_ms: stats[0]!, peers: results };
  } finally {
    ours.dispose();
    timed.forEach((t) => t.runner.dispose());
  }
}

/**
 * Runs the peers benchmark. Opens the engine (initBenchEngine) if needed; poisoning is off while it runs.
 * @throws Error for an unknown size or bad warmup/repeats, or when webprune itself fails on a problem
 */
export async function runPeersBench(options: PeersOptions): Promise<PeersReport> {
  const warmup = options.warmup ?? 1;
  const repeats = options.repeats ?? 5;
  if (!Number.isInteger(warmup) || warmup < 0 || !Number.isInteger(repeats) || repeats < 1) throw new Error(`bench peers: warmup must be ≥ 0 and repeats ≥ 1 (got ${warmup}, ${repeats})`);
  const all = options.problems ?? peerProblems(options.size);
  const engine = await initBenchEngine();
  const poison = engine.poison;
  engine.poison = false;
  const restore = installNavigatorGpu(engine.gpu.instance);
  const { engines, statuses } = await loadPeers(options.peers ?? PEER_NAMES);
  // Only the problems some loaded peer is benchmarked on (ours alone compares with nothing).
  const problems = all.filter((p) => engines.some((e) => e.kinds.includes(p.kind)));
  const rows: PeerRow[] = [];
  try {
    for (const p of problems) {
      options.onProgress?.(describeProblem(p).name);
      rows.push(await measureRow(p, engines, warmup, repeats, options.seed ?? 0));
    }
  } finally {
    engines.forEach((e) => e.dispose());
    restore();
    engine.poison = poison;
    await E.getEngine().sync();
  }
  return {
    command: 'bench peers',
    size: options.problems ? 'custom' : options.size,
    device: deviceInfo(engine),
    timing: { method: 'wall-clock', warmup, repeats },
    peers: statuses,
    rows,
    notes: [
      'times: wall clock from recording to the completion of the GPU work (no read-back), medians; engines round-robin within each round',
      'tfjs and jax-js each on its own device from the same Dawn instance and adapter (navigator.gpu = the webgpu package\'s instance); ONNX Runtime on its own Dawn, which finds the same adapter',
      'outputs checked against ours before timing: GEMM |Δ| ≤ 2γ(K+1)(‖x_i‖‖W_j‖+|b_j|), attention max|Δ| ≤ 1e-4·max|V|, layer and BERT ‖Δ‖/‖ours‖ ≤ 1e-3 per output (bench/peers/problems.ts)',
      'BERT inference: token ids in, logits read back, for ours and ONNX Runtime alike',
    ],
  };
}

const fmt = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toPrecision(3));

/** The report as a markdown table (ours over each peer per row) with notes. */
export function peersTable(report: PeersReport): string {
  const names = report.peers.map((p) => p.name);
  const head = ['row', 'shape', 'ours ms', ...names.flatMap((n) => [`${n} ms`, `ours/${n} (median; min)`])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of report.rows) {
    const cells = names.flatMap((n) => {
      const res = r.peers[n];
      if (!res) return ['—', '—'];
      if (res.status !== 'ok') return [res.status, '—'];
      return [fmt(res.ms!.median), `${res.ours_over_peer!.toFixed(2)}×; ${(r.ours_ms.min / res.ms!.min).toFixed(2)}×`];
    });
    lines.push(`| ${r.name} | ${r.shape} | ${fmt(r.ours_ms.median)} | ${cells.join(' | ')} |`);
  }
  const notes = [
    `device: ${report.device.description} (${report.device.vendor}); ${report.timing.warmup} warm-up + ${report.timing.repeats} timed rounds`,
    ...report.peers.map((p) => `${p.name}: ${p.status}${p.version ? ` ${p.version}` : ''}${p.note ? ` (${p.note})` : ''}`),
    ...report.rows.flatMap((r) => Object.entries(r.peers).filter(([, res]) => res.status !== 'ok' && res.status !== 'n/a').map(([n, res]) => `${r.name}, ${n}: ${res.status}: ${res.note ?? ''}`)),
    ...report.rows.flatMap((r) => Object.entries(r.peers).filter(([, res]) => res.check?.ok).map(([n, res]) => `${r.name}, ${n} check: ${res.check!.measure} = ${res.check!.value.toExponential(1)} (limit ${res.check!.limit}, worst ${res.check!.worst})`)),
    ...report.notes,
  ];
  return `${lines.join('\n')}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`;
}
