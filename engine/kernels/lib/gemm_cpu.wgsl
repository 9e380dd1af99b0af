// The register tile of the CPU GEMM kernels (matmul_cpu.wgsl, and models' ffn_gemm_cpu.wgsl): one
// subgroup of SG lanes (the whole workgroup) computes TM rows × 4·TQ·SG columns of c; lane l holds
// rows m0 .. m0 + TM − 1 of columns n0 + 4·SG·q + 4·l + t (q < TQ, t < 4) as TM·TQ vec4s.
//
// Why this shape on a CPU driver (lavapipe, Mesa 25.0): the SG invocations of a workgroup are the
// SIMD lanes of one CPU thread, and every storage load with a computed offset runs as a loop over
// the lanes, each lane a scalar load with its own bounds check: ~10 instructions per element, the
// cost of ~25 lane-FMAs. So the tile spends its loads where they are reused most:
//   - op(a): the TM rows are loaded once per subgroup, not once per lane: lane l loads a vec4 of
//     row l (l + SG, ...) along k, or of rows 4l .. 4l + 3 at one k when a is stored transposed,
//     and the FMAs take row i's value from its lane with subgroupShuffle (a register permute);
//   - op(b): each lane loads only its own columns, as vec4s along the stored layout's contiguous
//     axis; each element feeds TM FMAs;
//   - no workgroup memory and no barrier (a barrier is a coroutine switch of the workgroup);
//   - every loop over the tile is expanded by the preprocessor (#unroll): the shader compiler
//     gives up unrolling tiles this size, and a tile indexed at run time lives in memory (10×).
// The accumulators exceed the vector register file and spill to the stack: a spill is one vector
// load or store per SG lanes, cheap next to a storage load. TM, TQ and KU (steps of 4 k per loop
// iteration) are chosen by measurement (`webprune bench kernels --sweep`, engine/kernels/cpu_tiles.ts).
//
// A GPU gains nothing from this (its loads are coalesced and cheap, its registers few): the GPU
// kernels stage tiles in workgroup memory instead (lib/gemm_tile.wgsl).
//
// The including kernel declares TRANS_A / TRANS_B (override constants or functions of uniforms,
// as `trans_a()` / `trans_b()`) and defines the operand loads, each zero past K:
//   load_a_k(row, k) -> vec4   a(row, k .. k+3)            (!trans_a: row-major [M, K])
//   load_a_m(row, k) -> vec4   a(row .. row+3, k), row % 4 = 0  (trans_a: stored [K, M])
//   load_b_k(col, k) -> vec4   b(k .. k+3, col)            (trans_b: stored [N, K])
//   load_b_n(col, k) -> vec4   b(k, col .. col+3), col % 4 = 0  (!trans_b: row-major [K, N])
// Rows and columns past M and N must be clamped by the loads (their results are never stored).
// The including kernel starts with `enable subgroups;` (directives precede all declarations).

const SG = {{SG}}u;
const TM = {{TM}}u;
const TQ = {{TQ}}u;
// vec4 loads of op(a) per 4 k: along k (RA of them), or along m (RT per k).
const RA = TM / SG;
const RT = (TM + 4u * SG - 1u) / (4u * SG);

alias GemmTile = array<vec4<f32>, TM * TQ>;

// First column of lane `lane`'s column group q (of 4 consecutive columns) in a tile at n0.
fn gemm_cpu_col(n0: u32, q: u32, lane: u32) -> u32 {
  return n0 + q * 4u * SG + 4u * lane;
}

// acc += op(a)[m0 .. m0 + TM, k .. k+3] · op(b)[k .. k+3, this lane's columns].
fn gemm_cpu_step(acc: ptr<function, GemmTile>, m0: u32, n0: u32, k: u32, lane: u32) {
  // op(a): av[r] = a(m0 + r·SG + lane, k .. k+3), or at[kk·RT + r] = a(m0 + 4·(r·SG + lane) .. + 3, k + kk).
  var av: array<vec4<f32>, RA>;
  var at: array<vec4<f32>, 4 * RT>;
  if (trans_a()) {
#unroll kk 4
#unroll r ({{TM}} + 4 * {{SG}} - 1) / (4 * {{SG}})
    at[{{kk}}u * RT + {{r}}u] = load_a_m(m0 + 4u * ({{r}}u * SG + lane), k + {{kk}}u);
#end
#end
  } else {
#unroll r {{TM}} / {{SG}}
    av[{{r}}u] = load_a_k(m0 + {{r}}u * SG + lane, k);
#end
  }
  // op(b) of a transposed b: bt[4q + t] = b(k .. k+3, column 4q + t of this lane).
  var bt: array<vec4<f32>, 4 * TQ>;
  if (trans_b()) {
#unroll q {{TQ}}
#unroll t 4
    bt[{{q}}u * 4u + {{t}}u] = load_b_k(gemm_cpu_col(n0, {{q}}u, lane) + {{t}}u, k);
#end
#end
  }
#unroll kk 4
  {
    var bv: array<vec4<f32>, TQ>;
#unroll q {{TQ}}
    if (trans_b()) {
      bv[{{q}}u] = vec4<f32>(bt[{{q}}u * 4u][{{kk}}], bt[{{q}}u * 4u + 1u][{{kk}}], bt[{{q}}u * 4u + 2u][{{kk}}], bt[{{q}}u * 4u + 3u][{{kk}}]);
    } else {
      bv[{{q}}u] = load_b_n(gemm_cpu_col(n0, {{q}}u, lane), k + {{kk}}u);
    }
#end
#unroll i {{TM}}
    {
      var s: f32;
      if (trans_a()) {
        s = subgroupShuffle(at[{{kk}}u * RT + {{i}}u / (4u * SG)][{{i}}u % 4u], ({{i}}u % (4u * SG)) / 4u);
      } else {
        s = subgroupShuffle(av[{{i}}u / SG][{{kk}}], {{i}}u % SG);
      }
#unroll q {{TQ}}
      (*acc)[{{i}}u * TQ + {{q}}u] = fma(vec4<f32>(s), bv[{{q}}u], (*acc)[{{i}}u * TQ + {{q}}u]);
#end
    }
#end
  }
#end
}
