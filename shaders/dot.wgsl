// dot.wgsl — Keras's Dot layer: out[b, i, j] = Σ_k x[b, i, k] · y[b, k, j] over one axis of
// each input, optionally L2-normalised along it first.
//
// CPU twin: `Dot` (src/layers/dot.rs, the same loops: the norms, then the products in k
// order).
//
// Bindings (group 0): 0 x, 1 y (read), 2 out (read_write), 3 params (uniform Params).
// Params: b, i, j, k (see DotGeometry), x_post / y_post (elements after each input's
// contracted axis: its stride), mode (0: plain; 1: Keras 3's normalize
// x·min(1/sqrt(Σx²), 1e7); 2: tf_keras's x·(1/sqrt(max(Σx², 1e-12)))).
// One invocation per output element (invocation n = x + 64·gx·(y + gy·z) over a
// (gx, gy, gz) dispatch of 64s); each loops k times for the norms and k times for the sum
// (the host refuses 2k past the loop budget).

struct Params {
    b: u32,
    i: u32,
    j: u32,
    k: u32,
    x_post: u32,
    y_post: u32,
    mode: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> params: Params;

// Offset of free element f, contracted index k in a row starting at base.
fn at(base: u32, f: u32, k: u32, post: u32) -> u32 {
    let pre = f / post;
    let p = f - pre * post;
    return base + pre * params.k * post + k * post + p;
}

fn inv_norm(s: f32) -> f32 {
    if (params.mode == 1u) {
        if (s <= 0.0) {
            return 1e7;
        }
        return min(1.0 / sqrt(s), 1e7);
    }
    return 1.0 / sqrt(max(s, 1e-12));
}

@compute @workgroup_size(64, 1, 1)
fn dot(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let n = gid.x + nwg.x * 64u * (gid.y + nwg.y * gid.z);
    let per_row = params.i * params.j;
    if (n >= params.b * per_row) {
        return;
    }
    let b = n / per_row;
    let r = n - b * per_row;
    let i = r / params.j;
    let j = r - i * params.j;
    let xb = b * params.i * params.k;
    let yb = b * params.j * params.k;
    var rx = 1.0;
    var ry = 1.0;
    if (params.mode != 0u) {
        var sx = 0.0;
        var sy = 0.0;
        for (var k = 0u; k < params.k; k = k + 1u) {
            let a = x[at(xb, i, k, params.x_post)];
            let c = y[at(yb, j, k, params.y_post)];
            sx = sx + a * a;
            sy = sy + c * c;
        }
        rx = inv_norm(sx);
        ry = inv_norm(sy);
    }
    var s = 0.0;
    for (var k = 0u; k < params.k; k = k + 1u) {
        let a = x[at(xb, i, k, params.x_post)];
        let c = y[at(yb, j, k, params.y_post)];
        if (params.mode != 0u) {
            s = s + (a * rx) * (c * ry);
        } else {
            s = s + a * c;
        }
    }
    out[n] = s;
}
