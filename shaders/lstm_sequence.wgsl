// lstm_sequence.wgsl — the persistent kernel: one workgroup per batch row loops over the
// timesteps [k0, k1) of the call's T in one dispatch (all of them, unless the host cut the
// call into chunks so no invocation loops more than lavapipe's 65 535 iterations: a chunk
// starts from the h, c and hold the previous one left in their buffers), h kept in workgroup memory, c and the masked-output hold in
// registers, `workgroupBarrier` between steps (never a barrier across workgroups).
// Needs activation.wgsl and recurrent_f32.wgsl / recurrent_f16.wgsl first. For units ≤ 256.
//
// CPU twin: `cpu::run_sequence` (its `for k` loop is this kernel's loop; each step is
// `cpu::lstm_step`, the same math as lstm_step.wgsl).
//
// Bindings: as lstm_step.wgsl (0 z, 1 r, 2 mask, 3 h, 4 c, 5 hold, 6 out, 7 a Seq record).
// Dispatch: (B, 1, 1) workgroups of WG invocations (an override: 256, or up to 1024 where
// the device allows, so more invocations share each row). Invocation (jl, ks), jl < WG / KS,
// works on unit j = jl with the k-split ks (as lstm_step.wgsl); the ks = 0 invocations own
// c, hold and the element-wise update of their unit.
// With R_REGS (chosen by the host when RQN = ceil(U / KS) ≤ RQ = 16) every invocation loads
// its slice of the recurrent kernel, R4[q, j] for q = ks, ks + KS, … (RQN of them), once into
// a fixed-size private array before the time loop and reads it from there at every step (a
// trip count fixed when the pipeline is made, so a compiler can keep it in registers);
// otherwise it is read from the buffer at every step.
// Per step k (t_in = T-1-k with go_backwards): partial dot products from h in workgroup
// memory → barrier → update c, h (written back to workgroup memory), write the output →
// barrier. At the end h, c, hold go back to their buffers (h into slot h_write).

override ACT: u32 = 0u;
override REC_ACT: u32 = 1u;
override RETURN_SEQUENCES: bool = false;
override ZERO_OUTPUT_FOR_MASK: bool = false;
override GO_BACKWARDS: bool = false;
override KS: u32 = 1u;
override WG: u32 = 256u;
override R_REGS: bool = false;
// the cell, as in lstm_step_common.wgsl: 0 LSTM, 1 GRU reset_after=True, 2 GRU
// reset_after=False (two dot products per step: h·R, then (r ⊙ h)·R_h from rh_sh), 3 SimpleRNN
override CELL: u32 = 0u;
// private-array slots (RQ) and how many of them this pipeline uses (RQN = ceil(U / KS) ≤ RQ)
const RQ: u32 = 16u;
override RQN: u32 = 16u;

struct Seq {
    batch: u32,
    steps: u32,
    units: u32,
    has_mask: u32,
    h_read: u32,
    h_write: u32,
    out_stride: u32,
    out_offset: u32,
    // 1: write step k at T-1-k (a Bidirectional's backward half, flipped as Keras flips it)
    flip: u32,
    c_off: u32,
    // 1: the hold starts at zero (the first chunk of a call for these rows), else read
    first: u32,
    // the steps of this dispatch, in processing order: k0 ≤ k < k1 ≤ steps
    k0: u32,
    k1: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read> z: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> mask: array<u32>;
@group(0) @binding(3) var<storage, read_write> h: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;
@group(0) @binding(5) var<storage, read_write> hold: array<f32>;
@group(0) @binding(6) var<storage, read_write> out: array<f32>;
@group(0) @binding(7) var<uniform> seq: Seq;

var<workgroup> h_sh: array<f32, 256>;
// r ⊙ h of a reset_after=False GRU's step (its second dot product's input)
var<workgroup> rh_sh: array<f32, 256>;
var<workgroup> partial: array<vec4<f32>, WG>;

@compute @workgroup_size(WG, 1, 1)
fn lstm_sequence(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let u = seq.units;
    let b = wg.x;
    let upw = WG / KS;
    let j = li % upw;
    let ks = li / upw;
    let owner = ks == 0u && j < u;
    let idx = b * u + j;
    // all 256 entries: the register path reads past U (multiplying zero slices of R), and
    // workgroup memory must not be trusted to start at zero
    if (li < 256u) {
        var hv = 0.0;
        if (li < u) {
            hv = h[seq.h_read + b * u + li];
        }
        h_sh[li] = hv;
        rh_sh[li] = 0.0;
    }
    var rr: array<vec4<f32>, RQ>;
    if (R_REGS) {
        for (var i = 0u; i < RQN; i = i + 1u) {
            let q = ks + i * KS;
            var v = vec4<f32>(0.0);
            if (q < u && j < u) {
                v = r_at(q * u + j);
            }
            rr[i] = v;
        }
    }
    var c_reg = 0.0;
    var hold_reg = 0.0;
    if (owner) {
        c_reg = c[seq.c_off + idx];
        if (seq.first == 0u) {
            hold_reg = hold[seq.c_off + idx];
        }
    }
    workgroupBarrier();
    for (var k = seq.k0; k < seq.k1; k = k + 1u) {
        var t_in = k;
        if (GO_BACKWARDS) {
            t_in = seq.steps - 1u - k;
        }
        let row = b * seq.steps + t_in;
        var valid = true;
        if (seq.has_mask != 0u) {
            valid = mask[row] != 0u;
        }
        var acc = vec4<f32>(0.0);
        if (valid && j < u) {
            if (R_REGS) {
                // q past U meets a zero slice of rr; min() keeps the read inside h_sh
                for (var i = 0u; i < RQN; i = i + 1u) {
                    acc = acc + h_sh[min(ks + i * KS, 255u)] * rr[i];
                }
            } else {
                for (var q = ks; q < u; q = q + KS) {
                    acc = acc + h_sh[q] * r_at(q * u + j);
                }
            }
        }
        partial[li] = acc;
        workgroupBarrier();
        var x4 = vec4<f32>(0.0);
        // an LSTM sums onto its input projection (in this order), the other cells apart
        var sum = vec4<f32>(0.0);
        if (owner && valid) {
            x4 = z[row * u + j];
            sum = select(vec4<f32>(0.0), x4, CELL == 0u);
            for (var s = 0u; s < KS; s = s + 1u) {
                sum = sum + partial[s * upw + j];
            }
        }
        if (CELL == 2u) {
            // a reset_after=False GRU: r ⊙ h, then its product with R_h (lane z)
            if (owner) {
                rh_sh[j] = act(REC_ACT, x4.y + sum.y) * h_sh[j];
            }
            workgroupBarrier();
            var acc2 = 0.0;
            if (valid && j < u) {
                if (R_REGS) {
                    for (var i = 0u; i < RQN; i = i + 1u) {
                        acc2 = acc2 + rh_sh[min(ks + i * KS, 255u)] * rr[i].z;
                    }
                } else {
                    for (var q = ks; q < u; q = q + KS) {
                        acc2 = acc2 + rh_sh[q] * r_at(q * u + j).z;
                    }
                }
            }
            // (the owners read the first partials before the barrier above)
            partial[li] = vec4<f32>(acc2);
            workgroupBarrier();
            if (owner && valid) {
                var s2 = 0.0;
                for (var s = 0u; s < KS; s = s + 1u) {
                    s2 = s2 + partial[s * upw + j].z;
                }
                sum.z = s2;
            }
        }
        if (owner) {
            var y: f32;
            if (valid) {
                let ch = cell_update(CELL, x4, sum, h_sh[j], c_reg, ACT, REC_ACT);
                c_reg = ch.x;
                let h_new = ch.y;
                h_sh[j] = h_new;
                hold_reg = h_new;
                y = h_new;
            } else {
                y = select(hold_reg, 0.0, ZERO_OUTPUT_FOR_MASK);
            }
            var out_t = k;
            if (seq.flip != 0u) {
                out_t = seq.steps - 1u - k;
            }
            var out_row = b;
            if (RETURN_SEQUENCES) {
                out_row = b * seq.steps + out_t;
            }
            out[out_row * seq.out_stride + seq.out_offset + j] = y;
        }
        workgroupBarrier();
    }
    if (owner) {
        h[seq.h_write + idx] = h_sh[j];
        c[seq.c_off + idx] = c_reg;
        hold[seq.c_off + idx] = hold_reg;
    }
}
