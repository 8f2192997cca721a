// conv1d.wgsl — Keras's Conv1D: y = act(conv(x, w) + bias) over the time axis, with
// strides, dilation, zero padding (valid / same / causal: a left padding and the output
// length, both computed on the host), channel groups and either data format (element
// strides of time and channel in x and y). Needs activation.wgsl first.
//
// CPU twin: `conv1d` in src/layers/conv1d.rs.
//
// Bindings (group 0):
//   0  x      : array<f32>  input rows: element (b, t, c) at b·row_in + t·x_ts + c·x_cs
//   1  w      : array<f32>  kernel as Keras stores it, (kernel_size, cg, filters) row-major:
//                           tap k, group channel ci, filter f at (k·cg + ci)·filters + f
//   2  bias   : array<f32>  (filters) (zeros without use_bias)
//   3  y      : array<f32>  output rows of l_out·filters: element (b, l, f) at
//                           b·l_out·filters + l·y_ls + f·y_fs
//   4  params : uniform Params
// Dispatch: one invocation per output element, i = (b·l_out + l)·filters + f, in workgroups
// of 64 on a grid (gx, gy, gz) with i = x + 64·gx·(y + gy·z) (`grid_1d`). Output (b, l, f)
// of group g = f / fg sums, over the taps k and the group's channels ci, of
//   x[b, l·stride + k·dilation − pad_left, g·cg + ci] · w[k, ci, f]
// where the step exists (the padding is zeros). The reduction index r = k·cg + ci is cut
// into ranges [r0, r1) of at most 16 384 (one dispatch each, in order; src/gpu/ops/conv1d.rs)
// so that an invocation loops at most 2·16 384 + 1 times whatever kernel_size·cg is
// (lavapipe silently stops a loop after 65 535 iterations): flags bit 0 (ACCUMULATE) adds
// to what an earlier range left in y, bit 1 (FINISH, the last range) adds the bias and
// applies the activation ACT (a code of activation.wgsl; linear when the layer's activation
// is softmax, which a pass of activation_layer.wgsl applies afterwards).

override ACT: u32 = 7u;

struct Params {
    n: u32,
    l_out: u32,
    filters: u32,
    t_in: u32,
    row_in: u32,
    cg: u32,
    fg: u32,
    stride: u32,
    dilation: u32,
    pad_left: u32,
    x_ts: u32,
    x_cs: u32,
    y_ls: u32,
    y_fs: u32,
    r0: u32,
    r1: u32,
    flags: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<uniform> params: Params;

@compute @workgroup_size(64, 1, 1)
fn conv1d(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = gid.x + nwg.x * 64u * (gid.y + nwg.y * gid.z);
    if (i >= params.n) {
        return;
    }
    let f = i % params.filters;
    let bl = i / params.filters;
    let l = bl % params.l_out;
    let b = bl / params.l_out;
    let g = f / params.fg;
    let xrow = b * params.row_in + g * params.cg * params.x_cs;
    let start = l * params.stride;
    let tap0 = params.r0 / params.cg;
    let tap1 = (params.r1 + params.cg - 1u) / params.cg;
    var acc = 0.0;
    for (var tap = tap0; tap < tap1; tap = tap + 1u) {
        // the tap's step in padded coordinates; the padding contributes nothing
        let at = start + tap * params.dilation;
        if (at < params.pad_left || at - params.pad_left >= params.t_in) {
            continue;
        }
        let xt = xrow + (at - params.pad_left) * params.x_ts;
        let base = tap * params.cg;
        let c0 = max(params.r0, base) - base;
        let c1 = min(params.r1, base + params.cg) - base;
        for (var ci = c0; ci < c1; ci = ci + 1u) {
            acc = acc + x[xt + ci * params.x_cs] * w[(base + ci) * params.filters + f];
        }
    }
    let yi = b * params.l_out * params.filters + l * params.y_ls + f * params.y_fs;
    if ((params.flags & 1u) != 0u) {
        acc = y[yi] + acc;
    }
    if ((params.flags & 2u) != 0u) {
        acc = act(ACT, acc + bias[f]);
    }
    y[yi] = acc;
}
