// masking.wgsl — Keras's Masking(mask_value): a timestep is valid when any feature differs
// from mask_value; masked timesteps are zeroed in place (Keras returns inputs · mask).
//
// CPU twin: `cpu::masking` in src/cpu.rs.
//
// Bindings (group 0):
//   0  x      : array<f32>  (B·T, D) rows, zeroed in place where masked
//   1  mask   : array<u32>  (B·T) output, 1 = valid
//   2  params : uniform {rows, dim, mask_value}
// Dispatch: (ceil(B·T / 64), 1, 1); one invocation per row.

struct Params {
    rows: u32,
    dim: u32,
    mask_value: f32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> mask: array<u32>;
@group(0) @binding(2) var<uniform> params: Params;

@compute @workgroup_size(64, 1, 1)
fn masking(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    if (row >= params.rows) {
        return;
    }
    var valid = 0u;
    for (var d = 0u; d < params.dim; d = d + 1u) {
        if (x[row * params.dim + d] != params.mask_value) {
            valid = 1u;
        }
    }
    mask[row] = valid;
    if (valid == 0u) {
        for (var d = 0u; d < params.dim; d = d + 1u) {
            x[row * params.dim + d] = 0.0;
        }
    }
}
