//! `Bidirectional(LSTM)` on the GPU: both halves recorded on the same input, the backward
//! half written in time order; concat written in place by the step kernels (each half into
//! its columns), sum / mul / ave merged by `shaders/merge.wgsl`.
//!
//! GPU half of `layers/bidirectional.rs`.

use std::sync::Arc;

use crate::config::{LstmConfig, Precision};
use crate::error::Result;
use crate::gpu::GpuContext;
use crate::gpu::kernels::grid_1d;
use crate::layers::Bidirectional;
use crate::layers::bidirectional::MergeMode;

use super::recurrent::{GpuLstm, Io, OutLayout, copy_state_out, lstm_init, state_tensors};
use super::{BindCache, GpuOp, GpuTensor, Params, Recorder};

/// A storage buffer that grows on demand.
pub(crate) struct Grow {
    pub buf: wgpu::Buffer,
    cap: u64,
    label: &'static str,
}

impl Grow {
    pub fn new(ctx: &GpuContext, label: &'static str) -> Self {
        Grow {
            buf: ctx.storage(label, 16, wgpu::BufferUsages::empty()),
            cap: 16,
            label,
        }
    }

    /// At least `bytes` (checked against one storage binding).
    pub fn ensure(&mut self, ctx: &GpuContext, bytes: u64) -> Result<&wgpu::Buffer> {
        ctx.check_binding(self.label, bytes)?;
        if bytes > self.cap {
            self.buf = ctx.storage(self.label, bytes, wgpu::BufferUsages::empty());
            self.cap = bytes;
        }
        Ok(&self.buf)
    }
}

pub(crate) struct GpuBidirectional {
    forward: (GpuLstm, LstmConfig),
    backward: (GpuLstm, LstmConfig),
    merge: MergeMode,
    half_a: Grow,
    half_b: Grow,
    params: Params,
    bind: BindCache,
}

impl GpuBidirectional {
    pub fn new(ctx: &Arc<GpuContext>, b: &Bidirectional, precision: Precision) -> Result<Self> {
        let half = |r: &crate::layers::Recurrent| -> Result<(GpuLstm, LstmConfig)> {
            Ok((
                GpuLstm::new(ctx, &r.config, &r.weights, precision)?,
                r.config.clone(),
            ))
        };
        Ok(GpuBidirectional {
            forward: half(&b.forward)?,
            backward: half(&b.backward)?,
            merge: b.merge,
            half_a: Grow::new(ctx, "bidirectional forward half"),
            half_b: Grow::new(ctx, "bidirectional backward half"),
            params: Params::new(ctx, "merge params", 16),
            bind: BindCache::default(),
        })
    }
}

impl GpuOp for GpuBidirectional {
    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        ins: &[GpuTensor],
        outs: &[GpuTensor],
    ) -> Result<()> {
        let ctx = rec.ctx.clone();
        let x = &ins[0];
        let (uf, ub) = (self.forward.1.units, self.backward.1.units);
        let rows = outs[0].len() / outs[0].shape.last().copied().unwrap_or(1).max(1);
        for o in outs {
            if rec.opts.poison {
                ctx.poison(&o.buf, o.len());
            }
        }
        let (fa, fb, layouts) = match self.merge {
            MergeMode::Concat => (
                outs[0].buf.clone(),
                outs[0].buf.clone(),
                [
                    OutLayout {
                        stride: uf + ub,
                        offset: 0,
                        flip: false,
                    },
                    OutLayout {
                        stride: uf + ub,
                        offset: uf,
                        flip: true,
                    },
                ],
            ),
            MergeMode::None => (
                outs[0].buf.clone(),
                outs[1].buf.clone(),
                [
                    OutLayout::dense(uf),
                    OutLayout {
                        flip: true,
                        ..OutLayout::dense(ub)
                    },
                ],
            ),
            _ => (
                self.half_a.ensure(&ctx, (rows * uf * 4) as u64)?.clone(),
                self.half_b.ensure(&ctx, (rows * ub * 4) as u64)?.clone(),
                [
                    OutLayout::dense(uf),
                    OutLayout {
                        flip: true,
                        ..OutLayout::dense(ub)
                    },
                ],
            ),
        };
        // the state tensors: forward (h, c) then backward (h, c); h alone for a cell without c
        let (fc, bc) = (self.forward.1.cell.has_c(), self.backward.1.cell.has_c());
        let nf = 1 + fc as usize;
        for (half, target, layout) in [(0, &fa, layouts[0]), (1, &fb, layouts[1])] {
            let tensors = if half == 0 {
                state_tensors(ins, 1, fc)
            } else {
                state_tensors(ins, 1 + nf, bc)
            };
            let init = lstm_init(rec, tensors, half);
            let (lstm, cfg) = if half == 0 {
                (&mut self.forward.0, &self.forward.1)
            } else {
                (&mut self.backward.0, &self.backward.1)
            };
            let io = Io {
                x: &x.buf,
                mask: x.mask.as_ref().filter(|_| !cfg.ignores_mask),
                out: target,
                layout,
            };
            lstm.record(rec, cfg, init, &io)?;
        }
        if let Some(mode) = self.merge.code() {
            let n = rows * uf;
            self.params
                .write(&ctx, bytemuck::cast_slice(&[n as u32, 0, 0, 0]));
            let bg = self.bind.get(
                &ctx,
                "merge",
                &ctx.kernels.merge_layout,
                &[&fa, &fb, &outs[0].buf, &self.params.buf],
            );
            let (gx, gy, gz) =
                grid_1d(n as u64, rec.wg_max()).ok_or_else(|| crate::Error::TooLarge {
                    what: format!("Bidirectional merge of {n} elements in one dispatch"),
                    bytes: n as u64,
                    limit: 64 * (rec.wg_max() as u64).pow(3),
                    limit_name:
                        "one dispatch grid (64 × max_compute_workgroups_per_dimension³ invocations)"
                            .into(),
                })?;
            rec.dispatch(
                "merge",
                &ctx.kernels.merge_pipeline(ctx.device(), mode),
                &bg,
                (gx, gy, gz),
            );
        }
        if self.forward.1.return_state {
            let base = if self.merge == MergeMode::None { 2 } else { 1 };
            let c = |i: usize, on: bool| on.then(|| &outs[i].buf);
            copy_state_out(rec, &self.forward.0, &outs[base].buf, c(base + 1, fc));
            let b0 = base + nf;
            copy_state_out(rec, &self.backward.0, &outs[b0].buf, c(b0 + 1, bc));
        }
        Ok(())
    }

    fn scratch_per_row_step(&self) -> u64 {
        let (uf, ub) = (self.forward.1.units as u64, self.backward.1.units as u64);
        16 * (uf + ub) + 4 * (uf + ub)
    }

    fn lstms(&mut self) -> Vec<&mut GpuLstm> {
        vec![&mut self.forward.0, &mut self.backward.0]
    }

    fn lstms_ref(&self) -> Vec<&GpuLstm> {
        vec![&self.forward.0, &self.backward.0]
    }

    fn forget(&mut self) {
        self.forward.0.forget_cached(None);
        self.backward.0.forget_cached(None);
        self.params.clear();
        self.bind.clear();
    }
}
