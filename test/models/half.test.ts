import { expect } from 'chai';
import {
  bf16BitsToF32,
  bf16ToF32Array,
  f16BitsToF32,
  f16BitsToF32Bits,
  f16ToF32Array,
  f32Bits,
  f32BitsToBf16Bits,
  f32BitsToF16Bits,
  f32FromBits,
  f32ToBf16Array,
  f32ToBf16Bits,
  f32ToF16Array,
  f32ToF16Bits,
} from '../../models/io/half.ts';

/** Value of a finite f16 bit pattern computed from the definition, independently of half.ts. */
function f16Reference(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

const isF16NaN = (h: number) => (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;

describe('half: f16', () => {
  it('widens every f16 bit pattern to the value of its definition', () => {
    for (let h = 0; h < 65536; h++) {
      const v = f16BitsToF32(h);
      if (isF16NaN(h)) expect(Number.isNaN(v), `0x${h.toString(16)}`).to.equal(true);
      else if ((h & 0x7fff) === 0x7c00) expect(v).to.equal(h & 0x8000 ? -Infinity : Infinity);
      else expect(Object.is(v, f16Reference(h)), `0x${h.toString(16)}: ${v}`).to.equal(true);
    }
  });

  it('round-trips all 65536 f16 bit patterns exactly through f32 (NaN payloads included)', () => {
    for (let h = 0; h < 65536; h++) {
      expect(f32BitsToF16Bits(f16BitsToF32Bits(h)), `0x${h.toString(16)}`).to.equal(h);
      if (!isF16NaN(h)) expect(f32ToF16Bits(f16BitsToF32(h))).to.equal(h);
    }
    const all = new Uint16Array(65536).map((_, i) => i);
    expect(Array.from(f32ToF16Array(f16ToF32Array(all)))).to.deep.equal(Array.from(all));
  });

  it('converts known values', () => {
    const known: Array<[number, number]> = [
      [0, 0x0000],
      [-0, 0x8000],
      [1, 0x3c00],
      [-2, 0xc000],
      [0.5, 0x3800],
      [65504, 0x7bff],
      [2 ** -14, 0x0400], // smallest normal
      [2 ** -24, 0x0001], // smallest subnormal
      [0.333251953125, 0x3555],
      [Infinity, 0x7c00],
      [-Infinity, 0xfc00],
      [1e10, 0x7c00], // overflow
      [-65520, 0xfc00], // exactly halfway between 65504 and 2^16: ties to even = Infinity
      [65519.99, 0x7bff],
      [2 ** -25, 0x0000], // halfway between 0 and 2^-24: ties to even = 0
      [2 ** -25 * 1.0001, 0x0001],
      [2 ** -26, 0x0000],
      [1 + 2 ** -11, 0x3c00], // halfway between 1 and 1+2^-10: to even (1)
      [1 + 3 * 2 ** -11, 0x3c02], // halfway between 1+2^-10 and 1+2^-9: to even
    ];
    for (const [x, h] of known) expect(f32ToF16Bits(x), `${x}`).to.equal(h);
    expect(f32ToF16Bits(NaN) & 0x7c00).to.equal(0x7c00);
    expect(isF16NaN(f32ToF16Bits(NaN))).to.equal(true);
    // An f32 NaN whose payload lives only in the low 13 bits still narrows to a NaN (quiet bit set).
    expect(f32BitsToF16Bits(0x7f800001)).to.equal(0x7e00);
    expect(f32BitsToF16Bits(0xff800001)).to.equal(0xfe00);
  });

  it('rounds to nearest even at every midpoint between consecutive f16 values', () => {
    // For each pair of neighbours (a, b) the midpoint is exact in f32; it must go to the even pattern,
    // and the f32 values one ulp either side of it must go to the nearer neighbour.
    for (let h = 0; h < 0x7c00; h++) {
      const a = f16Reference(h);
      const b = h + 1 === 0x7c00 ? 65536 : f16Reference(h + 1);
      const mid = (a + b) / 2;
      const midBits = f32Bits(mid);
      expect(f32FromBits(midBits)).to.equal(mid);
      const even = (h & 1) === 0 ? h : h + 1;
      for (const sign of [0, 0x80000000]) {
        const s16 = sign ? 0x8000 : 0;
        expect(f32BitsToF16Bits((midBits | sign) >>> 0)).to.equal(even | s16);
        expect(f32BitsToF16Bits(((midBits - 1) | sign) >>> 0)).to.equal(h | s16);
        expect(f32BitsToF16Bits(((midBits + 1) | sign) >>> 0)).to.equal((h + 1) | s16);
      }
    }
  });
});

describe('half: bf16', () => {
  it('round-trips all 65536 bf16 bit patterns exactly', () => {
    for (let b = 0; b < 65536; b++) {
      const bits = (b << 16) >>> 0;
      expect(f32BitsToBf16Bits(bits)).to.equal(b);
      const v = bf16BitsToF32(b);
      expect(Object.is(v, f32FromBits(bits))).to.equal(true);
    }
    const all = new Uint16Array(65536).map((_, i) => i);
    expect(Array.from(f32ToBf16Array(bf16ToF32Array(all)))).to.deep.equal(Array.from(all));
  });

  it('rounds to nearest even and handles specials', () => {
    expect(f32ToBf16Bits(1)).to.equal(0x3f80);
    expect(f32ToBf16Bits(-2)).to.equal(0xc000);
    expect(f32BitsToBf16Bits(0x3f808000)).to.equal(0x3f80); // tie, 0x3f80 even
    expect(f32BitsToBf16Bits(0x3f818000)).to.equal(0x3f82); // tie, rounds up to even
    expect(f32BitsToBf16Bits(0x3f808001)).to.equal(0x3f81);
    expect(f32BitsToBf16Bits(0x3f807fff)).to.equal(0x3f80);
    expect(f32BitsToBf16Bits(0x7f7fffff)).to.equal(0x7f80); // max f32 overflows to +Infinity
    expect(f32BitsToBf16Bits(0xff7fffff)).to.equal(0xff80);
    expect(f32BitsToBf16Bits(0x7f800001)).to.equal(0x7fc0); // NaN with low payload stays NaN
    expect(f32BitsToBf16Bits(0xffc00000)).to.equal(0xffc0);
    expect(f32ToBf16Bits(Infinity)).to.equal(0x7f80);
    expect(bf16BitsToF32(0x4049)).to.equal(3.140625);
  });
});
