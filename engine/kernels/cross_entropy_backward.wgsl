// dlogits = (softmax(x) − onehot(label)) · g / count for valid rows, 0 for ignored rows, where
// g is the loss gradient and count the number of valid rows (both one-element buffers, so
// nothing is read back to the host).
struct Params { n: u32, cols: u32, ignore_index: i32 }
@group(0) @binding(0) var<storage, read> logits: array<f32>;
@group(0) @binding(1) var<storage, read> labels: array<i32>;
@group(0) @binding(2) var<storage, read> lse: array<f32>;
@group(0) @binding(3) var<storage, read> grad: array<f32>;
@group(0) @binding(4) var<storage, read> count: array<f32>;
@group(0) @binding(5) var<storage, read_write> dlogits: array<f32>;
@group(0) @binding(6) var<uniform> params: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let e = gid.x + gid.y * nwg.x * 256u;
  if (e >= params.n) {
    return;
  }
  let row = e / params.cols;
  let c = e % params.cols;
  let label = labels[row];
  if (label == params.ignore_index) {
    dlogits[e] = 0.0;
    return;
  }
  let p = exp(logits[e] - lse[row]);
  let onehot = select(0.0, 1.0, i32(c) == label);
  dlogits[e] = (p - onehot) * grad[0] / count[0];
}
