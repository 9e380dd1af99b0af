/**
 * A float64 array with a shape: the CPU reference every GPU op is checked against.
 * Deliberately plain loops: each reference should be obviously right.
 */

export class NDArray {
  readonly size: number;

  constructor(
    readonly data: Float64Array,
    readonly shape: readonly number[],
  ) {
    this.size = shape.reduce((a, b) => a * b, 1);
    if (data.length !== this.size) throw new Error(`NDArray: ${data.length} values for shape [${shape}]`);
  }

  static zeros(shape: readonly number[]): NDArray {
    return new NDArray(new Float64Array(shape.reduce((a, b) => a * b, 1)), shape);
  }

  static from(values: ArrayLike<number>, shape: readonly number[]): NDArray {
    return new NDArray(Float64Array.from(values), shape);
  }

  get strides(): number[] {
    const s = new Array<number>(this.shape.length);
    let acc = 1;
    for (let d = this.shape.length - 1; d >= 0; d--) {
      s[d] = acc;
      acc *= this.shape[d]!;
    }
    return s;
  }

  /** Multi-index of flat index i. */
  unravel(i: number): number[] {
    const idx = new Array<number>(this.shape.length);
    for (let d = this.shape.length - 1; d >= 0; d--) {
      idx[d] = i % this.shape[d]!;
      i = Math.floor(i / this.shape[d]!);
    }
    return idx;
  }

  /** Value at a multi-index aligned to the right of a (possibly longer) broadcast index. */
  atBroadcast(index: readonly number[]): number {
    const offset = index.length - this.shape.length;
    let flat = 0;
    const strides = this.strides;
    for (let d = 0; d < this.shape.length; d++) {
      const size = this.shape[d]!;
      flat += (size === 1 ? 0 : index[d + offset]!) * strides[d]!;
    }
    return this.data[flat]!;
  }

  map(f: (x: number, i: number) => number): NDArray {
    return new NDArray(this.data.map(f), this.shape);
  }

  reshape(shape: readonly number[]): NDArray {
    return new NDArray(this.data, shape);
  }
}

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let d = 0; d < rank; d++) {
    const x = a[d - rank + a.length] ?? 1;
    const y = b[d - rank + b.length] ?? 1;
    if (x !== y && x !== 1 && y !== 1) throw new Error(`reference: [${a}] and [${b}] do not broadcast`);
    out.push(Math.max(x, y));
  }
  return out;
}

/** Elementwise f(a, b) with NumPy broadcasting. */
export function zipWith(a: NDArray, b: NDArray, f: (x: number, y: number) => number): NDArray {
  const shape = broadcastShape(a.shape, b.shape);
  const out = NDArray.zeros(shape);
  for (let i = 0; i < out.size; i++) {
    const idx = out.unravel(i);
    out.data[i] = f(a.atBroadcast(idx), b.atBroadcast(idx));
  }
  return out;
}

/** Sum over axes (all when undefined). */
export function sumAxes(x: NDArray, axes: readonly number[] | undefined, keepDims: boolean): NDArray {
  const rank = x.shape.length;
  const ax = new Set((axes ?? [...Array(rank).keys()]).map((a) => (a < 0 ? a + rank : a)));
  const kept = x.shape.map((d, i) => (ax.has(i) ? 1 : d));
  const out = NDArray.zeros(kept);
  const outStrides = out.strides;
  for (let i = 0; i < x.size; i++) {
    const idx = x.unravel(i);
    let o = 0;
    for (let d = 0; d < rank; d++) o += (ax.has(d) ? 0 : idx[d]!) * outStrides[d]!;
    out.data[o]! += x.data[i]!;
  }
  return keepDims ? out : out.reshape(x.shape.filter((_, i) => !ax.has(i)));
}

/** Rows of the last axis: calls f(row values, row index) and writes its result. */
export function mapRows(x: NDArray, f: (row: Float64Array, r: number) => ArrayLike<number>, outCols?: number): NDArray {
  const cols = x.shape[x.shape.length - 1]!;
  const rows = x.size / cols;
  const oc = outCols ?? cols;
  const out = NDArray.zeros([...x.shape.slice(0, -1), oc]);
  for (let r = 0; r < rows; r++) {
    const res = f(x.data.subarray(r * cols, (r + 1) * cols), r);
    out.data.set(res, r * oc);
  }
  return out;
}

export function permuteRef(x: NDArray, perm: readonly number[]): NDArray {
  const shape = perm.map((p) => x.shape[p]!);
  const out = NDArray.zeros(shape);
  const strides = x.strides;
  for (let i = 0; i < out.size; i++) {
    const idx = out.unravel(i);
    let src = 0;
    for (let d = 0; d < perm.length; d++) src += idx[d]! * strides[perm[d]!]!;
    out.data[i] = x.data[src]!;
  }
  return out;
}

/** Batched matmul with optional transposes and bias; b may be 2-D (shared). */
export function matmulRef(a: NDArray, b: NDArray, transA = false, transB = false, bias?: NDArray): NDArray {
  const ar = a.shape.length;
  const br = b.shape.length;
  const M = transA ? a.shape[ar - 1]! : a.shape[ar - 2]!;
  const K = transA ? a.shape[ar - 2]! : a.shape[ar - 1]!;
  const N = transB ? b.shape[br - 2]! : b.shape[br - 1]!;
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const batchShape = batchA.length >= batchB.length ? batchA : batchB;
  const nBatch = batchShape.reduce((x, y) => x * y, 1);
  const nA = batchA.reduce((x, y) => x * y, 1);
  const nB = batchB.reduce((x, y) => x * y, 1);
  const out = NDArray.zeros([...batchShape, M, N]);
  for (let p = 0; p < nBatch; p++) {
    const ao = (nA === 1 ? 0 : p) * M * K;
    const bo = (nB === 1 ? 0 : p) * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = bias ? bias.data[n]! : 0;
        for (let k = 0; k < K; k++) {
          const av = transA ? a.data[ao + k * M + m]! : a.data[ao + m * K + k]!;
          const bv = transB ? b.data[bo + n * K + k]! : b.data[bo + k * N + n]!;
          s += av * bv;
        }
        out.data[p * M * N + m * N + n] = s;
      }
    }
  }
  return out;
}

/** erf in float64 to ~1e-15: Taylor series below 3, continued fraction for erfc above. */
export function erf64(x: number): number {
  const z = Math.abs(x);
  let r: number;
  if (z < 3) {
    let term = z;
    let sum = z;
    for (let n = 1; n < 200; n++) {
      term *= (-z * z) / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    r = (2 / Math.sqrt(Math.PI)) * sum;
  } else {
    // erfc(z) = exp(-z²)/√π · 1/(z + 1/2/(z + 1/(z + 3/2/(z + ...)))) (Lentz-free backward evaluation)
    let f = 0;
    for (let k = 60; k >= 1; k--) f = k / 2 / (z + f);
    r = 1 - Math.exp(-z * z) / Math.sqrt(Math.PI) / (z + f);
  }
  return x < 0 ? -r : r;
}

export function gelu64(x: number): number {
  return 0.5 * x * (1 + erf64(x / Math.SQRT2));
}
