//! Keras `Activation` on the GPU, and the row-wise softmax / log-softmax pass other ops
//! (Dense, Conv1D) run after their linear part: `shaders/activation_layer.wgsl`.
//!
//! GPU half of `layers/activation_layer.rs`.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::gpu::context::LOOP_BUDGET;
use crate::gpu::kernels::{ACTIVATION_LAYER_WGSL, ACTIVATION_WGSL, Kernel, grid_1d};
use crate::layers::activation_layer::LayerActivation;

use super::{BindCache, GpuOp, GpuTensor, Params, Recorder};

/// The composed source: the activation functions, then the layer's kernels.
pub fn source() -> String {
    format!("{ACTIVATION_WGSL}\n{ACTIVATION_LAYER_WGSL}")
}

/// One activation pass from `x` to `y` (n floats, rows of `cols`), its kernel built once.
pub(crate) struct ActivationPass {
    act: LayerActivation,
    kernel: Kernel,
    params: Params,
    bind: BindCache,
}

impl ActivationPass {
    pub fn new(ctx: &Arc<GpuContext>, act: LayerActivation) -> Self {
        let (entry, constants): (&'static str, Vec<(&'static str, f64)>) = match act {
            LayerActivation::Elementwise(a) => ("apply", vec![("ACT", a.code() as f64)]),
            LayerActivation::Softmax => ("softmax", vec![("LOG", 0.0)]),
            LayerActivation::LogSoftmax => ("softmax", vec![("LOG", 1.0)]),
        };
        let kernel = ctx.kernels.kernel(
            ctx.device(),
            "activation_layer.wgsl",
            source,
            entry,
            &constants,
        );
        ActivationPass {
            act,
            kernel,
            params: Params::new(ctx, "activation params", 16),
            bind: BindCache::default(),
        }
    }

    /// Records `y = act(x)` over `n` floats in rows of `cols`.
    pub fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        n: usize,
        cols: usize,
    ) -> Result<()> {
        let ctx = rec.ctx.clone();
        let rows = n / cols.max(1);
        if self.act.is_row_wise() {
            // three passes over the row per invocation of 64
            let iterations = 3 * (cols as u64).div_ceil(64) + 12;
            if iterations >= LOOP_BUDGET {
                return Err(Error::Unsupported(format!(
                    "{} over {cols} classes: one row would loop {iterations} times per \
                     invocation, past the loop budget of {LOOP_BUDGET}",
                    self.act
                )));
            }
        }
        self.params.write(
            &ctx,
            bytemuck::cast_slice(&[n as u32, cols as u32, rows as u32, 0]),
        );
        let bg = self.bind.get(
            &ctx,
            "activation",
            &self.kernel.layout,
            &[x, y, &self.params.buf],
        );
        let invocations = if self.act.is_row_wise() {
            rows as u64 * 64
        } else {
            n as u64
        };
        let (gx, gy, gz) = grid_1d(invocations, rec.wg_max()).ok_or_else(|| Error::TooLarge {
            what: format!("{} over {n} values in one dispatch", self.act),
            bytes: n as u64,
            limit: 64 * (rec.wg_max() as u64).pow(3),
            limit_name:
                "one dispatch grid (64 × max_compute_workgroups_per_dimension³ invocations)".into(),
        })?;
        let mut pass = rec.pass("activation");
        pass.set_pipeline(&self.kernel.pipeline);
        pass.set_bind_group(0, &bg, &[]);
        pass.dispatch_workgroups(gx, gy, gz);
        drop(pass);
        rec.dispatched(1);
        Ok(())
    }

    pub fn forget(&mut self) {
        self.params.clear();
        self.bind.clear();
    }
}

/// The `Activation` layer.
pub(crate) struct GpuActivation {
    pass: ActivationPass,
}

impl GpuActivation {
    pub fn new(ctx: &Arc<GpuContext>, act: LayerActivation) -> Self {
        GpuActivation {
            pass: ActivationPass::new(ctx, act),
        }
    }
}

impl GpuOp for GpuActivation {
    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        ins: &[GpuTensor],
        outs: &[GpuTensor],
    ) -> Result<()> {
        let n = outs[0].len();
        let cols = outs[0].shape.last().copied().unwrap_or(1);
        if rec.opts.poison {
            rec.ctx.poison(&outs[0].buf, n);
        }
        self.pass.record(rec, &ins[0].buf, &outs[0].buf, n, cols)
    }

    fn forget(&mut self) {
        self.pass.forget();
    }
}
