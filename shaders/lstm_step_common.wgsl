// lstm_step_common.wgsl — what both per-step kernels share (lstm_step.wgsl and
// lstm_step_subgroup.wgsl, composed after activation.wgsl and a recurrent_*.wgsl and before
// the kernel): the specialisation constants, the per-step record, the bindings other than
// the recurrent kernel, and the element-wise update of one unit.
//
// CPU twin: the element-wise loop of `cpu::lstm_step` (`step_rows` in src/cpu.rs).

override ACT: u32 = 0u;
override REC_ACT: u32 = 1u;
override RETURN_SEQUENCES: bool = false;
override ZERO_OUTPUT_FOR_MASK: bool = false;
override KS: u32 = 1u;
// the cell: 0 LSTM, 1 GRU reset_after=True, 2 GRU reset_after=False (second phase: the
// update), 3 SimpleRNN, 4 GRU reset_after=False (first phase: r ⊙ h into c, which a GRU does
// not use otherwise; its second phase reads it as the input of R_h)
override CELL: u32 = 0u;
const WG: u32 = 256u;

struct Step {
    batch: u32,
    steps: u32,
    units: u32,
    has_mask: u32,
    k: u32,
    t_in: u32,
    h_read: u32,
    h_write: u32,
    out_t: u32,
    out_stride: u32,
    out_offset: u32,
    c_off: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
    pad3: u32,
}

@group(0) @binding(0) var<storage, read> z: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read_write> h: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read_write> hold: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<uniform> step: Step;

// The recurrent input of slice q of row b's dot product: h (all four lanes), except in a
// reset_after=False GRU's second phase, whose third lane (R_h's) multiplies r ⊙ h (in c).
fn h_in(hb: u32, rb: u32, q: u32) -> vec4<f32> {
    let hq = h[hb + q];
    if (CELL == 2u) {
        return vec4<f32>(hq, hq, c[rb + q], hq);
    }
    return vec4<f32>(hq);
}

// Unit j of row b at this step, with its input projection x4 and acc (for an LSTM x4 plus the
// recurrent product, for the other cells the recurrent product alone; read only when valid):
//   valid:  c, h, hold = c', h', h';  y = h'
//   masked: c, h carried;             y = 0 if ZERO_OUTPUT_FOR_MASK else hold
// CELL 4 (a reset_after=False GRU's first phase) writes r ⊙ h of valid rows into c, nothing else.
fn update_unit(b: u32, j: u32, valid: bool, x4: vec4<f32>, acc: vec4<f32>) {
    let u = step.units;
    let idx = b * u + j;
    let ci = step.c_off + idx;
    if (CELL == 4u) {
        if (valid) {
            c[ci] = act(REC_ACT, x4.y + acc.y) * h[step.h_read + idx];
        }
        return;
    }
    var y: f32;
    if (valid) {
        let ch = cell_update(CELL, x4, acc, h[step.h_read + idx], c[ci], ACT, REC_ACT);
        let c_new = ch.x;
        let h_new = ch.y;
        if (CELL == 0u) {
            c[ci] = c_new;
        }
        h[step.h_write + idx] = h_new;
        hold[ci] = h_new;
        y = h_new;
    } else {
        h[step.h_write + idx] = h[step.h_read + idx];
        y = select(hold[ci], 0.0, ZERO_OUTPUT_FOR_MASK);
    }
    var out_row = b;
    if (RETURN_SEQUENCES) {
        out_row = b * step.steps + step.out_t;
    }
    out[out_row * step.out_stride + step.out_offset + j] = y;
}
