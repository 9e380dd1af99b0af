/**
 * IEEE 754 binary16 ("f16", half) and bfloat16 ("bf16") conversion to and from binary32 ("f32"),
 * on the host.
 *
 * - f16: 1 sign bit, 5 exponent bits (bias 15), 10 mantissa bits. Largest finite 65504, smallest
 *   normal 2^-14, smallest subnormal 2^-24.
 * - bf16: the upper 16 bits of an f32 (1 sign, 8 exponent bits with bias 127, 7 mantissa bits).
 *
 * Narrowing (f32 → f16, f32 → bf16) rounds to nearest, ties to even (IEEE 754 roundTiesToEven),
 * overflows to ±Infinity, produces subnormals and signed zeros, and keeps NaN a NaN (sign and the
 * top mantissa bits of the payload kept; the quiet bit is set when the kept payload would be zero).
 * Widening (f16/bf16 → f32) is exact.
 *
 * Scalar functions taking a JS `number` first round it to f32 (as storing it in a Float32Array
 * would); the `...Bits` functions work on raw bit patterns and are exact for NaN payloads too.
 */

const scratch = new ArrayBuffer(4);
const scratchF32 = new Float32Array(scratch);
const scratchU32 = new Uint32Array(scratch);

/** The f32 bit pattern (u32) of `x` rounded to f32. */
export function f32Bits(x: number): number {
  scratchF32[0] = x;
  return scratchU32[0]!;
}

/** The f32 value (as a JS number) of a u32 bit pattern. NaN payloads may not survive as a JS number. */
export function f32FromBits(bits: number): number {
  scratchU32[0] = bits >>> 0;
  return scratchF32[0]!;
}

/**
 * f32 bit pattern (u32) → f16 bit pattern (u16), round to nearest even.
 * Overflow (|x| ≥ 65520 after rounding) gives ±Infinity (0x7c00 / 0xfc00); values below 2^-25 in
 * magnitude give ±0; NaN stays NaN with its top 10 payload bits (0x200 set if they are all zero).
 */
export function f32BitsToF16Bits(bits: number): number {
  const x = bits >>> 0;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) {
    if (mant === 0) return sign | 0x7c00;
    const payload = mant >>> 13;
    return sign | 0x7c00 | (payload === 0 ? 0x200 : payload);
  }
  const e = exp - 127 + 15; // f16 biased exponent
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal f16 (or zero). The value is 1.mant × 2^(exp-127); in units of 2^-24 it is
    // (mant | 2^23) >> (14 - e). Below 2^-25 everything rounds to zero.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e; // 14..24
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (h & 1) === 1)) h++; // may carry into the smallest normal: still correct
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // a carry into the exponent is correct, up to Infinity
  return sign | h;
}

/** f16 bit pattern (u16) → f32 bit pattern (u32), exact (subnormals normalised, NaN payload kept). */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp === 0) {
    if (mant === 0) return sign >>> 0;
    // Subnormal: normalise. value = mant × 2^-24.
    let e = -14;
    while ((mant & 0x400) === 0) {
      mant <<= 1;
      e--;
    }
    mant &= 0x3ff;
    return (sign | ((e + 127) << 23) | (mant << 13)) >>> 0;
  }
  return (sign | ((exp - 15 + 127) << 23) | (mant << 13)) >>> 0;
}

/** `x` (rounded to f32 first) → f16 bit pattern, round to nearest even. See {@link f32BitsToF16Bits}. */
export function f32ToF16Bits(x: number): number {
  return f32BitsToF16Bits(f32Bits(x));
}

/** f16 bit pattern → its value as a JS number (exact). */
export function f16BitsToF32(h: number): number {
  return f32FromBits(f16BitsToF32Bits(h));
}

/**
 * f32 bit pattern → bf16 bit pattern, round to nearest even (add 0x7fff plus the lowest kept bit,
 * then truncate). Overflow rounds to ±Infinity; NaN stays NaN (0x40 set if the kept payload is zero).
 */
export function f32BitsToBf16Bits(bits: number): number {
  const x = bits >>> 0;
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) {
    const top = x >>> 16;
    return (top & 0x7f) === 0 ? top | 0x40 : top;
  }
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** bf16 bit pattern → f32 bit pattern (exact: the bf16 bits become the upper half). */
export function bf16BitsToF32Bits(b: number): number {
  return ((b & 0xffff) << 16) >>> 0;
}

/** `x` (rounded to f32 first) → bf16 bit pattern, round to nearest even. */
export function f32ToBf16Bits(x: number): number {
  return f32BitsToBf16Bits(f32Bits(x));
}

/** bf16 bit pattern → its value as a JS number (exact). */
export function bf16BitsToF32(b: number): number {
  return f32FromBits(bf16BitsToF32Bits(b));
}

let f16Table: Uint32Array | undefined;

/** All 65536 f16 → f32 bit patterns, built on first use. */
function f16ToF32Table(): Uint32Array {
  if (f16Table === undefined) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32Bits(h);
  }
  return f16Table;
}

/** Converts an array of f32 values to f16 bit patterns (same length), round to nearest even. */
export function f32ToF16Array(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToF16Bits(bits[i]!);
  return out;
}

/** Converts f16 bit patterns to f32 values (same length), exactly (NaN payloads kept bit for bit). */
export function f16ToF32Array(src: Uint16Array): Float32Array {
  const table = f16ToF32Table();
  const out = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]!]!;
  return new Float32Array(out.buffer);
}

/** Converts an array of f32 values to bf16 bit patterns (same length), round to nearest even. */
export function f32ToBf16Array(src: Float32Array): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const out = new Uint16Array(src.length);
  for (let i = 0; i < bits.length; i++) out[i] = f32BitsToBf16Bits(bits[i]!);
  return out;
}

/** Converts bf16 bit patterns to f32 values (same length), exactly. */
export function bf16ToF32Array(src: Uint16Array): Float32Array {
  const out = new Uint32Array(src.length);
  for (let i = 0; i < src.length; i++) out[i] = src[i]! << 16;
  return new Float32Array(out.buffer);
}
