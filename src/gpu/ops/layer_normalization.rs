//! `LayerNormalization` on the GPU: `shaders/layer_normalization.wgsl` in three dispatches —
//! per (row, chunk of 4096 features) a mean and Σ(x - mean)² (a row of one chunk adds in
//! TensorFlow's CPU order, like the CPU twin), per row the chunks merged (Chan's formula)
//! into the mean and 1/sqrt(var + eps), then every element in the layer's float order. No
//! invocation loops more than 2·(4096 + 16) + ceil(N / 4096 / 64) + 24 times, so any width
//! stays under the loop budget.
//!
//! GPU half of `layers/layer_normalization.rs`.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::gpu::context::LOOP_BUDGET;
use crate::gpu::kernels::{Kernel, LAYER_NORMALIZATION_WGSL, grid_1d};
use crate::layers::LayerNormalization;
use crate::layers::layer_normalization::{LnOrder, flat_or};

use super::bidirectional::Grow;
use super::{BindCache, GpuOp, GpuTensor, Params, Recorder};

/// Features per chunk (`CHUNK` in the shader).
const CHUNK: usize = 4096;

pub(crate) struct GpuLayerNorm {
    layer: LayerNormalization,
    /// features per row (the normalised axes flattened) and the gamma and beta vectors of
    /// that width (ones / zeros where the layer has none)
    weights: Option<(usize, wgpu::Buffer, wgpu::Buffer)>,
    kernels: [Kernel; 3],
    params: Params,
    partial: Grow,
    stats: Grow,
    binds: [BindCache; 3],
}

impl GpuLayerNorm {
    pub fn new(ctx: &Arc<GpuContext>, ln: &LayerNormalization) -> Result<Self> {
        let source = || LAYER_NORMALIZATION_WGSL.to_string();
        let mode = f64::from(ln.order.code());
        let k = |entry: &'static str, consts: &[(&'static str, f64)]| {
            ctx.kernels.kernel(
                ctx.device(),
                "layer_normalization.wgsl",
                source,
                entry,
                consts,
            )
        };
        Ok(GpuLayerNorm {
            layer: ln.clone(),
            weights: None,
            kernels: [
                k("ln_partial", &[("MODE", mode)]),
                k("ln_stats", &[]),
                k("ln_apply", &[("MODE", mode)]),
            ],
            params: Params::new(ctx, "layer_normalization params", 16),
            partial: Grow::new(ctx, "layer_normalization partial sums"),
            stats: Grow::new(ctx, "layer_normalization row statistics"),
            binds: Default::default(),
        })
    }
}

impl GpuOp for GpuLayerNorm {
    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        ins: &[GpuTensor],
        outs: &[GpuTensor],
    ) -> Result<()> {
        let ctx = rec.ctx.clone();
        let (x, y) = (&ins[0], &outs[0]);
        let total = y.len();
        let n = self.width(&ctx, &x.shape)?;
        let (gamma, beta) = match &self.weights {
            Some((_, g, b)) => (g.clone(), b.clone()),
            None => return Err(Error::Gpu("LayerNormalization weights missing".into())),
        };
        let rows = total / n.max(1);
        let chunks = n.div_ceil(CHUNK).max(1);
        let too_large = || Error::TooLarge {
            what: format!("LayerNormalization over {total} values (indexed in 32 bits)"),
            bytes: total as u64 * 4,
            limit: u32::MAX as u64 * 4,
            limit_name: "the 2^32 elements a shader index reaches".into(),
        };
        if u32::try_from(total).is_err() || u32::try_from(rows * chunks).is_err() {
            return Err(too_large());
        }
        // the longest loops: ln_stats merges ceil(chunks / 64) chunks per invocation, then 6
        // tree steps; ln_partial (one chunk, tf_keras's order) two passes of CHUNK in
        // invocation 0, or two of CHUNK / 64 with the tree steps
        let iterations = (chunks as u64).div_ceil(64) + 6 + 2 * (CHUNK as u64 + 16) + 12;
        if iterations >= LOOP_BUDGET {
            return Err(Error::Unsupported(format!(
                "LayerNormalization over rows of {n} features: {iterations} loop iterations per \
                 invocation, past the loop budget of {LOOP_BUDGET}"
            )));
        }
        let partial = self
            .partial
            .ensure(&ctx, (rows * chunks * 2 * 4) as u64)?
            .clone();
        let stats = self.stats.ensure(&ctx, (rows * 2 * 4) as u64)?.clone();
        let words = [
            rows as u32,
            n as u32,
            chunks as u32,
            self.layer.epsilon.to_bits(),
        ];
        if rec.opts.poison {
            ctx.poison(&y.buf, total);
        }
        self.params.write(&ctx, bytemuck::cast_slice(&words));
        let p = &self.params.buf;
        let entries = |pairs: &[(u32, &wgpu::Buffer)]| -> Vec<(u32, wgpu::Buffer)> {
            pairs.iter().map(|(i, b)| (*i, (*b).clone())).collect()
        };
        let sets = [
            entries(&[(0, &x.buf), (1, p), (2, &partial)]),
            entries(&[(1, p), (2, &partial), (3, &stats)]),
            entries(&[
                (0, &x.buf),
                (1, p),
                (3, &stats),
                (4, &gamma),
                (5, &beta),
                (6, &y.buf),
            ]),
        ];
        let groups = [(rows * chunks) as u64 * 64, rows as u64 * 64, total as u64];
        let mut pass = rec.pass("layer_normalization");
        for (i, set) in sets.iter().enumerate() {
            let kernel = &self.kernels[i];
            let key: Vec<&wgpu::Buffer> = set.iter().map(|(_, b)| b).collect();
            let bg = self.binds[i].get_with(&ctx, &key, || {
                let list: Vec<wgpu::BindGroupEntry<'_>> = set
                    .iter()
                    .map(|(binding, b)| wgpu::BindGroupEntry {
                        binding: *binding,
                        resource: b.as_entire_binding(),
                    })
                    .collect();
                ctx.bind_group_with(&wgpu::BindGroupDescriptor {
                    label: Some("layer_normalization"),
                    layout: &kernel.layout,
                    entries: &list,
                })
            });
            let (gx, gy, gz) = grid_1d(groups[i], rec.wg_max()).ok_or_else(|| Error::TooLarge {
                what: format!("LayerNormalization over {total} values in one dispatch"),
                bytes: total as u64 * 4,
                limit: 64 * (rec.wg_max() as u64).pow(3) * 4,
                limit_name:
                    "one dispatch grid (64 × max_compute_workgroups_per_dimension³ invocations)"
                        .into(),
            })?;
            pass.set_pipeline(&kernel.pipeline);
            pass.set_bind_group(0, &bg, &[]);
            pass.dispatch_workgroups(gx, gy, gz);
        }
        drop(pass);
        rec.dispatched(3);
        Ok(())
    }

    fn forget(&mut self) {
        self.params.clear();
        for b in &mut self.binds {
            b.clear();
        }
    }
}

impl GpuLayerNorm {
    /// The row width for an input of `shape` (the normalised axes flattened); the gamma and
    /// beta vectors of that width are uploaded on its first call (ones / zeros where the
    /// layer has none; beta zeros for rms_scaling).
    fn width(&mut self, ctx: &Arc<GpuContext>, shape: &[usize]) -> Result<usize> {
        let first = self.layer.first_axis(shape.len())?;
        let n: usize = shape[first..].iter().product();
        if self.weights.as_ref().is_none_or(|w| w.0 != n) {
            ctx.check_binding("LayerNormalization gamma", n as u64 * 4)?;
            let beta = if self.layer.order == LnOrder::Rms {
                &None
            } else {
                &self.layer.beta
            };
            let g = flat_or(&self.layer.gamma, n, 1.0);
            let b = flat_or(beta, n, 0.0);
            if g.len() != n || b.len() != n {
                return Err(Error::shape(
                    "LayerNormalization gamma / beta",
                    format!("{n} values"),
                    &[g.len()],
                ));
            }
            self.weights = Some((
                n,
                ctx.storage_with(
                    "layer_normalization gamma",
                    g.as_slice().expect("contiguous"),
                ),
                ctx.storage_with(
                    "layer_normalization beta",
                    b.as_slice().expect("contiguous"),
                ),
            ));
            for bind in &mut self.binds {
                bind.clear();
            }
        }
        Ok(n)
    }
}
