//! `MaxPooling1D` / `AveragePooling1D` on the GPU: `shaders/pooling.wgsl`, one invocation
//! per output element, the window cut into ranges of [`POOL_CHUNK`] positions (one dispatch
//! each, combining in the output) so no invocation passes the loop budget whatever
//! `pool_size` is.
//!
//! GPU half of `layers/pooling.rs`.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::gpu::context::LOOP_BUDGET;
use crate::gpu::kernels::{Kernel, POOLING_WGSL};
use crate::layers::conv1d::window_geometry;
use crate::layers::{LayerOps, Pooling1D};

use super::conv1d::{ACCUMULATE, Chunked, FINISH, index_u32};
use super::{GpuOp, GpuTensor, Recorder};

/// Most window positions one dispatch of pooling.wgsl walks per invocation.
pub(crate) const POOL_CHUNK: u32 = 32_768;
const _: () = assert!((POOL_CHUNK as u64) < LOOP_BUDGET);

/// `Params` of pooling.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct PoolParams {
    n: u32,
    l_out: u32,
    channels: u32,
    t_in: u32,
    row_in: u32,
    row_out: u32,
    pool: u32,
    stride: u32,
    pad_left: u32,
    x_ts: u32,
    x_cs: u32,
    y_ls: u32,
    y_cs: u32,
    w0: u32,
    w1: u32,
    flags: u32,
}

pub(crate) struct GpuPooling {
    layer: Pooling1D,
    kernel: Kernel,
    chunks: Chunked,
}

impl GpuPooling {
    pub fn new(ctx: &Arc<GpuContext>, p: &Pooling1D) -> Self {
        GpuPooling {
            layer: p.clone(),
            kernel: ctx.kernels.kernel(
                ctx.device(),
                "pooling.wgsl",
                || POOLING_WGSL.to_string(),
                "pooling",
                &[("MODE", p.mode.code() as f64)],
            ),
            chunks: Chunked::new("pooling params", std::mem::size_of::<PoolParams>() as u64),
        }
    }
}

impl GpuOp for GpuPooling {
    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        ins: &[GpuTensor],
        outs: &[GpuTensor],
    ) -> Result<()> {
        let ctx = rec.ctx.clone();
        let (x, out) = (&ins[0], &outs[0]);
        let p = &self.layer;
        let rows = x.shape[0].max(1);
        let fmt = p.data_format;
        let (t, c) = fmt.steps_channels(x.shape[1], x.shape[2]);
        let (l, pad) = window_geometry(t, p.pool_size, p.strides, 1, p.padding)
            .ok_or_else(|| Error::config("pool_size", format!("does not fit {t} steps")))?;
        let n = out.len();
        index_u32(x.len(), "pooling input elements")?;
        index_u32(n, "pooling output elements")?;
        let reach = (l - 1)
            .checked_mul(p.strides)
            .and_then(|v| v.checked_add(p.pool_size));
        index_u32(reach.unwrap_or(usize::MAX), "pooling window reach")?;
        let (x_ts, x_cs) = fmt.strides(t, c);
        let (y_ls, y_cs) = fmt.strides(l, c);
        let n_chunks = p.pool_size.div_ceil(POOL_CHUNK as usize).max(1);
        let (gx, gy, gz) = rec.grid(n as u64, p.class_name())?;
        if rec.opts.poison {
            ctx.poison(&out.buf, n);
        }
        let base = PoolParams {
            n: n as u32,
            l_out: l as u32,
            channels: c as u32,
            t_in: t as u32,
            row_in: (x.len() / rows) as u32,
            row_out: (n / rows) as u32,
            pool: p.pool_size as u32,
            stride: p.strides as u32,
            pad_left: pad as u32,
            x_ts: x_ts as u32,
            x_cs: x_cs as u32,
            y_ls: y_ls as u32,
            y_cs: y_cs as u32,
            w0: 0,
            w1: 0,
            flags: 0,
        };
        let layout = self.kernel.layout.clone();
        let pool = p.pool_size;
        let mut groups = Vec::with_capacity(n_chunks);
        for (i, (params, bind)) in self.chunks.get(&ctx, n_chunks).iter_mut().enumerate() {
            let w0 = i * POOL_CHUNK as usize;
            let mut flags = 0;
            if i > 0 {
                flags |= ACCUMULATE;
            }
            if i + 1 == n_chunks {
                flags |= FINISH;
            }
            let rec_params = PoolParams {
                w0: w0 as u32,
                w1: (w0 + POOL_CHUNK as usize).min(pool) as u32,
                flags,
                ..base
            };
            params.write(&ctx, bytemuck::bytes_of(&rec_params));
            groups.push(bind.get(&ctx, "pooling", &layout, &[&x.buf, &out.buf, &params.buf]));
        }
        let mut pass = rec.pass("pooling");
        pass.set_pipeline(&self.kernel.pipeline);
        for bg in &groups {
            pass.set_bind_group(0, bg, &[]);
            pass.dispatch_workgroups(gx, gy, gz);
        }
        drop(pass);
        rec.dispatched(n_chunks as u64);
        Ok(())
    }

    fn forget(&mut self) {
        self.chunks.forget();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_mirror_the_wgsl_struct() {
        crate::gpu::kernels::assert_mirrors!(
            PoolParams,
            crate::gpu::kernels::POOLING_WGSL,
            "Params",
            [
                n, l_out, channels, t_in, row_in, row_out, pool, stride, pad_left, x_ts, x_cs,
                y_ls, y_cs, w0, w1, flags
            ]
        );
    }
}
