// The elementwise functions of the unary kernels (unary.wgsl, unary_cpu.wgsl) and their
// derivatives (unary_backward*.wgsl), selected by the including kernel's `override OP: u32` (codes:
// UNARY_OPS in engine/ops/elementwise.ts). alpha and beta parameterise some: affine alpha·x + beta,
// pow x^alpha, clamp to [alpha, beta]. Needs lib/math.wgsl.

fn unary_op(v: f32, alpha: f32, beta: f32) -> f32 {
  switch OP {
    case 0u: { return -v; }
    case 1u: { return exp(v); }
    case 2u: { return log(v); }
    case 3u: { return sqrt(v); }
    case 4u: { return tanh_safe(v); }
    case 5u: { return sigmoid(v); }
    case 6u: { return gelu(v); }
    case 7u: { return max(v, 0.0); }
    case 8u: { return abs(v); }
    case 9u: { return alpha * v + beta; }
    case 10u: { return pow(v, alpha); }
    case 11u: { return clamp(v, alpha, beta); }
    case 12u: { return v * v; }
    case 13u: { return 1.0 / v; }
    case 14u: { return inverseSqrt(v); }
    default: { return v; }
  }
}

// f'(v) given v and out = f(v): each derivative uses whichever is cheaper and more precise.
fn unary_derivative(v: f32, out: f32, alpha: f32, beta: f32) -> f32 {
  switch OP {
    case 0u: { return -1.0; }
    case 1u: { return out; }
    case 2u: { return 1.0 / v; }
    case 3u: { return 0.5 / out; }
    case 4u: { return tanh_grad(v); }
    case 5u: { return sigmoid_grad(v); }
    case 6u: { return gelu_grad(v); }
    case 7u: { return select(0.0, 1.0, v > 0.0); }
    case 8u: { return sign(v); }
    case 9u: { return alpha; }
    case 10u: { return alpha * pow(v, alpha - 1.0); }
    case 11u: { return select(0.0, 1.0, v >= alpha && v <= beta); }
    case 12u: { return 2.0 * v; }
    case 13u: { return -out * out; }
    case 14u: { return -0.5 * out * out * out; }
    default: { return 1.0; }
  }
}
