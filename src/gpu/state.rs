//! GPU-resident recurrent state: h (two ping-pong slots), c, and the masked-output hold.
//! A GRU or SimpleRNN has no c: its c buffer is scratch (a `reset_after=False` GRU's r ⊙ h),
//! never uploaded, copied out or read back (its host state has a (B, 0) c).
//! These buffers persist between calls, so a stateful layer never round-trips its state
//! through the host unless asked to.

use std::sync::Arc;

use ndarray::Array2;

use crate::error::Result;
use crate::gpu::GpuContext;
use crate::state::LstmState;

/// The state buffers of one layer for one batch size.
pub(crate) struct GpuState {
    pub batch: usize,
    pub units: usize,
    /// Two slots of (B, U); `slot` holds the current h.
    pub h: wgpu::Buffer,
    pub c: wgpu::Buffer,
    pub hold: wgpu::Buffer,
    /// Which h slot holds the current state (0 or 1).
    pub slot: usize,
    /// Whether c is state (an LSTM's) rather than scratch.
    pub has_c: bool,
}

impl GpuState {
    /// Zeroed state buffers for `batch` rows (new buffers are zero-initialised by wgpu).
    pub fn new(ctx: &GpuContext, batch: usize, units: usize, has_c: bool) -> Self {
        let n = (batch * units * 4) as u64;
        GpuState {
            batch,
            units,
            h: ctx.storage("lstm h (2 slots)", 2 * n, wgpu::BufferUsages::empty()),
            c: ctx.storage("lstm c", n, wgpu::BufferUsages::empty()),
            hold: ctx.storage("lstm hold", n, wgpu::BufferUsages::empty()),
            slot: 0,
            has_c,
        }
    }

    /// Elements in one (B, U) slab.
    pub fn len(&self) -> usize {
        self.batch * self.units
    }

    /// Element offset of h slot `s`.
    pub fn slot_offset(&self, s: usize) -> usize {
        s * self.len()
    }

    /// Records clearing h and c into `encoder` (state := zeros).
    pub fn clear(&mut self, encoder: &mut wgpu::CommandEncoder) {
        encoder.clear_buffer(&self.h, 0, None);
        encoder.clear_buffer(&self.c, 0, None);
        self.slot = 0;
    }

    /// Uploads h and c (each (B, U)) into slot 0 and c.
    pub fn upload(&mut self, ctx: &GpuContext, state: &LstmState) {
        let h = state.h.as_standard_layout();
        let c = state.c.as_standard_layout();
        ctx.upload(
            &self.h,
            0,
            bytemuck::cast_slice(h.as_slice().expect("standard layout")),
        );
        if self.has_c {
            ctx.upload(
                &self.c,
                0,
                bytemuck::cast_slice(c.as_slice().expect("standard layout")),
            );
        }
        self.slot = 0;
    }

    /// Records zeroing h (current slot) and c of rows [r0, r0 + rows) into `encoder`.
    pub fn clear_range(&self, encoder: &mut wgpu::CommandEncoder, r0: usize, rows: usize) {
        let u = self.units as u64;
        let base = self.slot_offset(self.slot) as u64;
        let (r0, n) = (r0 as u64, rows as u64);
        encoder.clear_buffer(&self.h, (base + r0 * u) * 4, Some(n * u * 4));
        encoder.clear_buffer(&self.c, r0 * u * 4, Some(n * u * 4));
    }

    /// Uploads rows [r0, r0 + rows) of a whole-batch host state into h (current slot) and c.
    pub fn upload_range(&self, ctx: &GpuContext, state: &LstmState, r0: usize, rows: usize) {
        let u = self.units;
        let base = self.slot_offset(self.slot);
        let h = state.h.slice(ndarray::s![r0..r0 + rows, ..]);
        let c = state.c.slice(ndarray::s![r0..r0 + rows, ..]);
        let (h, c) = (h.as_standard_layout(), c.as_standard_layout());
        ctx.upload(
            &self.h,
            ((base + r0 * u) * 4) as u64,
            bytemuck::cast_slice(h.as_slice().expect("standard layout")),
        );
        if self.has_c {
            ctx.upload(
                &self.c,
                (r0 * u * 4) as u64,
                bytemuck::cast_slice(c.as_slice().expect("standard layout")),
            );
        }
    }

    /// Records copying (rows, U) tensors `h`, `c` into rows [r0, r0 + rows) of h (current
    /// slot) and c (a cell without c gives none).
    pub fn copy_range(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        h: &wgpu::Buffer,
        c: Option<&wgpu::Buffer>,
        r0: usize,
        rows: usize,
    ) {
        let u = self.units as u64;
        let base = self.slot_offset(self.slot) as u64;
        let (r0, n) = (r0 as u64, rows as u64);
        encoder.copy_buffer_to_buffer(h, 0, &self.h, (base + r0 * u) * 4, n * u * 4);
        if let Some(c) = c {
            encoder.copy_buffer_to_buffer(c, 0, &self.c, r0 * u * 4, n * u * 4);
        }
    }

    /// Records zeroing h and c of the given rows (current slot) into `encoder`.
    pub fn clear_rows(&self, encoder: &mut wgpu::CommandEncoder, rows: &[usize]) {
        let u = self.units as u64;
        let base = self.slot_offset(self.slot) as u64;
        for &r in rows {
            let r = r as u64;
            encoder.clear_buffer(&self.h, (base + r * u) * 4, Some(u * 4));
            encoder.clear_buffer(&self.c, r * u * 4, Some(u * 4));
        }
    }

    /// Uploads one row's h and c (each U floats) into the current slot.
    pub fn upload_row(&self, ctx: &GpuContext, row: usize, h: &[f32], c: &[f32]) {
        let u = self.units as u64;
        let base = self.slot_offset(self.slot) as u64;
        ctx.upload(
            &self.h,
            (base + row as u64 * u) * 4,
            bytemuck::cast_slice(h),
        );
        if self.has_c {
            ctx.upload(&self.c, row as u64 * u * 4, bytemuck::cast_slice(c));
        }
    }

    /// The ranges holding one row's h and c now.
    pub fn row_ranges(&self, row: usize) -> [(&wgpu::Buffer, u64, usize); 2] {
        let u = self.units;
        [
            (&self.h, (self.slot_offset(self.slot) + row * u) as u64, u),
            (&self.c, (row * u) as u64, u),
        ]
    }

    /// The ranges (buffer, element offset, length) that hold h and c now.
    pub fn ranges(&self) -> [(&wgpu::Buffer, u64, usize); 2] {
        [
            (&self.h, self.slot_offset(self.slot) as u64, self.len()),
            (&self.c, 0, self.len()),
        ]
    }

    /// Reads h and c back (one submit, one map): all rows, or one as (1, U).
    pub fn read(&self, ctx: &Arc<GpuContext>, row: Option<usize>) -> Result<LstmState> {
        let ranges = match row {
            None => self.ranges(),
            Some(r) => self.row_ranges(r),
        };
        // h alone for a cell without c
        let ranges = if self.has_c {
            &ranges[..]
        } else {
            &ranges[..1]
        };
        let staging = ctx.staging((ranges.len() * ranges[0].2 * 4) as u64);
        let encoder = ctx
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("read state"),
            });
        let mut parts = ctx.submit_and_read(encoder, &staging, ranges)?;
        let rows = if row.is_some() { 1 } else { self.batch };
        let c = if self.has_c {
            let c = parts.pop().unwrap_or_default();
            Array2::from_shape_vec((rows, self.units), c).expect("rows·U")
        } else {
            Array2::zeros((rows, 0))
        };
        let h = parts.pop().unwrap_or_default();
        Ok(LstmState {
            h: Array2::from_shape_vec((rows, self.units), h).expect("rows·U"),
            c,
        })
    }
}
