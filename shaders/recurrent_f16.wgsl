// recurrent_f16.wgsl — the recurrent kernel stored as f16 (opt-in, `Precision::F16Weights`),
// read as f32: half the bytes per step, products and sums stay f32. Compiled with
// `enable f16;` in front of the composed module (needs the device feature SHADER_F16).
//
// Binding 1 of lstm_step.wgsl, same layout as recurrent_f32.wgsl.
// CPU twin: `LstmWeights::with_f16_recurrent_kernel` (R rounded to f16 and back).

@group(0) @binding(1) var<storage, read> r: array<vec4<f16>>;

fn r_at(i: u32) -> vec4<f32> {
    return vec4<f32>(r[i]);
}
