// padding.wgsl — Keras's ZeroPadding1D and Cropping1D: a copy shifted along the time axis,
// zeros where no input step exists.
//
// CPU twin: `shift_steps` in src/layers/padding.rs.
//
// Bindings (group 0):
//   0  x      : array<f32>  input as (outer, len_in, inner) row-major
//   1  y      : array<f32>  output as (outer, len_out, inner)
//   2  params : uniform {n, len_out, inner, len_in, add, sub, pad0, pad1}
// Time is the middle axis: (B, T, C) with inner = C, or, for a channels_first ZeroPadding1D,
// (B·C, T, 1) with inner = 1. Output step l reads input step l + add − sub when that exists
// (ZeroPadding1D: add = 0, sub = left; Cropping1D: add = left, sub = 0), else writes 0.
// Dispatch: one invocation per output element i < n (no loop), workgroups of 64 on a grid
// (gx, gy, gz) with i = x + 64·gx·(y + gy·z) (`grid_1d`).

struct Params {
    n: u32,
    len_out: u32,
    inner: u32,
    len_in: u32,
    add: u32,
    sub: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(64, 1, 1)
fn shift_steps(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = gid.x + nwg.x * 64u * (gid.y + nwg.y * gid.z);
    if (i >= params.n) {
        return;
    }
    let inner = i % params.inner;
    let ol = i / params.inner;
    let l = ol % params.len_out;
    let outer = ol / params.len_out;
    let s = l + params.add;
    var v = 0.0;
    if (s >= params.sub && s - params.sub < params.len_in) {
        v = x[(outer * params.len_in + s - params.sub) * params.inner + inner];
    }
    y[i] = v;
}
