//! Keras's merge layers on the GPU: the element-wise kinds as a fold over the inputs, one
//! `merge_fold` dispatch per input (`shaders/merge_layers.wgsl`), Keras 3's masked values
//! included; `Concatenate` as block copies (`block_copy` of `shaders/mask_ops.wgsl`). The
//! output's mask, when the rule makes a new one (an OR / AND of several masks, all valid,
//! masks concatenated along time), is computed into the output's own mask buffer first
//! (`mask_fold`, or block copies of the mask words); a mask passed on unchanged is the
//! input's buffer (the executor's alias).
//!
//! GPU half of `layers/merge.rs`.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::gpu::kernels::{Kernel, MERGE_LAYERS_WGSL};
use crate::layers::merge::{MaskRule, Merge, MergeKind, concat_axis};
use crate::tensor::TensorInfo;

use super::bidirectional::Grow;
use super::mask_ops::{BlockCopy, MAX_RANK, Slot, broadcast_strides, index_u32};
use super::{GpuOp, GpuTensor, Recorder};

fn source() -> String {
    MERGE_LAYERS_WGSL.to_string()
}

/// `FParams` of merge_layers.wgsl.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct FoldParams {
    n: u32,
    rank: u32,
    row_len: u32,
    mode: u32,
    flags: u32,
    div: f32,
    pad: [u32; 2],
    dims: [u32; MAX_RANK],
    sx: [u32; MAX_RANK],
}

const HAS_M: u32 = 1;
const HAS_OM: u32 = 2;
const MUL_MASKED: u32 = 4;
const ZERO_BY_OM: u32 = 8;
const MAXMIN_MASKED: u32 = 16;

/// `mask_fold` modes.
const M_COPY: u32 = 0;
const M_OR: u32 = 1;
const M_AND: u32 = 2;
const M_FILL: u32 = 3;

pub(crate) struct GpuMerge {
    merge: Merge,
    fold: Kernel,
    mask: Kernel,
    copy: BlockCopy,
    mask_copy: BlockCopy,
    fold_slots: Vec<Slot>,
    mask_slots: Vec<Slot>,
    /// mask passes queued by this recording (each has its own uniform)
    mask_i: usize,
    /// Keras 3 Maximum / Minimum's running output mask, (B·T) words
    om: Grow,
    dummy_a: wgpu::Buffer,
    dummy_b: wgpu::Buffer,
}

impl GpuMerge {
    pub fn new(ctx: &Arc<GpuContext>, merge: &Merge) -> Self {
        let k = |entry: &'static str| {
            ctx.kernels
                .kernel(ctx.device(), "merge_layers.wgsl", source, entry, &[])
        };
        GpuMerge {
            merge: *merge,
            fold: k("merge_fold"),
            mask: k("mask_fold"),
            copy: BlockCopy::new(ctx),
            mask_copy: BlockCopy::new(ctx),
            fold_slots: Vec::new(),
            mask_slots: Vec::new(),
            mask_i: 0,
            om: Grow::new(ctx, "merge running mask"),
            dummy_a: ctx.storage("merge dummy", 16, wgpu::BufferUsages::empty()),
            dummy_b: ctx.storage("merge dummy", 16, wgpu::BufferUsages::empty()),
        }
    }
}

/// A pending dispatch: kernel, bind group, grid.
type Work = (bool, wgpu::BindGroup, (u32, u32, u32));

impl GpuMerge {
    /// Queues `mask_fold` over `n` words of `dst` (`src` read unless filling).
    fn mask_pass(
        &mut self,
        rec: &Recorder<'_>,
        work: &mut Vec<Work>,
        dst: &wgpu::Buffer,
        src: Option<&wgpu::Buffer>,
        n: usize,
        mode: u32,
    ) -> Result<()> {
        let ctx = rec.ctx.clone();
        let g = rec.grid(n as u64, "a merged mask")?;
        let slot = Slot::nth(
            &mut self.mask_slots,
            &ctx,
            self.mask_i,
            "merge mask params",
            16,
        );
        self.mask_i += 1;
        slot.params.write(
            &ctx,
            bytemuck::cast_slice(&[index_u32(n, "a mask")?, mode, 0, 0]),
        );
        let bg = slot.bind.get(
            &ctx,
            "merge mask",
            &self.mask.layout,
            &[dst, src.unwrap_or(&self.dummy_a), &slot.params.buf],
        );
        work.push((false, bg, g));
        Ok(())
    }
}

impl GpuOp for GpuMerge {
    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        ins: &[GpuTensor],
        outs: &[GpuTensor],
    ) -> Result<()> {
        let ctx = rec.ctx.clone();
        let out = &outs[0];
        let class = self.merge.kind.class_name();
        let infos: Vec<TensorInfo> = ins
            .iter()
            .map(|t| {
                TensorInfo::f32(t.shape.iter().skip(1).map(|&d| Some(d)).collect())
                    .with_mask(t.mask.is_some())
            })
            .collect();
        let rule = self.merge.mask_rule(&infos)?;
        self.mask_i = 0;
        let n = out.len();
        index_u32(n, class)?;
        let rows = if out.shape.len() >= 2 {
            out.shape[0] * out.shape[1]
        } else {
            out.shape[0]
        };
        if rec.opts.poison {
            ctx.poison(&out.buf, n);
        }
        // 1. the output's mask, when it is a new one
        let mut work: Vec<Work> = Vec::new();
        if rule.computes() {
            let dst = out.mask.clone().ok_or_else(|| {
                Error::Gpu(format!("{class}: the output has no mask buffer to fill"))
            })?;
            if rec.opts.poison {
                ctx.poison(&dst, rows);
            }
            let mask_of = |i: usize| {
                ins[i]
                    .mask
                    .clone()
                    .ok_or_else(|| Error::Gpu(format!("{class}: input {i} has no mask buffer")))
            };
            match &rule {
                MaskRule::Or(ids) | MaskRule::And(ids) => {
                    let mode = if matches!(rule, MaskRule::Or(_)) {
                        M_OR
                    } else {
                        M_AND
                    };
                    let first = mask_of(ids[0])?;
                    self.mask_pass(rec, &mut work, &dst, Some(&first), rows, M_COPY)?;
                    for &i in &ids[1..] {
                        let m = mask_of(i)?;
                        self.mask_pass(rec, &mut work, &dst, Some(&m), rows, mode)?;
                    }
                }
                MaskRule::AllValid => self.mask_pass(rec, &mut work, &dst, None, rows, M_FILL)?,
                MaskRule::TimeConcat(flags) => {
                    // flushed below, before the data passes
                    let masks: Vec<Option<wgpu::Buffer>> = ins
                        .iter()
                        .zip(flags)
                        .map(|(t, &f)| if f { t.mask.clone() } else { None })
                        .collect();
                    let parts: Vec<(Option<&wgpu::Buffer>, usize)> = masks
                        .iter()
                        .zip(ins)
                        .map(|(m, t)| (m.as_ref(), t.shape[1]))
                        .collect();
                    self.mask_copy
                        .record(rec, &dst, &parts, out.shape[0], 1, 1)?;
                }
                MaskRule::None | MaskRule::Pass(_) => {}
            }
        }
        // 2. the values
        if let MergeKind::Concatenate { axis } = self.merge.kind {
            flush(rec, &mut work, &self.fold, &self.mask, class);
            let a = concat_axis(axis, out.shape.len())?;
            let outer: usize = out.shape[..a].iter().product();
            let inner: usize = out.shape[a + 1..].iter().product();
            let parts: Vec<(Option<&wgpu::Buffer>, usize)> =
                ins.iter().map(|t| (Some(&t.buf), t.shape[a])).collect();
            return self.copy.record(rec, &out.buf, &parts, outer, inner, 0);
        }
        let masked: Vec<bool> = ins.iter().map(|t| t.mask.is_some()).collect();
        let masked_values = self.merge.masked_values(&masked);
        let kind = self.merge.kind;
        let maxmin = masked_values && matches!(kind, MergeKind::Maximum | MergeKind::Minimum);
        let mul = masked_values && kind == MergeKind::Multiply;
        let all_masked = masked.iter().all(|&m| m);
        let row_len = if out.shape.len() >= 3 {
            out.shape[2..].iter().product::<usize>().max(1)
        } else {
            1
        };
        let om = if maxmin {
            Some(self.om.ensure(&ctx, (rows * 4) as u64)?.clone())
        } else {
            None
        };
        let mut om_some = false;
        if let (Some(om), Some(m0)) = (&om, &ins[0].mask) {
            self.mask_pass(rec, &mut work, om, Some(m0), rows, M_COPY)?;
            om_some = true;
        }
        let last = ins.len() - 1;
        let mut fold_i = 0;
        for (i, x) in ins.iter().enumerate() {
            let (dims, sx) = broadcast_strides(&x.shape, &out.shape)?;
            let mut flags = 0u32;
            let xm = if masked_values { x.mask.clone() } else { None };
            if xm.is_some() {
                flags |= HAS_M;
            }
            let mut fom: Option<wgpu::Buffer> = None;
            if mul {
                if xm.is_some() {
                    flags |= MUL_MASKED;
                }
                if i == last && all_masked {
                    flags |= ZERO_BY_OM | HAS_OM;
                    fom = Some(out.mask.clone().ok_or_else(|| {
                        Error::Gpu(format!("{class}: the output has no mask buffer"))
                    })?);
                }
            }
            if maxmin && i > 0 {
                flags |= MAXMIN_MASKED;
                if om_some {
                    flags |= HAS_OM;
                    fom = om.clone();
                }
            }
            let mode = match (i, kind) {
                (0, _) => 0,
                (_, MergeKind::Add | MergeKind::Average) => 1,
                (_, MergeKind::Subtract) => 2,
                (_, MergeKind::Multiply) => 3,
                (_, MergeKind::Maximum) => 4,
                _ => 5,
            };
            let div = if kind == MergeKind::Average && i == last {
                ins.len() as f32
            } else {
                0.0
            };
            let p = FoldParams {
                n: n as u32,
                rank: out.shape.len() as u32,
                row_len: index_u32(row_len, class)?,
                mode,
                flags,
                div,
                pad: [0; 2],
                dims,
                sx,
            };
            if n > 0 {
                let g = rec.grid(n as u64, class)?;
                let slot = Slot::nth(&mut self.fold_slots, &ctx, fold_i, "merge fold params", 96);
                fold_i += 1;
                slot.params.write(&ctx, bytemuck::bytes_of(&p));
                let bg = slot.bind.get(
                    &ctx,
                    "merge fold",
                    &self.fold.layout,
                    &[
                        &out.buf,
                        &x.buf,
                        xm.as_ref().unwrap_or(&self.dummy_a),
                        fom.as_ref().unwrap_or(&self.dummy_b),
                        &slot.params.buf,
                    ],
                );
                work.push((true, bg, g));
            }
            // Keras 3 Maximum / Minimum: the running mask after this input
            if maxmin && i > 0 {
                match (&om, &x.mask, om_some) {
                    (Some(om), Some(m), true) => {
                        self.mask_pass(rec, &mut work, om, Some(m), rows, M_OR)?
                    }
                    _ => om_some = false,
                }
            }
        }
        flush(rec, &mut work, &self.fold, &self.mask, class);
        Ok(())
    }

    fn forget(&mut self) {
        self.fold_slots.iter_mut().for_each(Slot::forget);
        self.mask_slots.iter_mut().for_each(Slot::forget);
        self.copy.forget();
        self.mask_copy.forget();
    }
}

/// Records the queued dispatches, in order, in one pass.
fn flush(rec: &mut Recorder<'_>, work: &mut Vec<Work>, fold: &Kernel, mask: &Kernel, label: &str) {
    if work.is_empty() {
        return;
    }
    let mut pass = rec.pass(label);
    for (is_fold, bg, (x, y, z)) in work.iter() {
        pass.set_pipeline(if *is_fold {
            &fold.pipeline
        } else {
            &mask.pipeline
        });
        pass.set_bind_group(0, bg, &[]);
        pass.dispatch_workgroups(*x, *y, *z);
    }
    drop(pass);
    rec.dispatched(work.len() as u64);
    work.clear();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_mirror_the_wgsl_struct() {
        crate::gpu::kernels::assert_mirrors!(
            FoldParams,
            crate::gpu::kernels::MERGE_LAYERS_WGSL,
            "FParams",
            [n, rank, row_len, mode, flags, div, dims, sx]
        );
    }
}
