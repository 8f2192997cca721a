//! Layout changes that move data, on the GPU: one strided copy (`shaders/layout.wgsl`) for
//! `Permute`, `RepeatVector`, `Flatten(data_format="channels_first")` and the time flip.
//!
//! GPU half of `layers/permute.rs`, `layers/repeat_vector.rs`, (channels_first)
//! `layers/reshape.rs` and `layers/time_reverse.rs`.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::gpu::kernels::{Kernel, LAYOUT_WGSL, grid_1d};

use super::{BindCache, GpuOp, GpuTensor, Params, Recorder};

/// Ranks the kernel's coordinate loop covers.
const MAX_RANK: usize = 8;

/// Which copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum LayoutCopy {
    /// The input's axes in this order (batch axis 0 included); the output is the permuted
    /// array, row-major (whatever shape the output tensor calls it).
    Permute(Vec<usize>),
    /// (B, D) → (B, n, D).
    Repeat(usize),
    /// Axis 1 moved last (`Flatten(data_format="channels_first")`; a plain copy for rank
    /// ≤ 2).
    ChannelsLast,
    /// Axis 1 reversed ([`crate::layers::TimeReverse`]): read from the last step on, the
    /// time stride negative (wrapping u32 arithmetic in the shader).
    ReverseTime,
}

pub(crate) struct GpuLayout {
    copy: LayoutCopy,
    kernel: Kernel,
    params: Params,
    bind: BindCache,
}

impl GpuLayout {
    pub fn new(ctx: &Arc<GpuContext>, copy: LayoutCopy) -> Self {
        let kernel = ctx.kernels.kernel(
            ctx.device(),
            "layout.wgsl",
            || LAYOUT_WGSL.to_string(),
            "strided_copy",
            &[],
        );
        GpuLayout {
            copy,
            kernel,
            params: Params::new(ctx, "layout params", 80),
            bind: BindCache::default(),
        }
    }

    /// The output's dims, per output axis its stride in the input, and the input index of
    /// output element 0. A stride is a u32 that the shader multiplies and adds with
    /// wrapping, so a negative stride is its two's complement.
    fn geometry(&self, in_shape: &[usize]) -> Result<(Vec<usize>, Vec<u32>, u32)> {
        let (dims, strides) = self.positive_geometry(in_shape)?;
        let too_large = || self.too_large(in_shape);
        let mut strides32 = strides
            .iter()
            .map(|&s| u32::try_from(s).map_err(|_| too_large()))
            .collect::<Result<Vec<u32>>>()?;
        let mut base = 0u32;
        if self.copy == LayoutCopy::ReverseTime && in_shape.len() >= 2 && in_shape[1] > 0 {
            let last = (in_shape[1] - 1)
                .checked_mul(strides[1])
                .and_then(|b| u32::try_from(b).ok())
                .ok_or_else(too_large)?;
            base = last;
            strides32[1] = strides32[1].wrapping_neg();
        }
        Ok((dims, strides32, base))
    }

    fn too_large(&self, in_shape: &[usize]) -> Error {
        let n = in_shape.iter().product::<usize>();
        Error::TooLarge {
            what: format!("a layout copy of {n} values (indexed in 32 bits)"),
            bytes: n as u64 * 4,
            limit: u32::MAX as u64 * 4,
            limit_name: "the 2^32 elements a shader index reaches".into(),
        }
    }

    /// The output's dims and, per output axis, its (non-negative) stride in the input.
    fn positive_geometry(&self, in_shape: &[usize]) -> Result<(Vec<usize>, Vec<usize>)> {
        let mut strides = vec![1usize; in_shape.len()];
        for k in (0..in_shape.len().saturating_sub(1)).rev() {
            strides[k] = strides[k + 1] * in_shape[k + 1];
        }
        let perm = |p: &[usize]| -> Result<(Vec<usize>, Vec<usize>)> {
            if p.len() != in_shape.len() {
                return Err(Error::shape(
                    "layout copy input",
                    format!("rank {}", p.len()),
                    in_shape,
                ));
            }
            Ok((
                p.iter().map(|&a| in_shape[a]).collect(),
                p.iter().map(|&a| strides[a]).collect(),
            ))
        };
        match &self.copy {
            LayoutCopy::Permute(p) => perm(p),
            LayoutCopy::ReverseTime => Ok((in_shape.to_vec(), strides.clone())),
            LayoutCopy::ChannelsLast => {
                let rank = in_shape.len();
                let p: Vec<usize> = if rank > 2 {
                    std::iter::once(0).chain(2..rank).chain([1]).collect()
                } else {
                    (0..rank).collect()
                };
                perm(&p)
            }
            LayoutCopy::Repeat(n) => match in_shape {
                [b, d] => Ok((vec![*b, *n, *d], vec![*d, 0, 1])),
                _ => Err(Error::shape("RepeatVector input", "(B, D)", in_shape)),
            },
        }
    }
}

impl GpuOp for GpuLayout {
    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        ins: &[GpuTensor],
        outs: &[GpuTensor],
    ) -> Result<()> {
        let ctx = rec.ctx.clone();
        let (x, y) = (&ins[0], &outs[0]);
        let (dims, strides, base) = self.geometry(&x.shape)?;
        let n = y.len();
        if dims.len() > MAX_RANK {
            return Err(Error::Unsupported(format!(
                "a layout copy of a rank-{} tensor (at most {MAX_RANK})",
                dims.len()
            )));
        }
        let too_large = || Error::TooLarge {
            what: format!("a layout copy of {n} values (indexed in 32 bits)"),
            bytes: n as u64 * 4,
            limit: u32::MAX as u64 * 4,
            limit_name: "the 2^32 elements a shader index reaches".into(),
        };
        let n32 = u32::try_from(n).map_err(|_| too_large())?;
        let mut words = [0u32; 20];
        words[0] = n32;
        words[1] = dims.len() as u32;
        words[2] = base;
        for (k, (&d, &s)) in dims.iter().zip(&strides).enumerate() {
            words[4 + k] = u32::try_from(d).map_err(|_| too_large())?;
            words[12 + k] = s;
        }
        if rec.opts.poison {
            ctx.poison(&y.buf, n);
        }
        self.params.write(&ctx, bytemuck::cast_slice(&words));
        let bg = self.bind.get(
            &ctx,
            "layout",
            &self.kernel.layout,
            &[&x.buf, &self.params.buf, &y.buf],
        );
        let (gx, gy, gz) = grid_1d(n as u64, rec.wg_max()).ok_or_else(|| Error::TooLarge {
            what: format!("a layout copy of {n} values in one dispatch"),
            bytes: n as u64 * 4,
            limit: 64 * (rec.wg_max() as u64).pow(3) * 4,
            limit_name:
                "one dispatch grid (64 × max_compute_workgroups_per_dimension³ invocations)".into(),
        })?;
        rec.dispatch("layout", &self.kernel.pipeline, &bg, (gx, gy, gz));
        Ok(())
    }

    fn forget(&mut self) {
        self.params.clear();
        self.bind.clear();
    }
}
