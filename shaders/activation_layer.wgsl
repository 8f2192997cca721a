// activation_layer.wgsl — Keras's Activation layer and advanced-activation layers, and the
// pass any layer whose activation a GEMM cannot fuse runs after its linear part (needs
// activation.wgsl first).
//
// CPU twins: `LayerActivation` (src/layers/activation_layer.rs), `AdvancedActivation`
// (src/layers/advanced_activation.rs), `RmsNormalization` (src/layers/rms_normalization.rs).
//
// Bindings (group 0; each entry point uses the ones listed):
//   0  x      : array<f32>  input, n floats                                     (all)
//   1  y      : array<f32>  output                                              (all)
//   2  params : uniform Params (below)                                          (all)
//   3  aux    : array<f32>  sparsemax_finish: the 2n scratch floats sparsemax_rank wrote
//                           (there bound as y); prelu: alpha; rms_rows: the scale
//                           (sparsemax_finish, prelu, rms_rows)
// Each entry point uses bindings 0..k without gaps (sparsemax_rank: 0-2, writing its
// scratch through y).
// Params: n (input elements), cols (row length), rows, inner (stride between a row's
// elements: 1 for rows of the last axis), p (per entry point below), nan / inf (the bits of
// a NaN and +inf: a non-finite constant is not valid WGSL), rank, row_len, dims, pstr (a
// parameter tensor broadcast against the input's non-batch axes: dims = the input's
// non-batch sizes innermost first, pstr = the parameter's stride per axis, 0 where it
// broadcasts; row_len = their product).
// Entry points (invocation i = x + 64·gx·(y + gy·z) over a (gx, gy, gz) dispatch of 64s;
// row = workgroup wg.x + nwg.x·(wg.y + nwg.y·wg.z) for the row kernels):
//   apply:       y[i] = act(ACT, x[i]), one invocation per element.
//   apply_param: y[i] = f(x[i]), MODE 0/1: Keras's relu with p = (negative_slope,
//                max_value, threshold, has_max) (0: Keras 3's threshold where(x > t, x, 0),
//                1: tf_keras's x·cast(x > t)); 2: leaky_relu (slope p.x); 3: elu (alpha
//                p.x); 4: thresholded relu (theta p.x).
//   glu:         one invocation per output element (rows·cols/2): a·sigmoid(b).
//   rows:        one workgroup of 64 per row (element c at row base + c·inner); each
//                invocation strides over the row (ceil(cols / 64) iterations per pass, at
//                most three passes: the host refuses rows past the loop budget), reductions
//                in workgroup memory. MODE 0: softmax exp(x - max) / Σ; 1: log_softmax
//                x - max - ln Σ; 2: exp(x - logsumexp) with TensorFlow's reduce_logsumexp
//                (a non-finite max replaced by 0).
//   rms_rows:    the same rows: RMS normalisation (x·rsqrt(Σx²/cols + p.x))·aux[broadcast
//                index] (two passes).
//   sparsemax_rank:   one invocation per element z of a row of the last axis: its rank r
//                in the descending order (ties by position), the cumulative sum c there,
//                and whether z - (c - 1)/r > 0 (cols iterations: the host refuses rows past
//                the loop budget); scratch[2i] = c, scratch[2i + 1] = 1 or 0.
//   sparsemax_finish: one workgroup of 64 per row: k = Σ flags, s = Σ c over the support,
//                tau = (s - 1)/k, y = max(x - tau, 0) (NaN kept).
//   prelu:       one invocation per element: relu(x) + (-alpha)·relu(-x), alpha = aux at the
//                broadcast index.

override ACT: u32 = 7u;
override MODE: u32 = 0u;

struct Params {
    n: u32,
    cols: u32,
    rows: u32,
    inner: u32,
    p: vec4<f32>,
    nan: u32,
    inf: u32,
    rank: u32,
    row_len: u32,
    dims: array<vec4<u32>, 2>,
    pstr: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@group(0) @binding(3) var<storage, read_write> aux: array<f32>;

var<workgroup> red: array<f32, 64>;
var<workgroup> red2: array<f32, 64>;

fn nan_value() -> f32 {
    return bitcast<f32>(params.nan);
}

fn inf_value() -> f32 {
    return bitcast<f32>(params.inf);
}

fn is_inf(v: f32) -> bool {
    return (bitcast<u32>(v) & 0x7fffffffu) == 0x7f800000u;
}

// a·b as IEEE gives it (NaN for NaN or 0·inf), whatever the compiler assumes about floats.
fn mul_ieee(a: f32, b: f32) -> f32 {
    if (is_nan(a) || is_nan(b) || (is_inf(a) && b == 0.0) || (is_inf(b) && a == 0.0)) {
        return nan_value();
    }
    return a * b;
}

// max(v, 0) with NaN kept (TensorFlow's relu).
fn relu_nan(v: f32) -> f32 {
    if (is_nan(v)) {
        return v;
    }
    return max(v, 0.0);
}

fn invocation(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + nwg.x * 64u * (gid.y + nwg.y * gid.z);
}

fn row_index(wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wg.x + nwg.x * (wg.y + nwg.y * wg.z);
}

// The index of row `row`'s first element: rows of params.cols elements params.inner apart
// (the reduced axis), `inner` rows interleaved per outer index.
fn row_base(row: u32) -> u32 {
    let o = row / params.inner;
    return o * params.cols * params.inner + (row - o * params.inner);
}

// Where the parameter tensor's value for input element i is (see Params).
fn param_index(i: u32) -> u32 {
    var rem = i % params.row_len;
    var idx = 0u;
    for (var d = 0u; d < params.rank; d = d + 1u) {
        let size = params.dims[d / 4u][d % 4u];
        idx = idx + (rem % size) * params.pstr[d / 4u][d % 4u];
        rem = rem / size;
    }
    return idx;
}

@compute @workgroup_size(64, 1, 1)
fn apply(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = invocation(gid, nwg);
    if (i >= params.n) {
        return;
    }
    y[i] = act(ACT, x[i]);
}

// Keras's general relu (ReLU.static_call / backend.relu), step by step.
fn relu_general(v: f32) -> f32 {
    let slope = params.p.x;
    let t = params.p.z;
    var negative_part = 0.0;
    if (slope != 0.0) {
        if (t != 0.0) {
            negative_part = relu_nan(-v + t);
        } else {
            negative_part = relu_nan(-v);
        }
    }
    var clip = params.p.w != 0.0;
    var r: f32;
    if (t != 0.0) {
        if (MODE == 0u) {
            // Keras 3: where(x > t, x, 0)
            r = select(0.0, v, v > t);
        } else {
            // tf_keras: x · cast(x > t)
            r = mul_ieee(v, select(0.0, 1.0, v > t));
        }
    } else if (clip && params.p.y == 6.0) {
        clip = false;
        r = select(clamp(v, 0.0, 6.0), v, is_nan(v));
    } else {
        r = relu_nan(v);
    }
    if (clip && !is_nan(r)) {
        r = clamp(r, 0.0, params.p.y);
    }
    if (slope != 0.0) {
        r = r - mul_ieee(slope, negative_part);
    }
    return r;
}

@compute @workgroup_size(64, 1, 1)
fn apply_param(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = invocation(gid, nwg);
    if (i >= params.n) {
        return;
    }
    let v = x[i];
    var r: f32;
    switch MODE {
        case 0u, 1u: {
            r = relu_general(v);
        }
        case 2u: {
            // leaky_relu: x > 0 ? x : x·slope
            r = select(mul_ieee(v, params.p.x), v, v > 0.0);
        }
        case 3u: {
            // elu: x > 0 ? x : alpha·(e^x - 1)
            if (is_nan(v)) {
                r = v;
            } else if (v > 0.0) {
                r = v;
            } else {
                r = params.p.x * (exp(max(v, -88.0)) - 1.0);
            }
        }
        default: {
            // thresholded relu: x · cast(x > theta)
            r = mul_ieee(v, select(0.0, 1.0, v > params.p.x));
        }
    }
    y[i] = r;
}

@compute @workgroup_size(64, 1, 1)
fn glu(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let half = params.cols / 2u;
    let i = invocation(gid, nwg);
    if (i >= params.rows * half) {
        return;
    }
    let r = i / half;
    let j = i - r * half;
    let a = x[r * params.cols + j];
    let b = x[r * params.cols + half + j];
    // sigmoid(-inf) = 0 exactly (act() clamps the exponent), so that -inf·0 is NaN
    let sb = select(act(1u, b), 0.0, is_inf(b) && b < 0.0);
    y[i] = mul_ieee(a, sb);
}

// Sums red over the workgroup into red[0] (every invocation of the workgroup calls it).
fn reduce_sum(li: u32) {
    for (var s = 32u; s > 0u; s = s / 2u) {
        if (li < s) {
            red[li] = red[li] + red[li + s];
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(64, 1, 1)
fn rows(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row = row_index(wg, nwg);
    // every invocation of the workgroup takes the same branch: rows past the end return
    if (row >= params.rows) {
        return;
    }
    let inner = params.inner;
    let base = row_base(row);
    var m = -inf_value();
    var any_nan = false;
    for (var c = li; c < params.cols; c = c + 64u) {
        let v = x[base + c * inner];
        any_nan = any_nan || is_nan(v);
        if (!is_nan(v)) {
            m = max(m, v);
        }
    }
    red[li] = m;
    red2[li] = select(0.0, 1.0, any_nan);
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s / 2u) {
        if (li < s) {
            red[li] = max(red[li], red[li + s]);
            red2[li] = max(red2[li], red2[li + s]);
        }
        workgroupBarrier();
    }
    let raw = red[0];
    // Non-finite rows, spelled out (compilers may assume no infinities or NaN), as the CPU
    // twin gets them with IEEE arithmetic: a NaN makes Σ NaN, so the row is NaN; a +inf max
    // gives inf - inf = NaN in Σ (MODE 0, 1: the row is NaN; MODE 2 replaces a non-finite
    // max by 0, so the logsumexp is +inf: NaN at the +inf elements, 0 elsewhere); an all
    // -inf row gives -inf - -inf = NaN (or ln 0 = -inf in MODE 2), NaN throughout.
    let has_nan = red2[0] != 0.0;
    let pos_inf = is_inf(raw) && raw > 0.0;
    let all_neg_inf = is_inf(raw) && raw < 0.0;
    var mx = raw;
    if (MODE == 2u && is_inf(raw)) {
        mx = 0.0;
    }
    workgroupBarrier();
    var sum = 0.0;
    if (!(has_nan || pos_inf || all_neg_inf)) {
        for (var c = li; c < params.cols; c = c + 64u) {
            let v = x[base + c * inner];
            if (!is_inf(v)) {
                sum = sum + exp(v - mx);
            }
        }
    }
    red[li] = sum;
    workgroupBarrier();
    reduce_sum(li);
    let total = red[0];
    let ls = log(total);
    for (var c = li; c < params.cols; c = c + 64u) {
        let i = base + c * inner;
        let v = x[i];
        var r: f32;
        if (has_nan || all_neg_inf || (pos_inf && MODE != 2u)) {
            r = nan_value();
        } else if (pos_inf) {
            r = select(0.0, nan_value(), is_inf(v) && v > 0.0);
        } else if (is_inf(v)) {
            // -inf: exp gives 0, log_softmax -inf
            r = select(0.0, v, MODE == 1u);
        } else if (MODE == 1u) {
            r = (v - mx) - ls;
        } else if (MODE == 2u) {
            r = exp(v - (ls + mx));
        } else {
            r = exp(v - mx) / total;
        }
        y[i] = r;
    }
}

@compute @workgroup_size(64, 1, 1)
fn rms_rows(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row = row_index(wg, nwg);
    if (row >= params.rows) {
        return;
    }
    let inner = params.inner;
    let base = row_base(row);
    // x·rsqrt(mean(x²) + eps), times the scale
    var sq = 0.0;
    for (var c = li; c < params.cols; c = c + 64u) {
        let v = x[base + c * inner];
        sq = sq + v * v;
    }
    red[li] = sq;
    workgroupBarrier();
    reduce_sum(li);
    let r = inverseSqrt(red[0] / f32(params.cols) + params.p.x);
    for (var c = li; c < params.cols; c = c + 64u) {
        let i = base + c * inner;
        y[i] = (x[i] * r) * aux[param_index(i)];
    }
}

@compute @workgroup_size(64, 1, 1)
fn sparsemax_rank(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = invocation(gid, nwg);
    if (i >= params.n) {
        return;
    }
    let cols = params.cols;
    let row = i / cols;
    let base = row * cols;
    let me = i - base;
    let z = x[i];
    var greater = 0u;
    var ties = 0u;
    var above = 0.0;
    for (var j = 0u; j < cols; j = j + 1u) {
        let v = x[base + j];
        if (v > z) {
            greater = greater + 1u;
            above = above + v;
        } else if (v == z && j < me) {
            ties = ties + 1u;
        }
    }
    let r = f32(greater + ties + 1u);
    var c = above + f32(ties + 1u) * z;
    if (is_inf(z)) {
        c = above + z;
    }
    let support = !is_nan(c) && !is_inf(c) && z - (c - 1.0) / r > 0.0;
    // y is the scratch here (bound at 1), read back as aux by sparsemax_finish
    y[2u * i] = c;
    y[2u * i + 1u] = select(0.0, 1.0, support);
}

@compute @workgroup_size(64, 1, 1)
fn sparsemax_finish(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row = row_index(wg, nwg);
    if (row >= params.rows) {
        return;
    }
    let base = row * params.cols;
    var s = 0.0;
    var k = 0.0;
    for (var c = li; c < params.cols; c = c + 64u) {
        let i = base + c;
        if (aux[2u * i + 1u] != 0.0) {
            s = s + aux[2u * i];
            k = k + 1.0;
        }
    }
    red[li] = s;
    red2[li] = k;
    workgroupBarrier();
    for (var h = 32u; h > 0u; h = h / 2u) {
        if (li < h) {
            red[li] = red[li] + red[li + h];
            red2[li] = red2[li] + red2[li + h];
        }
        workgroupBarrier();
    }
    let kk = red2[0];
    let tau = (red[0] - 1.0) / max(kk, 1.0);
    for (var c = li; c < params.cols; c = c + 64u) {
        let i = base + c;
        let v = x[i];
        var r: f32;
        if (is_nan(v)) {
            r = v;
        } else if (kk == 0.0) {
            // tau = -1/0 = -inf: finite x gives +inf, -inf gives NaN
            r = select(inf_value(), nan_value(), is_inf(v) && v < 0.0);
        } else if (is_inf(v)) {
            r = select(0.0, v, v > 0.0);
        } else {
            r = max(v - tau, 0.0);
        }
        y[i] = r;
    }
}

@compute @workgroup_size(64, 1, 1)
fn prelu(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = invocation(gid, nwg);
    if (i >= params.n) {
        return;
    }
    let v = x[i];
    let a = aux[param_index(i)];
    let pos = relu_nan(v);
    let neg = mul_ieee(-a, relu_nan(-v));
    if (is_nan(pos) || is_nan(neg)) {
        y[i] = nan_value();
    } else {
        y[i] = pos + neg;
    }
}
