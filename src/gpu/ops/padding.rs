//! `ZeroPadding1D` / `Cropping1D` on the GPU: `shaders/padding.wgsl`, one invocation per
//! output element (no loop), copying the shifted step or writing 0.
//!
//! GPU half of `layers/padding.rs`.

use std::sync::Arc;

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::gpu::kernels::{Kernel, PADDING_WGSL};
use crate::layers::conv1d::DataFormat;
use crate::layers::{Cropping1D, ZeroPadding1D};

use super::conv1d::index_u32;
use super::{BindCache, GpuOp, GpuTensor, Params, Recorder};

/// `Params` of padding.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ShiftParams {
    n: u32,
    len_out: u32,
    inner: u32,
    len_in: u32,
    add: u32,
    sub: u32,
    pad: [u32; 2],
}

/// Which shift: zero padding (left steps, on axis 1 or 2) or cropping (left steps, axis 1).
#[derive(Debug, Clone, Copy)]
enum Shift {
    Pad { left: usize, axis2: bool },
    Crop { left: usize },
}

pub(crate) struct GpuShift {
    shift: Shift,
    kernel: Kernel,
    params: Params,
    bind: BindCache,
}

impl GpuShift {
    fn new(ctx: &Arc<GpuContext>, shift: Shift) -> Self {
        GpuShift {
            shift,
            kernel: ctx.kernels.kernel(
                ctx.device(),
                "padding.wgsl",
                || PADDING_WGSL.to_string(),
                "shift_steps",
                &[],
            ),
            params: Params::new(
                ctx,
                "padding params",
                std::mem::size_of::<ShiftParams>() as u64,
            ),
            bind: BindCache::default(),
        }
    }

    pub fn zero_padding(ctx: &Arc<GpuContext>, z: &ZeroPadding1D) -> Self {
        Self::new(
            ctx,
            Shift::Pad {
                left: z.left,
                axis2: z.data_format == DataFormat::ChannelsFirst,
            },
        )
    }

    pub fn cropping(ctx: &Arc<GpuContext>, c: &Cropping1D) -> Self {
        Self::new(ctx, Shift::Crop { left: c.left })
    }
}

impl GpuOp for GpuShift {
    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        ins: &[GpuTensor],
        outs: &[GpuTensor],
    ) -> Result<()> {
        let ctx = rec.ctx.clone();
        let (x, out) = (&ins[0], &outs[0]);
        let n = out.len();
        index_u32(x.len(), "padding input elements")?;
        index_u32(n, "padding output elements")?;
        // time as the middle axis of (outer, len, inner)
        let (axis2, add, sub) = match self.shift {
            Shift::Pad { left, axis2 } => (axis2, 0, left),
            Shift::Crop { left } => (false, left, 0),
        };
        let (len_in, len_out, inner) = if axis2 {
            (x.shape[2], out.shape[2], 1)
        } else {
            (x.shape[1], out.shape[1], x.shape[2])
        };
        let p = ShiftParams {
            n: n as u32,
            len_out: len_out as u32,
            inner: inner as u32,
            len_in: len_in as u32,
            add: index_u32(add, "cropping")?,
            sub: index_u32(sub, "padding")?,
            pad: [0; 2],
        };
        let (gx, gy, gz) = rec.grid(n as u64, "padding")?;
        if rec.opts.poison {
            ctx.poison(&out.buf, n);
        }
        self.params.write(&ctx, bytemuck::bytes_of(&p));
        let bg = self.bind.get(
            &ctx,
            "padding",
            &self.kernel.layout,
            &[&x.buf, &out.buf, &self.params.buf],
        );
        rec.dispatch("padding", &self.kernel.pipeline, &bg, (gx, gy, gz));
        Ok(())
    }

    fn forget(&mut self) {
        self.params.clear();
        self.bind.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_mirror_the_wgsl_struct() {
        crate::gpu::kernels::assert_mirrors!(
            ShiftParams,
            crate::gpu::kernels::PADDING_WGSL,
            "Params",
            [n, len_out, inner, len_in, add, sub]
        );
    }
}
