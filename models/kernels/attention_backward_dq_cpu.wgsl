// Fused masked attention, backward part 1, for CPU adapters: the CPU variant of
// attention_backward_dq.wgsl (same outputs: Δ_i = dO_i · O_i for every query row, and
// dq_i = (1/√D) Σ_j dS_ij k_j when compute_dq, dS_ij = P_ij (M_ij (dC_i · v_j) − Δ_i), with P
// recomputed from the forward statistics and M the forward's dropout multipliers).
//
// Design: the forward CPU kernel's layout (attention_forward_cpu.wgsl, lib/attention_cpu.wgsl):
// lane l owns query rows i0 + l + SG·r with q/√D, dC = z·dO and dq in registers; key and value
// rows are loaded one per lane, SG at a time, and read by all lanes through subgroupShuffle.
// Per key: two dot products (s and dC·v) and one axpy (dq) per row: 6·S²·D FLOPs per (b, h).
enable subgroups;

#include "lib/philox.wgsl"
#include "lib/attention_cpu.wgsl"

struct Params { S: u32, heads: u32, scale: f32, p: f32, keep_scale: f32, has_mask: u32, has_z: u32, dropout: u32, compute_dq: u32, key: vec2<u32> }
@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read> headz: array<f32>;
@group(0) @binding(5) var<storage, read> out: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> dout: array<vec4<f32>>;
@group(0) @binding(7) var<storage, read> stats: array<f32>;
@group(0) @binding(8) var<storage, read_write> delta: array<f32>;
@group(0) @binding(9) var<storage, read_write> dq: array<f32>;
@group(0) @binding(10) var<uniform> params: Params;

fn load_whole(which: u32, i: u32) -> vec4<f32> {
  if (which == 0u) { return q[i]; }
  if (which == 1u) { return k[i]; }
  if (which == 2u) { return v[i]; }
  if (which == 3u) { return out[i]; }
  return dout[i];
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
        delta[bh * S + i] = 0.0;
        if (params.compute_dq != 0u) {
          let o = (b * S + i) * HD + head * D;
          for (var c = 0u; c < D; c++) { dq[o + c] = 0.0; }
        }
      }
    }
    return;
  }

  var qr: array<vec4<f32>, R * DV>;
  var dc: array<vec4<f32>, R * DV>;
  var g: array<vec4<f32>, R * DV>;
  var dlt: array<f32, R>;
  var m: array<f32, R>;
  var inv_l: array<f32, R>;
  var rng: array<PhiloxCache, R>;
#unroll r {{R}}
  {
    let i_own = i0 + lane + SG * {{r}}u;
    let i = min(i_own, S - 1u);
    let at = (b * S + i) * HD + head * D;
    var d4 = vec4<f32>(0.0);
#unroll c4 {{DV}}
    {
      qr[{{r}}u * DV + {{c4}}u] = row4(0u, at, {{c4}}u, whole) * params.scale;
      let go = row4(4u, at, {{c4}}u, whole);
      dc[{{r}}u * DV + {{c4}}u] = go * z;
      d4 = fma(go, row4(3u, at, {{c4}}u, whole), d4);
    }
#end
    dlt[{{r}}u] = (d4.x + d4.y) + (d4.z + d4.w);
    if (i_own < S) {
      delta[bh * S + i] = dlt[{{r}}u];
    }
    m[{{r}}u] = stats[2u * (bh * S + i)];
    inv_l[{{r}}u] = 1.0 / stats[2u * (bh * S + i) + 1u];
    rng[{{r}}u].block = 0xffffffffu;
  }
#end
  if (params.compute_dq == 0u) {
    return;
  }

  for (var j0 = 0u; j0 < S; j0 += SG) {
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
    for (var jj = 0u; jj < n; jj++) {
      // Explicitly zeroed: a var's zero-initialisation inside a loop is not redone every
      // iteration by every shader compiler (lavapipe keeps the previous iteration's value).
      var s4 = array<vec4<f32>, R>();
      var p4 = array<vec4<f32>, R>();
#unroll c4 {{DV}}
      {
        let kj = shuffle4(kl[{{c4}}u], jj);
        let vj = shuffle4(vl[{{c4}}u], jj);
#unroll r {{R}}
        s4[{{r}}u] = fma(qr[{{r}}u * DV + {{c4}}u], kj, s4[{{r}}u]);
        p4[{{r}}u] = fma(dc[{{r}}u * DV + {{c4}}u], vj, p4[{{r}}u]);
#end
      }
#end
      let mj = subgroupShuffle(mk, jj);
      var ds: array<f32, R>;
#unroll r {{R}}
      {
        let sc = (s4[{{r}}u].x + s4[{{r}}u].y) + (s4[{{r}}u].z + s4[{{r}}u].w) + mj;
        var dp = (p4[{{r}}u].x + p4[{{r}}u].y) + (p4[{{r}}u].z + p4[{{r}}u].w);
        let pr = exp(sc - m[{{r}}u]) * inv_l[{{r}}u];
        if (params.dropout != 0u) {
          let i = i0 + lane + SG * {{r}}u;
          let u = dropout_uniform(&rng[{{r}}u], (bh * S + i) * S + j0 + jj, params.key);
          dp = select(0.0, dp * params.keep_scale, u >= params.p);
        }
        ds[{{r}}u] = pr * (dp - dlt[{{r}}u]);
      }
#end
#unroll c4 {{DV}}
      {
        let kj = shuffle4(kl[{{c4}}u], jj);
#unroll r {{R}}
        g[{{r}}u * DV + {{c4}}u] = fma(vec4<f32>(ds[{{r}}u]), kj, g[{{r}}u * DV + {{c4}}u]);
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
#unroll c4 {{DV}}
      {
        let val = g[{{r}}u * DV + {{c4}}u] * params.scale;
        for (var t = 0u; t < 4u; t++) {
          if (4u * {{c4}}u + t < D) { dq[o + 4u * {{c4}}u + t] = val[t]; }
        }
      }
#end
    }
  }
#end
}
