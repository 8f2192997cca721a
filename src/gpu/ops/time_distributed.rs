//! `TimeDistributed` on the GPU: the inner layer's own op, recorded on views of the wrapper's
//! buffers — the input (B, T, ...) as (B·T, ...), the output likewise (same buffers, same
//! element order). An inner `Masking` runs on the (B, T, F) tensors themselves; its mask goes
//! to the output's mask buffer when the wrapper computes the mask (tf_keras), else to a
//! scratch buffer (Keras 3 keeps the input's mask).
//!
//! GPU half of `layers/time_distributed.rs`.

use std::sync::Arc;

use crate::activation::KerasFlavour;
use crate::config::Precision;
use crate::error::Result;
use crate::gpu::GpuContext;
use crate::layers::TimeDistributed;

use super::bidirectional::Grow;
use super::{GpuOp, GpuTensor, Recorder};

pub(crate) struct GpuTimeDistributed {
    inner: Box<dyn GpuOp>,
    /// the inner layer is a Masking (runs on the (B, T, F) tensors)
    masking: bool,
    /// the wrapper's output mask is the inner Masking's (tf_keras)
    own_mask: bool,
    scratch_mask: Grow,
}

impl GpuTimeDistributed {
    pub fn new(ctx: &Arc<GpuContext>, td: &TimeDistributed, precision: Precision) -> Result<Self> {
        Ok(GpuTimeDistributed {
            inner: super::build(ctx, &td.layer, precision)?,
            masking: td.inner_is_masking(),
            own_mask: td.flavour == KerasFlavour::Keras2,
            scratch_mask: Grow::new(ctx, "TimeDistributed(Masking) mask"),
        })
    }
}

/// `t` seen with its first two axes merged.
fn merged(t: &GpuTensor) -> GpuTensor {
    let mut shape = vec![t.shape[0] * t.shape.get(1).copied().unwrap_or(1)];
    shape.extend_from_slice(t.shape.get(2..).unwrap_or(&[]));
    GpuTensor {
        buf: t.buf.clone(),
        shape,
        mask: None,
        dtype: t.dtype,
    }
}

impl GpuOp for GpuTimeDistributed {
    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        ins: &[GpuTensor],
        outs: &[GpuTensor],
    ) -> Result<()> {
        let (x, y) = (&ins[0], &outs[0]);
        if self.masking {
            let mask = match (&y.mask, self.own_mask) {
                (Some(m), true) => m.clone(),
                _ => {
                    let steps = (y.shape[0] * y.shape[1]) as u64;
                    self.scratch_mask.ensure(rec.ctx, steps * 4)?.clone()
                }
            };
            let xin = GpuTensor {
                mask: None,
                ..x.clone()
            };
            let yout = GpuTensor {
                mask: Some(mask),
                ..y.clone()
            };
            return self.inner.record(rec, &[xin], &[yout]);
        }
        self.inner.record(rec, &[merged(x)], &[merged(y)])
    }

    fn alias(&self) -> bool {
        self.inner.alias()
    }

    fn scratch_per_row_step(&self) -> u64 {
        self.inner.scratch_per_row_step()
    }

    fn forget(&mut self) {
        self.inner.forget();
    }
}
