// Fused masked attention, backward part 2, for CPU adapters: the CPU variant of
// attention_backward_dkv.wgsl (same outputs: dv_j = Σ_i P_ij M_ij dC_i and
// dk_j = (1/√D) Σ_i dS_ij q_i for every key row j, with P recomputed from the forward statistics,
// Δ from part 1 and M the forward's dropout multipliers).
//
// Design (lib/attention_cpu.wgsl says why): grid (⌈S / (SG·R)⌉, heads, B), one subgroup per
// workgroup; lane l owns R consecutive key rows j0 + R·l + r with k_j, v_j, dk_j, dv_j in
// registers (consecutive, so that one Philox block serves a lane's R dropout multipliers of a
// query row when R = 4). Query rows go by blocks of SG: lane l loads row i0 + l of q/√D and
// dC = z·dO with its statistics (m, 1/l, Δ), and all lanes read them through subgroupShuffle.
// Per (query, key): two dot products and two axpys: 8·S²·D FLOPs per (b, h).
enable subgroups;

#include "lib/philox.wgsl"
#include "lib/attention_cpu.wgsl"

struct Params { S: u32, heads: u32, scale: f32, p: f32, keep_scale: f32, has_mask: u32, has_z: u32, dropout: u32, key: vec2<u32> }
@group(0) @binding(0) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(1) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> mask: array<f32>;
@group(0) @binding(4) var<storage, read> headz: array<f32>;
@group(0) @binding(5) var<storage, read> dout: array<vec4<f32>>;
@group(0) @binding(6) var<storage, read> stats: array<f32>;
@group(0) @binding(7) var<storage, read> delta: array<f32>;
@group(0) @binding(8) var<storage, read_write> dk: array<f32>;
@group(0) @binding(9) var<storage, read_write> dv: array<f32>;
@group(0) @binding(10) var<uniform> params: Params;

fn load_whole(which: u32, i: u32) -> vec4<f32> {
  if (which == 0u) { return q[i]; }
  if (which == 1u) { return k[i]; }
  if (which == 2u) { return v[i]; }
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
  let j0 = wid.x * SG * R + R * lane;

  var z = 1.0;
  if (params.has_z != 0u) {
    z = headz[head];
  }
  if (z == 0.0) {
    for (var r = 0u; r < R; r++) {
      let j = j0 + r;
      if (j < S) {
        let o = (b * S + j) * HD + head * D;
        for (var c = 0u; c < D; c++) {
          dk[o + c] = 0.0;
          dv[o + c] = 0.0;
        }
      }
    }
    return;
  }

  var kr: array<vec4<f32>, R * DV>;
  var vr: array<vec4<f32>, R * DV>;
  var gk: array<vec4<f32>, R * DV>;
  var gv: array<vec4<f32>, R * DV>;
  var mk: array<f32, R>;
  var rng = PhiloxCache(0xffffffffu, vec4<u32>(0u));
#unroll r {{R}}
  {
    let j = min(j0 + {{r}}u, S - 1u);
    let at = (b * S + j) * HD + head * D;
#unroll c4 {{DV}}
    kr[{{r}}u * DV + {{c4}}u] = row4(1u, at, {{c4}}u, whole);
    vr[{{r}}u * DV + {{c4}}u] = row4(2u, at, {{c4}}u, whole);
#end
    if (params.has_mask != 0u) {
      mk[{{r}}u] = mask[b * S + j];
    }
  }
#end

  for (var i0 = 0u; i0 < S; i0 += SG) {
    let il = min(i0 + lane, S - 1u);
    let q_at = (b * S + il) * HD + head * D;
    var ql: array<vec4<f32>, DV>;
    var cl: array<vec4<f32>, DV>;
#unroll c4 {{DV}}
    ql[{{c4}}u] = row4(0u, q_at, {{c4}}u, whole) * params.scale;
    cl[{{c4}}u] = row4(3u, q_at, {{c4}}u, whole) * z;
#end
    let st = bh * S + il;
    let m_l = stats[2u * st];
    let il_l = 1.0 / stats[2u * st + 1u];
    let dl_l = delta[st];
    let n = min(SG, S - i0);
    for (var ii = 0u; ii < n; ii++) {
      let mi = subgroupShuffle(m_l, ii);
      let ili = subgroupShuffle(il_l, ii);
      let dli = subgroupShuffle(dl_l, ii);
      // Explicitly zeroed: a var's zero-initialisation inside a loop is not redone every
      // iteration by every shader compiler (lavapipe keeps the previous iteration's value).
      var s4 = array<vec4<f32>, R>();
      var p4 = array<vec4<f32>, R>();
#unroll c4 {{DV}}
      {
        let qi = shuffle4(ql[{{c4}}u], ii);
        let ci = shuffle4(cl[{{c4}}u], ii);
#unroll r {{R}}
        s4[{{r}}u] = fma(qi, kr[{{r}}u * DV + {{c4}}u], s4[{{r}}u]);
        p4[{{r}}u] = fma(ci, vr[{{r}}u * DV + {{c4}}u], p4[{{r}}u]);
#end
      }
#end
      var pd: array<f32, R>;
      var ds: array<f32, R>;
      let row_base = (bh * S + i0 + ii) * S;
#unroll r {{R}}
      {
        let sc = (s4[{{r}}u].x + s4[{{r}}u].y) + (s4[{{r}}u].z + s4[{{r}}u].w) + mk[{{r}}u];
        var dp = (p4[{{r}}u].x + p4[{{r}}u].y) + (p4[{{r}}u].z + p4[{{r}}u].w);
        let pr = exp(sc - mi) * ili;
        pd[{{r}}u] = pr;
        if (params.dropout != 0u) {
          let u = dropout_uniform(&rng, row_base + min(j0 + {{r}}u, S - 1u), params.key);
          let mult = select(0.0, params.keep_scale, u >= params.p);
          pd[{{r}}u] = pr * mult;
          dp = dp * mult;
        }
        ds[{{r}}u] = pr * (dp - dli);
      }
#end
#unroll c4 {{DV}}
      {
        let qi = shuffle4(ql[{{c4}}u], ii);
        let ci = shuffle4(cl[{{c4}}u], ii);
#unroll r {{R}}
        gv[{{r}}u * DV + {{c4}}u] = fma(vec4<f32>(pd[{{r}}u]), ci, gv[{{r}}u * DV + {{c4}}u]);
        gk[{{r}}u * DV + {{c4}}u] = fma(vec4<f32>(ds[{{r}}u]), qi, gk[{{r}}u * DV + {{c4}}u]);
#end
      }
#end
    }
  }

#unroll r {{R}}
  {
    let j = j0 + {{r}}u;
    if (j < S) {
      let o = (b * S + j) * HD + head * D;
#unroll c4 {{DV}}
      for (var t = 0u; t < 4u; t++) {
        if (4u * {{c4}}u + t < D) {
          dk[o + 4u * {{c4}}u + t] = gk[{{r}}u * DV + {{c4}}u][t];
          dv[o + 4u * {{c4}}u + t] = gv[{{r}}u * DV + {{c4}}u][t];
        }
      }
#end
    }
  }
#end
}
