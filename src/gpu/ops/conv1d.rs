//! `Conv1D` on the GPU: `shaders/conv1d.wgsl`, one invocation per output element, its
//! kernel_size × channels dot product cut into ranges of [`CONV_CHUNK`] (one dispatch each,
//! accumulating in the output) so no invocation passes the loop budget; a softmax /
//! log-softmax activation runs afterwards as the row pass of `shaders/activation_layer.wgsl`.
//!
//! A direct kernel rather than im2col + the GEMM: it reads the input in place in either data
//! format, handles groups and padding without a (B·L, k·C) copy, and writes either layout.
//!
//! Also [`Chunked`]: the per-dispatch uniform records and bind groups of a reduction cut
//! into ranges, shared with `pooling.rs`.
//!
//! GPU half of `layers/conv1d.rs`.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::gpu::context::LOOP_BUDGET;
use crate::gpu::kernels::{ACTIVATION_WGSL, CONV1D_WGSL, Kernel};
use crate::layers::Conv1D;
use crate::layers::activation_layer::LayerActivation;
use crate::layers::conv1d::{ConvPadding, DataFormat, window_geometry};

use super::activation_layer::ActivationPass;
use super::bidirectional::Grow;
use super::{BindCache, GpuOp, GpuTensor, Params, Recorder};

/// Most of the reduction index (tap · channels-per-group + channel) one dispatch of
/// conv1d.wgsl walks: an invocation then loops at most 2 · 16 384 + 1 times (taps and
/// channels), under the loop budget.
pub(crate) const CONV_CHUNK: u32 = 16_384;
const _: () = assert!(2 * CONV_CHUNK as u64 + 1 < LOOP_BUDGET);

/// The composed source: the activation functions, then the convolution.
pub fn source() -> String {
    format!("{ACTIVATION_WGSL}\n{CONV1D_WGSL}")
}

/// `Params` of conv1d.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ConvParams {
    n: u32,
    l_out: u32,
    filters: u32,
    t_in: u32,
    row_in: u32,
    cg: u32,
    fg: u32,
    stride: u32,
    dilation: u32,
    pad_left: u32,
    x_ts: u32,
    x_cs: u32,
    y_ls: u32,
    y_fs: u32,
    r0: u32,
    r1: u32,
    flags: u32,
    pad: [u32; 3],
}

/// `flags` bit: add to what an earlier range left in the output.
pub(crate) const ACCUMULATE: u32 = 1;
/// `flags` bit: the last range (conv: bias and activation; average pooling: divide).
pub(crate) const FINISH: u32 = 2;

/// The uniform record and bind group of each dispatch of a reduction cut into ranges: made
/// when a call first needs that many ranges, then reused (a repeated call of the same shape
/// uploads and creates nothing).
pub(crate) struct Chunked {
    label: &'static str,
    bytes: u64,
    passes: Vec<(Params, BindCache)>,
}

impl Chunked {
    pub fn new(label: &'static str, bytes: u64) -> Self {
        Chunked {
            label,
            bytes,
            passes: Vec::new(),
        }
    }

    /// The records and bind groups of `n` ranges.
    pub fn get(&mut self, ctx: &GpuContext, n: usize) -> &mut [(Params, BindCache)] {
        while self.passes.len() < n {
            self.passes.push((
                Params::new(ctx, self.label, self.bytes),
                BindCache::default(),
            ));
        }
        &mut self.passes[..n]
    }

    pub fn forget(&mut self) {
        for (p, b) in &mut self.passes {
            p.clear();
            b.clear();
        }
    }
}

/// `v` as a u32 index of a kernel, or an error naming `what`.
pub(crate) fn index_u32(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| {
        Error::config(
            what,
            format!("{v} is more than a GPU kernel can index (2^32 - 1)"),
        )
    })
}

pub(crate) struct GpuConv1D {
    kernel_buf: wgpu::Buffer,
    bias: wgpu::Buffer,
    kernel: Kernel,
    kernel_size: usize,
    cg: usize,
    filters: usize,
    groups: usize,
    strides: usize,
    dilation: usize,
    padding: ConvPadding,
    format: DataFormat,
    /// an activation the kernel cannot fuse (softmax, glu, ...) after the convolution, with
    /// the convolution's result in scratch
    row_pass: Option<(ActivationPass, Grow)>,
    chunks: Chunked,
}

impl GpuConv1D {
    pub fn new(ctx: &Arc<GpuContext>, c: &Conv1D) -> Self {
        let k = c.kernel.as_standard_layout();
        let (kernel_size, cg, filters) = c.kernel.dim();
        let b = c
            .bias
            .clone()
            .unwrap_or_else(|| ndarray::Array1::zeros(filters));
        let act: LayerActivation = c.activation;
        GpuConv1D {
            kernel_buf: ctx.storage_with("conv1d kernel", k.as_slice().expect("standard layout")),
            bias: ctx.storage_with("conv1d bias", b.as_slice().expect("contiguous")),
            kernel: ctx.kernels.kernel(
                ctx.device(),
                "conv1d.wgsl",
                source,
                "conv1d",
                &[("ACT", act.fused_code() as f64)],
            ),
            kernel_size,
            cg,
            filters,
            groups: c.groups,
            strides: c.strides,
            dilation: c.dilation_rate,
            padding: c.padding,
            format: c.data_format,
            row_pass: act.needs_pass().then(|| {
                (
                    ActivationPass::new(ctx, act),
                    Grow::new(ctx, "conv1d before softmax"),
                )
            }),
            chunks: Chunked::new("conv1d params", std::mem::size_of::<ConvParams>() as u64),
        }
    }
}

impl GpuOp for GpuConv1D {
    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        ins: &[GpuTensor],
        outs: &[GpuTensor],
    ) -> Result<()> {
        let ctx = rec.ctx.clone();
        let (x, out) = (&ins[0], &outs[0]);
        let rows = x.shape[0];
        let (t, _) = self.format.steps_channels(x.shape[1], x.shape[2]);
        let (l, pad) = window_geometry(
            t,
            self.kernel_size,
            self.strides,
            self.dilation,
            self.padding,
        )
        .ok_or_else(|| Error::config("kernel_size", format!("does not fit {t} steps")))?;
        let f = self.filters;
        // the convolution's elements (glu's pass halves them into `out`)
        let n = rows * l * f;
        // every index the kernel forms must fit a u32
        index_u32(x.len(), "Conv1D input elements")?;
        index_u32(n, "Conv1D output elements")?;
        let reach = (l - 1).checked_mul(self.strides).and_then(|v| {
            let span = (self.kernel_size - 1).checked_mul(self.dilation)?;
            v.checked_add(span)?.checked_add(1)
        });
        index_u32(reach.unwrap_or(usize::MAX), "Conv1D window reach")?;
        let (x_ts, x_cs) = self.format.strides(t, self.cg * self.groups);
        let (y_ls, y_fs) = self.format.strides(l, f);
        let reduce = self.kernel_size * self.cg;
        let n_chunks = reduce.div_ceil(CONV_CHUNK as usize).max(1);
        let (gx, gy, gz) = rec.grid(n as u64, "Conv1D")?;
        if rec.opts.poison {
            ctx.poison(&out.buf, out.len());
        }
        let target = match &mut self.row_pass {
            Some((_, scratch)) => {
                let buf = scratch.ensure(&ctx, (n * 4) as u64)?.clone();
                if rec.opts.poison {
                    ctx.poison(&buf, n);
                }
                buf
            }
            None => out.buf.clone(),
        };
        let base = ConvParams {
            n: n as u32,
            l_out: l as u32,
            filters: f as u32,
            t_in: t as u32,
            row_in: (x.len() / rows.max(1)) as u32,
            cg: self.cg as u32,
            fg: (f / self.groups) as u32,
            stride: self.strides as u32,
            dilation: self.dilation as u32,
            pad_left: pad as u32,
            x_ts: x_ts as u32,
            x_cs: x_cs as u32,
            y_ls: y_ls as u32,
            y_fs: y_fs as u32,
            r0: 0,
            r1: 0,
            flags: 0,
            pad: [0; 3],
        };
        let layout = self.kernel.layout.clone();
        let mut groups = Vec::with_capacity(n_chunks);
        for (i, (params, bind)) in self.chunks.get(&ctx, n_chunks).iter_mut().enumerate() {
            let r0 = i * CONV_CHUNK as usize;
            let mut flags = 0;
            if i > 0 {
                flags |= ACCUMULATE;
            }
            if i + 1 == n_chunks {
                flags |= FINISH;
            }
            let p = ConvParams {
                r0: r0 as u32,
                r1: (r0 + CONV_CHUNK as usize).min(reduce) as u32,
                flags,
                ..base
            };
            params.write(&ctx, bytemuck::bytes_of(&p));
            groups.push(bind.get(
                &ctx,
                "conv1d",
                &layout,
                &[&x.buf, &self.kernel_buf, &self.bias, &target, &params.buf],
            ));
        }
        let mut pass = rec.pass("conv1d");
        pass.set_pipeline(&self.kernel.pipeline);
        for bg in &groups {
            pass.set_bind_group(0, bg, &[]);
            pass.dispatch_workgroups(gx, gy, gz);
        }
        drop(pass);
        rec.dispatched(n_chunks as u64);
        if let Some((pass, _)) = &mut self.row_pass {
            let cols = match self.format {
                DataFormat::ChannelsFirst => l,
                _ => f,
            };
            pass.record(rec, &target, &out.buf, n, cols)?;
        }
        Ok(())
    }

    fn scratch_per_row_step(&self) -> u64 {
        self.row_pass.as_ref().map_or(0, |(pass, _)| {
            self.filters as u64 * (4 + pass.scratch_per_element())
        })
    }

    fn forget(&mut self) {
        self.chunks.forget();
        if let Some((pass, _)) = &mut self.row_pass {
            pass.forget();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_mirror_the_wgsl_struct() {
        crate::gpu::kernels::assert_mirrors!(
            ConvParams,
            format!(
                "{}\n{}",
                crate::gpu::kernels::ACTIVATION_WGSL,
                crate::gpu::kernels::CONV1D_WGSL
            ),
            "Params",
            [
                n, l_out, filters, t_in, row_in, cg, fg, stride, dilation, pad_left, x_ts, x_cs,
                y_ls, y_fs, r0, r1, flags
            ]
        );
    }
}
