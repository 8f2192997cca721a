//! The dispatch plan of the tiled GEMM (`shaders/input_projection.wgsl`): an LSTM's input
//! projection and a Dense layer, Z = act(X·W + bias) with X (M, K), W (K, N).
//!
//! One dispatch covers at most [`max_workgroups`] tiles of 64 along each of M and N (the
//! device's `max_compute_workgroups_per_dimension`) and at most [`K_CHUNK`] of K, so that no
//! invocation loops more than lavapipe's 65 535 iterations (llvmpipe silently stops a shader
//! loop there; see `shaders/input_projection.wgsl`). A product larger than that runs as
//! several dispatches in one compute pass: blocks of M and N side by side, chunks of K one
//! after another, each adding to the partial sums of the one before; only the last chunk
//! adds the bias and applies the activation.
//!
//! The records live in one uniform buffer (`GemmDims`), bound with a dynamic offset; a
//! repeated call of the same shape uploads nothing.

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::gpu::kernels::{PROJ_ACCUMULATE, PROJ_DIMS_BYTES, PROJ_FINISH, PROJ_TILE, ProjDims};

/// Most of K one dispatch walks: 2 048 slices of 16. Each slice is one iteration of the
/// kernel's outer loop plus at most 4 + 16 of its inner loops (if the compiler does not
/// unroll them), 43 008 iterations in all, under lavapipe's 65 535.
pub const K_CHUNK: u32 = 16 * 2048;

/// Loop iterations one invocation of input_projection.wgsl makes for a K range of `k`
/// (outer slices, their load and update loops, the final 4 × 4 store): what [`K_CHUNK`]
/// keeps under the loop budget.
///
/// ```
/// use wgpu_lstm::gpu::gemm::{K_CHUNK, loop_iterations};
/// assert!(loop_iterations(K_CHUNK) < 65_535);
/// assert!(loop_iterations(1_048_576) > 65_535);
/// ```
pub fn loop_iterations(k: u32) -> u64 {
    let slices = k.div_ceil(16) as u64;
    slices * (1 + 4 + 16) + 4 + 16
}

/// Workgroups one dispatch may have along one dimension on a device with this limit.
///
/// ```
/// assert_eq!(wgpu_lstm::gpu::gemm::max_workgroups(65_535), 65_535);
/// ```
pub fn max_workgroups(limit: u32) -> u32 {
    limit.max(1)
}

/// One dispatch of the plan: its record and its workgroup counts (x along N, y along M).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GemmDispatch {
    /// Rows [m0, m0 + 64·groups.1), columns [n0, n0 + 64·groups.0), K [k0, k1).
    pub dims: [u32; 8],
    /// (x, y) workgroups.
    pub groups: (u32, u32),
}

/// The dispatches of an (M, K) × (K, N) product on a device allowing `wg_max` workgroups
/// per dimension, with K chunks of at most `k_chunk`: blocks of M and N, and within each
/// block the K chunks in order (the first writes, later ones accumulate, the last finishes).
///
/// ```
/// use wgpu_lstm::gpu::gemm::plan;
/// // one dispatch for a small product
/// assert_eq!(plan(100, 16, 3, 65_535, 32_768).len(), 1);
/// // N of 4.2 M columns needs two blocks of N; K of 100 000 four chunks each
/// assert_eq!(plan(1, 4_200_000, 100_000, 65_535, 32_768).len(), 2 * 4);
/// ```
pub fn plan(m: u32, n: u32, k: u32, wg_max: u32, k_chunk: u32) -> Vec<GemmDispatch> {
    let span = max_workgroups(wg_max) as u64 * PROJ_TILE as u64;
    let k_chunk = k_chunk.max(PROJ_TILE);
    let mut out = Vec::new();
    let mut m0 = 0u64;
    while m0 < m.max(1) as u64 {
        let rows = (m as u64 - m0.min(m as u64)).min(span).max(1);
        let mut n0 = 0u64;
        while n0 < n.max(1) as u64 {
            let cols = (n as u64 - n0.min(n as u64)).min(span).max(1);
            let groups = (
                (cols.div_ceil(PROJ_TILE as u64)) as u32,
                (rows.div_ceil(PROJ_TILE as u64)) as u32,
            );
            let chunks = k.max(1).div_ceil(k_chunk);
            for c in 0..chunks {
                let k0 = c * k_chunk;
                let k1 = (k0 + k_chunk).min(k);
                let mut flags = 0;
                if c > 0 {
                    flags |= PROJ_ACCUMULATE;
                }
                if c + 1 == chunks {
                    flags |= PROJ_FINISH;
                }
                out.push(GemmDispatch {
                    dims: [m, n, k, m0 as u32, n0 as u32, k0, k1, flags],
                    groups,
                });
            }
            n0 += span;
        }
        m0 += span;
    }
    out
}

/// The uniform records of a GEMM's dispatches, one per `stride` bytes, grown on demand;
/// the plan last uploaded is remembered so a repeated call of the same shape uploads nothing.
pub(crate) struct GemmDims {
    pub buf: wgpu::Buffer,
    cap: u64,
    stride: u64,
    last: Vec<GemmDispatch>,
}

impl GemmDims {
    /// Room for one record.
    pub fn new(ctx: &GpuContext) -> Self {
        let stride =
            (ctx.device().limits().min_uniform_buffer_offset_alignment as u64).max(PROJ_DIMS_BYTES);
        GemmDims {
            buf: ctx.uniform("gemm dims", stride),
            cap: stride,
            stride,
            last: Vec::new(),
        }
    }

    /// The binding of one record (binding 4 of input_projection.wgsl, dynamic offset).
    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buf,
            offset: 0,
            size: wgpu::BufferSize::new(PROJ_DIMS_BYTES),
        })
    }

    /// Plans an (M, K) × (K, N) product on this device and uploads its records unless they
    /// are already there; [`GemmDims::dispatch`] records the plan. The caller's bind group
    /// must be rebuilt when [`GemmDims::buf`] changes (it grows only).
    pub fn prepare(&mut self, ctx: &GpuContext, m: usize, n: usize, k: usize) -> Result<()> {
        let too_big = |what: &str, v: usize| {
            crate::Error::config(
                what,
                format!("{v} is more than one GPU dispatch can address (2^32 - 1)"),
            )
        };
        let m32 = u32::try_from(m).map_err(|_| too_big("rows (batch × timesteps)", m))?;
        let n32 = u32::try_from(n).map_err(|_| too_big("output features", n))?;
        let k32 = u32::try_from(k).map_err(|_| too_big("input features", k))?;
        let wg_max = ctx.device().limits().max_compute_workgroups_per_dimension;
        let plan = plan(m32, n32, k32, wg_max, K_CHUNK);
        if plan == self.last {
            return Ok(());
        }
        let bytes = plan.len() as u64 * self.stride;
        if bytes > self.cap {
            self.buf = ctx.uniform("gemm dims", bytes);
            self.cap = bytes;
        }
        let mut data = vec![0u8; bytes as usize];
        for (i, d) in plan.iter().enumerate() {
            let rec = ProjDims {
                m: d.dims[0],
                n: d.dims[1],
                k: d.dims[2],
                m0: d.dims[3],
                n0: d.dims[4],
                k0: d.dims[5],
                k1: d.dims[6],
                flags: d.dims[7],
            };
            let at = i * self.stride as usize;
            data[at..at + PROJ_DIMS_BYTES as usize].copy_from_slice(bytemuck::bytes_of(&rec));
        }
        ctx.upload(&self.buf, 0, &data);
        self.last = plan;
        Ok(())
    }

    /// Forgets what was uploaded (after a failed call: the next one uploads again).
    pub fn invalidate(&mut self) {
        self.last.clear();
    }

    /// Records the prepared dispatches into `pass` with `bind_group` (whose binding 4 is
    /// [`GemmDims::binding`]); returns how many.
    pub fn dispatch(&self, pass: &mut wgpu::ComputePass<'_>, bind_group: &wgpu::BindGroup) -> u64 {
        for (i, d) in self.last.iter().enumerate() {
            pass.set_bind_group(0, bind_group, &[(i as u64 * self.stride) as u32]);
            pass.dispatch_workgroups(d.groups.0, d.groups.1, 1);
        }
        self.last.len() as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every element of Z is covered by exactly one block of every K chunk, the chunks of a
    /// block cover K in order, and no dispatch exceeds the limits.
    #[test]
    fn plans_cover_the_product_within_limits() {
        for &(m, n, k, wg) in &[
            (1u32, 1u32, 1u32, 65_535u32),
            (300, 70, 5, 3),
            (1, 4_200_000, 2, 65_535),
            (10, 9, 1_100_000, 65_535),
            (200, 200, 70_000, 2),
        ] {
            let p = plan(m, n, k, wg, K_CHUNK);
            let mut covered = std::collections::HashMap::new();
            for d in &p {
                assert!(d.groups.0 <= wg && d.groups.1 <= wg);
                assert!(loop_iterations(d.dims[6] - d.dims[5]) < 65_535);
                let key = (d.dims[3], d.dims[4]);
                let ks = covered.entry(key).or_insert_with(Vec::new);
                ks.push((d.dims[5], d.dims[6], d.dims[7]));
                assert!(d.dims[3] as u64 + 64 * d.groups.1 as u64 >= (d.dims[3] as u64 + 1));
            }
            let mut rows = 0u64;
            let mut cols = std::collections::BTreeSet::new();
            for ((m0, n0), ks) in &covered {
                assert_eq!(ks[0].0, 0);
                assert_eq!(ks.last().unwrap().1, k);
                assert_eq!(ks[0].2 & PROJ_ACCUMULATE, 0);
                assert_ne!(ks.last().unwrap().2 & PROJ_FINISH, 0);
                for w in ks.windows(2) {
                    assert_eq!(w[0].1, w[1].0);
                    assert_ne!(w[1].2 & PROJ_ACCUMULATE, 0);
                }
                if *n0 == 0 {
                    rows += 1;
                    let _ = m0;
                }
                cols.insert(*n0);
            }
            let span = wg as u64 * 64;
            assert_eq!(rows, (m as u64).div_ceil(span).max(1));
            assert_eq!(cols.len() as u64, (n as u64).div_ceil(span).max(1));
        }
    }
}
