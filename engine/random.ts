/**
 * Philox4x32-10, the counter-based generator of Salmon et al. 2011 ("Parallel random numbers: as
 * easy as 1, 2, 3"), on the host. engine/kernels/lib/philox.wgsl is the same function on the GPU, so host
 * references reproduce GPU random streams bit for bit.
 *
 * Element i of a random op with key (k0, k1) uses lane i % 4 of philox(counter = (i / 4, 0, 0, 0), key).
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two u32. */
function mulhi(a: number, b: number): number {
  const aLo = a & 0xffff;
  const aHi = a >>> 16;
  const bLo = b & 0xffff;
  const bHi = b >>> 16;
  const t = aHi * bLo + ((aLo * bLo) >>> 16);
  const t2 = aLo * bHi + (t & 0xffff);
  return (aHi * bHi + (t >>> 16) + (t2 >>> 16)) >>> 0;
}

/**
 * Philox4x32 with 10 rounds: four u32 outputs for a 4-word counter and 2-word key. Written without
 * temporary arrays: model initialisation draws millions of blocks, and allocating per round made
 * it seconds of host time and garbage collection.
 */
export function philox4x32(counter: readonly [number, number, number, number], key: readonly [number, number]): [number, number, number, number] {
  let c0 = counter[0] >>> 0;
  let c1 = counter[1] >>> 0;
  let c2 = counter[2] >>> 0;
  let c3 = counter[3] >>> 0;
  let k0 = key[0] >>> 0;
  let k1 = key[1] >>> 0;
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + W0) >>> 0;
      k1 = (k1 + W1) >>> 0;
    }
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    const n0 = (hi1 ^ c1 ^ k0) >>> 0;
    const n2 = (hi0 ^ c3 ^ k1) >>> 0;
    c0 = n0;
    c1 = lo1;
    c2 = n2;
    c3 = lo0;
  }
  return [c0, c1, c2, c3];
}

/**
 * Maps a u32 to a uniform number in the open interval (0, 1): (x >> 8 + 0.5) / 2^24, exact in f32.
 * engine/kernels/lib/philox.wgsl's `u01` computes the same value.
 */
export function u01(x: number): number {
  return ((x >>> 8) + 0.5) / 16777216;
}

/** `n` uniforms in (0, 1) of the stream with this key, elements 0..n-1. */
export function uniformStream(key: readonly [number, number], n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 4) {
    const r = philox4x32([i / 4, 0, 0, 0], key);
    for (let lane = 0; lane < 4 && i + lane < n; lane++) out[i + lane] = u01(r[lane]!);
  }
  return out;
}

/** A seeded host generator (weight initialisation, data shuffling), drawing Philox blocks in order. */
export class HostRandom {
  private counter = 0;
  private readonly key: [number, number];

  constructor(seed: number) {
    this.key = [seed >>> 0, Math.floor(seed / 2 ** 32) >>> 0];
  }

  /** Uniform in (0, 1). */
  uniform(): number {
    return u01(philox4x32([this.counter++, 0xa5a5a5a5, 0, 0], this.key)[0]!);
  }

  /** Standard normal (Box-Muller). */
  normal(): number {
    const u1 = this.uniform();
    const u2 = this.uniform();
    return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.min(n - 1, Math.floor(this.uniform() * n));
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j]!, items[i]!];
    }
    return items;
  }

  /** The generator position, for checkpoints. */
  get position(): number {
    return this.counter;
  }

  set position(p: number) {
    this.counter = p;
  }
}
