// Shared by the attention kernels that walk keys in tiles for a block of query rows (forward and
// dq): the K, V and mask tiles in workgroup memory and the cooperative load of one tile. The
// including kernel binds k, v and mask and includes lib/attention_rows.wgsl first.

const BK = {{BK}}u;
const BQ = 64u;
var<workgroup> k_tile: array<vec4<f32>, {{KV}}>; // [BK][DV]
var<workgroup> v_tile: array<vec4<f32>, {{KV}}>; // [BK][DV]
var<workgroup> mask_tile: array<f32, BK>;

// Loads keys j0 .. j0 + BK − 1 of (b, head) into the tiles (zero past S); invocation `li` of BQ.
// K and V are [B, S, HD] with the head's D columns at head·D. Call from uniform control flow and
// put a barrier after it.
fn load_kv_tile(b: u32, head: u32, j0: u32, S: u32, HD: u32, has_mask: bool, li: u32) {
  for (var e = li; e < BK * DV; e += BQ) {
    let jj = e / DV;
    var kv = vec4<f32>(0.0);
    var vv = vec4<f32>(0.0);
    if (j0 + jj < S) {
      let at = (b * S + j0 + jj) * HD + head * D;
      kv = k4(at, e % DV);
      vv = v4(at, e % DV);
    }
    k_tile[e] = kv;
    v_tile[e] = vv;
  }
  if (has_mask) {
    for (var e = li; e < BK; e += BQ) {
      mask_tile[e] = select(0.0, mask[b * S + j0 + e], j0 + e < S);
    }
  }
}
