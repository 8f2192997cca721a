//! Keras 3's mask ops on the GPU (`shaders/mask_ops.wgsl`): one element-wise kernel with
//! numpy broadcasting over up to [`MAX_RANK`] axes (strides in its uniform), a chunked
//! reduction for `Any` / `All`, and a block copy for the op `Concatenate` (shared with the
//! `Concatenate` layer, [`BlockCopy`]). `ExpandDims` and `Squeeze` reuse their input's
//! buffer.
//!
//! GPU half of `layers/mask_ops.rs`.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::gpu::kernels::{Kernel, MASK_OPS_WGSL};
use crate::layers::mask_ops::{MaskOp, OpKind};
use crate::tensor::Dtype;

use super::{BindCache, GpuOp, GpuTensor, Params, Recorder};

/// Most axes (batch included) of a tensor the element-wise and reduction kernels index.
pub(crate) const MAX_RANK: usize = 8;
/// Reduced elements one invocation of `reduce_chunk` scans (`RCHUNK` in mask_ops.wgsl).
pub(crate) const REDUCE_CHUNK: usize = 2048;

fn source() -> String {
    MASK_OPS_WGSL.to_string()
}

/// A size as a shader index, or an error naming it.
pub(crate) fn index_u32(n: usize, what: &str) -> Result<u32> {
    u32::try_from(n).map_err(|_| Error::TooLarge {
        what: format!("{what}: {n} elements, past the 2^32 a shader indexes"),
        bytes: n as u64 * 4,
        limit: u32::MAX as u64 * 4,
        limit_name: "the 2^32 elements a shader index reaches".into(),
    })
}

/// An input's row-major strides as seen from an output of shape `out` (batch first): the
/// input's axes after the batch are aligned to the output's from the right (a lower-rank
/// input gets axes of size 1 right after its batch axis), and a size-1 axis broadcast to
/// the output has stride 0. Returns the output's dims and the strides, padded to
/// [`MAX_RANK`].
pub(crate) fn broadcast_strides(
    input: &[usize],
    out: &[usize],
) -> Result<([u32; MAX_RANK], [u32; MAX_RANK])> {
    if out.len() > MAX_RANK || input.len() > out.len() || input.is_empty() {
        return Err(Error::Unsupported(format!(
            "a GPU element-wise kernel over shapes {input:?} → {out:?} (at most {MAX_RANK} \
             axes, the input no longer than the output)"
        )));
    }
    let mut full = vec![1usize; out.len()];
    full[0] = input[0];
    let lead = out.len() - input.len();
    full[1 + lead..].copy_from_slice(&input[1..]);
    let mut dims = [1u32; MAX_RANK];
    let mut strides = [0u32; MAX_RANK];
    let mut s = 1usize;
    for d in (0..out.len()).rev() {
        if full[d] != out[d] && full[d] != 1 {
            return Err(Error::shape(
                "an operand",
                format!("a shape that broadcasts to {out:?}"),
                input,
            ));
        }
        dims[d] = index_u32(out[d], "an axis")?;
        strides[d] = if full[d] == 1 {
            0
        } else {
            index_u32(s, "a stride")?
        };
        s = s.saturating_mul(full[d]);
    }
    Ok((dims, strides))
}

/// One dispatch's uniform and bind group, reused call after call.
pub(crate) struct Slot {
    pub params: Params,
    pub bind: BindCache,
}

impl Slot {
    pub fn new(ctx: &GpuContext, label: &str, bytes: u64) -> Self {
        Slot {
            params: Params::new(ctx, label, bytes),
            bind: BindCache::default(),
        }
    }

    /// The `i`-th slot of a list, made on first use.
    pub fn nth<'s>(
        slots: &'s mut Vec<Slot>,
        ctx: &GpuContext,
        i: usize,
        label: &str,
        bytes: u64,
    ) -> &'s mut Slot {
        while slots.len() <= i {
            slots.push(Slot::new(ctx, label, bytes));
        }
        &mut slots[i]
    }

    pub fn forget(&mut self) {
        self.params.clear();
        self.bind.clear();
    }
}

/// `CParams` of mask_ops.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct CopyParams {
    n: u32,
    inner_k: u32,
    out_k: u32,
    offset: u32,
    fill: u32,
    value: u32,
    pad: [u32; 2],
}

/// Concatenation by blocks (`block_copy`): the output seen as (outer, K·inner) words, each
/// part (an input's buffer, or a fill word) writing its (outer, k·inner) block after the
/// previous parts'.
pub(crate) struct BlockCopy {
    kernel: Kernel,
    slots: Vec<Slot>,
    dummy: wgpu::Buffer,
}

impl BlockCopy {
    pub fn new(ctx: &Arc<GpuContext>) -> Self {
        BlockCopy {
            kernel: ctx
                .kernels
                .kernel(ctx.device(), "mask_ops.wgsl", source, "block_copy", &[]),
            slots: Vec::new(),
            dummy: ctx.storage("block copy dummy", 16, wgpu::BufferUsages::empty()),
        }
    }

    /// Records one dispatch per part: `(Some(src), k)` copies src's (outer, k·inner) words,
    /// `(None, k)` writes `fill` there.
    pub fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        dst: &wgpu::Buffer,
        parts: &[(Option<&wgpu::Buffer>, usize)],
        outer: usize,
        inner: usize,
        fill: u32,
    ) -> Result<()> {
        let ctx = rec.ctx.clone();
        let total_k: usize = parts.iter().map(|p| p.1).sum();
        let out_k = index_u32(total_k.saturating_mul(inner), "a concatenation row")?;
        index_u32(
            outer.saturating_mul(total_k).saturating_mul(inner),
            "a concatenation",
        )?;
        let mut offset = 0usize;
        let mut work = Vec::new();
        for (i, &(src, k)) in parts.iter().enumerate() {
            let n = outer * k * inner;
            let p = CopyParams {
                n: n as u32,
                inner_k: (k * inner).max(1) as u32,
                out_k,
                offset: (offset * inner) as u32,
                fill: src.is_none() as u32,
                value: fill,
                pad: [0; 2],
            };
            offset += k;
            if n == 0 {
                continue;
            }
            let g = rec.grid(n as u64, "a concatenation block")?;
            let slot = Slot::nth(&mut self.slots, &ctx, i, "block copy params", 32);
            slot.params.write(&ctx, bytemuck::bytes_of(&p));
            let bg = slot.bind.get(
                &ctx,
                "block copy",
                &self.kernel.layout,
                &[src.unwrap_or(&self.dummy), dst, &slot.params.buf],
            );
            work.push((bg, g));
        }
        let mut pass = rec.pass("concatenate");
        pass.set_pipeline(&self.kernel.pipeline);
        for (bg, (x, y, z)) in &work {
            pass.set_bind_group(0, bg, &[]);
            pass.dispatch_workgroups(*x, *y, *z);
        }
        drop(pass);
        rec.dispatched(work.len() as u64);
        Ok(())
    }

    pub fn forget(&mut self) {
        self.slots.iter_mut().for_each(Slot::forget);
    }
}

/// `EParams` of mask_ops.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ElemParams {
    n: u32,
    rank: u32,
    scalar: f32,
    flags: u32,
    dims: [u32; MAX_RANK],
    sa: [u32; MAX_RANK],
    sb: [u32; MAX_RANK],
}

/// `RParams` of mask_ops.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct ReduceParams {
    n_out: u32,
    k: u32,
    chunks: u32,
    flags: u32,
    kept_rank: u32,
    red_rank: u32,
    pad: [u32; 2],
    kdims: [u32; MAX_RANK],
    kstrides: [u32; MAX_RANK],
    rdims: [u32; MAX_RANK],
    rstrides: [u32; MAX_RANK],
}

enum Kernels {
    Elementwise(Kernel),
    Reduce(Kernel, Kernel),
    Concat(BlockCopy),
    None,
}

/// A Keras 3 op node.
pub(crate) struct GpuMaskOp {
    op: MaskOp,
    kernels: Kernels,
    slot: Slot,
    /// the second bind group of a reduction (each pipeline has its own derived layout)
    bind2: BindCache,
}

impl GpuMaskOp {
    pub fn new(ctx: &Arc<GpuContext>, op: &MaskOp) -> Self {
        let k = |entry: &'static str, constants: &[(&'static str, f64)]| {
            ctx.kernels
                .kernel(ctx.device(), "mask_ops.wgsl", source, entry, constants)
        };
        let kernels = match &op.kind {
            OpKind::Any { .. } | OpKind::All { .. } => {
                Kernels::Reduce(k("reduce_init", &[]), k("reduce_chunk", &[]))
            }
            OpKind::Concatenate { .. } => Kernels::Concat(BlockCopy::new(ctx)),
            kind if kind.is_layout_only() => Kernels::None,
            kind => Kernels::Elementwise(k("elementwise", &[("OP", kind.code() as f64)])),
        };
        GpuMaskOp {
            op: op.clone(),
            kernels,
            slot: Slot::new(ctx, "mask op params", 160),
            bind2: BindCache::default(),
        }
    }
}

impl GpuOp for GpuMaskOp {
    fn alias(&self) -> bool {
        self.op.kind.is_layout_only()
    }

    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        ins: &[GpuTensor],
        outs: &[GpuTensor],
    ) -> Result<()> {
        let ctx = rec.ctx.clone();
        let out = &outs[0];
        let n = out.len();
        if rec.opts.poison {
            ctx.poison(&out.buf, n);
        }
        let class = self.op.kind.class_name();
        match &mut self.kernels {
            Kernels::None => Ok(()),
            Kernels::Elementwise(kernel) => {
                let a = &ins[0];
                let b = ins.get(1).unwrap_or(a);
                let (dims, sa) = broadcast_strides(&a.shape, &out.shape)?;
                let (_, sb) = broadcast_strides(&b.shape, &out.shape)?;
                let mut flags =
                    (a.dtype == Dtype::Int) as u32 | ((b.dtype == Dtype::Int) as u32) << 1;
                if self.op.scalar.is_some() {
                    flags |= 4;
                }
                if let OpKind::Cast(to) = self.op.kind {
                    flags |= to.code() << 8;
                }
                let p = ElemParams {
                    n: index_u32(n, class)?,
                    rank: out.shape.len() as u32,
                    scalar: self.op.scalar.unwrap_or(0.0) as f32,
                    flags,
                    dims,
                    sa,
                    sb,
                };
                if n == 0 {
                    return Ok(());
                }
                let (gx, gy, gz) = rec.grid(n as u64, class)?;
                self.slot.params.write(&ctx, bytemuck::bytes_of(&p));
                let bg = self.slot.bind.get(
                    &ctx,
                    "mask op",
                    &kernel.layout,
                    &[&a.buf, &b.buf, &out.buf, &self.slot.params.buf],
                );
                rec.dispatch(class, &kernel.pipeline, &bg, (gx, gy, gz));
                Ok(())
            }
            Kernels::Reduce(init, chunk) => {
                let x = &ins[0];
                let rank = x.shape.len();
                if rank > MAX_RANK {
                    return Err(Error::Unsupported(format!(
                        "{class} over a tensor of rank {rank} on the GPU (at most {MAX_RANK})"
                    )));
                }
                let axes = self.op.reduced_axes(rank)?;
                let mut strides = vec![1usize; rank];
                for d in (0..rank.saturating_sub(1)).rev() {
                    strides[d] = strides[d + 1] * x.shape[d + 1];
                }
                let mut p = ReduceParams {
                    n_out: 0,
                    k: 0,
                    chunks: 0,
                    flags: (x.dtype == Dtype::Int) as u32
                        | (matches!(self.op.kind, OpKind::All { .. }) as u32) << 1,
                    kept_rank: 0,
                    red_rank: 0,
                    pad: [0; 2],
                    kdims: [1; MAX_RANK],
                    kstrides: [0; MAX_RANK],
                    rdims: [1; MAX_RANK],
                    rstrides: [0; MAX_RANK],
                };
                let (mut n_out, mut k) = (1usize, 1usize);
                for (d, (&size, &stride)) in x.shape.iter().zip(&strides).enumerate() {
                    let (dims, st, r, count) = if axes.contains(&d) {
                        (&mut p.rdims, &mut p.rstrides, &mut p.red_rank, &mut k)
                    } else {
                        (&mut p.kdims, &mut p.kstrides, &mut p.kept_rank, &mut n_out)
                    };
                    dims[*r as usize] = index_u32(size, class)?;
                    st[*r as usize] = index_u32(stride, class)?;
                    *r += 1;
                    *count *= size;
                }
                let chunks = k.div_ceil(REDUCE_CHUNK).max(1);
                p.n_out = index_u32(n_out, class)?;
                p.k = index_u32(k, class)?;
                p.chunks = index_u32(chunks, class)?;
                index_u32(n_out.saturating_mul(chunks), class)?;
                if n_out == 0 {
                    return Ok(());
                }
                let g0 = rec.grid(n_out as u64, class)?;
                let g1 = rec.grid((n_out * chunks) as u64, class)?;
                self.slot.params.write(&ctx, bytemuck::bytes_of(&p));
                let buffers = [&x.buf, &out.buf, &self.slot.params.buf];
                let bg = self.slot.bind.get(&ctx, "reduce", &init.layout, &buffers);
                let bg2 = self.bind2.get(&ctx, "reduce", &chunk.layout, &buffers);
                let mut pass = rec.pass(class);
                pass.set_pipeline(&init.pipeline);
                pass.set_bind_group(0, &bg, &[]);
                pass.dispatch_workgroups(g0.0, g0.1, g0.2);
                if k > 0 {
                    pass.set_pipeline(&chunk.pipeline);
                    pass.set_bind_group(0, &bg2, &[]);
                    pass.dispatch_workgroups(g1.0, g1.1, g1.2);
                }
                drop(pass);
                rec.dispatched(1 + (k > 0) as u64);
                Ok(())
            }
            Kernels::Concat(copy) => {
                let OpKind::Concatenate { axis } = self.op.kind else {
                    return Ok(());
                };
                let a = crate::layers::merge::concat_axis(axis, out.shape.len())?;
                let outer: usize = out.shape[..a].iter().product();
                let inner: usize = out.shape[a + 1..].iter().product();
                let parts: Vec<(Option<&wgpu::Buffer>, usize)> =
                    ins.iter().map(|t| (Some(&t.buf), t.shape[a])).collect();
                copy.record(rec, &out.buf, &parts, outer, inner, 0)
            }
        }
    }

    fn forget(&mut self) {
        self.slot.forget();
        self.bind2.clear();
        if let Kernels::Concat(c) = &mut self.kernels {
            c.forget();
        }
    }
}

#[cfg(test)]
mod mirror_tests {
    use super::*;
    use crate::gpu::kernels::{MASK_OPS_WGSL, assert_mirrors};

    #[test]
    fn params_mirror_the_wgsl_structs() {
        assert_mirrors!(
            CopyParams,
            MASK_OPS_WGSL,
            "CParams",
            [n, inner_k, out_k, offset, fill, value]
        );
        assert_mirrors!(
            ElemParams,
            MASK_OPS_WGSL,
            "EParams",
            [n, rank, scalar, flags, dims, sa, sb]
        );
        assert_mirrors!(
            ReduceParams,
            MASK_OPS_WGSL,
            "RParams",
            [
                n_out, k, chunks, flags, kept_rank, red_rank, kdims, kstrides, rdims, rstrides
            ]
        );
    }
}
