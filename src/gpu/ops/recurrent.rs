//! An LSTM on the GPU ([`GpuLstm`]): its weights (gate-interleaved at upload), its state
//! buffers (which stay on the GPU between calls), and one call recorded into the executor's
//! command encoder as one compute pass: the input-projection GEMM, then the recurrence — the
//! persistent kernel (`lstm_sequence.wgsl`, chunks of steps within the loop budget) or one
//! dispatch per step (`lstm_step.wgsl`, `lstm_step_subgroup.wgsl`).
//!
//! GPU half of `layers/recurrent.rs`; twin of `cpu::run_sequence`.

use std::sync::Arc;

use crate::config::{CellKind, LstmConfig, Precision};
use crate::error::Result;
use crate::gpu::GpuContext;
use crate::gpu::context::LOOP_BUDGET;
use crate::gpu::gemm::GemmDims;
use crate::gpu::kernels::{
    SEQUENCE_MAX_UNITS, SEQUENCE_REGISTER_SLICES, STEP_RECORD_BYTES, STEP_WG, SeqRecord,
    StepRecord, sequence_ksplit, sequence_registers, sequence_workgroup, step_ksplit,
};
use crate::gpu::options::KernelChoice;
use crate::gpu::state::GpuState;
use crate::state::LstmState;
use crate::weights::LstmWeights;

use super::Recorder;

/// Rearranges a (rows, G·U) Keras gate-block matrix (G = `gates` ≤ 4 blocks of U columns)
/// so that column `4j + g` holds Keras column `g·U + j`: one vec4 load then feeds every gate
/// of unit j. Lanes past G are zeros, so every cell reads the same vec4 layout.
///
/// ```text
/// LSTM:       [ i0 i1 .. | f0 f1 .. | c0 c1 .. | o0 o1 .. ]  →  [ i0 f0 c0 o0 | i1 f1 c1 o1 | .. ]
/// GRU:        [ z0 z1 .. | r0 r1 .. | h0 h1 .. ]  →  [ z0 r0 h0 0 | z1 r1 h1 0 | .. ]
/// SimpleRNN:  [ s0 s1 .. ]                         →  [ s0 0 0 0 | s1 0 0 0 | .. ]
/// ```
pub(crate) fn interleave_blocks(data: &[f32], rows: usize, units: usize, gates: usize) -> Vec<f32> {
    let (g, cols) = (gates * units, 4 * units);
    let mut out = vec![0.0; rows * cols];
    for r in 0..rows {
        for gate in 0..gates {
            for j in 0..units {
                out[r * cols + 4 * j + gate] = data[r * g + gate * units + j];
            }
        }
    }
    out
}

/// The bias as the input projection adds it, one vec4 per unit (see [`interleave_blocks`]).
/// A `reset_after=True` GRU's bias (input bias b_x then recurrent bias b_h, 3U each) becomes
/// (b_x,z + b_h,z, b_x,r + b_h,r, b_x,h, b_h,h): the recurrent biases of z and r add to the
/// same sums wherever they are added, and b_h,h rides in the fourth lane into `gru_cell`
/// (activation.wgsl), which adds it to h·R_h before the reset gate multiplies it.
fn interleaved_bias(cell: CellKind, bias: &[f32], units: usize) -> Vec<f32> {
    match cell {
        CellKind::Gru { reset_after: true } => {
            let u = units;
            let mut out = vec![0.0; 4 * u];
            for j in 0..u {
                out[4 * j] = bias[j] + bias[3 * u + j];
                out[4 * j + 1] = bias[u + j] + bias[4 * u + j];
                out[4 * j + 2] = bias[2 * u + j];
                out[4 * j + 3] = bias[5 * u + j];
            }
            out
        }
        _ => interleave_blocks(bias, 1, units, cell.gates()),
    }
}

/// Where a layer reads its input and writes its output on the GPU. A single layer called from
/// the host uses its own buffers; a model chains layers through shared buffers, so activations
/// never leave the GPU between layers.
pub(crate) struct Io<'a> {
    /// (B·T, D) input rows.
    pub x: &'a wgpu::Buffer,
    /// (B·T) u32 mask, or none.
    pub mask: Option<&'a wgpu::Buffer>,
    /// The output buffer (see [`OutLayout`]).
    pub out: &'a wgpu::Buffer,
    /// How the output is laid out in `out`.
    pub layout: OutLayout,
}

/// Output placement: each output row is `stride` floats, this layer writes
/// `[offset, offset + U)`; `flip` writes step k at T-1-k (a Bidirectional's backward half,
/// whose output Keras flips along time: back to time order when it runs `go_backwards`,
/// reversed when the forward half is the one going backwards) instead of at k (Keras's
/// processing order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutLayout {
    pub stride: usize,
    pub offset: usize,
    pub flip: bool,
}

impl OutLayout {
    /// Rows of exactly U floats in processing order.
    pub fn dense(units: usize) -> Self {
        OutLayout {
            stride: units,
            offset: 0,
            flip: false,
        }
    }
}

/// How an LSTM's state starts for the rows of one recording.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LstmInit<'a> {
    /// Zeros.
    Zeros,
    /// What the state buffers hold (a stateful layer's carried state, or a later time chunk).
    Carried,
    /// A state from the host, for the whole batch (`initial_state` of a single layer).
    Host(&'a LstmState),
    /// h and c from tensors of the graph: (rows, U) each, the rows of this part (h alone
    /// for a cell without c).
    Tensors(&'a wgpu::Buffer, Option<&'a wgpu::Buffer>),
}

/// Buffers that depend on the call's size, grown on demand and reused.
struct CallBuffers {
    z: wgpu::Buffer,
    z_cap: u64,
    /// Bound where a call has no mask (never read then).
    no_mask: wgpu::Buffer,
    /// Step records in two banks of `steps_cap / 2` bytes, one per starting h slot, so a
    /// stateful caller alternating slots re-uses both.
    steps: wgpu::Buffer,
    steps_cap: u64,
    /// What each bank holds (a call whose records match uploads and builds nothing).
    banks: [Option<RecordKey>; 2],
    /// The input projection's dispatch records (a call with the same B·T uploads nothing).
    gemm: GemmDims,
}

/// The buffers a cached pair of bind groups was made for.
#[derive(PartialEq, Eq)]
struct BindKey {
    x: wgpu::Buffer,
    mask: wgpu::Buffer,
    out: wgpu::Buffer,
    z: wgpu::Buffer,
    steps: wgpu::Buffer,
    h: wgpu::Buffer,
    r: wgpu::Buffer,
    dims: wgpu::Buffer,
}

/// One LSTM layer on the GPU.
pub(crate) struct GpuLstm {
    ctx: Arc<GpuContext>,
    /// The cell (LSTM, GRU, SimpleRNN): which update the kernels run (their `CELL`).
    cell: CellKind,
    input_dim: usize,
    units: usize,
    kernel: wgpu::Buffer,
    /// The gate-interleaved recurrent kernel (q-major) for the persistent and the
    /// workgroup-memory step kernels; uploaded on its first use.
    recurrent: Option<wgpu::Buffer>,
    /// The recurrent kernel transposed (unit-major), for the subgroup step kernel; uploaded
    /// on its first use. A layer that only ever runs one kind of kernel holds one copy.
    recurrent_t: Option<wgpu::Buffer>,
    /// The gate-interleaved recurrent kernel on the host, kept until every layout this
    /// device can use is on the GPU.
    r4: Option<Vec<f32>>,
    bias: wgpu::Buffer,
    proj_pipeline: wgpu::ComputePipeline,
    f16: bool,
    stride: u64,
    bufs: CallBuffers,
    state: Option<GpuState>,
    bind_groups: Option<(BindKey, wgpu::BindGroup, wgpu::BindGroup)>,
}

impl GpuLstm {
    /// Uploads the weights (gate-interleaved) and builds (or fetches) the pipelines; the step
    /// pipeline for the layer's most likely k-split (batch 1) is built here so the first call
    /// does not compile it.
    pub fn new(
        ctx: &Arc<GpuContext>,
        config: &LstmConfig,
        weights: &LstmWeights,
        precision: Precision,
    ) -> Result<Self> {
        ctx.scoped("building an LSTM layer on the GPU", || {
            Self::build(ctx, config, weights, precision)
        })
    }

    fn build(
        ctx: &Arc<GpuContext>,
        config: &LstmConfig,
        weights: &LstmWeights,
        precision: Precision,
    ) -> Result<Self> {
        let f16 = precision == Precision::F16Weights;
        if f16 && !ctx.device().features().contains(wgpu::Features::SHADER_F16) {
            return Err(crate::Error::Unsupported(format!(
                "f16 weights need the SHADER_F16 feature, which adapter `{}` does not have",
                ctx.adapter_name()
            )));
        }
        let _ =
            ctx.kernels
                .step_pipeline(ctx.device(), config, step_ksplit(1, weights.units()), f16);
        let (d, u) = (weights.input_dim(), weights.units());
        let k = weights.kernel.as_standard_layout();
        let r = weights.recurrent_kernel.as_standard_layout();
        let cell = config.cell;
        let gates = cell.gates();
        let b = match &weights.bias {
            Some(b) => b.to_vec(),
            None => vec![0.0; cell.bias_len(u)],
        };
        ctx.check_binding("kernel", (d * 4 * u * 4) as u64)?;
        ctx.check_binding("recurrent_kernel", (u * 4 * u * 4) as u64)?;
        let kernel = ctx.storage_with(
            "kernel (interleaved)",
            &interleave_blocks(k.as_slice().expect("standard"), d, u, gates),
        );
        let r4 = interleave_blocks(r.as_slice().expect("standard"), u, u, gates);
        let bias = ctx.storage_with("bias (interleaved)", &interleaved_bias(cell, &b, u));
        let device = ctx.device();
        let stride =
            (device.limits().min_uniform_buffer_offset_alignment as u64).max(STEP_RECORD_BYTES);
        let empty = wgpu::BufferUsages::empty();
        let bufs = CallBuffers {
            z: ctx.storage("z", 16, empty),
            z_cap: 16,
            no_mask: ctx.storage("no mask", 16, empty),
            steps: uniform(ctx, 2 * stride),
            steps_cap: 2 * stride,
            banks: [None, None],
            gemm: GemmDims::new(ctx),
        };
        let linear = crate::Activation::Linear.code();
        let me = GpuLstm {
            ctx: ctx.clone(),
            cell,
            input_dim: d,
            units: u,
            kernel,
            recurrent: None,
            recurrent_t: None,
            r4: Some(r4),
            bias,
            proj_pipeline: ctx.kernels.proj_pipeline(device, linear),
            f16,
            stride,
            bufs,
            state: None,
            bind_groups: None,
        };
        Ok(me)
    }

    /// Grows the scratch (projection, step records) for `batch` rows × `steps`, and makes
    /// the state for `state_batch` rows.
    fn ensure_scratch(&mut self, batch: usize, steps: usize, state_batch: usize) -> Result<()> {
        let u = self.units as u64;
        let (b, t) = (batch as u64, steps as u64);
        let ctx = self.ctx.clone();
        let z_bytes = b * t * 4 * u * 4;
        ctx.check_binding("input projection scratch", z_bytes)?;
        if z_bytes > self.bufs.z_cap {
            self.bufs.z = ctx.storage("z", z_bytes, wgpu::BufferUsages::empty());
            self.bufs.z_cap = z_bytes;
        }
        let steps_bytes = 2 * t * self.stride;
        if steps_bytes > self.bufs.steps_cap {
            let limit = ctx.device().limits().max_buffer_size;
            if steps_bytes > limit {
                return Err(crate::Error::TooLarge {
                    what: "per-step parameter records".into(),
                    bytes: steps_bytes,
                    limit,
                    limit_name: "the device's max_buffer_size".into(),
                });
            }
            self.bufs.steps = uniform(&ctx, steps_bytes);
            self.bufs.steps_cap = steps_bytes;
            self.bufs.banks = [None, None];
        }
        if self.state.as_ref().is_none_or(|s| s.batch != state_batch) {
            ctx.check_binding(
                "recurrent state h (two slots)",
                2 * state_batch as u64 * u * 4,
            )?;
            self.state = Some(GpuState::new(
                &ctx,
                state_batch,
                self.units,
                self.cell.has_c(),
            ));
        }
        Ok(())
    }

    /// Uploads a recurrent-kernel layout in the layer's precision.
    fn upload_recurrent(&self, label: &str, data: &[f32]) -> wgpu::Buffer {
        if self.f16 {
            let halves: Vec<half::f16> = data.iter().map(|&v| half::f16::from_f32(v)).collect();
            let buf = self.ctx.storage(
                &format!("{label}, f16"),
                (halves.len() * 2) as u64,
                wgpu::BufferUsages::empty(),
            );
            self.ctx.upload(&buf, 0, bytemuck::cast_slice(&halves));
            buf
        } else {
            self.ctx.storage_with(label, data)
        }
    }

    /// Drops the host copy once no other layout can be needed on this device.
    fn release_host_recurrent(&mut self) {
        let both = self.recurrent.is_some() && self.recurrent_t.is_some();
        if both || (self.recurrent.is_some() && self.ctx.subgroup_lanes().is_none()) {
            self.r4 = None;
        }
    }

    /// The gate-interleaved (q-major) recurrent kernel, `r[q·U + j]` (uploaded on first use).
    fn recurrent_interleaved(&mut self) -> wgpu::Buffer {
        if let Some(b) = &self.recurrent {
            return b.clone();
        }
        let r4 = self.r4.take().expect("kept until both layouts exist");
        let buf = self.upload_recurrent("recurrent_kernel (interleaved)", &r4);
        self.r4 = Some(r4);
        self.recurrent = Some(buf.clone());
        self.release_host_recurrent();
        buf
    }

    /// The transposed recurrent kernel for the subgroup step kernel (uploaded on first use):
    /// `rt[j·U + q] = r4[q·U + j]`, vec4s of the four gates, in the layer's precision.
    fn recurrent_transposed(&mut self) -> wgpu::Buffer {
        if let Some(b) = &self.recurrent_t {
            return b.clone();
        }
        let u = self.units;
        let r4 = self.r4.as_ref().expect("kept until both layouts exist");
        let mut rt = vec![0.0f32; r4.len()];
        for q in 0..u {
            for j in 0..u {
                rt[4 * (j * u + q)..4 * (j * u + q) + 4]
                    .copy_from_slice(&r4[4 * (q * u + j)..4 * (q * u + j) + 4]);
            }
        }
        let buf = self.upload_recurrent("recurrent_kernel (transposed)", &rt);
        self.recurrent_t = Some(buf.clone());
        self.release_host_recurrent();
        buf
    }

    /// The bind groups for this Io and recurrent-kernel buffer `r`, rebuilt only when a
    /// buffer behind them changed.
    fn bind_groups(&mut self, io: &Io<'_>, r: &wgpu::Buffer) -> (wgpu::BindGroup, wgpu::BindGroup) {
        let state = self.state.as_ref().expect("ensure_scratch made the state");
        let key = BindKey {
            x: io.x.clone(),
            mask: io.mask.unwrap_or(&self.bufs.no_mask).clone(),
            out: io.out.clone(),
            z: self.bufs.z.clone(),
            steps: self.bufs.steps.clone(),
            h: state.h.clone(),
            r: r.clone(),
            dims: self.bufs.gemm.buf.clone(),
        };
        if let Some((k, p, s)) = &self.bind_groups
            && *k == key
        {
            return (p.clone(), s.clone());
        }
        let k = &self.ctx.kernels;
        let proj = self.ctx.bind_group_with(&wgpu::BindGroupDescriptor {
            label: Some("input_projection"),
            layout: &k.proj_layout,
            entries: &[
                entry(0, &key.x),
                entry(1, &self.kernel),
                entry(2, &self.bias),
                entry(3, &key.z),
                wgpu::BindGroupEntry {
                    binding: 4,
                    resource: self.bufs.gemm.binding(),
                },
            ],
        });
        let step = self.ctx.bind_group_with(&wgpu::BindGroupDescriptor {
            label: Some("lstm_step"),
            layout: &k.step_layout,
            entries: &[
                entry(0, &key.z),
                entry(1, &key.r),
                entry(2, &key.mask),
                entry(3, &state.h),
                entry(4, &state.c),
                entry(5, &state.hold),
                entry(6, &key.out),
                wgpu::BindGroupEntry {
                    binding: 7,
                    resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                        buffer: &key.steps,
                        offset: 0,
                        size: wgpu::BufferSize::new(STEP_RECORD_BYTES),
                    }),
                },
            ],
        });
        self.bind_groups = Some((key, proj.clone(), step.clone()));
        (proj, step)
    }

    /// Records this layer's part of a call into the recorder's encoder: the rows' initial
    /// state, the input projection and the recurrence in one compute pass. Nothing is
    /// submitted.
    pub fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        config: &LstmConfig,
        init: LstmInit<'_>,
        io: &Io<'_>,
    ) -> Result<()> {
        let u = self.units;
        let d = self.input_dim;
        let part = rec.part;
        let (batch, steps) = (part.rows, part.steps);
        self.ensure_scratch(batch, steps, part.batch)?;
        let ctx = self.ctx.clone();
        if rec.opts.poison {
            ctx.poison(&self.bufs.z, batch * steps * 4 * u);
        }
        self.bufs.gemm.prepare(&ctx, batch * steps, 4 * u, d)?;
        let state = self.state.as_mut().expect("ensured");
        let (r0, rows) = (part.row0, part.rows);
        match init {
            LstmInit::Zeros => {
                // a whole call from zeros starts in slot 0, so repeated calls of one shape
                // reuse the same bank of step records
                if r0 == 0 && rows == part.batch {
                    state.slot = 0;
                }
                state.clear_range(rec.encoder, r0, rows)
            }
            LstmInit::Host(s) => state.upload_range(&ctx, s, r0, rows),
            LstmInit::Tensors(h, c) => state.copy_range(rec.encoder, h, c, r0, rows),
            LstmInit::Carried => {}
        }
        if part.first {
            let (at, len) = ((r0 * u * 4) as u64, (rows * u * 4) as u64);
            rec.encoder.clear_buffer(&state.hold, at, Some(len));
        }

        let start = state.slot;
        let seq_wg = sequence_workgroup(u, ctx.sequence_workgroup_size());
        let seq_ks = sequence_ksplit(u, seq_wg);
        // slices of R per invocation, held in registers when they fit
        let slices = u.div_ceil(seq_ks as usize) as u64;
        let seq_regs = if sequence_registers(u, seq_ks) {
            slices as u32
        } else {
            0
        };
        // loop iterations per invocation: the dot-product slices and the k-split sum per step;
        // a call longer than the loop budget allows runs as several dispatches of chunks
        // (a reset_after=False GRU's step has two dot products and two k-split sums)
        let phases = if self.cell == (CellKind::Gru { reset_after: false }) {
            2
        } else {
            1
        };
        let per_step = phases * (slices + seq_ks as u64 + 2);
        let chunk_steps = (LOOP_BUDGET.saturating_sub(SEQUENCE_REGISTER_SLICES as u64) / per_step)
            .max(1) as usize;
        let choice = rec.opts.kernel;
        let persistent = match choice {
            KernelChoice::PerStep | KernelChoice::PerStepSubgroup => None,
            KernelChoice::Auto | KernelChoice::Persistent => {
                (u <= SEQUENCE_MAX_UNITS).then_some(chunk_steps.min(steps))
            }
        };
        // The records depend only on what the key holds: the bank for this starting slot
        // already has them on every repeated call of the same shape, and nothing is built.
        let key = RecordKey {
            persistent,
            state_batch: part.batch,
            batch,
            steps,
            row0: part.row0,
            first: part.first,
            has_mask: io.mask.is_some(),
            layout: io.layout,
            go_backwards: config.go_backwards,
        };
        let base = start as u64 * (self.bufs.steps_cap / 2);
        if self.bufs.banks[start] != Some(key) {
            let records = step_records(&key, start, state, u, self.stride as usize);
            ctx.upload(&self.bufs.steps, base, &records);
            self.bufs.banks[start] = Some(key);
        }
        state.slot = (start + steps) % 2;

        // The per-step kernel reduces with subgroup shuffles where the device has them
        // (unless PerStep is forced), with at most the smallest subgroup's lanes per unit.
        // Auto takes it only where it pays (at least 4 lanes per unit: below that the
        // unit-major reads are not coalesced) and where the subgroup size is fixed (the kernel
        // assumes full subgroups; see lstm_step_subgroup.wgsl).
        let subgroup_ks = match (persistent.is_some(), choice, ctx.subgroup_lanes()) {
            (false, KernelChoice::PerStepSubgroup, Some(lanes)) => {
                Some(step_ksplit(batch, u).min(lanes))
            }
            (false, KernelChoice::Auto, Some(lanes)) => {
                let ks = step_ksplit(batch, u).min(lanes);
                (ks >= 4 && ctx.subgroup_size_fixed()).then_some(ks)
            }
            _ => None,
        };
        let r = match subgroup_ks {
            Some(_) => self.recurrent_transposed(),
            None => self.recurrent_interleaved(),
        };
        let (proj_bg, step_bg) = self.bind_groups(io, &r);
        rec.report.kernel = match (persistent.is_some(), subgroup_ks) {
            (true, _) => "persistent",
            (false, Some(_)) => "per-step-subgroup",
            (false, None) => "per-step",
        };
        let timestamps = rec.timestamps();
        let mut pass = rec
            .encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("lstm sequence"),
                timestamp_writes: timestamps,
            });
        pass.set_pipeline(&self.proj_pipeline);
        let proj_dispatches = self.bufs.gemm.dispatch(&mut pass, &proj_bg);
        if let Some(chunk) = persistent {
            let pipeline = ctx.kernels.sequence_pipeline(
                ctx.device(),
                config,
                (seq_ks, seq_wg, seq_regs),
                self.f16,
            );
            pass.set_pipeline(&pipeline);
            let chunks = steps.div_ceil(chunk) as u64;
            for c in 0..chunks {
                pass.set_bind_group(0, &step_bg, &[(base + c * self.stride) as u32]);
                pass.dispatch_workgroups(batch as u32, 1, 1);
            }
            drop(pass);
            rec.dispatched(proj_dispatches + chunks);
        } else {
            let (ks, pipeline) = match subgroup_ks {
                Some(ks) => (
                    ks,
                    ctx.kernels
                        .step_subgroup_pipeline(ctx.device(), config, ks, self.f16),
                ),
                None => {
                    let ks = step_ksplit(batch, u);
                    (
                        ks,
                        ctx.kernels
                            .step_pipeline(ctx.device(), config, ks, self.f16),
                    )
                }
            };
            // each invocation sums ceil(U / KS) slices and then KS partials; U is bounded by
            // the recurrent kernel's binding (16·U² bytes), far below the loop budget, but a
            // device with a huge binding must not run past it silently
            let iterations = u.div_ceil(ks as usize) as u64 + ks as u64;
            if !ctx.loop_budget_ok(iterations) {
                return Err(crate::Error::Unsupported(format!(
                    "LSTM({u}) on `{}`: one step's dot product would loop {iterations} times \
                     per invocation, past the adapter's silent loop limit of 65 535",
                    ctx.adapter_name()
                )));
            }
            let groups = ((u as u32).div_ceil(STEP_WG / ks), batch as u32);
            // a reset_after=False GRU's step is two dispatches: r ⊙ h (into the c buffer),
            // then the update with (r ⊙ h)·R_h
            let reset_phase = (self.cell == (CellKind::Gru { reset_after: false })).then(|| {
                ctx.kernels.reset_phase_pipeline(
                    ctx.device(),
                    config,
                    ks,
                    self.f16,
                    subgroup_ks.is_some(),
                )
            });
            if reset_phase.is_none() {
                pass.set_pipeline(&pipeline);
            }
            for k in 0..steps {
                pass.set_bind_group(0, &step_bg, &[(base + k as u64 * self.stride) as u32]);
                if let Some(p) = &reset_phase {
                    pass.set_pipeline(p);
                    pass.dispatch_workgroups(groups.0, groups.1, 1);
                    pass.set_pipeline(&pipeline);
                }
                pass.dispatch_workgroups(groups.0, groups.1, 1);
            }
            drop(pass);
            let per_step = if reset_phase.is_some() { 2 } else { 1 };
            rec.dispatched(proj_dispatches + per_step * steps as u64);
        }
        Ok(())
    }

    /// Which h slot holds the current state (none before the first call).
    pub fn slot(&self) -> Option<usize> {
        self.state.as_ref().map(|s| s.slot)
    }

    /// Sets which h slot holds the current state (a model replaying a call per row group).
    pub fn set_slot(&mut self, slot: usize) {
        if let Some(s) = self.state.as_mut() {
            s.slot = slot;
        }
    }

    /// The (buffer, element offset, length) ranges holding h and c now.
    pub fn state_ranges(&self) -> Option<[(&wgpu::Buffer, u64, usize); 2]> {
        self.state.as_ref().map(|s| s.ranges())
    }

    /// After a failed call: back to the h slot the call started from, and nothing cached
    /// that the failed submission may not have written.
    pub(crate) fn forget_cached(&mut self, slot: Option<usize>) {
        if let Some(s) = slot {
            self.set_slot(s);
        }
        self.bufs.banks = [None, None];
        self.bufs.gemm.invalidate();
        self.bind_groups = None;
    }

    /// Zeroes the state on the GPU (for `batch` rows).
    pub fn reset_state(&mut self, batch: usize) -> Result<()> {
        let ctx = self.ctx.clone();
        ctx.scoped("resetting an LSTM layer's state", || {
            if self.state.as_ref().is_none_or(|s| s.batch != batch) {
                self.state = Some(GpuState::new(&ctx, batch, self.units, self.cell.has_c()));
                return Ok(());
            }
            let mut encoder =
                ctx.device()
                    .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                        label: Some("reset"),
                    });
            self.state.as_mut().expect("checked").clear(&mut encoder);
            ctx.submit(encoder);
            Ok(())
        })
    }

    /// Reads h and c back: all rows, or one row as (1, U).
    pub fn read_state(&self, row: Option<usize>) -> Result<LstmState> {
        match &self.state {
            Some(s) => self
                .ctx
                .scoped("reading an LSTM layer's state", || s.read(&self.ctx, row)),
            None => Err(crate::Error::Gpu("no state allocated yet".into())),
        }
    }

    /// Zeroes h and c of the given rows on the GPU; other rows are untouched.
    pub fn reset_rows(&mut self, rows: &[usize]) -> Result<()> {
        let ctx = self.ctx.clone();
        let state = self
            .state
            .as_ref()
            .ok_or_else(|| crate::Error::Gpu("no state allocated yet".into()))?;
        let mut encoder = ctx
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("reset rows"),
            });
        ctx.scoped("resetting rows of an LSTM layer's state", || {
            state.clear_rows(&mut encoder, rows);
            ctx.submit(encoder);
            Ok(())
        })
    }

    /// Writes one row's h and c (each U floats).
    pub fn write_row(&mut self, row: usize, h: &[f32], c: &[f32]) -> Result<()> {
        let state = self
            .state
            .as_ref()
            .ok_or_else(|| crate::Error::Gpu("no state allocated yet".into()))?;
        self.ctx
            .scoped("writing a row of an LSTM layer's state", || {
                state.upload_row(&self.ctx, row, h, c);
                Ok(())
            })
    }

    /// Uploads h and c (shapes checked by the caller).
    pub fn write_state(&mut self, state: &LstmState) -> Result<()> {
        let ctx = self.ctx.clone();
        let batch = state.batch();
        ctx.scoped("writing an LSTM layer's state", || {
            if self.state.as_ref().is_none_or(|s| s.batch != batch) {
                self.state = Some(GpuState::new(&ctx, batch, self.units, self.cell.has_c()));
            }
            self.state.as_mut().expect("made").upload(&ctx, state);
            Ok(())
        })
    }
}

/// What the step records of one recording depend on (besides the starting h slot, which
/// picks the bank).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RecordKey {
    /// The persistent kernel's steps per dispatch, or `None` for one dispatch per step.
    persistent: Option<usize>,
    state_batch: usize,
    batch: usize,
    steps: usize,
    row0: usize,
    first: bool,
    has_mask: bool,
    layout: OutLayout,
    go_backwards: bool,
}

/// The uniform records of one recording, `stride` bytes apart: one [`SeqRecord`] for the
/// persistent kernel, else one [`StepRecord`] per step (which input step, which h slot to
/// read and write, where to write the output).
fn step_records(
    key: &RecordKey,
    start: usize,
    state: &GpuState,
    u: usize,
    stride: usize,
) -> Vec<u8> {
    let (batch, steps) = (key.batch, key.steps);
    let row_off = key.row0 * u;
    let layout = key.layout;
    if let Some(chunk) = key.persistent {
        // one record per chunk of steps; each reads h from the slot the per-step schedule
        // would be in at its first step and writes the slot it would end in
        let chunks = steps.div_ceil(chunk);
        let mut records = vec![0u8; stride * chunks];
        for c in 0..chunks {
            let (k0, k1) = (c * chunk, ((c + 1) * chunk).min(steps));
            let rec = SeqRecord {
                batch: batch as u32,
                steps: steps as u32,
                units: u as u32,
                has_mask: key.has_mask as u32,
                h_read: (state.slot_offset((start + k0) % 2) + row_off) as u32,
                h_write: (state.slot_offset((start + k1) % 2) + row_off) as u32,
                out_stride: layout.stride as u32,
                out_offset: layout.offset as u32,
                flip: layout.flip as u32,
                c_off: row_off as u32,
                first: (key.first && c == 0) as u32,
                k0: k0 as u32,
                k1: k1 as u32,
                pad: [0; 3],
            };
            let at = c * stride;
            records[at..at + STEP_RECORD_BYTES as usize].copy_from_slice(bytemuck::bytes_of(&rec));
        }
        return records;
    }
    let mut records = vec![0u8; stride * steps];
    for k in 0..steps {
        let read = (start + k) % 2;
        let t_in = if key.go_backwards { steps - 1 - k } else { k };
        let rec = StepRecord {
            batch: batch as u32,
            steps: steps as u32,
            units: u as u32,
            has_mask: key.has_mask as u32,
            k: k as u32,
            t_in: t_in as u32,
            h_read: (state.slot_offset(read) + row_off) as u32,
            h_write: (state.slot_offset(1 - read) + row_off) as u32,
            out_t: if layout.flip { steps - 1 - k } else { k } as u32,
            out_stride: layout.stride as u32,
            out_offset: layout.offset as u32,
            c_off: row_off as u32,
            pad: [0; 4],
        };
        let at = k * stride;
        records[at..at + STEP_RECORD_BYTES as usize].copy_from_slice(bytemuck::bytes_of(&rec));
    }
    records
}

pub(crate) fn entry(binding: u32, buffer: &wgpu::Buffer) -> wgpu::BindGroupEntry<'_> {
    wgpu::BindGroupEntry {
        binding,
        resource: buffer.as_entire_binding(),
    }
}

pub(crate) fn uniform(ctx: &GpuContext, bytes: u64) -> wgpu::Buffer {
    ctx.uniform("step records", bytes)
}

/// A recurrent node of a plan on the GPU: one [`GpuLstm`] and its configuration.
pub(crate) struct GpuRecurrent {
    lstm: GpuLstm,
    config: LstmConfig,
}

impl GpuRecurrent {
    pub fn new(
        ctx: &Arc<GpuContext>,
        layer: &crate::layers::Recurrent,
        precision: Precision,
    ) -> Result<Self> {
        Ok(GpuRecurrent {
            lstm: GpuLstm::new(ctx, &layer.config, &layer.weights, precision)?,
            config: layer.config.clone(),
        })
    }
}

/// How slot `slot` of a node starts in this recording: from state tensors `h`, `c` of the
/// graph in a part's first chunk, else as the recorder says.
pub(crate) fn lstm_init<'a>(
    rec: &Recorder<'a>,
    tensors: Option<(&'a wgpu::Buffer, Option<&'a wgpu::Buffer>)>,
    slot: usize,
) -> LstmInit<'a> {
    match (tensors, rec.part.first, rec.init) {
        (Some((h, c)), true, _) => LstmInit::Tensors(h, c),
        (_, false, _) | (_, _, super::Init::Carried) => LstmInit::Carried,
        (_, _, super::Init::Zeros) => LstmInit::Zeros,
        (_, _, super::Init::Host(s)) => LstmInit::Host(&s[slot]),
    }
}

/// Records copies of rows [row0, row0 + rows) of a layer's final h and c into `h`, `c`
/// (h alone for a cell without c).
pub(crate) fn copy_state_out(
    rec: &mut Recorder<'_>,
    lstm: &GpuLstm,
    h: &wgpu::Buffer,
    c: Option<&wgpu::Buffer>,
) {
    let (r0, n) = (rec.part.row0 as u64, rec.part.rows as u64);
    let u = lstm.units as u64;
    if let Some([(hb, ho, _), (cb, co, _)]) = lstm.state_ranges() {
        rec.encoder
            .copy_buffer_to_buffer(hb, (ho + r0 * u) * 4, h, 0, n * u * 4);
        if let Some(c) = c {
            rec.encoder
                .copy_buffer_to_buffer(cb, (co + r0 * u) * 4, c, 0, n * u * 4);
        }
    }
}

/// The state tensors among a node's inputs or outputs from `at`: (h, c) for an LSTM, (h)
/// for the cells without c; `None` where they are not there.
pub(crate) fn state_tensors(
    tensors: &[super::GpuTensor],
    at: usize,
    has_c: bool,
) -> Option<(&wgpu::Buffer, Option<&wgpu::Buffer>)> {
    let h = &tensors.get(at)?.buf;
    if has_c {
        Some((h, Some(&tensors.get(at + 1)?.buf)))
    } else {
        Some((h, None))
    }
}

impl super::GpuOp for GpuRecurrent {
    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        ins: &[super::GpuTensor],
        outs: &[super::GpuTensor],
    ) -> Result<()> {
        let x = &ins[0];
        let tensors = state_tensors(ins, 1, self.config.cell.has_c());
        let init = lstm_init(rec, tensors, 0);
        if rec.opts.poison {
            rec.ctx.poison(&outs[0].buf, outs[0].len());
        }
        let io = Io {
            x: &x.buf,
            mask: x.mask.as_ref().filter(|_| !self.config.ignores_mask),
            out: &outs[0].buf,
            layout: OutLayout::dense(self.config.units),
        };
        self.lstm.record(rec, &self.config, init, &io)?;
        if self.config.return_state {
            let c = outs.get(2).map(|t| &t.buf);
            copy_state_out(rec, &self.lstm, &outs[1].buf, c);
        }
        Ok(())
    }

    fn scratch_per_row_step(&self) -> u64 {
        16 * self.config.units as u64
    }

    fn lstms(&mut self) -> Vec<&mut GpuLstm> {
        vec![&mut self.lstm]
    }

    fn lstms_ref(&self) -> Vec<&GpuLstm> {
        vec![&self.lstm]
    }

    fn forget(&mut self) {
        self.lstm.forget_cached(None);
    }
}
