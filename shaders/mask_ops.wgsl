// mask_ops.wgsl — Keras 3's mask ops (NotEqual, Equal, LogicalOr/And/Not, Cast, ZerosLike,
// OnesLike, Any, All, the op Concatenate) and the block copy that the Concatenate layer
// shares. Booleans are float32 0.0 / 1.0; a truth value is "nonzero" (NaN is true); integer
// token inputs arrive as their u32 bits (the executor uploads token ids that way) and are
// read as i32 values.
//
// CPU twin: `MaskOp::run` in src/layers/mask_ops.rs (and `Merge::run` in
// src/layers/merge.rs for the Concatenate layer's copies).
//
// Every entry point runs one invocation per element (or per element and chunk), dispatched
// as (gx, gy, gz) workgroups of 64 with each dimension at most the device's limit; invocation
// i = x + 64·gx·(y + gy·z). Shapes have at most MAX_RANK = 8 axes (batch included); the
// host refuses more and every index stays below 2³² (checked on the host).
//
// elementwise — bindings: 0 ea (read, u32 bits of operand a), 1 eb (read, u32 bits of
//   operand b; bound to a's buffer when the op has one operand or a number operand),
//   2 eout (f32 output, n values), 3 ep (uniform EParams). Element i of the output is
//   decomposed over `dims` (last axis fastest); operand offsets use `sa` / `sb`, whose
//   stride is 0 on a broadcast axis. OP (override): 0 !=, 1 ==, 2 or, 3 and, 4 not, 5 cast
//   (code in flags >> 8: 0 float32, 1 bool, 2 int32, 3 int64), 6 zeros, 7 ones.
//   flags: 1 = a holds int bits, 2 = b holds int bits, 4 = b is the number `scalar`.
//
// reduce_init / reduce_chunk (Any, All) — bindings: 0 rx (read, u32 bits of the input),
//   1 rout (atomic u32, the f32 bits of the n_out outputs), 2 rp (uniform RParams).
//   reduce_init: one invocation per output writes the identity (Any 0.0, All 1.0).
//   reduce_chunk: one invocation per (output o, chunk c) of RCHUNK reduced elements
//   (chunks = ceil(k / RCHUNK)): the output's base offset comes from the kept axes (kdims,
//   kstrides), each reduced element's from the reduced axes (rdims, rstrides); a chunk that
//   finds a true (Any) / false (All) value stores 1.0 / 0.0. At most RCHUNK · (1 + 8)
//   loop iterations per invocation, whatever k is (under the loop budget of 60 000).
//   flags: 1 = int input bits, 2 = All (else Any).
//
// block_copy — bindings: 0 cx (read, u32 words of one input), 1 cout (u32 words of the
//   output), 2 cp (uniform CParams). Word j of an input seen as (outer, inner_k) goes to
//   cout[(j / inner_k) · out_k + offset + j % inner_k]: one input's block of a
//   concatenation; with fill = 1 the word `value` is written instead (an all-valid mask).

const MAX_RANK: u32 = 8u;
const ONE_BITS: u32 = 0x3f800000u;
const RCHUNK: u32 = 2048u;

override OP: u32 = 0u;

struct EParams {
    n: u32,
    rank: u32,
    scalar: f32,
    flags: u32,
    dims: array<vec4<u32>, 2>,
    sa: array<vec4<u32>, 2>,
    sb: array<vec4<u32>, 2>,
}

struct RParams {
    n_out: u32,
    k: u32,
    chunks: u32,
    flags: u32,
    kept_rank: u32,
    red_rank: u32,
    pad0: u32,
    pad1: u32,
    kdims: array<vec4<u32>, 2>,
    kstrides: array<vec4<u32>, 2>,
    rdims: array<vec4<u32>, 2>,
    rstrides: array<vec4<u32>, 2>,
}

struct CParams {
    n: u32,
    inner_k: u32,
    out_k: u32,
    offset: u32,
    fill: u32,
    value: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read> ea: array<u32>;
@group(0) @binding(1) var<storage, read> eb: array<u32>;
@group(0) @binding(2) var<storage, read_write> eout: array<f32>;
@group(0) @binding(3) var<uniform> ep: EParams;

@group(0) @binding(0) var<storage, read> rx: array<u32>;
@group(0) @binding(1) var<storage, read_write> rout: array<atomic<u32>>;
@group(0) @binding(2) var<uniform> rp: RParams;

@group(0) @binding(0) var<storage, read> cx: array<u32>;
@group(0) @binding(1) var<storage, read_write> cout: array<u32>;
@group(0) @binding(2) var<uniform> cp: CParams;

fn invocation(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + nwg.x * 64u * (gid.y + nwg.y * gid.z);
}

// The value of a word: an int token's value, else the float.
fn value_of(bits: u32, is_int: bool) -> f32 {
    if (is_int) {
        return f32(bitcast<i32>(bits));
    }
    return bitcast<f32>(bits);
}

// numpy's truth of a word: nonzero (NaN true, ±0 false).
fn truth_of(bits: u32, is_int: bool) -> bool {
    if (is_int) {
        return bits != 0u;
    }
    return (bits & 0x7fffffffu) != 0u;
}

fn b2f(b: bool) -> f32 {
    return select(0.0, 1.0, b);
}

// Cast of a value (bits, for NaN) to an integer type: truncated, -lim out of range / NaN,
// +0 for a zero.
fn to_int(v: f32, bits: u32, is_int: bool, lim: f32) -> f32 {
    let t = trunc(v);
    let nan = !is_int && (bits & 0x7fffffffu) > 0x7f800000u;
    if (nan || t >= lim || t < -lim) {
        return -lim;
    }
    // an integer has no -0 (whose bits a mask word would read as valid)
    if ((bitcast<u32>(t) & 0x7fffffffu) == 0u) {
        return 0.0;
    }
    return t;
}

@compute @workgroup_size(64, 1, 1)
fn elementwise(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = invocation(gid, nwg);
    if (i >= ep.n) {
        return;
    }
    var rem = i;
    var oa = 0u;
    var ob = 0u;
    for (var d = 0u; d < min(ep.rank, MAX_RANK); d = d + 1u) {
        let k = ep.rank - 1u - d;
        let dim = ep.dims[k >> 2u][k & 3u];
        let c = rem % dim;
        rem = rem / dim;
        oa = oa + c * ep.sa[k >> 2u][k & 3u];
        ob = ob + c * ep.sb[k >> 2u][k & 3u];
    }
    let a_int = (ep.flags & 1u) != 0u;
    let b_int = (ep.flags & 2u) != 0u;
    let b_scalar = (ep.flags & 4u) != 0u;
    let abits = ea[oa];
    let av = value_of(abits, a_int);
    let at = truth_of(abits, a_int);
    var bv = ep.scalar;
    var bt = ep.scalar != 0.0;
    if (!b_scalar && OP <= 3u) {
        let bbits = eb[ob];
        bv = value_of(bbits, b_int);
        bt = truth_of(bbits, b_int);
    }
    var r = 0.0;
    switch OP {
        case 0u: { r = b2f(av != bv); }
        case 1u: { r = b2f(av == bv); }
        case 2u: { r = b2f(at || bt); }
        case 3u: { r = b2f(at && bt); }
        case 4u: { r = b2f(!at); }
        case 5u: {
            switch (ep.flags >> 8u) {
                case 1u: { r = b2f(at); }
                case 2u: { r = to_int(av, abits, a_int, 2147483648.0); }
                case 3u: { r = to_int(av, abits, a_int, 9.223372e18); }
                default: { r = av; }
            }
        }
        case 7u: { r = 1.0; }
        default: { r = 0.0; }
    }
    eout[i] = r;
}

@compute @workgroup_size(64, 1, 1)
fn reduce_init(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let o = invocation(gid, nwg);
    // (rx is named so that both entry points have the same three bindings)
    if (o >= rp.n_out || arrayLength(&rx) == 0u) {
        return;
    }
    let all = (rp.flags & 2u) != 0u;
    atomicStore(&rout[o], select(0u, ONE_BITS, all));
}

@compute @workgroup_size(64, 1, 1)
fn reduce_chunk(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = invocation(gid, nwg);
    if (i >= rp.n_out * rp.chunks) {
        return;
    }
    let o = i / rp.chunks;
    let c = i % rp.chunks;
    let is_int = (rp.flags & 1u) != 0u;
    let all = (rp.flags & 2u) != 0u;
    // base offset of output o over the kept axes
    var rem = o;
    var base = 0u;
    for (var d = 0u; d < min(rp.kept_rank, MAX_RANK); d = d + 1u) {
        let k = rp.kept_rank - 1u - d;
        let dim = rp.kdims[k >> 2u][k & 3u];
        base = base + (rem % dim) * rp.kstrides[k >> 2u][k & 3u];
        rem = rem / dim;
    }
    let j0 = c * RCHUNK;
    let j1 = min(j0 + RCHUNK, rp.k);
    var found = false;
    for (var j = j0; j < j1; j = j + 1u) {
        var jr = j;
        var off = base;
        for (var d = 0u; d < min(rp.red_rank, MAX_RANK); d = d + 1u) {
            let k = rp.red_rank - 1u - d;
            let dim = rp.rdims[k >> 2u][k & 3u];
            off = off + (jr % dim) * rp.rstrides[k >> 2u][k & 3u];
            jr = jr / dim;
        }
        if (truth_of(rx[off], is_int) != all) {
            found = true;
            break;
        }
    }
    if (found) {
        atomicStore(&rout[o], select(ONE_BITS, 0u, all));
    }
}

@compute @workgroup_size(64, 1, 1)
fn block_copy(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let j = invocation(gid, nwg);
    if (j >= cp.n) {
        return;
    }
    let dst = (j / cp.inner_k) * cp.out_k + cp.offset + j % cp.inner_k;
    if (cp.fill != 0u) {
        cout[dst] = cp.value;
    } else {
        cout[dst] = cx[j];
    }
}
