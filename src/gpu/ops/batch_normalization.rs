//! `BatchNormalization` on the GPU: `shaders/batch_normalization.wgsl`, one invocation per
//! element, y = (x - m)·s + t with the per-channel (m, s, t) computed on the host (by
//! `BatchNormalization::affine`, in TensorFlow's float order for the input's rank) and
//! uploaded on the first call of each rank.
//!
//! GPU half of `layers/batch_normalization.rs`.

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::gpu::kernels::{BATCH_NORMALIZATION_WGSL, Kernel, grid_1d};
use crate::layers::BatchNormalization;

use super::{BindCache, GpuOp, GpuTensor, Params, Recorder};

pub(crate) struct GpuBatchNorm {
    layer: BatchNormalization,
    /// per input rank: the (m, s, t) buffer and the channel axis
    mst: HashMap<usize, (wgpu::Buffer, usize)>,
    kernel: Kernel,
    params: Params,
    bind: BindCache,
}

impl GpuBatchNorm {
    pub fn new(ctx: &Arc<GpuContext>, bn: &BatchNormalization) -> Self {
        GpuBatchNorm {
            layer: bn.clone(),
            mst: HashMap::new(),
            kernel: ctx.kernels.kernel(
                ctx.device(),
                "batch_normalization.wgsl",
                || BATCH_NORMALIZATION_WGSL.to_string(),
                "batch_normalization",
                &[],
            ),
            params: Params::new(ctx, "batch_normalization params", 16),
            bind: BindCache::default(),
        }
    }
}

impl GpuOp for GpuBatchNorm {
    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        ins: &[GpuTensor],
        outs: &[GpuTensor],
    ) -> Result<()> {
        let ctx = rec.ctx.clone();
        let (x, y) = (&ins[0], &outs[0]);
        let rank = x.shape.len();
        if !self.mst.contains_key(&rank) {
            let ([m, s, t], axis) = self.layer.affine(rank)?;
            let all: Vec<f32> = m.into_iter().chain(s).chain(t).collect();
            let buf = ctx.storage_with("batch_normalization m, s, t", &all);
            self.mst.insert(rank, (buf, axis));
        }
        let (mst, axis) = &self.mst[&rank];
        let n = y.len();
        let inner: usize = x.shape[axis + 1..].iter().product();
        let too_large = || Error::TooLarge {
            what: format!("BatchNormalization over {n} values (indexed in 32 bits)"),
            bytes: n as u64 * 4,
            limit: u32::MAX as u64 * 4,
            limit_name: "the 2^32 elements a shader index reaches".into(),
        };
        let words = [
            u32::try_from(n).map_err(|_| too_large())?,
            self.layer.channels() as u32,
            u32::try_from(inner.max(1)).map_err(|_| too_large())?,
            0,
        ];
        if rec.opts.poison {
            ctx.poison(&y.buf, n);
        }
        self.params.write(&ctx, bytemuck::cast_slice(&words));
        let bg = self.bind.get(
            &ctx,
            "batch_normalization",
            &self.kernel.layout,
            &[&x.buf, mst, &self.params.buf, &y.buf],
        );
        let (gx, gy, gz) = grid_1d(n as u64, rec.wg_max()).ok_or_else(|| Error::TooLarge {
            what: format!("BatchNormalization over {n} values in one dispatch"),
            bytes: n as u64 * 4,
            limit: 64 * (rec.wg_max() as u64).pow(3) * 4,
            limit_name:
                "one dispatch grid (64 × max_compute_workgroups_per_dimension³ invocations)".into(),
        })?;
        rec.dispatch(
            "batch_normalization",
            &self.kernel.pipeline,
            &bg,
            (gx, gy, gz),
        );
        Ok(())
    }

    fn forget(&mut self) {
        self.params.clear();
        self.bind.clear();
    }
}
