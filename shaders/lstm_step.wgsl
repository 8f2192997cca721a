// lstm_step.wgsl — one fused LSTM timestep for all batch rows (needs activation.wgsl,
// recurrent_f32.wgsl or recurrent_f16.wgsl — binding 1 and `r_at` — and lstm_step_common.wgsl
// — the constants, the Step record, the other bindings and `update_unit` — first).
//
// CPU twin: `cpu::lstm_step` in src/cpu.rs (the `for b` / `for j` loops there are the
// invocations here).
//
// Bindings (group 0):
//   0  z     : array<vec4<f32>>  (B·T, U) input projection, row b·T + t, gate-interleaved:
//                                z[row·U + j] = (z_i, z_f, z_c, z_o) of unit j
//   1  r     : (U, U) vec4      recurrent kernel, gate-interleaved at upload, read with r_at:
//                                r[q·U + j] = (R[q, j], R[q, U+j], R[q, 2U+j], R[q, 3U+j]);
//                                declared by recurrent_f32.wgsl or recurrent_f16.wgsl
//   2  mask  : array<u32>        (B, T), 1 = valid step; read only when step.has_mask != 0
//   3  h     : array<f32>        two slots of (B, U): read slot h_read, write slot h_write
//                                (ping-pong: other invocations still read the previous h)
//   4  c     : array<f32>        (B, U), updated in place (each invocation owns its element)
//   5  hold  : array<f32>        (B, U) output of the row's last valid step in this call
//   6  out   : array<f32>        with RETURN_SEQUENCES row (b·T + out_t), else row b (the last
//                                step's write wins); a row is out_stride floats and the layer
//                                writes floats [out_offset, out_offset + U) of it. out_t = k
//                                (Keras: processing order) or T-1-k (Bidirectional's backward
//                                half, its output flipped as Keras flips it: time order when
//                                it runs go_backwards, reversed when the forward half does); out_stride = 2U and
//                                out_offset = U write the backward half of a concat in place
//   7  step  : uniform Step, bound with a dynamic offset: one record per timestep. A call split
//              over batch rows processes rows [r0, r0 + batch) of the state: h_read and
//              h_write include r0·U, and c_off = r0·U offsets c and hold
// Dispatch: (ceil(U / UPW), B, 1) workgroups of 256 invocations, UPW = 256 / KS units each.
// Invocation (jl, ks) of workgroup (x, b) works on unit j = x·UPW + jl of row b: it sums the
// recurrent product over q = ks, ks + KS, ks + 2·KS, … (a k-split: KS invocations share one
// unit's dot product, so small batches still fill the GPU), parks its partial vec4 in
// workgroup memory, and after one barrier the ks = 0 invocation adds the KS partials in
// order and does the element-wise part. KS = 1 is one invocation per unit.
//
// Math (per row b, unit j; t_in = T-1-k with go_backwards, else k):
//   z4 = Z[b, t_in, j] + Σ_q h[b, q] · R4[q, j]
//   i, f, o = ract(z4.x, z4.y, z4.w);  g = act(z4.z)
//   c' = f·c + i·g;  h' = o·act(c')
//   valid:  c, h, hold = c', h', h';  y = h'
//   masked: c, h carried;             y = 0 if ZERO_OUTPUT_FOR_MASK else hold

var<workgroup> partial: array<vec4<f32>, 256>;

@compute @workgroup_size(256, 1, 1)
fn lstm_step(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let upw = WG / KS;
    let jl = li % upw;
    let ks = li / upw;
    let j = wg.x * upw + jl;
    let b = wg.y;
    let u = step.units;
    let row = b * step.steps + step.t_in;
    var valid = true;
    if (step.has_mask != 0u) {
        valid = mask[row] != 0u;
    }
    // k-split partial sums of h·R (every invocation reaches the barrier)
    var acc = vec4<f32>(0.0);
    if (valid && j < u) {
        let hb = step.h_read + b * u;
        let rb = step.c_off + b * u;
        for (var q = ks; q < u; q = q + KS) {
            acc = acc + h_in(hb, rb, q) * r_at(q * u + j);
        }
    }
    partial[li] = acc;
    workgroupBarrier();
    if (ks != 0u || j >= u) {
        return;
    }
    var x4 = vec4<f32>(0.0);
    var sum = vec4<f32>(0.0);
    if (valid) {
        x4 = z[row * u + j];
        // an LSTM sums onto its input projection (in this order), the other cells apart
        sum = select(vec4<f32>(0.0), x4, CELL == 0u);
        for (var s = 0u; s < KS; s = s + 1u) {
            sum = sum + partial[s * upw + jl];
        }
    }
    update_unit(b, j, valid, x4, sum);
}
