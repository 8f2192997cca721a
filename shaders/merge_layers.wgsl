// merge_layers.wgsl — Keras's element-wise merge layers (Add, Subtract, Multiply, Average,
// Maximum, Minimum) as a fold over the inputs, one dispatch per input, and the merged masks.
// (Concatenate copies blocks with `block_copy` of mask_ops.wgsl; Bidirectional's merge is
// merge.wgsl.)
//
// CPU twin: `Merge::run` in src/layers/merge.rs.
//
// Dispatch of both entry points: (gx, gy, gz) workgroups of 64, each dimension at most the
// device's limit; invocation i = x + 64·gx·(y + gy·z); no loop but the fixed one over at most
// MAX_RANK = 8 axes.
//
// merge_fold — bindings: 0 acc (f32, the n output values, read and written in place),
//   1 fx (read, f32 values of this step's input), 2 fxm (read, u32 mask words (B·T) of the
//   input, or a dummy), 3 fom (read, u32 words (B·T) of the running output mask `om`, or a
//   dummy), 4 fp (uniform FParams). Output element i is decomposed over `dims` (last axis
//   fastest), the input's offset uses `sx` (stride 0 on a broadcast axis, axes inserted
//   after the batch for a lower-rank input); its (B, T) row is i / row_len.
//   mode: 0 acc = x (the first input), 1 +, 2 −, 3 ·, 4 max, 5 min (max / min as
//   `a < b ? b : a` / `a < b ? a : b`, like TensorFlow's kernels). flags:
//     1  the input has a mask (fxm)
//     2  the running output mask exists (fom)
//     4  Keras 3 Multiply: a masked step of the input counts as 1
//     8  Keras 3 Multiply, last step: zero where fom is 0
//     16 Keras 3 Maximum / Minimum fold: x' = m ? x : acc (with a mask),
//        acc' = om ? acc : x' (with om), acc = op(acc', x')
//   div > 0 (Average's last step): the result is divided by it.
//
// mask_fold — bindings: 0 mdst (u32 mask words, n), 1 msrc (read, u32 words, n, or a dummy),
//   2 mp (uniform MParams). mode: 0 dst = src, 1 dst |= src, 2 dst &= src, 3 dst = 1;
//   words are written 1 (valid) or 0, read as nonzero = valid.

const MAX_RANK: u32 = 8u;

struct FParams {
    n: u32,
    rank: u32,
    row_len: u32,
    mode: u32,
    flags: u32,
    div: f32,
    pad0: u32,
    pad1: u32,
    dims: array<vec4<u32>, 2>,
    sx: array<vec4<u32>, 2>,
}

struct MParams {
    n: u32,
    mode: u32,
    pad0: u32,
    pad1: u32,
}

@group(0) @binding(0) var<storage, read_write> acc: array<f32>;
@group(0) @binding(1) var<storage, read> fx: array<f32>;
@group(0) @binding(2) var<storage, read> fxm: array<u32>;
@group(0) @binding(3) var<storage, read> fom: array<u32>;
@group(0) @binding(4) var<uniform> fp: FParams;

@group(0) @binding(0) var<storage, read_write> mdst: array<u32>;
@group(0) @binding(1) var<storage, read> msrc: array<u32>;
@group(0) @binding(2) var<uniform> mp: MParams;

fn invocation(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return gid.x + nwg.x * 64u * (gid.y + nwg.y * gid.z);
}

@compute @workgroup_size(64, 1, 1)
fn merge_fold(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = invocation(gid, nwg);
    if (i >= fp.n) {
        return;
    }
    var rem = i;
    var off = 0u;
    for (var d = 0u; d < min(fp.rank, MAX_RANK); d = d + 1u) {
        let k = fp.rank - 1u - d;
        let dim = fp.dims[k >> 2u][k & 3u];
        off = off + (rem % dim) * fp.sx[k >> 2u][k & 3u];
        rem = rem / dim;
    }
    let row = i / fp.row_len;
    let has_m = (fp.flags & 1u) != 0u;
    let has_om = (fp.flags & 2u) != 0u;
    var m = true;
    if (has_m) {
        m = fxm[row] != 0u;
    }
    var om = true;
    if (has_om) {
        om = fom[row] != 0u;
    }
    var x = fx[off];
    if ((fp.flags & 4u) != 0u && !m) {
        x = 1.0;
    }
    var r = x;
    if (fp.mode != 0u) {
        var a = acc[i];
        if ((fp.flags & 16u) != 0u) {
            if (!m) {
                x = a;
            }
            if (!om) {
                a = x;
            }
        }
        switch fp.mode {
            case 1u: { r = a + x; }
            case 2u: { r = a - x; }
            case 3u: { r = a * x; }
            case 4u: { r = select(a, x, a < x); }
            default: { r = select(x, a, a < x); }
        }
    }
    if (fp.div > 0.0) {
        r = r / fp.div;
    }
    if ((fp.flags & 8u) != 0u && !om) {
        r = 0.0;
    }
    acc[i] = r;
}

@compute @workgroup_size(64, 1, 1)
fn mask_fold(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = invocation(gid, nwg);
    if (i >= mp.n) {
        return;
    }
    var v = true;
    switch mp.mode {
        case 0u: { v = msrc[i] != 0u; }
        case 1u: { v = mdst[i] != 0u || msrc[i] != 0u; }
        case 2u: { v = mdst[i] != 0u && msrc[i] != 0u; }
        default: { v = true; }
    }
    mdst[i] = select(0u, 1u, v);
}
