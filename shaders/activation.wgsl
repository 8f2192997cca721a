// activation.wgsl — Keras's element-wise activations, selected by code.
//
// CPU twin: `Activation::apply` in src/activation.rs (same arms, same order, same clamps).
// Codes are `Activation::code()`: 0 tanh, 1 sigmoid, 2 hard_sigmoid (Keras 3),
// 3 hard_sigmoid (Keras 2), 4 relu, 5 relu6, 6 leaky_relu, 7 linear, 8 softsign, 9 softplus,
// 10 exponential, 11 elu, 12 selu, 13 gelu (exact, erf), 14 silu/swish, 15 mish, 16 celu,
// 17 hard_silu, 18 hard_tanh, 19 hard_shrink, 20 soft_shrink, 21 tanh_shrink, 22 squareplus,
// 23 sparse_plus, 24 sparse_sigmoid, 25 log_sigmoid.
//
// This file is prepended to the kernels that use it (WGSL has no include); it is valid WGSL
// on its own and validated with naga on its own and in each composition.
//
// NaN: every activation returns NaN for NaN (checked on the bits, before any clamp), but
// hard_shrink and soft_shrink, which give 0 (Keras 3's `where`); silu(-inf) is NaN.
// Clamps: tanh's argument is clamped to ±15 (tanh(15) rounds to 1 in f32) and exp's to
// ±88 where a ratio of exponentials is formed, so no backend's tanh/exp yields inf/inf = NaN.
// `exponential` itself is not clamped: Keras returns inf there too.

fn tanh_safe(x: f32) -> f32 {
    return tanh(clamp(x, -15.0, 15.0));
}

fn sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(clamp(-x, -88.0, 88.0)));
}

fn softplus(x: f32) -> f32 {
    if (x > 15.0) {
        return x;
    }
    if (x < -15.0) {
        return exp(x);
    }
    // log(1 + e^x) with the log1p trick: exact where e^x is tiny relative to 1.
    let e = exp(x);
    let u = 1.0 + e;
    if (u == 1.0) {
        return e;
    }
    return log(u) * (e / (u - 1.0));
}

// erf, Abramowitz & Stegun 7.1.26 refined: max abs error ~1.2e-7 over the reals.
fn erf_approx(x: f32) -> f32 {
    let a = abs(x);
    let t = 1.0 / (1.0 + 0.5 * a);
    // Numerical Recipes erfc (Chebyshev), fractional error < 1.2e-7.
    let y = t * exp(-a * a - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
        + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
        + t * (-0.82215223 + t * 0.17087277)))))))));
    let r = 1.0 - y;
    return select(r, -r, x < 0.0);
}

// NaN test on the bits: WGSL lets compilers assume floats are never NaN, integers are exact.
fn is_nan(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u;
}

fn act(code: u32, x: f32) -> f32 {
    // NaN in, NaN out, for every activation (as TensorFlow's kernels do): the clamps below
    // would otherwise turn a NaN into a finite number.
    if (is_nan(x)) {
        // Keras 3's shrinks are where(|x| > t, ...): NaN fails the test and gives 0
        return select(x, 0.0, code == 19u || code == 20u);
    }
    switch code {
        case 0u: { return tanh_safe(x); }
        case 1u: { return sigmoid(x); }
        case 2u: { return clamp(x / 6.0 + 0.5, 0.0, 1.0); }
        case 3u: { return clamp(0.2 * x + 0.5, 0.0, 1.0); }
        case 4u: { return max(x, 0.0); }
        case 5u: { return clamp(x, 0.0, 6.0); }
        case 6u: { return select(0.2 * x, x, x > 0.0); }
        case 7u: { return x; }
        case 8u: { return x / (1.0 + abs(x)); }
        case 9u: { return softplus(x); }
        case 10u: { return exp(x); }
        case 11u: { return select(exp(min(x, 0.0)) - 1.0, x, x > 0.0); }
        case 12u: { return select(1.7580993408473769 * (exp(min(x, 0.0)) - 1.0), 1.0507009873554805 * x, x > 0.0); }
        case 13u: { return 0.5 * x * (1.0 + erf_approx(x * 0.7071067811865476)); }
        case 14u: {
            // -inf · sigmoid(-inf) = -inf · 0 = NaN (made from x's bits: no NaN literal)
            if (bitcast<u32>(x) == 0xff800000u) { return bitcast<f32>(0xffc00000u | bitcast<u32>(x)); }
            return x * sigmoid(x);
        }
        case 15u: { return x * tanh_safe(softplus(x)); }
        case 16u: { return max(x, 0.0) + (exp(min(x, 0.0)) - 1.0); }
        case 17u: { return x * clamp(x + 3.0, 0.0, 6.0) / 6.0; }
        case 18u: { return clamp(x, -1.0, 1.0); }
        case 19u: { return select(0.0, x, abs(x) > 0.5); }
        case 20u: {
            if (x > 0.5) { return x - 0.5; }
            if (x < -0.5) { return x + 0.5; }
            return 0.0;
        }
        case 21u: { return x - tanh_safe(x); }
        case 22u: { return (x + sqrt(x * x + 4.0)) / 2.0; }
        case 23u: {
            if (x <= -1.0) { return 0.0; }
            if (x >= 1.0) { return x; }
            return (x + 1.0) * (x + 1.0) / 4.0;
        }
        case 24u: {
            if (x <= -1.0) { return 0.0; }
            if (x >= 1.0) { return 1.0; }
            return (x + 1.0) / 2.0;
        }
        case 25u: { return -softplus(-x); }
        default: { return x; }
    }
}

// The LSTM cell update shared by both recurrent kernels (CPU twin: `cpu::lstm_cell`):
// z4 = (z_i, z_f, z_c, z_o) pre-activations, c the previous cell state; returns (c', h').
fn lstm_cell(z4: vec4<f32>, c: f32, act_code: u32, rec_code: u32) -> vec2<f32> {
    let i = act(rec_code, z4.x);
    let f = act(rec_code, z4.y);
    let g = act(act_code, z4.z);
    let o = act(rec_code, z4.w);
    let c_new = f * c + i * g;
    return vec2<f32>(c_new, o * act(act_code, c_new));
}

// The GRU update of one unit (CPU twin: `cell::gru_cell`): x4 = (x_z, x_r, x_h, b_hh) the input
// projection with the input bias (with reset_after, the recurrent biases of z and r folded
// into it and the recurrent bias of h in the fourth lane); rec = the recurrent products
// (h·R_z, h·R_r, h·R_h) — without reset_after, rec.z = (r ⊙ h)·R_h; h the previous state.
// Returns h'.
fn gru_cell(x4: vec4<f32>, rec: vec4<f32>, h: f32, act_code: u32, rec_code: u32, reset_after: bool) -> f32 {
    let z = act(rec_code, x4.x + rec.x);
    var hh: f32;
    if (reset_after) {
        let r = act(rec_code, x4.y + rec.y);
        hh = act(act_code, x4.z + r * (rec.z + x4.w));
    } else {
        hh = act(act_code, x4.z + rec.z);
    }
    return z * h + (1.0 - z) * hh;
}

// The SimpleRNN update of one unit (CPU twin: `cell::simple_rnn_cell`): act(x·K + b + h·R).
fn simple_rnn_cell(x: f32, rec: f32, act_code: u32) -> f32 {
    return act(act_code, x + rec);
}

// One unit's update for the recurrent kernels' cell `cell` (their CELL override):
// 0 LSTM (acc = x4 + h·R, the gate pre-activations), 1 GRU reset_after=True, 2 GRU
// reset_after=False (its second phase), 3 SimpleRNN (acc = h·R for the others); h and c the
// unit's previous state. Returns (c', h'); c' = c for the cells without a cell state.
fn cell_update(cell: u32, x4: vec4<f32>, acc: vec4<f32>, h: f32, c: f32, act_code: u32, rec_code: u32) -> vec2<f32> {
    switch cell {
        case 1u: { return vec2<f32>(c, gru_cell(x4, acc, h, act_code, rec_code, true)); }
        case 2u: { return vec2<f32>(c, gru_cell(x4, acc, h, act_code, rec_code, false)); }
        case 3u: { return vec2<f32>(c, simple_rnn_cell(x4.x, acc.x, act_code)); }
        default: { return lstm_cell(acc, c, act_code, rec_code); }
    }
}
