// merge.wgsl — Bidirectional's merge of the forward and (time-ordered) backward outputs for
// merge_mode sum, mul, ave (concat is written in place by lstm_step.wgsl).
//
// CPU twin: `cpu::merge` in src/cpu.rs.
//
// Bindings (group 0):
//   0  a      : array<f32>  forward output, n floats
//   1  b      : array<f32>  backward output flipped to time order, n floats
//   2  out    : array<f32>  n floats
//   3  params : uniform {n}
// MODE: 0 sum, 1 mul, 2 ave. Dispatch: (gx, gy, gz) workgroups of 64, gx·gy·gz·64 ≥ n,
// each at most the device's per-dimension limit; element i = x + 64·gx·(y + gy·z).

override MODE: u32 = 0u;

struct Params {
    n: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

@compute @workgroup_size(64, 1, 1)
fn merge(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = gid.x + nwg.x * 64u * (gid.y + nwg.y * gid.z);
    if (i >= params.n) {
        return;
    }
    switch MODE {
        case 1u: { out[i] = a[i] * b[i]; }
        case 2u: { out[i] = (a[i] + b[i]) * 0.5; }
        default: { out[i] = a[i] + b[i]; }
    }
}
