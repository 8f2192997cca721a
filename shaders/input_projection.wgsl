// input_projection.wgsl — Z = act(X·W + bias) for all rows at once (one tiled GEMM);
// needs activation.wgsl first.
//
// CPU twin: `cpu::input_projection` in src/cpu.rs (and `cpu::dense` for a Dense layer).
// An LSTM uses it with ACT = 7 (linear) on all B·T timesteps; a Dense layer with its own
// activation on the last axis of its input.
//
// Bindings (group 0):
//   0  x    : array<f32>  (M, K) row-major, M = B·T rows (row = b·T + t), K = D features
//   1  w    : array<f32>  (K, N) an LSTM's kernel with columns gate-interleaved at upload:
//                         column 4·j + g holds Keras column g·U + j (g = i, f, c, o);
//                         a Dense layer's kernel as Keras stores it
//   2  bias : array<f32>  (N) interleaved the same way (zeros when use_bias = false)
//   3  z    : array<f32>  (M, N) output; z[row, 4j + g] is gate g of unit j
//   4  dims : uniform {m, n, k}
// Dispatch: (ceil(N / TILE), ceil(M / TILE), 1) workgroups of TILE × TILE invocations; each
// invocation computes one element of Z, the workgroup stages TILE × TILE tiles of X and W in
// workgroup memory.

const TILE: u32 = 16u;
override ACT: u32 = 7u;

struct Dims {
    m: u32,
    n: u32,
    k: u32,
    pad: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> z: array<f32>;
@group(0) @binding(4) var<uniform> dims: Dims;

var<workgroup> x_tile: array<array<f32, 16>, 16>;
var<workgroup> w_tile: array<array<f32, 16>, 16>;

@compute @workgroup_size(16, 16, 1)
fn input_projection(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
) {
    let row = wg.y * TILE + lid.y;
    let col = wg.x * TILE + lid.x;
    var acc = 0.0;
    let tiles = (dims.k + TILE - 1u) / TILE;
    for (var tk = 0u; tk < tiles; tk = tk + 1u) {
        let kx = tk * TILE + lid.x;
        let kw = tk * TILE + lid.y;
        var xv = 0.0;
        if (row < dims.m && kx < dims.k) {
            xv = x[row * dims.k + kx];
        }
        var wv = 0.0;
        if (kw < dims.k && col < dims.n) {
            wv = w[kw * dims.n + col];
        }
        x_tile[lid.y][lid.x] = xv;
        w_tile[lid.y][lid.x] = wv;
        workgroupBarrier();
        for (var i = 0u; i < TILE; i = i + 1u) {
            acc = acc + x_tile[lid.y][i] * w_tile[i][lid.x];
        }
        workgroupBarrier();
    }
    if (row < dims.m && col < dims.n) {
        z[row * dims.n + col] = act(ACT, acc + bias[col]);
    }
}
