// Special functions shared by kernels.

// erfc(x) by the Chebyshev fit of Numerical Recipes (erfcc), fractional error < 1.2e-7 everywhere.
// GELU is written through erfc so that its left tail keeps relative precision.
fn erfc_f32(x: f32) -> f32 {
  let z = abs(x);
  let t = 1.0 / (1.0 + 0.5 * z);
  let p = -z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806
        + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  let r = t * exp(p);
  return select(2.0 - r, r, x >= 0.0);
}

// Standard normal CDF Φ(x) = erfc(-x / √2) / 2.
fn normal_cdf(x: f32) -> f32 {
  return 0.5 * erfc_f32(-x * 0.70710678118654752);
}

// GELU in the erf form: x Φ(x).
fn gelu(x: f32) -> f32 {
  return x * normal_cdf(x);
}

// d/dx GELU = Φ(x) + x φ(x).
fn gelu_grad(x: f32) -> f32 {
  return normal_cdf(x) + x * 0.39894228040143268 * exp(-0.5 * x * x);
}

// tanh with the argument clamped: tanh(±10) rounds to ±1 in f32, and some drivers compute
// tanh through exp(2x) and return NaN past its overflow.
fn tanh_safe(x: f32) -> f32 {
  return tanh(clamp(x, -10.0, 10.0));
}

fn sigmoid(x: f32) -> f32 {
  return 1.0 / (1.0 + exp(-x));
}

// d/dx tanh = sech²(x) = 4e/(1 + e)² with e = exp(-2|x|): accurate to a few ulps for every x.
// (1 − tanh²(x) from the rounded output cancels: at |x| = 4 it keeps 3 digits, at |x| = 9 none.)
fn tanh_grad(x: f32) -> f32 {
  let e = exp(-2.0 * abs(x));
  return 4.0 * e / ((1.0 + e) * (1.0 + e));
}

// d/dx sigmoid = e/(1 + e)² with e = exp(-|x|), for the same reason (σ(1 − σ) cancels for x ≫ 0).
fn sigmoid_grad(x: f32) -> f32 {
  let e = exp(-abs(x));
  return e / ((1.0 + e) * (1.0 + e));
}

// A quiet NaN, made at run time (WGSL rejects NaN in constant expressions). Kernels write it
// where an input is invalid (an index out of range) so the error shows instead of a silent 0.
fn nan_f32() -> f32 {
  var bits = 0x7fc00000u;
  return bitcast<f32>(bits);
}
