/**
 * Register-tile shapes of the CPU GEMM kernels (lib/gemm_cpu.wgsl), chosen by measurement with
 * `webprune bench kernels --sweep` on lavapipe (2 cores of an AMD EPYC, 256-bit llvmpipe,
 * Mesa 25.0.7): per layout the fastest tile (GFLOP per CPU-second) whose shader compiles within
 * 10 s. The sweeps' tables and the numbers that chose these are in
 * bench/results/cpu_gemm_sweep.md.
 *
 *   TM  rows of c per subgroup (a multiple of the subgroup size)
 *   TQ  vec4 column groups per lane (4·TQ columns per lane, 4·TQ·SG per subgroup)
 *   KU  steps of 4 k per loop iteration
 */

export interface CpuTile {
  TM: number;
  TQ: number;
  KU: number;
}

/** Tiles by operand layout (transA, transB), for matrices of at least `TM` rows. */
export interface CpuTileTable {
  /** Keyed `${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`: NN, NT, TN, TT. */
  byLayout: Readonly<Record<'NN' | 'NT' | 'TN' | 'TT', CpuTile>>;
}

/** The committed choice (see the file header for where its numbers are). */
export const CPU_GEMM_TILES: CpuTileTable = {
  byLayout: {
    // Sweep 3 (the first with Dawn's polling throttled): 27.1 against 25.1 for TM = 16.
    NN: { TM: 32, TQ: 1, KU: 1 },
    NT: { TM: 32, TQ: 1, KU: 1 },
    TN: { TM: 32, TQ: 1, KU: 1 },
    // aᵀ·bᵀ loads a as TN does, and is rare in training.
    TT: { TM: 32, TQ: 1, KU: 1 },
  },
};

let override: CpuTileTable | null = null;

/** Replaces the tile table for later GEMMs (the tile sweep); null restores CPU_GEMM_TILES. */
export function setCpuGemmTiles(table: CpuTileTable | null): void {
  override = table;
}

/**
 * The tile for a product of M rows: the table's, or one subgroup of rows when M fits in it (a
 * 7-row product does not compute 32). Only these two row counts occur, so a layout compiles at
 * most two pipelines (seconds each on a CPU driver).
 */
export function cpuGemmTile(M: number, transA: boolean, transB: boolean, subgroupSize: number, table: CpuTileTable = override ?? CPU_GEMM_TILES): CpuTile {
  const t = table.byLayout[`${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`];
  const TM = Math.max(subgroupSize, Math.ceil(t.TM / subgroupSize) * subgroupSize);
  return { ...t, TM: M <= subgroupSize ? subgroupSize : TM };
}
