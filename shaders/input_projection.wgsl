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
//   4  dims : uniform Dims, bound with a dynamic offset: one record per dispatch
// Dispatch: one or more, each over a block of Z: rows [m0, m0 + 64·gy), columns
// [n0, n0 + 64·gx) with (gx, gy, 1) workgroups of 16 × 16 invocations, and a range
// [k0, k1) of K. A call whose M or N needs more workgroups than the device allows in one
// dimension, or whose K would make one invocation loop more than lavapipe's 65 535
// iterations, is cut into several dispatches (src/gpu/gemm.rs): a K chunk after the first
// adds to the partial sums the earlier ones left in Z (ACCUMULATE), and only the last one
// adds the bias and applies the activation (FINISH).
// A workgroup computes a 64 × 64 tile of Z; invocation (tx, ty) holds a 4 × 4 block of it in registers
// (rows 4·ty .. 4·ty + 3, columns 4·tx .. 4·tx + 3 of the tile). K is walked in slices of
// KT = 16: the workgroup stages the 64 × 16 slice of X (k-major) and the 16 × 64 slice of W
// in workgroup memory (each invocation loads 4 + 4 floats, zeros past the edges), then every
// invocation does 16 rank-1 updates of its block from two vec4 reads each.
// (A register-blocked GEMM: 16 multiply-adds per 2 workgroup-memory reads, where one output
// per invocation did 1 per 2.)

const TILE: u32 = 64u;
const KT: u32 = 16u;
override ACT: u32 = 7u;

struct Dims {
    m: u32,
    n: u32,
    k: u32,
    m0: u32,
    n0: u32,
    k0: u32,
    k1: u32,
    // bit 0: ACCUMULATE (start from Z), bit 1: FINISH (add bias, apply the activation)
    flags: u32,
}

@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;
@group(0) @binding(3) var<storage, read_write> z: array<f32>;
@group(0) @binding(4) var<uniform> dims: Dims;

// x_sh[kk·16 + r / 4][r % 4] = X[row0 + r, k0 + kk];  w_sh[kk·16 + c / 4][c % 4] = W[k0 + kk, col0 + c]
var<workgroup> x_sh: array<vec4<f32>, 256>;
var<workgroup> w_sh: array<vec4<f32>, 256>;

@compute @workgroup_size(16, 16, 1)
fn input_projection(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) li: u32,
) {
    let row0 = dims.m0 + wg.y * TILE;
    let col0 = dims.n0 + wg.x * TILE;
    var acc: array<vec4<f32>, 4>;
    for (var i = 0u; i < 4u; i = i + 1u) {
        acc[i] = vec4<f32>(0.0);
    }
    let slices = (dims.k1 - dims.k0 + KT - 1u) / KT;
    for (var s = 0u; s < slices; s = s + 1u) {
        let k0 = dims.k0 + s * KT;
        for (var i = 0u; i < 4u; i = i + 1u) {
            let e = li + i * 256u;
            // X: 64 rows × 16 k, consecutive invocations along k
            let r = e / KT;
            let kx = e % KT;
            var xv = 0.0;
            if (row0 + r < dims.m && k0 + kx < dims.k1) {
                xv = x[(row0 + r) * dims.k + k0 + kx];
            }
            x_sh[kx * 16u + r / 4u][r % 4u] = xv;
            // W: 16 k × 64 columns, consecutive invocations along the columns
            let kw = e / TILE;
            let cw = e % TILE;
            var wv = 0.0;
            if (k0 + kw < dims.k1 && col0 + cw < dims.n) {
                wv = w[(k0 + kw) * dims.n + col0 + cw];
            }
            w_sh[kw * 16u + cw / 4u][cw % 4u] = wv;
        }
        workgroupBarrier();
        for (var kk = 0u; kk < KT; kk = kk + 1u) {
            let a = x_sh[kk * 16u + lid.y];
            let bv = w_sh[kk * 16u + lid.x];
            acc[0] = acc[0] + a.x * bv;
            acc[1] = acc[1] + a.y * bv;
            acc[2] = acc[2] + a.z * bv;
            acc[3] = acc[3] + a.w * bv;
        }
        workgroupBarrier();
    }
    for (var i = 0u; i < 4u; i = i + 1u) {
        let row = row0 + lid.y * 4u + i;
        if (row >= dims.m) {
            continue;
        }
        for (var jj = 0u; jj < 4u; jj = jj + 1u) {
            let col = col0 + lid.x * 4u + jj;
            if (col < dims.n) {
                var v = acc[i][jj];
                if ((dims.flags & 1u) != 0u) {
                    v = z[row * dims.n + col] + v;
                }
                if ((dims.flags & 2u) != 0u) {
                    v = act(ACT, v + bias[col]);
                }
                z[row * dims.n + col] = v;
            }
        }
    }
}
