// layout.wgsl — a strided copy: y (row-major over `dims`) gathers x at Σ coord_k · stride_k.
// Keras's Permute (strides of x permuted), RepeatVector (stride 0 over the repeated axis),
// Flatten(data_format="channels_first") (axis 1 moved last, then flattened) and the time flip
// inside a recurrent chain (from `base` = the last step, a negative time stride) use it.
// u32 arithmetic wraps, so a negative stride is its two's complement and `base + Σ` lands
// on the intended index.
//
// CPU twins: `Permute::cpu` (src/layers/permute.rs), `RepeatVector::cpu`
// (src/layers/repeat_vector.rs), `Flatten::cpu` (src/layers/reshape.rs), `TimeReverse::cpu`
// (src/layers/time_reverse.rs).
//
// Bindings (group 0):
//   0  x      : array<f32>  input
//   1  params : uniform {n (output elements), rank (<= 8), base (x index of y[0]), pad,
//                        dims: 8 × u32 (output shape, row-major), strides: 8 × u32 (in x)}
//   2  y      : array<f32>  output, n floats
// One invocation per output element i < n, dispatch (gx, gy, gz) of 64,
// i = x + 64·gx·(y + gy·z). The coordinate loop runs `rank` (<= 8) times.

struct Params {
    n: u32,
    rank: u32,
    base: u32,
    pad1: u32,
    dims: array<vec4<u32>, 2>,
    strides: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<uniform> params: Params;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn strided_copy(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = gid.x + nwg.x * 64u * (gid.y + nwg.y * gid.z);
    if (i >= params.n) {
        return;
    }
    var rest = i;
    var src = params.base;
    for (var k = min(params.rank, 8u); k > 0u; k = k - 1u) {
        let a = k - 1u;
        let d = params.dims[a / 4u][a % 4u];
        src = src + (rest % d) * params.strides[a / 4u][a % 4u];
        rest = rest / d;
    }
    y[i] = x[src];
}
