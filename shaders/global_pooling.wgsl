// global_pooling.wgsl — Keras's GlobalMaxPooling1D / GlobalAveragePooling1D: the max or the
// mean over all steps, per channel; an average over a masked input counts the valid steps
// only (a row with none gives NaN, 0 / 0, as in Keras); a max ignores the mask and is NaN
// when any value is (tf.reduce_max).
//
// CPU twin: `global_pool1d` in src/layers/global_pooling.rs.
//
// Bindings (group 0):
//   0  x      : array<f32>  input rows: element (b, t, c) at b·row_in + t·x_ts + c·x_cs
//   1  mask   : array<u32>  (rows, steps), nonzero = valid; read only when params.masked
//                           (else any small buffer)
//   2  part   : array<f32>  (rows, chunks, channels) partial max / sums
//   3  cnt    : array<f32>  (rows, chunks) valid steps per chunk (written when masked)
//   4  params : uniform Params
//   5  y      : array<f32>  (rows, channels) output (`combine` only)
// Overrides: MODE 0 max, 1 average; MUL_MASK (tf_keras) leaves a masked step out as x · 0
// (NaN or inf there reach the mean), else (Keras 3) by selection (they do not).
// Two passes, each one invocation per element in workgroups of 64 on a grid (gx, gy, gz),
// i = x + 64·gx·(y + gy·z) (`grid_1d`):
//   partial: i = (b·chunks + j)·channels + c reduces steps [j·tc, min((j + 1)·tc, steps))
//            (bindings 0–4);
//   combine: i = b·channels + c reduces the chunks' partials (bindings 2–5).
// The host picks tc and chunks = ⌈steps / tc⌉ both under 50 000, so no invocation loops
// more than that whatever the sequence length (lavapipe silently stops a loop after 65 535
// iterations), and refuses a longer sequence.

override MODE: u32 = 0u;
override MUL_MASK: bool = false;

struct Params {
    rows: u32,
    steps: u32,
    channels: u32,
    row_in: u32,
    x_ts: u32,
    x_cs: u32,
    tc: u32,
    chunks: u32,
    masked: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> mask: array<u32>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@group(0) @binding(3) var<storage, read_write> cnt: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;
@group(0) @binding(5) var<storage, read_write> y: array<f32>;

// NaN tested on the bits (WGSL may assume floats are never NaN)
fn is_nan(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// the max of tf.reduce_max: NaN if either is NaN
fn nan_max(a: f32, b: f32) -> f32 {
    if (is_nan(a) || is_nan(b)) {
        return bitcast<f32>(0x7fc00000u);
    }
    return max(a, b);
}

fn flat_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + nwg.x * 64u * (gid.y + nwg.y * gid.z);
}

@compute @workgroup_size(64, 1, 1)
fn partial(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = flat_index(gid, nwg);
    if (i >= params.rows * params.chunks * params.channels) {
        return;
    }
    let c = i % params.channels;
    let bj = i / params.channels;
    let j = bj % params.chunks;
    let b = bj / params.chunks;
    let t0 = j * params.tc;
    let t1 = min(t0 + params.tc, params.steps);
    let xb = b * params.row_in + c * params.x_cs;
    if (MODE == 0u) {
        var m = x[xb + t0 * params.x_ts];
        for (var t = t0 + 1u; t < t1; t = t + 1u) {
            m = nan_max(m, x[xb + t * params.x_ts]);
        }
        part[i] = m;
        return;
    }
    var sum = 0.0;
    var n = 0.0;
    for (var t = t0; t < t1; t = t + 1u) {
        let v = x[xb + t * params.x_ts];
        if (params.masked != 0u) {
            let valid = mask[b * params.steps + t] != 0u;
            if (MUL_MASK) {
                sum = sum + v * select(0.0, 1.0, valid);
            } else if (valid) {
                sum = sum + v;
            }
            n = n + select(0.0, 1.0, valid);
        } else {
            sum = sum + v;
        }
    }
    part[i] = sum;
    if (params.masked != 0u && c == 0u) {
        cnt[bj] = n;
    }
}

@compute @workgroup_size(64, 1, 1)
fn combine(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = flat_index(gid, nwg);
    if (i >= params.rows * params.channels) {
        return;
    }
    let c = i % params.channels;
    let b = i / params.channels;
    let pb = b * params.chunks * params.channels + c;
    var m = part[pb];
    var n = 0.0;
    if (params.masked != 0u) {
        n = cnt[b * params.chunks];
    }
    for (var j = 1u; j < params.chunks; j = j + 1u) {
        let v = part[pb + j * params.channels];
        if (MODE == 0u) {
            m = nan_max(m, v);
        } else {
            m = m + v;
            if (params.masked != 0u) {
                n = n + cnt[b * params.chunks + j];
            }
        }
    }
    if (MODE == 1u) {
        if (params.masked == 0u) {
            m = m / f32(params.steps);
        } else if (n == 0.0) {
            // 0 / 0 as Keras computes it: NaN, written as bits (WGSL may assume no NaN arises)
            m = bitcast<f32>(0x7fc00000u);
        } else {
            m = m / n;
        }
    }
    y[i] = m;
}
