// masking.wgsl — Keras's Masking(mask_value): a timestep is valid when any feature differs
// from mask_value; masked timesteps are zeroed in place (Keras returns inputs · mask).
//
// CPU twin: `cpu::masking` in src/cpu.rs.
//
// Bindings (group 0):
//   0  x      : array<f32>          (B·T, D) rows, zeroed in place where masked
//   1  mask   : array<atomic<u32>>  (B·T) output, 1 = valid; cleared to 0 before `masking_any`
//   2  params : uniform {rows, dim, mask_value, chunks}
// Two entry points, dispatched one after the other over the same invocations: one per
// (row, chunk of CHUNK features), chunks = ceil(D / CHUNK), so that no invocation loops over
// more than CHUNK features whatever D is (lavapipe silently stops a shader loop after 65 535
// iterations; a one-hot vocabulary can have more features than that):
//   masking_any:  a chunk holding a feature != mask_value sets mask[row] (atomicOr)
//   masking_zero: a chunk of a row whose mask stayed 0 is zeroed
// Invocation i = x + 64·gx·(y + gy·z) (global_id (x, y, z), num_workgroups (gx, gy, gz))
// handles row i / chunks, chunk i % chunks: a dispatch of up to three dimensions of
// workgroups of 64, each at most the device's per-dimension limit, covers more rows than one
// dimension could.

const CHUNK: u32 = 4096u;

struct Params {
    rows: u32,
    dim: u32,
    mask_value: f32,
    chunks: u32,
}

@group(0) @binding(0) var<storage, read_write> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> mask: array<atomic<u32>>;
@group(0) @binding(2) var<uniform> params: Params;

// (row, first feature, end feature) of invocation `i`, or rows = past the end.
fn work(gid: vec3<u32>, nwg: vec3<u32>) -> vec3<u32> {
    let i = gid.x + nwg.x * 64u * (gid.y + nwg.y * gid.z);
    let row = i / params.chunks;
    let d0 = (i % params.chunks) * CHUNK;
    return vec3<u32>(row, d0, min(d0 + CHUNK, params.dim));
}

@compute @workgroup_size(64, 1, 1)
fn masking_any(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let w = work(gid, nwg);
    if (w.x >= params.rows) {
        return;
    }
    var valid = 0u;
    for (var d = w.y; d < w.z; d = d + 1u) {
        if (x[w.x * params.dim + d] != params.mask_value) {
            valid = 1u;
        }
    }
    if (valid != 0u) {
        atomicOr(&mask[w.x], 1u);
    }
}

@compute @workgroup_size(64, 1, 1)
fn masking_zero(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let w = work(gid, nwg);
    if (w.x >= params.rows) {
        return;
    }
    if (atomicLoad(&mask[w.x]) == 0u) {
        for (var d = w.y; d < w.z; d = d + 1u) {
            x[w.x * params.dim + d] = 0.0;
        }
    }
}
