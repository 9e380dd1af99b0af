// Fused masked multi-head attention, forward, for CPU adapters: the CPU variant of
// attention_forward.wgsl, with the same inputs, outputs (O and the per-row softmax statistics
// (m, l)), dropout numbering and head-z skipping: read that file for the math.
//
// Design (lib/attention_cpu.wgsl says why): grid (⌈S / (SG·R)⌉, heads, B), one subgroup per
// workgroup; lane l owns query rows i0 + l + SG·r (r < R) with q/√D and the output accumulator
// in registers. Keys go by blocks of SG: lane l loads key row j0 + l of K and V (2·⌈D/4⌉ vec4
// loads per lane per block, each row loaded once) and every lane reads row jj of the block with
// subgroupShuffle. Per block the scores of all SG keys come first, then one online-softmax
// rescale per row (FlashAttention-2 style: one exp(m_old − m_new) per block, not per key), then
// the P·V accumulation. Cost per (b, h): the forward's 4·S²·D FLOPs, 2·S·D loads per SG·R query
// rows (K and V once per workgroup), S² exp.
enable subgroups;

#include "lib/philox.wgsl"
#include "lib/attention_cpu.wgsl"

struct Params { S: u32, heads: u32, scale: f32, p: f32, keep_scale: f32, has_mask: u32, has_z: u32, dropout: u32, key: vec2<u32> }
@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read> headz: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
@group(0) @binding(6) var<storage, read_write> stats: array<f32>;
@group(0) @binding(7) var<uniform> params: Params;

fn load_whole(which: u32, i: u32) -> vec4<f32> {
  if (which == 0u) { return q[i]; }
  if (which == 1u) { return k[i]; }
  return v[i];
}

@compute @workgroup_size(SG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(subgroup_invocation_id) lane: u32) {
  let S = params.S;
  let HD = params.heads * D;
  let head = wid.y;
  let b = wid.z;
  let bh = b * params.heads + head;
  let whole = D % 4u == 0u && HD % 4u == 0u;
  let i0 = wid.x * SG * R;

  var z = 1.0;
  if (params.has_z != 0u) {
    z = headz[head];
  }
  if (z == 0.0) {
    for (var r = 0u; r < R; r++) {
      let i = i0 + lane + SG * r;
      if (i < S) {
        let o = (b * S + i) * HD + head * D;
        for (var c = 0u; c < D; c++) { out[o + c] = 0.0; }
        stats[(bh * S + i) * 2u] = 0.0;
        stats[(bh * S + i) * 2u + 1u] = 1.0;
      }
    }
    return;
  }

  var qr: array<vec4<f32>, R * DV>;
  var acc: array<vec4<f32>, R * DV>;
  var m: array<f32, R>;
  var l: array<f32, R>;
  var rng: array<PhiloxCache, R>;
#unroll r {{R}}
  {
    let i = min(i0 + lane + SG * {{r}}u, S - 1u);
    let at = (b * S + i) * HD + head * D;
#unroll c4 {{DV}}
    qr[{{r}}u * DV + {{c4}}u] = row4(0u, at, {{c4}}u, whole) * params.scale;
#end
    m[{{r}}u] = -3.4028234e38;
    rng[{{r}}u].block = 0xffffffffu;
  }
#end

  for (var j0 = 0u; j0 < S; j0 += SG) {
    // This lane's key row of the block (clamped; keys past S are masked out below).
    let jl = min(j0 + lane, S - 1u);
    let kv_at = (b * S + jl) * HD + head * D;
    var kl: array<vec4<f32>, DV>;
    var vl: array<vec4<f32>, DV>;
#unroll c4 {{DV}}
    kl[{{c4}}u] = row4(1u, kv_at, {{c4}}u, whole);
    vl[{{c4}}u] = row4(2u, kv_at, {{c4}}u, whole);
#end
    var mk = 0.0;
    if (params.has_mask != 0u) {
      mk = mask[b * S + jl];
    }
    let n = min(SG, S - j0);

    // Scores of the block's keys for each of this lane's rows.
    var s: array<f32, R * SG>;
    for (var jj = 0u; jj < n; jj++) {
      // Explicitly zeroed: a var's zero-initialisation inside a loop is not redone every
      // iteration by every shader compiler (lavapipe keeps the previous iteration's value).
      var s4 = array<vec4<f32>, R>();
#unroll c4 {{DV}}
      {
        let kj = shuffle4(kl[{{c4}}u], jj);
#unroll r {{R}}
        s4[{{r}}u] = fma(qr[{{r}}u * DV + {{c4}}u], kj, s4[{{r}}u]);
#end
      }
#end
      let mj = subgroupShuffle(mk, jj);
#unroll r {{R}}
      s[{{r}}u * SG + jj] = (s4[{{r}}u].x + s4[{{r}}u].y) + (s4[{{r}}u].z + s4[{{r}}u].w) + mj;
#end
    }
    // Online softmax: one rescale per row and block.
#unroll r {{R}}
    {
      var mb = m[{{r}}u];
      for (var jj = 0u; jj < n; jj++) { mb = max(mb, s[{{r}}u * SG + jj]); }
      let alpha = exp(m[{{r}}u] - mb);
      l[{{r}}u] *= alpha;
#unroll c4 {{DV}}
      acc[{{r}}u * DV + {{c4}}u] *= alpha;
#end
      m[{{r}}u] = mb;
      let i = i0 + lane + SG * {{r}}u;
      let rng_row = (bh * S + i) * S;
      for (var jj = 0u; jj < n; jj++) {
        let e = exp(s[{{r}}u * SG + jj] - mb);
        l[{{r}}u] += e;
        var w = e;
        if (params.dropout != 0u) {
          let u = dropout_uniform(&rng[{{r}}u], rng_row + j0 + jj, params.key);
          w = select(0.0, e * params.keep_scale, u >= params.p);
        }
        s[{{r}}u * SG + jj] = w;
      }
    }
#end
    // P·V.
    for (var jj = 0u; jj < n; jj++) {
#unroll c4 {{DV}}
      {
        let vj = shuffle4(vl[{{c4}}u], jj);
#unroll r {{R}}
        acc[{{r}}u * DV + {{c4}}u] = fma(vec4<f32>(s[{{r}}u * SG + jj]), vj, acc[{{r}}u * DV + {{c4}}u]);
#end
      }
#end
    }
  }

#unroll r {{R}}
  {
    let i = i0 + lane + SG * {{r}}u;
    if (i < S) {
      let o = (b * S + i) * HD + head * D;
      let f = z / l[{{r}}u];
#unroll c4 {{DV}}
      {
        let val = acc[{{r}}u * DV + {{c4}}u] * f;
        for (var t = 0u; t < 4u; t++) {
          if (4u * {{c4}}u + t < D) { out[o + 4u * {{c4}}u + t] = val[t]; }
        }
      }
#end
      stats[(bh * S + i) * 2u] = m[{{r}}u];
      stats[(bh * S + i) * 2u + 1u] = l[{{r}}u];
    }
  }
#end
}
