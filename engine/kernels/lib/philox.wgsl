// Philox4x32-10 (Salmon et al. 2011), the same function as engine/random.ts on the host.
// Element i of a random op with key k uses lane i % 4 of philox(vec4(i / 4, 0, 0, 0), k).

fn philox_mulhi(a: u32, b: u32) -> u32 {
  let a_lo = a & 0xffffu;
  let a_hi = a >> 16u;
  let b_lo = b & 0xffffu;
  let b_hi = b >> 16u;
  let t = a_hi * b_lo + ((a_lo * b_lo) >> 16u);
  let t2 = a_lo * b_hi + (t & 0xffffu);
  return a_hi * b_hi + (t >> 16u) + (t2 >> 16u);
}

fn philox4x32(counter: vec4<u32>, key: vec2<u32>) -> vec4<u32> {
  var c = counter;
  var k = key;
  for (var round = 0u; round < 10u; round++) {
    if (round > 0u) {
      k = k + vec2<u32>(0x9e3779b9u, 0xbb67ae85u);
    }
    let hi0 = philox_mulhi(0xd2511f53u, c.x);
    let lo0 = 0xd2511f53u * c.x;
    let hi1 = philox_mulhi(0xcd9e8d57u, c.z);
    let lo1 = 0xcd9e8d57u * c.z;
    c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
  }
  return c;
}

// Uniform in the open interval (0, 1), exact in f32: ((x >> 8) + 0.5) / 2^24.
fn u01(x: u32) -> f32 {
  return (f32(x >> 8u) + 0.5) * (1.0 / 16777216.0);
}

// Uniforms 4·blk … 4·blk + 3 of the stream with this key (one Philox block).
fn philox_uniform4(key: vec2<u32>, blk: u32) -> vec4<f32> {
  let r = philox4x32(vec4<u32>(blk, 0u, 0u, 0u), key);
  return vec4<f32>(u01(r.x), u01(r.y), u01(r.z), u01(r.w));
}

// The i-th uniform of the stream with this key.
fn philox_uniform(key: vec2<u32>, i: u32) -> f32 {
  let r = philox4x32(vec4<u32>(i / 4u, 0u, 0u, 0u), key);
  return u01(r[i % 4u]);
}
