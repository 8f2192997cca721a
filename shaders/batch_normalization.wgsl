// batch_normalization.wgsl — Keras's BatchNormalization at inference: per channel c,
// y = (x - m[c]) · s[c] + t[c], with (m, s, t) computed on the host in TensorFlow's float
// order (m = 0 and t = beta - mean·inv for tf.nn.batch_normalization; m = mean, t = beta for
// tf_keras's fused kernel; s = rsqrt(var + eps)·gamma).
//
// CPU twin: `BatchNormalization::cpu` in src/layers/batch_normalization.rs.
//
// Bindings (group 0):
//   0  x      : array<f32>  input, n floats
//   1  mst    : array<f32>  3·C floats: m (C), then s (C), then t (C)
//   2  params : uniform {n, channels (C), inner (product of the axes after the channel
//               axis), pad}
//   3  y      : array<f32>  output, n floats
// One invocation per element i < n, dispatch (gx, gy, gz) of 64, i = x + 64·gx·(y + gy·z);
// channel c = (i / inner) % C. No loops.

struct Params {
    n: u32,
    channels: u32,
    inner: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> mst: array<f32>;
@group(0) @binding(2) var<uniform> params: Params;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn batch_normalization(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let i = gid.x + nwg.x * 64u * (gid.y + nwg.y * gid.z);
    if (i >= params.n) {
        return;
    }
    let c = (i / params.inner) % params.channels;
    let m = mst[c];
    let s = mst[params.channels + c];
    let t = mst[2u * params.channels + c];
    y[i] = (x[i] - m) * s + t;
}
