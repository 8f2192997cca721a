// embedding.wgsl — Keras's Embedding: y[k, c] = table[row(id[k]), c].
//
// CPU twin: `Embedding::cpu` in src/layers/embedding.rs (ids checked there, and on the host
// before a GPU call for ids that come from the caller).
//
// Bindings (group 0):
//   0  ids    : array<u32>  N ids: token ids as i32 bits (FLOAT_IDS = false) or f32 bits
//                           (FLOAT_IDS = true: float ids, cast as Keras casts to int32)
//   1  table  : array<f32>  (V, D) row-major
//   2  params : uniform {n (= N·D), dim (D), vocab (V), nan (0x7fc00000: the bits of a NaN,
//                           from the host because a NaN constant is not valid WGSL)}
//   3  y      : array<f32>  (N, D) output
//   4  mask   : array<u32>  (N) output of `embed_mask` only: 1 where the id as given is
//                           nonzero (Keras's mask_zero: id != 0)
// Entry points `embed` and `embed_mask`: one invocation per output element i < N·D,
// dispatch (gx, gy, gz) of 64, i = x + 64·gx·(y + gy·z); k = i / D, c = i % D; the
// invocation with c = 0 writes mask[k].
// row(id): 0 <= id < V -> id; WRAP (Keras 3 on TensorFlow) and -V <= id < 0 -> id + V;
// anything else (and a float id that is NaN, infinite or outside int32) has no row: the
// output row is NaN (the host refuses such ids before the call when it can see them).
// No loops.

override FLOAT_IDS: bool = false;
override WRAP: bool = true;

struct Params {
    n: u32,
    dim: u32,
    vocab: u32,
    nan: u32,
}

@group(0) @binding(0) var<storage, read> ids: array<u32>;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read_write> mask: array<u32>;

// The table row of id bits `raw`, or -1.
fn row_of(raw: u32) -> i32 {
    var id: i32;
    if (FLOAT_IDS) {
        // NaN and ±inf (exponent all ones) have no row
        if ((raw & 0x7f800000u) == 0x7f800000u) {
            return -1;
        }
        let f = bitcast<f32>(raw);
        if (!(f > -2147483649.0 && f < 2147483648.0)) {
            return -1;
        }
        id = i32(trunc(f));
    } else {
        id = bitcast<i32>(raw);
    }
    let v = i32(params.vocab);
    if (id >= 0 && id < v) {
        return id;
    }
    if (WRAP && id < 0 && id >= -v) {
        return id + v;
    }
    return -1;
}

// Whether the id as given is nonzero (a float -0.0 is zero, NaN is not).
fn nonzero(raw: u32) -> bool {
    if (FLOAT_IDS) {
        return (raw & 0x7fffffffu) != 0u;
    }
    return raw != 0u;
}

fn index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + nwg.x * 64u * (gid.y + nwg.y * gid.z);
}

fn lookup(i: u32) {
    let k = i / params.dim;
    let c = i % params.dim;
    let r = row_of(ids[k]);
    if (r < 0) {
        y[i] = bitcast<f32>(params.nan);
    } else {
        y[i] = table[u32(r) * params.dim + c];
    }
}

@compute @workgroup_size(64, 1, 1)
fn embed(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = index(gid, nwg);
    if (i >= params.n) {
        return;
    }
    lookup(i);
}

@compute @workgroup_size(64, 1, 1)
fn embed_mask(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = index(gid, nwg);
    if (i >= params.n) {
        return;
    }
    lookup(i);
    if (i % params.dim == 0u) {
        let k = i / params.dim;
        mask[k] = select(0u, 1u, nonzero(ids[k]));
    }
}
