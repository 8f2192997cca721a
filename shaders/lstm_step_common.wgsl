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

// Unit j of row b at this step, with its gate pre-activations z4 (read only when valid):
//   valid:  c, h, hold = c', h', h';  y = h'
//   masked: c, h carried;             y = 0 if ZERO_OUTPUT_FOR_MASK else hold
fn update_unit(b: u32, j: u32, valid: bool, z4: vec4<f32>) {
    let u = step.units;
    let idx = b * u + j;
    let ci = step.c_off + idx;
    var y: f32;
    if (valid) {
        let ch = lstm_cell(z4, c[ci], ACT, REC_ACT);
        let c_new = ch.x;
        let h_new = ch.y;
        c[ci] = c_new;
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
