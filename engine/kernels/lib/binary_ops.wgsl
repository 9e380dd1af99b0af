// The elementwise functions of the binary kernels (binary.wgsl, binary_cpu.wgsl), selected by the
// including kernel's `override OP: u32` (codes: BINARY_OPS in engine/ops/elementwise.ts);
// comparisons give 1.0 or 0.0.

fn binary_op(x: f32, y: f32) -> f32 {
  switch OP {
    case 0u: { return x + y; }
    case 1u: { return x - y; }
    case 2u: { return x * y; }
    case 3u: { return x / y; }
    case 4u: { return max(x, y); }
    case 5u: { return min(x, y); }
    case 6u: { return pow(x, y); }
    case 7u: { return select(0.0, 1.0, x > y); }
    case 8u: { return select(0.0, 1.0, x >= y); }
    case 9u: { return select(0.0, 1.0, x < y); }
    case 10u: { return select(0.0, 1.0, x <= y); }
    case 11u: { return select(0.0, 1.0, x == y); }
    default: { return x; }
  }
}
