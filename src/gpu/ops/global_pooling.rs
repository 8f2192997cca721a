//! `GlobalMaxPooling1D` / `GlobalAveragePooling1D` on the GPU: `shaders/global_pooling.wgsl`
//! in two passes — partial results per chunk of steps (one invocation per row, chunk and
//! channel), then one invocation per (row, channel) combining the chunks — with chunk size
//! and chunk count both under [`MAX_LOOP`], so no invocation passes the loop budget for any
//! sequence up to `MAX_LOOP²` steps (longer ones are refused before dispatch).
//!
//! GPU half of `layers/global_pooling.rs`.

use std::sync::Arc;

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::gpu::context::LOOP_BUDGET;
use crate::gpu::kernels::{GLOBAL_POOLING_WGSL, Kernel};
use crate::layers::{GlobalPooling1D, LayerOps};

use super::bidirectional::Grow;
use super::conv1d::index_u32;
use super::{BindCache, GpuOp, GpuTensor, Params, Recorder};

/// Most steps one invocation of `partial` reduces, and most chunks one of `combine` does.
pub(crate) const MAX_LOOP: usize = 50_000;
const _: () = assert!((MAX_LOOP as u64) < LOOP_BUDGET);

/// Fewest steps per chunk (short sequences run as one chunk).
const MIN_CHUNK: usize = 256;

/// Steps per chunk and chunk count for a sequence of `t` steps, or `None` when the chunks
/// would need more than [`MAX_LOOP`] steps each (100 steps: one chunk of 256).
pub(crate) fn time_chunks(t: usize) -> Option<(usize, usize)> {
    let tc = t.div_ceil(MAX_LOOP).max(MIN_CHUNK);
    (tc <= MAX_LOOP).then(|| (tc, t.div_ceil(tc).max(1)))
}

/// `Params` of global_pooling.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
struct GlobalParams {
    rows: u32,
    steps: u32,
    channels: u32,
    row_in: u32,
    x_ts: u32,
    x_cs: u32,
    tc: u32,
    chunks: u32,
    masked: u32,
    pad: [u32; 3],
}

pub(crate) struct GpuGlobalPooling {
    layer: GlobalPooling1D,
    partial: Kernel,
    combine: Kernel,
    part: Grow,
    cnt: Grow,
    /// bound as the mask when the input has none (never read then)
    no_mask: wgpu::Buffer,
    params: Params,
    bind_partial: BindCache,
    bind_combine: BindCache,
}

impl GpuGlobalPooling {
    pub fn new(ctx: &Arc<GpuContext>, g: &GlobalPooling1D) -> Self {
        let constants = [
            ("MODE", g.mode.code() as f64),
            (
                "MUL_MASK",
                if g.flavour == KerasFlavour::Keras2 {
                    1.0
                } else {
                    0.0
                },
            ),
        ];
        let kernel = |entry| {
            ctx.kernels.kernel(
                ctx.device(),
                "global_pooling.wgsl",
                || GLOBAL_POOLING_WGSL.to_string(),
                entry,
                &constants,
            )
        };
        GpuGlobalPooling {
            layer: g.clone(),
            partial: kernel("partial"),
            combine: kernel("combine"),
            part: Grow::new(ctx, "global pooling partials"),
            cnt: Grow::new(ctx, "global pooling counts"),
            no_mask: ctx.storage("global pooling no mask", 16, wgpu::BufferUsages::empty()),
            params: Params::new(
                ctx,
                "global pooling params",
                std::mem::size_of::<GlobalParams>() as u64,
            ),
            bind_partial: BindCache::default(),
            bind_combine: BindCache::default(),
        }
    }
}

impl GpuOp for GpuGlobalPooling {
    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        ins: &[GpuTensor],
        outs: &[GpuTensor],
    ) -> Result<()> {
        let ctx = rec.ctx.clone();
        let (x, out) = (&ins[0], &outs[0]);
        let g = &self.layer;
        let name = g.class_name();
        let rows = x.shape[0];
        let (t, c) = g.data_format.steps_channels(x.shape[1], x.shape[2]);
        let (tc, chunks) = time_chunks(t).ok_or_else(|| {
            Error::Unsupported(format!(
                "{name} over {t} steps: more than {MAX_LOOP}² steps cannot be reduced \
                 within the GPU loop budget"
            ))
        })?;
        let mask = match (&x.mask, g.mode) {
            (Some(m), crate::layers::pooling::PoolMode::Average) => Some(m.clone()),
            _ => None,
        };
        index_u32(x.len(), "global pooling input elements")?;
        let n_part = rows
            .checked_mul(chunks)
            .and_then(|v| v.checked_mul(c))
            .ok_or_else(|| Error::config("input shape", "too many elements"))?;
        index_u32(n_part, "global pooling partial results")?;
        let part = self.part.ensure(&ctx, (n_part * 4) as u64)?.clone();
        let cnt = self.cnt.ensure(&ctx, (rows * chunks * 4) as u64)?.clone();
        let grid_partial = rec.grid(n_part as u64, name)?;
        let grid_combine = rec.grid((rows * c) as u64, name)?;
        if rec.opts.poison {
            ctx.poison(&out.buf, out.len());
            ctx.poison(&part, n_part);
        }
        let (x_ts, x_cs) = g.data_format.strides(t, c);
        let p = GlobalParams {
            rows: rows as u32,
            steps: t as u32,
            channels: c as u32,
            row_in: (x.len() / rows.max(1)) as u32,
            x_ts: x_ts as u32,
            x_cs: x_cs as u32,
            tc: tc as u32,
            chunks: chunks as u32,
            masked: mask.is_some() as u32,
            pad: [0; 3],
        };
        self.params.write(&ctx, bytemuck::bytes_of(&p));
        let mask = mask.unwrap_or_else(|| self.no_mask.clone());
        let bg_partial = self.bind_partial.get(
            &ctx,
            "global pooling partial",
            &self.partial.layout,
            &[&x.buf, &mask, &part, &cnt, &self.params.buf],
        );
        let key = [&part, &cnt, &self.params.buf, &out.buf];
        let layout = &self.combine.layout;
        let bg_combine = self.bind_combine.get_with(&ctx, &key, || {
            let entries: Vec<wgpu::BindGroupEntry<'_>> = key
                .iter()
                .zip([2u32, 3, 4, 5])
                .map(|(b, binding)| wgpu::BindGroupEntry {
                    binding,
                    resource: b.as_entire_binding(),
                })
                .collect();
            ctx.bind_group_with(&wgpu::BindGroupDescriptor {
                label: Some("global pooling combine"),
                layout,
                entries: &entries,
            })
        });
        let mut pass = rec.pass("global pooling");
        pass.set_pipeline(&self.partial.pipeline);
        pass.set_bind_group(0, &bg_partial, &[]);
        pass.dispatch_workgroups(grid_partial.0, grid_partial.1, grid_partial.2);
        pass.set_pipeline(&self.combine.pipeline);
        pass.set_bind_group(0, &bg_combine, &[]);
        pass.dispatch_workgroups(grid_combine.0, grid_combine.1, grid_combine.2);
        drop(pass);
        rec.dispatched(2);
        Ok(())
    }

    fn forget(&mut self) {
        self.params.clear();
        self.bind_partial.clear();
        self.bind_combine.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Chunk size and count stay under the loop budget and cover the sequence.
    #[test]
    fn time_chunks_cover_within_budget() {
        for t in [1usize, 7, 256, 257, 12_800_000, 50_000 * 50_000] {
            let (tc, j) = time_chunks(t).unwrap();
            assert!(tc <= MAX_LOOP && j <= MAX_LOOP, "{t}: {tc} × {j}");
            assert!(tc * j >= t && tc * (j - 1) < t, "{t}: {tc} × {j}");
        }
        assert!(time_chunks(50_000 * 50_000 + 1).is_none());
    }
}

#[cfg(test)]
mod mirror_tests {
    use super::*;

    #[test]
    fn params_mirror_the_wgsl_struct() {
        crate::gpu::kernels::assert_mirrors!(
            GlobalParams,
            crate::gpu::kernels::GLOBAL_POOLING_WGSL,
            "Params",
            [
                rows, steps, channels, row_in, x_ts, x_cs, tc, chunks, masked
            ]
        );
    }
}
