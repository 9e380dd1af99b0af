/**
 * Element-wise pruned weights as they are stored: masks folded into the weights so that pruned
 * weights are exact zeros (the model stays an ordinary dense checkpoint that any loader reads), and
 * the storage a sparse format would need instead, reported beside the dense size.
 *
 * CSR per matrix [out, in]: values (f32, 4 bytes each), column indices (u16 when in ≤ 65,536, else
 * u32) and out + 1 row pointers (u32). Biases stay dense and are not counted. Dense GEMMs get no
 * faster from zeros: element-wise sparsity buys storage, not speed, here.
 */
import type { HostTensor } from '../../models/io/checkpoint.ts';
import type { PrunableLinear } from '../budget.ts';

/**
 * Copies of the weights with their masks multiplied in (0 masks give exact zeros).
 * @param masks per Linear name, [out, in] values (0/1 or soft)
 * @throws Error naming the Linear when a weight is missing or a mask has the wrong size
 */
export function foldElementMasks(values: ReadonlyMap<string, HostTensor>, masks: ReadonlyMap<string, ArrayLike<number>>): Map<string, HostTensor> {
  const out = new Map(values);
  for (const [name, m] of masks) {
    const w = values.get(`${name}.weight`);
    if (!w) throw new Error(`foldElementMasks: missing tensor ${name}.weight`);
    if (m.length !== w.data.length) throw new Error(`foldElementMasks: mask of ${name} has ${m.length} values for a weight of ${w.data.length}`);
    // A 0 mask gives +0 exactly (never −0 or NaN·0 from a finite weight).
    out.set(`${name}.weight`, { shape: [...w.shape], data: Float32Array.from(w.data, (v, i) => (m[i] === 0 ? 0 : v * m[i]!)) });
  }
  return out;
}

/** Storage of one pruned matrix. */
export interface MatrixStorage {
  name: string;
  shape: [number, number];
  nonzero: number;
  /** nonzero / size. */
  density: number;
  dense_bytes: number;
  csr_bytes: number;
}

export interface SparseStorageReport {
  matrices: MatrixStorage[];
  nonzero: number;
  weights: number;
  /** f32 dense bytes of the prunable weights. */
  dense_bytes: number;
  /** CSR bytes of the same weights (see the module comment). */
  csr_bytes: number;
  note: string;
}

/** Counts the non-zeros of every prunable weight and the bytes dense f32 and CSR storage take. */
export function sparseStorage(values: ReadonlyMap<string, HostTensor>, linears: readonly PrunableLinear[]): SparseStorageReport {
  const matrices = linears.map((l): MatrixStorage => {
    const w = values.get(`${l.name}.weight`);
    if (!w) throw new Error(`sparseStorage: missing tensor ${l.name}.weight`);
    let nonzero = 0;
    for (const v of w.data) if (v !== 0) nonzero++;
    const indexBytes = l.in <= 65536 ? 2 : 4;
    return { name: l.name, shape: [l.out, l.in], nonzero, density: nonzero / (l.out * l.in), dense_bytes: 4 * l.out * l.in, csr_bytes: nonzero * (4 + indexBytes) + 4 * (l.out + 1) };
  });
  const sum = (f: (m: MatrixStorage) => number) => matrices.reduce((s, m) => s + f(m), 0);
  return {
    matrices,
    nonzero: sum((m) => m.nonzero),
    weights: sum((m) => m.shape[0] * m.shape[1]),
    dense_bytes: sum((m) => m.dense_bytes),
    csr_bytes: sum((m) => m.csr_bytes),
    note: 'element-wise sparsity buys no speed with dense GEMMs: the pruned model runs as fast as the dense one; it saves storage only in a sparse format (CSR: f32 values, u16/u32 column indices, u32 row pointers)',
  };
}
