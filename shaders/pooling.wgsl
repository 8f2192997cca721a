// pooling.wgsl — Keras's MaxPooling1D / AveragePooling1D over the time axis: the max or the
// mean of each window's real steps (the `same` padding takes no part: an average divides by
// the number of real steps in its window, as tf.nn.avg_pool does).
//
// CPU twin: `pool1d` in src/layers/pooling.rs.
//
// Bindings (group 0):
//   0  x      : array<f32>  input rows: element (b, t, c) at b·row_in + t·x_ts + c·x_cs
//   1  y      : array<f32>  output rows: element (b, l, c) at b·row_out + l·y_ls + c·y_cs
//   2  params : uniform Params
// Override MODE: 0 max, 1 average.
// Dispatch: one invocation per output element, i = (b·l_out + l)·channels + c, workgroups of
// 64 on a grid (gx, gy, gz) with i = x + 64·gx·(y + gy·z) (`grid_1d`). Window l covers
// padded steps l·stride + j, j in [0, pool); its real steps are j in [jv0, jv1) (never
// empty: the host's geometry guarantees it). The window positions are cut into ranges
// [w0, w1) of at most 32 768 (one dispatch each, in order; src/gpu/ops/pooling.rs), so an
// invocation loops at most 32 768 times whatever pool_size is: the range holding jv0 writes
// its partial result, later ranges combine theirs with what y holds, and the last range
// (flags bit 1, LAST) divides an average by jv1 − jv0. A max starts from the lowest finite
// f32 and takes a value only when it is greater (NaN and −inf never win), as TensorFlow's
// max pool does.

override MODE: u32 = 0u;

struct Params {
    n: u32,
    l_out: u32,
    channels: u32,
    t_in: u32,
    row_in: u32,
    row_out: u32,
    pool: u32,
    stride: u32,
    pad_left: u32,
    x_ts: u32,
    x_cs: u32,
    y_ls: u32,
    y_cs: u32,
    w0: u32,
    w1: u32,
    flags: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

// the lowest finite f32: where a max starts (tf.nn.max_pool)
const LOWEST: f32 = -3.4028234663852886e38;

// max: b only when b > a (NaN never wins, as in tf.nn.max_pool); average: the sum
fn combine(a: f32, b: f32) -> f32 {
    if (MODE == 0u) {
        return select(a, b, b > a);
    }
    return a + b;
}

@compute @workgroup_size(64, 1, 1)
fn pooling(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = gid.x + nwg.x * 64u * (gid.y + nwg.y * gid.z);
    if (i >= params.n) {
        return;
    }
    let c = i % params.channels;
    let bl = i / params.channels;
    let l = bl % params.l_out;
    let b = bl / params.l_out;
    let start = l * params.stride;
    // the window's real steps, as window positions [jv0, jv1)
    var jv0 = 0u;
    if (params.pad_left > start) {
        jv0 = params.pad_left - start;
    }
    let jv1 = min(params.pool, params.t_in + params.pad_left - start);
    let lo = max(params.w0, jv0);
    let hi = min(params.w1, jv1);
    let xb = b * params.row_in + c * params.x_cs;
    let yi = b * params.row_out + l * params.y_ls + c * params.y_cs;
    var m = 0.0;
    let has = lo < hi;
    if (MODE == 0u) {
        m = LOWEST;
    }
    if (has) {
        m = combine(m, x[xb + (start + lo - params.pad_left) * params.x_ts]);
        for (var j = lo + 1u; j < hi; j = j + 1u) {
            m = combine(m, x[xb + (start + j - params.pad_left) * params.x_ts]);
        }
    }
    if (params.w0 > jv0) {
        // an earlier range holding jv0 has written its partial result
        if (has) {
            m = combine(y[yi], m);
        } else {
            m = y[yi];
        }
    } else if (!has) {
        // a range before the window's first real step
        return;
    }
    if (MODE == 1u && (params.flags & 2u) != 0u) {
        m = m / f32(jv1 - jv0);
    }
    y[yi] = m;
}
