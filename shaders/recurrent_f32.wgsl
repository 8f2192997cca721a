// recurrent_f32.wgsl — the recurrent kernel as lstm_step.wgsl reads it: f32 (the default).
//
// Binding 1 of lstm_step.wgsl; r[q·U + j] = (R[q, j], R[q, U+j], R[q, 2U+j], R[q, 3U+j]).
// CPU twin: the f32 `recurrent_kernel` of `LstmWeights`.

@group(0) @binding(1) var<storage, read> r: array<vec4<f32>>;

fn r_at(i: u32) -> vec4<f32> {
    return r[i];
}
