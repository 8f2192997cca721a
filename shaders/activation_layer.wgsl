// activation_layer.wgsl — Keras's Activation layer, and the softmax / log-softmax pass any
// layer with such an activation runs after its linear part (needs activation.wgsl first).
//
// CPU twin: `LayerActivation::apply` in src/layers/activation_layer.rs.
//
// Bindings (group 0):
//   0  x      : array<f32>  input, n floats (rows of `cols`)
//   1  y      : array<f32>  output, n floats (may be written in place over x's copy)
//   2  params : uniform {n, cols, rows, pad}
// Entry points:
//   apply:    y[i] = act(ACT, x[i]), one invocation per element; dispatch (gx, gy, gz) of 64,
//             i = x + 64·gx·(y + gy·z)
//   softmax:  one workgroup of 64 per row (row = wg.x + nwg.x·(wg.y + nwg.y·wg.z)); each
//             invocation strides over the row's columns (ceil(cols / 64) iterations per pass,
//             three passes: max, Σ exp, write — the host refuses rows whose passes would pass
//             the loop budget), reductions in workgroup memory. LOG = true writes
//             x - max - ln Σ exp(x - max) instead of exp(x - max) / Σ.

override ACT: u32 = 7u;
override LOG: bool = false;

struct Params {
    n: u32,
    cols: u32,
    rows: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;

var<workgroup> red: array<f32, 64>;

@compute @workgroup_size(64, 1, 1)
fn apply(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = gid.x + nwg.x * 64u * (gid.y + nwg.y * gid.z);
    if (i >= params.n) {
        return;
    }
    y[i] = act(ACT, x[i]);
}

@compute @workgroup_size(64, 1, 1)
fn softmax(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row = wg.x + nwg.x * (wg.y + nwg.y * wg.z);
    // every invocation of the workgroup takes the same branch: rows past the end return
    if (row >= params.rows) {
        return;
    }
    let base = row * params.cols;
    var m = -3.4028235e38;
    for (var c = li; c < params.cols; c = c + 64u) {
        m = max(m, x[base + c]);
    }
    red[li] = m;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s / 2u) {
        if (li < s) {
            red[li] = max(red[li], red[li + s]);
        }
        workgroupBarrier();
    }
    let mx = red[0];
    workgroupBarrier();
    var sum = 0.0;
    for (var c = li; c < params.cols; c = c + 64u) {
        sum = sum + exp(x[base + c] - mx);
    }
    red[li] = sum;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s / 2u) {
        if (li < s) {
            red[li] = red[li] + red[li + s];
        }
        workgroupBarrier();
    }
    let total = red[0];
    let ls = log(total);
    for (var c = li; c < params.cols; c = c + 64u) {
        let v = x[base + c] - mx;
        if (LOG) {
            y[base + c] = v - ls;
        } else {
            y[base + c] = exp(v) / total;
        }
    }
}
