//! `Masking` on the GPU: the input is copied to the output, then `shaders/masking.wgsl`
//! sets the output's mask (any feature of a step ≠ mask_value) and zeroes the masked steps,
//! over (row, chunk of features) so no invocation loops past the loop budget.
//!
//! GPU half of `layers/masking.rs`.

use std::sync::Arc;

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::gpu::kernels::{MASK_CHUNK, MaskParams, grid_1d};
use crate::layers::Masking;

use super::{BindCache, GpuOp, GpuTensor, Params, Recorder};

pub(crate) struct GpuMasking {
    mask_value: f32,
    params: Params,
    bind: BindCache,
}

impl GpuMasking {
    pub fn new(ctx: &Arc<GpuContext>, m: &Masking) -> Self {
        GpuMasking {
            mask_value: m.mask_value,
            params: Params::new(ctx, "masking params", 16),
            bind: BindCache::default(),
        }
    }
}

impl GpuOp for GpuMasking {
    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        ins: &[GpuTensor],
        outs: &[GpuTensor],
    ) -> Result<()> {
        let ctx = rec.ctx.clone();
        let (x, out) = (&ins[0], &outs[0]);
        let mask = out
            .mask
            .as_ref()
            .expect("Masking's output has its own mask");
        let rows = out.shape[0] * out.shape[1];
        let dim = out.len() / rows.max(1);
        let chunks = (dim as u32).div_ceil(MASK_CHUNK).max(1);
        let p = MaskParams {
            rows: rows as u32,
            dim: dim as u32,
            mask_value: self.mask_value,
            chunks,
        };
        self.params.write(&ctx, bytemuck::bytes_of(&p));
        let (gx, gy, gz) = grid_1d(rows as u64 * chunks as u64, rec.wg_max()).ok_or_else(|| {
            crate::Error::TooLarge {
                what: format!("Masking over {rows} steps × {chunks} feature chunks"),
                bytes: rows as u64 * chunks as u64,
                limit: 64 * (rec.wg_max() as u64).pow(3),
                limit_name:
                    "one dispatch grid (64 × max_compute_workgroups_per_dimension³ invocations)"
                        .into(),
            }
        })?;
        let bg = self.bind.get(
            &ctx,
            "masking",
            &ctx.kernels.mask_layout,
            &[&out.buf, mask, &self.params.buf],
        );
        rec.encoder
            .copy_buffer_to_buffer(&x.buf, 0, &out.buf, 0, (out.len() * 4) as u64);
        rec.encoder.clear_buffer(mask, 0, Some((rows * 4) as u64));
        let mut pass = rec.pass("masking");
        for pipeline in ctx.kernels.mask_pipelines(ctx.device()) {
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bg, &[]);
            pass.dispatch_workgroups(gx, gy, gz);
        }
        drop(pass);
        rec.dispatched(2);
        Ok(())
    }

    fn forget(&mut self) {
        self.params.clear();
        self.bind.clear();
    }
}
