// layer_normalization.wgsl — Keras's LayerNormalization over rows of N features (the
// trailing normalised axes flattened), any N: the statistics come from chunks of CHUNK
// features so that no invocation loops past the loop budget.
//
// CPU twin: `LayerNormalization::normalize_rows` in src/layers/layer_normalization.rs.
//
// Bindings (group 0; each entry point uses the ones listed):
//   0  x       : array<f32>  input, rows·N floats                 (ln_partial, ln_apply)
//   1  params  : uniform {rows, n (N), chunks, eps (f32 bits)}    (all)
//   2  partial : array<f32>  rows·chunks·2: per chunk its mean and M2 = Σ(x - mean)²
//                                                                 (ln_partial, ln_stats)
//   3  stats   : array<f32>  rows·2: per row its mean and r = 1 / sqrt(var + eps)
//                                                                 (ln_stats, ln_apply)
//   4  gamma   : array<f32>  N (ones when the layer has none)     (ln_apply)
//   5  beta    : array<f32>  N (zeros when the layer has none)    (ln_apply)
//   6  y       : array<f32>  output, rows·N floats                (ln_apply)
// Entry points, dispatched one after the other:
//   ln_partial: one workgroup of 64 per (row, chunk) (workgroup index
//               w = wg.x + nwg.x·(wg.y + nwg.y·wg.z), row = w / chunks); two passes over
//               the chunk's ≤ CHUNK features: its mean, then Σ(x - mean)². A row of one
//               chunk (N ≤ CHUNK) adds in TensorFlow's CPU order, as the CPU twin does
//               (`tf_sum`: in sequence for MODE 1, ≤ CHUNK iterations in invocation 0; else
//               16 lanes, ≤ CHUNK / 16 iterations each, halved pairwise, then the tail);
//               longer rows add 64-way strided (CHUNK / 64 iterations) and reduce in
//               workgroup memory.
//   ln_stats:   one workgroup of 64 per row: each invocation merges every 64th chunk with
//               Chan's parallel formula (count, mean, M2), then a tree merge in workgroup
//               memory (ceil(chunks / 64) iterations, < 2 100 for any buffer that fits a
//               binding); var = M2 / N.
//   ln_apply:   one invocation per element, MODE picks the float order:
//               0 (Keras 3, tf.nn.batch_normalization): inv = r·g; y = x·inv + (b - mean·inv)
//               1 (tf_keras fused):                    y = ((x - mean)·r)·g + b
//               2 (Keras 3 rms_scaling):               y = (x·r)·g (+ b, zeros)

const CHUNK: u32 = 4096u;
override MODE: u32 = 0u;

struct Params {
    rows: u32,
    n: u32,
    chunks: u32,
    eps: f32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read_write> partial: array<f32>;
@group(0) @binding(3) var<storage, read_write> stats: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;

var<workgroup> red_n: array<f32, 64>;
var<workgroup> red_m: array<f32, 64>;
var<workgroup> red_q: array<f32, 64>;

fn group_index(wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wg.x + nwg.x * (wg.y + nwg.y * wg.z);
}

// Sums red_m over the workgroup into red_m[0].
fn reduce_sum(li: u32) {
    for (var s = 32u; s > 0u; s = s / 2u) {
        if (li < s) {
            red_m[li] = red_m[li] + red_m[li + s];
        }
        workgroupBarrier();
    }
}

// x[i], or (x[i] - mean)² when `centre`.
fn term(i: u32, centre: bool, mean: f32) -> f32 {
    let v = x[i];
    if (centre) {
        let d = v - mean;
        return d * d;
    }
    return v;
}

// Σ term over [base + d0, base + d1) in TensorFlow's CPU order, valid in invocation 0:
// LANES lanes (1 for the fused kernel of tf_keras, MODE 1; 16 for Eigen's packets) each
// adding every LANES-th term in sequence, the lanes halved pairwise, then the tail
// (d1 - d0 not a multiple of LANES) added in sequence. Called by every invocation.
fn ordered_sum(base: u32, d0: u32, d1: u32, li: u32, centre: bool, mean: f32) -> f32 {
    let lanes = select(16u, 1u, MODE == 1u);
    let whole = d0 + (d1 - d0) / lanes * lanes;
    if (li < lanes) {
        var s = 0.0;
        for (var d = d0 + li; d < whole; d = d + lanes) {
            s = s + term(base + d, centre, mean);
        }
        red_m[li] = s;
    }
    workgroupBarrier();
    for (var w = lanes / 2u; w > 0u; w = w / 2u) {
        if (li < w) {
            red_m[li] = red_m[li] + red_m[li + w];
        }
        workgroupBarrier();
    }
    var total = 0.0;
    if (li == 0u) {
        var t = 0.0;
        for (var d = whole; d < d1; d = d + 1u) {
            t = t + term(base + d, centre, mean);
        }
        total = red_m[0] + t;
    }
    workgroupBarrier();
    return total;
}

// Σ term over [base + d0, base + d1) in any order (64-way strided, tree), valid in
// invocation 0 — for rows of several chunks, where no CPU order is mirrored.
fn strided_sum(base: u32, d0: u32, d1: u32, li: u32, centre: bool, mean: f32) -> f32 {
    var s = 0.0;
    for (var d = d0 + li; d < d1; d = d + 64u) {
        s = s + term(base + d, centre, mean);
    }
    red_m[li] = s;
    workgroupBarrier();
    reduce_sum(li);
    let total = red_m[0];
    workgroupBarrier();
    return total;
}

@compute @workgroup_size(64, 1, 1)
fn ln_partial(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let w = group_index(wg, nwg);
    // every invocation of the workgroup takes the same branch
    if (w >= params.rows * params.chunks) {
        return;
    }
    let row = w / params.chunks;
    let chunk = w % params.chunks;
    let d0 = chunk * CHUNK;
    let d1 = min(d0 + CHUNK, params.n);
    let base = row * params.n;
    let cnt = f32(d1 - d0);
    // a row of one chunk adds in TensorFlow's order (the CPU twin's), else in any order
    let exact = params.chunks == 1u;
    var s: f32;
    if (exact) {
        s = ordered_sum(base, d0, d1, li, false, 0.0);
    } else {
        s = strided_sum(base, d0, d1, li, false, 0.0);
    }
    if (li == 0u) {
        red_q[0] = s / cnt;
    }
    workgroupBarrier();
    let mean = red_q[0];
    workgroupBarrier();
    var q: f32;
    if (exact) {
        q = ordered_sum(base, d0, d1, li, true, mean);
    } else {
        q = strided_sum(base, d0, d1, li, true, mean);
    }
    if (li == 0u) {
        partial[2u * w] = mean;
        partial[2u * w + 1u] = q;
    }
}

// Chan et al.: merges (nb, mb, qb) into (na, ma, qa).
// An empty side returns the other unchanged (so a row of one chunk keeps its statistics
// bit for bit).
fn merge(na: f32, ma: f32, qa: f32, nb: f32, mb: f32, qb: f32) -> vec3<f32> {
    if (nb == 0.0) {
        return vec3<f32>(na, ma, qa);
    }
    if (na == 0.0) {
        return vec3<f32>(nb, mb, qb);
    }
    let n = na + nb;
    let delta = mb - ma;
    let m = ma + delta * (nb / n);
    let q = qa + qb + delta * delta * (na * nb / n);
    return vec3<f32>(n, m, q);
}

@compute @workgroup_size(64, 1, 1)
fn ln_stats(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row = group_index(wg, nwg);
    if (row >= params.rows) {
        return;
    }
    var acc = vec3<f32>(0.0, 0.0, 0.0);
    for (var c = li; c < params.chunks; c = c + 64u) {
        let cnt = f32(min(CHUNK, params.n - c * CHUNK));
        let p = 2u * (row * params.chunks + c);
        acc = merge(acc.x, acc.y, acc.z, cnt, partial[p], partial[p + 1u]);
    }
    red_n[li] = acc.x;
    red_m[li] = acc.y;
    red_q[li] = acc.z;
    workgroupBarrier();
    for (var s = 32u; s > 0u; s = s / 2u) {
        if (li < s) {
            let r = merge(red_n[li], red_m[li], red_q[li], red_n[li + s], red_m[li + s], red_q[li + s]);
            red_n[li] = r.x;
            red_m[li] = r.y;
            red_q[li] = r.z;
        }
        workgroupBarrier();
    }
    if (li == 0u) {
        let var_ = red_q[0] / f32(params.n);
        stats[2u * row] = red_m[0];
        stats[2u * row + 1u] = 1.0 / sqrt(var_ + params.eps);
    }
}

@compute @workgroup_size(64, 1, 1)
fn ln_apply(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = gid.x + nwg.x * 64u * (gid.y + nwg.y * gid.z);
    if (i >= params.rows * params.n) {
        return;
    }
    let row = i / params.n;
    let j = i % params.n;
    let mean = stats[2u * row];
    let r = stats[2u * row + 1u];
    let v = x[i];
    let g = gamma[j];
    let b = beta[j];
    if (MODE == 0u) {
        let inv = r * g;
        y[i] = v * inv + (b - mean * inv);
    } else if (MODE == 1u) {
        y[i] = ((v - mean) * r) * g + b;
    } else {
        // beta is zeros here (rms_scaling has none); read in every mode so that the
        // derived bind-group layout is the same for all three
        y[i] = (v * r) * g + b;
    }
}
