//! `Embedding` on the GPU: `shaders/embedding.wgsl`, one invocation per output element, the
//! table uploaded once. Ids that come from the caller were checked on the host
//! (`LayerOps::check_host_inputs`) before the call; an id the host could not see (a float
//! tensor computed by earlier layers) that has no row gives a NaN row.
//!
//! GPU half of `layers/embedding.rs`.

use std::sync::Arc;

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::gpu::kernels::{EMBEDDING_WGSL, grid_1d};
use crate::layers::Embedding;
use crate::tensor::Dtype;

use super::{BindCache, GpuOp, GpuTensor, Params, Recorder};

pub(crate) struct GpuEmbedding {
    table: wgpu::Buffer,
    vocab: u32,
    dim: u32,
    wrap: bool,
    params: Params,
    bind: BindCache,
    /// (float ids, writes the mask) of the cached bind group
    last: Option<(bool, bool)>,
}

impl GpuEmbedding {
    pub fn new(ctx: &Arc<GpuContext>, e: &Embedding) -> Result<Self> {
        let bytes = (e.embeddings.len() as u64).saturating_mul(4);
        ctx.check_binding("Embedding table", bytes)?;
        let dim = u32::try_from(e.output_dim()).map_err(|_| Error::TooLarge {
            what: "Embedding output_dim".into(),
            bytes,
            limit: u32::MAX as u64,
            limit_name: "the 2^32 elements a shader index reaches".into(),
        })?;
        let table = e.embeddings.as_standard_layout();
        Ok(GpuEmbedding {
            table: ctx.storage_with(
                "embedding table",
                table.as_slice().expect("standard layout"),
            ),
            // input_dim <= i32::MAX (Embedding::new)
            vocab: e.input_dim() as u32,
            dim,
            wrap: e.flavour == KerasFlavour::Keras3,
            params: Params::new(ctx, "embedding params", 16),
            bind: BindCache::default(),
            last: None,
        })
    }
}

impl GpuOp for GpuEmbedding {
    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        ins: &[GpuTensor],
        outs: &[GpuTensor],
    ) -> Result<()> {
        let ctx = rec.ctx.clone();
        let (x, y) = (&ins[0], &outs[0]);
        let n = y.len();
        let n32 = u32::try_from(n).map_err(|_| Error::TooLarge {
            what: format!("Embedding output of {n} values (indexed in 32 bits)"),
            bytes: n as u64 * 4,
            limit: u32::MAX as u64 * 4,
            limit_name: "the 2^32 elements a shader index reaches".into(),
        })?;
        let float_ids = x.dtype == Dtype::F32;
        let with_mask = y.mask.is_some();
        let entry = if with_mask { "embed_mask" } else { "embed" };
        let kernel = ctx.kernels.kernel(
            ctx.device(),
            "embedding.wgsl",
            || EMBEDDING_WGSL.to_string(),
            entry,
            &[
                ("FLOAT_IDS", f64::from(u8::from(float_ids))),
                ("WRAP", f64::from(u8::from(self.wrap))),
            ],
        );
        if self.last != Some((float_ids, with_mask)) {
            self.bind.clear();
            self.last = Some((float_ids, with_mask));
        }
        if rec.opts.poison {
            ctx.poison(&y.buf, n);
        }
        self.params.write(
            &ctx,
            bytemuck::cast_slice(&[n32, self.dim, self.vocab, 0x7fc0_0000u32]),
        );
        let mut buffers = vec![&x.buf, &self.table, &self.params.buf, &y.buf];
        if let Some(m) = &y.mask {
            buffers.push(m);
        }
        let bg = self.bind.get(&ctx, "embedding", &kernel.layout, &buffers);
        let (gx, gy, gz) = grid_1d(n as u64, rec.wg_max()).ok_or_else(|| Error::TooLarge {
            what: format!("Embedding over {n} values in one dispatch"),
            bytes: n as u64 * 4,
            limit: 64 * (rec.wg_max() as u64).pow(3) * 4,
            limit_name:
                "one dispatch grid (64 × max_compute_workgroups_per_dimension³ invocations)".into(),
        })?;
        rec.dispatch("embedding", &kernel.pipeline, &bg, (gx, gy, gz));
        Ok(())
    }

    fn forget(&mut self) {
        self.params.clear();
        self.bind.clear();
        self.last = None;
    }
}
