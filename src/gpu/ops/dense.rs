//! `Dense` on the GPU: the tiled GEMM of `shaders/input_projection.wgsl` with the layer's
//! activation as `ACT`, over every row of the input's last axis (cut into dispatches by
//! `gpu/gemm.rs`).
//!
//! GPU half of `layers/dense.rs`.

use std::sync::Arc;

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::gpu::gemm::GemmDims;
use crate::layers::Dense;

use super::activation_layer::ActivationPass;
use super::bidirectional::Grow;
use super::{BindCache, GpuOp, GpuTensor, Recorder};

pub(crate) struct GpuDense {
    /// an activation the GEMM cannot fuse (softmax, glu, ...) after it, with the GEMM's
    /// result in `scratch`
    row_pass: Option<(ActivationPass, Grow)>,
    kernel: wgpu::Buffer,
    bias: wgpu::Buffer,
    dims: GemmDims,
    pipeline: wgpu::ComputePipeline,
    in_dim: usize,
    units: usize,
    bind: BindCache,
}

impl GpuDense {
    pub fn new(ctx: &Arc<GpuContext>, d: &Dense) -> Self {
        let k = d.kernel.as_standard_layout();
        let b = d
            .bias
            .clone()
            .unwrap_or_else(|| ndarray::Array1::zeros(d.units()));
        GpuDense {
            kernel: ctx.storage_with("dense kernel", k.as_slice().expect("standard layout")),
            bias: ctx.storage_with("dense bias", b.as_slice().expect("contiguous")),
            dims: GemmDims::new(ctx),
            pipeline: ctx
                .kernels
                .proj_pipeline(ctx.device(), d.activation.fused_code()),
            row_pass: d.activation.needs_pass().then(|| {
                (
                    ActivationPass::new(ctx, d.activation),
                    Grow::new(ctx, "dense before softmax"),
                )
            }),
            in_dim: d.kernel.nrows(),
            units: d.units(),
            bind: BindCache::default(),
        }
    }
}

impl GpuOp for GpuDense {
    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        ins: &[GpuTensor],
        outs: &[GpuTensor],
    ) -> Result<()> {
        let ctx = rec.ctx.clone();
        let rows = ins[0].len() / self.in_dim;
        self.dims.prepare(&ctx, rows, self.units, self.in_dim)?;
        if rec.opts.poison {
            ctx.poison(&outs[0].buf, outs[0].len());
        }
        let n = rows * self.units;
        let target = match &mut self.row_pass {
            Some((_, scratch)) => scratch.ensure(&ctx, (n * 4) as u64)?.clone(),
            None => outs[0].buf.clone(),
        };
        let (x, out) = (&ins[0].buf, &target);
        let key = [x, &self.kernel, &self.bias, out, &self.dims.buf];
        let bg = self.bind.get_with(&ctx, &key, || {
            let mut entries: Vec<wgpu::BindGroupEntry<'_>> = key[..4]
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: i as u32,
                    resource: b.as_entire_binding(),
                })
                .collect();
            entries.push(wgpu::BindGroupEntry {
                binding: 4,
                resource: self.dims.binding(),
            });
            ctx.bind_group_with(&wgpu::BindGroupDescriptor {
                label: Some("dense"),
                layout: &ctx.kernels.proj_layout,
                entries: &entries,
            })
        });
        let mut pass = rec.pass("dense");
        pass.set_pipeline(&self.pipeline);
        let dispatches = self.dims.dispatch(&mut pass, &bg);
        drop(pass);
        rec.dispatched(dispatches);
        if let Some((pass, _)) = &mut self.row_pass {
            pass.record(rec, &target, &outs[0].buf, n, self.units)?;
        }
        Ok(())
    }

    fn scratch_per_row_step(&self) -> u64 {
        // the GEMM's result before the activation pass, and the pass's own scratch
        self.row_pass.as_ref().map_or(0, |(pass, _)| {
            self.units as u64 * (4 + pass.scratch_per_element())
        })
    }

    fn forget(&mut self) {
        self.dims.invalidate();
        self.bind.clear();
        if let Some((pass, _)) = &mut self.row_pass {
            pass.forget();
        }
    }
}
