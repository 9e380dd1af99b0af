/**
 * `webprune bench kernels --sweep`: the tile table of the CPU GEMM kernels (engine/kernels/
 * lib/gemm_cpu.wgsl) by measurement. Every candidate tile (rows per subgroup TM, vec4 column
 * groups per lane TQ, k-steps per iteration KU) runs the GEMMs of a BERT training step in each
 * operand layout (NT: x·Wᵀ forward, NN: dY·W, TN: dYᵀ·X weight gradients), interleaved so that
 * drifting load affects all alike. Tiles are ranked by the geometric mean over the shapes of
 * GFLOP per second of process CPU time (on a CPU adapter the driver's threads are the process's,
 * so this is the work a GEMM costs, and it is far less disturbed by other load on a shared machine
 * than GPU timestamps, which count time the driver's threads spent descheduled). Per layout the
 * best tile whose shader compiles within `maxCompileSeconds` wins: bigger tiles compile for up to a
 * minute per layout, which every fresh machine and CI run pays. Run it with
 * MESA_SHADER_CACHE_DISABLE=true, or compile times read as 0 for tiles Mesa has cached.
 * The chosen table goes into engine/kernels/cpu_tiles.ts, the sweep's table into bench/results/.
 */
import * as E from '../engine/index.ts';
import { type CpuTile, type CpuTileTable, setCpuGemmTiles } from '../engine/kernels/cpu_tiles.ts';
import { GpuTimer, type TimingStats, initBenchEngine, randomTensor } from './timer.ts';

export type Layout = 'NN' | 'NT' | 'TN';
export const SWEEP_LAYOUTS: readonly Layout[] = ['NT', 'NN', 'TN'];

export interface SweepOptions {
  /** Candidate tiles (default: TM 16, 32, 64 × TQ 1, 2 × KU 1, 2). */
  tiles?: CpuTile[];
  /** Products [M, N, K] timed per layout (default: BERT-small's at 1024 tokens). */
  shapes?: Array<[number, number, number]>;
  layouts?: readonly Layout[];
  /** Tiles whose compilation takes longer (CPU seconds, per layout) are not chosen. Default 10. */
  maxCompileSeconds?: number;
  warmup?: number;
  repeats?: number;
  onProgress?: (done: number, total: number, what: string) => void;
}

export interface SweepCell {
  layout: Layout;
  tile: CpuTile;
  shape: [number, number, number];
  time_ms: TimingStats;
  cpu_ms: TimingStats;
  /** FLOPs / median GPU time. */
  gflops: number;
  /** FLOPs / median process CPU time: the ranking's measure. */
  cpu_gflops: number;
}

export interface SweepReport {
  command: 'bench kernels --sweep';
  device: string;
  subgroup_size: number;
  cells: SweepCell[];
  /**
   * Process CPU time of each tile's first GEMM per layout, less a steady run's (ms): the shader
   * compilation a user pays once (Mesa caches compiled shaders on disk).
   */
  compile_cpu_ms: Array<{ layout: Layout; tile: CpuTile; ms: number }>;
  /** Per layout: every tile's geometric mean over the shapes of GFLOP per CPU-second, best first. */
  ranking: Record<string, Array<{ tile: CpuTile; geomean_gflops: number; compile_s: number }>>;
  max_compile_seconds: number;
  chosen: CpuTileTable;
}

/**
 * Candidates: TM 16, 32, 64 × TQ 1, 2 at KU = 1. A first sweep (bench/results/cpu_gemm_sweep.md)
 * also tried KU = 2: slower for every tile and layout, and twice the code to compile.
 */
export const DEFAULT_SWEEP_TILES: CpuTile[] = [16, 32, 64].flatMap((TM) => [1, 2].map((TQ) => ({ TM, TQ, KU: 1 })));
export const DEFAULT_SWEEP_SHAPES: Array<[number, number, number]> = [
  [1024, 512, 512],
  [1024, 2048, 512],
  [1024, 512, 2048],
];

const tileName = (t: CpuTile) => `TM=${t.TM} TQ=${t.TQ} KU=${t.KU}`;

/**
 * Runs the sweep on the engine's adapter with the CPU kernels.
 * @throws Error when the adapter has no fixed subgroup size (the CPU GEMM needs one)
 */
export async function runGemmSweep(options: SweepOptions = {}): Promise<SweepReport> {
  const engine = await initBenchEngine();
  if (engine.subgroupSize === null) throw new Error('bench kernels --sweep: the adapter has no fixed subgroup size, so the CPU GEMM kernels do not run on it');
  const tiles = options.tiles ?? DEFAULT_SWEEP_TILES;
  const shapes = options.shapes ?? DEFAULT_SWEEP_SHAPES;
  const layouts = options.layouts ?? SWEEP_LAYOUTS;
  const [warmup, repeats] = [options.warmup ?? 1, options.repeats ?? 3];
  const timer = new GpuTimer(engine);
  const previous = engine.deviceClass;
  const poison = engine.poison;
  engine.deviceClass = 'cpu';
  engine.poison = false;
  const cells: SweepCell[] = [];
  const compile: SweepReport['compile_cpu_ms'] = [];
  let done = 0;
  const total = layouts.length * shapes.length * tiles.length * (warmup + repeats);
  try {
    for (const layout of layouts) {
      const [transA, transB] = [layout[0] === 'T', layout[1] === 'T'];
      for (const shape of shapes) {
        const [M, N, K] = shape;
        const a = E.keep(randomTensor(transA ? [K, M] : [M, K], 1));
        const b = E.keep(randomTensor(transB ? [N, K] : [K, N], 2));
        const runs = tiles.map((tile) => () => {
          setCpuGemmTiles({ byLayout: { NN: tile, NT: tile, TN: tile, TT: tile } });
          E.tidy(() => void E.matmul(a, b, { transA, transB }));
        });
        try {
          if (shape === shapes[0]) {
            // First use of each tile in this layout compiles its pipeline: time it, then once more warm.
            for (let i = 0; i < tiles.length; i++) {
              const cpu = async () => {
                const c0 = process.cpuUsage();
                runs[i]!();
                await engine.sync();
                const c = process.cpuUsage(c0);
                return (c.user + c.system) / 1000;
              };
              const first = await cpu();
              compile.push({ layout, tile: tiles[i]!, ms: Math.max(0, first - (await cpu())) });
            }
          }
          const ms = await timer.timeInterleaved(runs, { warmup, repeats, onRun: () => options.onProgress?.(++done, total, `${layout} ${M}×${N}×${K}`) });
          ms.forEach((m, i) =>
            cells.push({ layout, tile: tiles[i]!, shape, time_ms: { median: m.median, min: m.min, max: m.max }, cpu_ms: m.cpu, gflops: (2 * M * N * K) / (m.median * 1e6), cpu_gflops: (2 * M * N * K) / (m.cpu.median * 1e6) }),
          );
        } finally {
          a.dispose();
          b.dispose();
        }
      }
    }
  } finally {
    setCpuGemmTiles(null);
    engine.deviceClass = previous;
    engine.poison = poison;
    timer.dispose();
  }
  const maxCompile = options.maxCompileSeconds ?? 10;
  const ranking: SweepReport['ranking'] = {};
  const byLayout: Record<string, CpuTile> = {};
  for (const layout of layouts) {
    ranking[layout] = tiles
      .map((tile) => {
        const g = cells.filter((c) => c.layout === layout && c.tile === tile).map((c) => Math.log(c.cpu_gflops));
        const compileMs = compile.find((c) => c.layout === layout && c.tile === tile)?.ms ?? 0;
        return { tile, geomean_gflops: Math.exp(g.reduce((s, x) => s + x, 0) / g.length), compile_s: compileMs / 1000 };
      })
      .sort((x, y) => y.geomean_gflops - x.geomean_gflops);
    byLayout[layout] = (ranking[layout]!.find((x) => x.compile_s <= maxCompile) ?? ranking[layout]![0]!).tile;
  }
  const d = engine.gpu.description;
  return {
    command: 'bench kernels --sweep',
    device: `${d.description} (${d.vendor})`,
    subgroup_size: engine.subgroupSize,
    cells,
    compile_cpu_ms: compile,
    ranking,
    max_compile_seconds: maxCompile,
    // TT (aᵀ·bᵀ) takes TN's tile: it loads a the same way and is rare in training.
    chosen: { byLayout: { NT: byLayout.NT!, NN: byLayout.NN!, TN: byLayout.TN!, TT: byLayout.TN! } as CpuTileTable['byLayout'] },
  };
}

/** The sweep as markdown: GFLOP/s per tile × (layout, shape), geometric means, and the choice. */
export function sweepTable(r: SweepReport): string {
  const layouts = Object.keys(r.ranking) as Layout[];
  const shapes = [...new Map(r.cells.map((c) => [c.shape.join('×'), c.shape])).values()];
  const head = ['tile', ...layouts.flatMap((l) => [...shapes.map((s) => `${l} ${s.join('×')}`), `${l} geomean`, `${l} compile s`])];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  const tiles = r.ranking[layouts[0]!]!.map((x) => x.tile);
  for (const tile of [...tiles].sort((x, y) => x.TM - y.TM || x.TQ - y.TQ || x.KU - y.KU)) {
    const cells = layouts.flatMap((l) => [
      ...shapes.map((s) => r.cells.find((c) => c.layout === l && c.tile === tile && c.shape === s)!.cpu_gflops.toFixed(1)),
      r.ranking[l]!.find((x) => x.tile === tile)!.geomean_gflops.toFixed(1),
      ((r.compile_cpu_ms.find((c) => c.layout === l && c.tile === tile)?.ms ?? 0) / 1000).toFixed(1),
    ]);
    lines.push(`| ${tileName(tile)} | ${cells.join(' | ')} |`);
  }
  const chosen = layouts.map((l) => {
    const c = r.ranking[l]!.find((x) => x.tile === r.chosen.byLayout[l])!;
    return `${l}: ${tileName(c.tile)} (${c.geomean_gflops.toFixed(1)} GFLOP/CPU-s; fastest: ${tileName(r.ranking[l]![0]!.tile)} ${r.ranking[l]![0]!.geomean_gflops.toFixed(1)}, compiling in ${r.ranking[l]![0]!.compile_s.toFixed(0)} s)`;
  });
  return `${lines.join('\n')}\n\n- device: ${r.device}, subgroup size ${r.subgroup_size}; cells are GFLOP per second of process CPU time (median of the timed runs); compile s: CPU seconds of the tile's first GEMM in the layout beyond a warm run (shader compilation)\n- chosen: the fastest tile compiling within ${r.max_compile_seconds} s per layout. ${chosen.join('; ')}\n`;
}
