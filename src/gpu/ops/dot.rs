//! Keras `Dot` on the GPU: `shaders/dot.wgsl`, one invocation per output element.
//!
//! GPU half of `layers/dot.rs`.

use std::sync::Arc;

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::gpu::context::LOOP_BUDGET;
use crate::gpu::kernels::{DOT_WGSL, Kernel};
use crate::layers::Dot;
use crate::layers::dot::DotGeometry;

use super::{BindCache, GpuOp, GpuTensor, Params, Recorder};

/// The shader source.
pub fn source() -> String {
    DOT_WGSL.to_string()
}

/// The uniform record (`Params` in dot.wgsl).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct DotParams {
    pub b: u32,
    pub i: u32,
    pub j: u32,
    pub k: u32,
    pub x_post: u32,
    pub y_post: u32,
    pub mode: u32,
    pub pad: u32,
}

fn u32_of(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::TooLarge {
        what: format!("Dot {what} ({v})"),
        bytes: v as u64,
        limit: u32::MAX as u64,
        limit_name: "a u32 index in dot.wgsl".into(),
    })
}

pub(crate) struct GpuDot {
    dot: Dot,
    kernel: Kernel,
    params: Params,
    bind: BindCache,
}

impl GpuDot {
    pub fn new(ctx: &Arc<GpuContext>, dot: &Dot) -> Self {
        GpuDot {
            dot: dot.clone(),
            kernel: ctx
                .kernels
                .kernel(ctx.device(), "dot.wgsl", source, "dot", &[]),
            params: Params::new(ctx, "dot params", std::mem::size_of::<DotParams>() as u64),
            bind: BindCache::default(),
        }
    }
}

impl GpuOp for GpuDot {
    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        ins: &[GpuTensor],
        outs: &[GpuTensor],
    ) -> Result<()> {
        let ctx = rec.ctx.clone();
        let [x, y] = ins else {
            return Err(Error::config("inputs", "a Dot layer takes 2 inputs"));
        };
        let (a0, a1) = self.dot.resolve(x.shape.len(), y.shape.len())?;
        let g = DotGeometry::new(&x.shape, &y.shape, a0, a1)?;
        let loops = 2 * g.k as u64 + 4;
        if loops >= LOOP_BUDGET {
            return Err(Error::Unsupported(format!(
                "a Dot over an axis of {}: one invocation would loop {loops} times, past the \
                 loop budget of {LOOP_BUDGET}",
                g.k
            )));
        }
        // every index the kernel forms must fit a u32
        u32_of(x.len(), "x elements")?;
        u32_of(y.len(), "y elements")?;
        let n = outs[0].len();
        u32_of(n, "output elements")?;
        let p = DotParams {
            b: u32_of(g.b, "rows")?,
            i: u32_of(g.i, "x free elements")?,
            j: u32_of(g.j.max(1), "y free elements")?,
            k: u32_of(g.k, "contracted size")?,
            x_post: u32_of(g.x_post.max(1), "x stride")?,
            y_post: u32_of(g.y_post.max(1), "y stride")?,
            mode: match (self.dot.normalize, self.dot.flavour) {
                (false, _) => 0,
                (true, KerasFlavour::Keras3) => 1,
                (true, KerasFlavour::Keras2) => 2,
            },
            pad: 0,
        };
        self.params.write(&ctx, bytemuck::bytes_of(&p));
        if rec.opts.poison {
            ctx.poison(&outs[0].buf, n);
        }
        let bg = self.bind.get(
            &ctx,
            "dot",
            &self.kernel.layout,
            &[&x.buf, &y.buf, &outs[0].buf, &self.params.buf],
        );
        let (gx, gy, gz) = rec.grid(n as u64, "Dot")?;
        rec.dispatch("dot", &self.kernel.pipeline, &bg, (gx, gy, gz));
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
            DotParams,
            source(),
            "Params",
            [b, i, j, k, x_post, y_post, mode]
        );
    }
}
