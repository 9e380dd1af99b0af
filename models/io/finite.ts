/**
 * Non-finite values (NaN, ±Infinity) in host tensors: found and described for error messages.
 *
 * A checkpoint with one NaN weight makes every output that depends on it NaN, and an argmax over NaN
 * logits still picks a class, so evaluation "works" and reports a meaningless score. Loaders and
 * writers therefore refuse non-finite values, naming the file, the tensor and the first bad element.
 */

/** Index of the first NaN or ±Infinity in `data`, or -1 when every value is finite. */
export function firstNonFinite(data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    // v − v is 0 for every finite v and NaN for NaN and ±Infinity; faster than Number.isFinite.
    if (v - v !== 0) return i;
  }
  return -1;
}

/** "NaN", "+Infinity" or "-Infinity". */
export function nonFiniteKind(v: number): string {
  return Number.isNaN(v) ? 'NaN' : v > 0 ? '+Infinity' : '-Infinity';
}

/** The multi-index of flat (row-major) element `i` of `shape`, as "[a, b, c]". */
export function multiIndex(shape: readonly number[], i: number): string {
  const idx: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d]!;
    idx.unshift(n === 0 ? 0 : i % n);
    i = n === 0 ? 0 : Math.floor(i / n);
  }
  return `[${idx.join(', ')}]`;
}

/**
 * "element 1234 (index [9, 82] of shape [64, 128]) is NaN, one of 37 non-finite values"; the
 * description of the first non-finite element of `data` (prod(shape) elements, row-major), or
 * undefined when all are finite.
 */
export function describeNonFinite(data: ArrayLike<number>, shape: readonly number[]): string | undefined {
  const first = firstNonFinite(data);
  if (first < 0) return undefined;
  let count = 0;
  for (let i = first; i < data.length; i++) if (!Number.isFinite(data[i]!)) count++;
  const where = shape.length > 1 ? ` (index ${multiIndex(shape, first)} of shape [${shape.join(', ')}])` : '';
  const others = count > 1 ? `, one of ${count} non-finite values` : ', the only non-finite value';
  return `element ${first}${where} is ${nonFiniteKind(data[first]!)}${others}`;
}
