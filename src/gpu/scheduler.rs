//! The host-side scheduler: a GPU layer's weights and buffers, and one call recorded as one
//! command encoder with one compute pass (input projection, then T step dispatches), one
//! submit, and one readback of what the caller asked for.
//!
//! Twin of `cpu::run_sequence`.

use std::sync::Arc;

use ndarray::Array3;

use crate::config::{LstmConfig, Precision};
use crate::error::Result;
use crate::gpu::GpuContext;
use crate::gpu::context::KernelChoice;
use crate::gpu::kernels::{
    PROJ_TILE, ProjDims, SEQUENCE_MAX_UNITS, SEQUENCE_REGISTER_SLICES, STEP_RECORD_BYTES, STEP_WG,
    SeqRecord, StepRecord, sequence_ksplit, sequence_registers, sequence_workgroup, step_ksplit,
};
use crate::gpu::state::GpuState;
use crate::layer::{CheckedInput, InitialState, LstmState};
use crate::weights::LstmWeights;

/// Rearranges a (rows, 4U) Keras gate-block matrix so that column `4j + g` holds Keras
/// column `g·U + j`: one vec4 load then feeds gates i, f, c, o of unit j.
///
/// ```text
/// Keras:        [ i0 i1 .. | f0 f1 .. | c0 c1 .. | o0 o1 .. ]
/// interleaved:  [ i0 f0 c0 o0 | i1 f1 c1 o1 | .. ]
/// ```
pub(crate) fn interleave_gates(data: &[f32], rows: usize, units: usize) -> Vec<f32> {
    let g = 4 * units;
    let mut out = vec![0.0; rows * g];
    for r in 0..rows {
        for gate in 0..4 {
            for j in 0..units {
                out[r * g + 4 * j + gate] = data[r * g + gate * units + j];
            }
        }
    }
    out
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
/// `[offset, offset + U)`; `time_order` writes step k at input time `t_in` (Bidirectional's
/// backward half) instead of at k (Keras's processing order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OutLayout {
    pub stride: usize,
    pub offset: usize,
    pub time_order: bool,
}

impl OutLayout {
    /// Rows of exactly U floats in processing order.
    pub fn dense(units: usize) -> Self {
        OutLayout {
            stride: units,
            offset: 0,
            time_order: false,
        }
    }
}

/// Which part of a call one recording covers: rows [row0, row0 + rows) of a state of
/// `batch` rows, `steps` timesteps; `first` = the first time chunk of these rows in this call
/// (their masked-output hold starts at zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Part {
    pub batch: usize,
    pub row0: usize,
    pub rows: usize,
    pub steps: usize,
    pub first: bool,
}

impl Part {
    /// All rows, all steps.
    pub fn whole(batch: usize, steps: usize) -> Self {
        Part {
            batch,
            row0: 0,
            rows: batch,
            steps,
            first: true,
        }
    }
}

/// A call submitted to the GPU whose results have not been read yet (or, for a call split
/// into parts, that already completed).
pub(crate) enum PendingCall {
    Submitted {
        read: crate::gpu::context::PendingRead,
        batch: usize,
        out_steps: usize,
        want_state: bool,
    },
    Ready(Array3<f32>, Option<LstmState>),
}

/// Buffers that depend on the call's size, grown on demand and reused.
struct CallBuffers {
    x: wgpu::Buffer,
    x_cap: u64,
    z: wgpu::Buffer,
    z_cap: u64,
    mask: wgpu::Buffer,
    mask_cap: u64,
    out: wgpu::Buffer,
    out_cap: u64,
    /// Step records in two banks of `steps_cap / 2` bytes, one per starting h slot, so a
    /// stateful caller alternating slots re-uses both.
    steps: wgpu::Buffer,
    steps_cap: u64,
    /// What each bank holds (a call whose records match uploads and builds nothing).
    banks: [Option<RecordKey>; 2],
    dims: wgpu::Buffer,
    /// The projection dims last uploaded (a call with the same B·T uploads nothing).
    dims_cache: Option<ProjDims>,
    staging: wgpu::Buffer,
    staging_cap: u64,
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
}

/// One LSTM layer on the GPU.
pub(crate) struct GpuLstm {
    ctx: Arc<GpuContext>,
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
        let b = weights.bias_or_zeros();
        ctx.check_binding("kernel", (d * 4 * u * 4) as u64)?;
        ctx.check_binding("recurrent_kernel", (u * 4 * u * 4) as u64)?;
        let kernel = ctx.storage_with(
            "kernel (interleaved)",
            &interleave_gates(k.as_slice().expect("standard"), d, u),
        );
        let r4 = interleave_gates(r.as_slice().expect("standard"), u, u);
        let bias = ctx.storage_with(
            "bias (interleaved)",
            &interleave_gates(b.as_slice().expect("contiguous"), 1, u),
        );
        let device = ctx.device();
        let stride =
            (device.limits().min_uniform_buffer_offset_alignment as u64).max(STEP_RECORD_BYTES);
        let empty = wgpu::BufferUsages::empty();
        let bufs = CallBuffers {
            x: ctx.storage("x", 16, empty),
            x_cap: 16,
            z: ctx.storage("z", 16, empty),
            z_cap: 16,
            mask: ctx.storage("mask", 16, empty),
            mask_cap: 16,
            out: ctx.storage("out", 16, empty),
            out_cap: 16,
            steps: uniform(ctx, 2 * stride),
            steps_cap: 2 * stride,
            banks: [None, None],
            dims: ctx.uniform("projection dims", 16),
            dims_cache: None,
            staging: ctx.staging(16),
            staging_cap: 16,
        };
        let linear = crate::Activation::Linear.code();
        let me = GpuLstm {
            ctx: ctx.clone(),
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
        ctx.check_errors()?;
        Ok(me)
    }

    pub fn adapter_name(&self) -> String {
        self.ctx.adapter_name().to_string()
    }

    /// Grows the host-call buffers (x, mask, out, staging) for a (B, T) call.
    fn ensure_host_buffers(&mut self, batch: usize, steps: usize, out_len: usize) -> Result<()> {
        let (d, u) = (self.input_dim as u64, self.units as u64);
        let (b, t) = (batch as u64, steps as u64);
        let ctx = self.ctx.clone();
        let need = [
            ("inputs", b * t * d * 4),
            ("mask", b * t * 4),
            ("output", out_len as u64 * 4),
        ];
        for (what, bytes) in need {
            ctx.check_binding(what, bytes)?;
        }
        let empty = wgpu::BufferUsages::empty();
        let grow = |buf: &mut wgpu::Buffer, cap: &mut u64, bytes: u64, label: &str| {
            if bytes > *cap {
                *buf = ctx.storage(label, bytes, empty);
                *cap = bytes;
            }
        };
        grow(&mut self.bufs.x, &mut self.bufs.x_cap, need[0].1, "x");
        grow(
            &mut self.bufs.mask,
            &mut self.bufs.mask_cap,
            need[1].1,
            "mask",
        );
        grow(&mut self.bufs.out, &mut self.bufs.out_cap, need[2].1, "out");
        let staging_bytes = (out_len as u64 + 2 * b * u) * 4;
        if staging_bytes > self.bufs.staging_cap {
            self.bufs.staging = ctx.staging(staging_bytes);
            self.bufs.staging_cap = staging_bytes;
        }
        Ok(())
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
            self.state = Some(GpuState::new(&ctx, state_batch, self.units));
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
            mask: io.mask.unwrap_or(&self.bufs.mask).clone(),
            out: io.out.clone(),
            z: self.bufs.z.clone(),
            steps: self.bufs.steps.clone(),
            h: state.h.clone(),
            r: r.clone(),
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
                entry(4, &self.bufs.dims),
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

    /// Records one call into `encoder`: state initialisation, the input projection and T step
    /// dispatches in one compute pass. Nothing is submitted.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        encoder: &mut wgpu::CommandEncoder,
        config: &LstmConfig,
        part: Part,
        init: InitialState,
        initial: Option<&LstmState>,
        io: &Io<'_>,
    ) -> Result<()> {
        let u = self.units;
        let d = self.input_dim;
        let (batch, steps) = (part.rows, part.steps);
        self.ensure_scratch(batch, steps, part.batch)?;
        let ctx = self.ctx.clone();
        if ctx.debug_poison() {
            ctx.poison(&self.bufs.z, batch * steps * 4 * u);
        }
        let dims = ProjDims {
            m: (batch * steps) as u32,
            n: (4 * u) as u32,
            k: d as u32,
            pad: 0,
        };
        if self.bufs.dims_cache != Some(dims) {
            ctx.upload(&self.bufs.dims, 0, bytemuck::bytes_of(&dims));
            self.bufs.dims_cache = Some(dims);
        }
        let state = self.state.as_mut().expect("ensured");
        match init {
            InitialState::Zeros => state.clear(encoder),
            InitialState::Given => state.upload(&ctx, initial.expect("given state")),
            InitialState::Carried => {}
        }
        if part.first {
            let (at, len) = ((part.row0 * u * 4) as u64, (part.rows * u * 4) as u64);
            encoder.clear_buffer(&state.hold, at, Some(len));
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
        // loop iterations per invocation: the dot-product slices and the k-split sum per step
        let per_step = slices + seq_ks as u64 + 2;
        let choice = ctx.kernel_choice();
        let persistent = match choice {
            KernelChoice::PerStep | KernelChoice::PerStepSubgroup => false,
            KernelChoice::Auto | KernelChoice::Persistent => {
                u <= SEQUENCE_MAX_UNITS
                    && ctx.loop_budget_ok(steps as u64 * per_step + SEQUENCE_REGISTER_SLICES as u64)
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

        let proj_groups = (
            (4 * u as u32).div_ceil(PROJ_TILE),
            ((batch * steps) as u32).div_ceil(PROJ_TILE),
        );
        // The per-step kernel reduces with subgroup shuffles where the device has them
        // (unless PerStep is forced), with at most the smallest subgroup's lanes per unit.
        // Auto takes it only where it pays (at least 4 lanes per unit: below that the
        // unit-major reads are not coalesced) and where the subgroup size is fixed (the kernel
        // assumes full subgroups; see lstm_step_subgroup.wgsl).
        let subgroup_ks = match (persistent, choice, ctx.subgroup_lanes()) {
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
        ctx.set_last_kernel(match (persistent, subgroup_ks) {
            (true, _) => "persistent",
            (false, Some(_)) => "per-step-subgroup",
            (false, None) => "per-step",
        });
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("lstm sequence"),
            timestamp_writes: ctx.pass_timestamps(),
        });
        pass.set_pipeline(&self.proj_pipeline);
        pass.set_bind_group(0, &proj_bg, &[]);
        pass.dispatch_workgroups(proj_groups.0, proj_groups.1, 1);
        if persistent {
            let pipeline = ctx.kernels.sequence_pipeline(
                ctx.device(),
                config,
                (seq_ks, seq_wg, seq_regs),
                self.f16,
            );
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &step_bg, &[base as u32]);
            pass.dispatch_workgroups(batch as u32, 1, 1);
            drop(pass);
            ctx.count_dispatches(2);
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
            let groups = ((u as u32).div_ceil(STEP_WG / ks), batch as u32);
            pass.set_pipeline(&pipeline);
            for k in 0..steps {
                pass.set_bind_group(0, &step_bg, &[(base + k as u64 * self.stride) as u32]);
                pass.dispatch_workgroups(groups.0, groups.1, 1);
            }
            drop(pass);
            ctx.count_dispatches(1 + steps as u64);
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

    /// Wraps flat h and c read back from [`GpuLstm::state_ranges`].
    pub fn wrap_state(&self, h: Vec<f32>, c: Vec<f32>) -> LstmState {
        self.state.as_ref().expect("state exists").to_state(h, c)
    }

    /// Uploads one part's inputs (and mask) into the host-call buffers; returns the x, mask
    /// (when there is one) and output buffers to record with.
    fn stage(
        &self,
        x: ndarray::ArrayView3<'_, f32>,
        mask: Option<ndarray::ArrayView2<'_, bool>>,
    ) -> (wgpu::Buffer, Option<wgpu::Buffer>, wgpu::Buffer) {
        let x = x.as_standard_layout();
        self.ctx.upload(
            &self.bufs.x,
            0,
            bytemuck::cast_slice(x.as_slice().expect("std")),
        );
        if let Some(m) = &mask {
            let words: Vec<u32> = m.iter().map(|&v| v as u32).collect();
            self.ctx
                .upload(&self.bufs.mask, 0, bytemuck::cast_slice(&words));
        }
        (
            self.bufs.x.clone(),
            mask.is_some().then(|| self.bufs.mask.clone()),
            self.bufs.out.clone(),
        )
    }

    /// Runs one call from the host, first half: uploads x (and the mask), records, submits
    /// once and asks for the readback of the output (and h, c when `want_state`); nothing
    /// waits. [`GpuLstm::run_wait`] or [`GpuLstm::poll`] + [`GpuLstm::finish`] complete it.
    pub fn start(
        &mut self,
        config: &LstmConfig,
        input: &CheckedInput<'_>,
        init: InitialState,
        want_state: bool,
    ) -> Result<PendingCall> {
        let (batch, steps, _) = input.x.dim();
        let plan = self.split_plan(batch, steps)?;
        if plan != (batch, steps) {
            return self.run_split(config, input, init, want_state, plan);
        }
        let u = self.units;
        let out_steps = if config.return_sequences { steps } else { 1 };
        let out_len = batch * out_steps * u;
        self.ensure_host_buffers(batch, steps, out_len)?;
        let ctx = self.ctx.clone();
        if ctx.debug_poison() {
            ctx.poison(&self.bufs.out, out_len);
        }
        let (x_buf, mask_buf, out_buf) = self.stage(input.x, input.mask);
        let mut encoder = ctx
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("lstm call"),
            });
        let io = Io {
            x: &x_buf,
            mask: mask_buf.as_ref(),
            out: &out_buf,
            layout: OutLayout::dense(u),
        };
        self.record(
            &mut encoder,
            config,
            Part::whole(batch, steps),
            init,
            input.initial.as_ref(),
            &io,
        )?;
        let mut ranges = vec![(&out_buf, 0u64, out_len)];
        if want_state {
            ranges.extend(self.state_ranges().expect("recorded"));
        }
        let read = ctx.submit_for_read(encoder, &self.bufs.staging, &ranges);
        Ok(PendingCall::Submitted {
            read,
            batch,
            out_steps,
            want_state,
        })
    }

    /// How a (batch, steps) call is cut so every buffer fits one storage binding and the
    /// projection scratch fits the context's budget: (rows per part, steps per part).
    fn split_plan(&self, batch: usize, steps: usize) -> Result<(usize, usize)> {
        let limits = self.ctx.device().limits();
        let limit = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        let budget = self.ctx.scratch_budget().min(limit);
        let (d, u) = (self.input_dim as u64, self.units as u64);
        // bytes per (row, step): x D floats, projection 4U, output U, mask 1 word
        // and dispatch sizes: the projection runs ceil(B·T / PROJ_TILE) workgroups along y,
        // the recurrence B along x or y, each at most max_compute_workgroups_per_dimension
        let wg_max = limits.max_compute_workgroups_per_dimension as u64;
        let max_row_steps = (budget / (16 * u))
            .min(limit / (4 * d))
            .min(limit / (4 * u))
            .min(wg_max * PROJ_TILE as u64);
        if max_row_steps == 0 {
            return Err(crate::Error::TooLarge {
                what: format!("one timestep of one row (D = {d}, U = {u})"),
                bytes: 16 * u,
                limit: budget,
                limit_name: "the scratch budget (GpuContext::set_scratch_budget)".into(),
            });
        }
        let (b, t) = (batch as u64, steps as u64);
        if b * t <= max_row_steps && b <= wg_max {
            return Ok((batch, steps));
        }
        let rows = b.min(max_row_steps).min(wg_max);
        let chunk = t.min(max_row_steps / rows);
        Ok((rows as usize, chunk as usize))
    }

    /// Runs a call too large for one binding or the scratch budget in parts: row groups, each
    /// in time chunks carrying h, c and the masked-output hold on the GPU. Blocking; one
    /// submit per part. Same results as the unsplit call.
    fn run_split(
        &mut self,
        config: &LstmConfig,
        input: &CheckedInput<'_>,
        init: InitialState,
        want_state: bool,
        (rows, chunk): (usize, usize),
    ) -> Result<PendingCall> {
        let (batch, steps, _) = input.x.dim();
        let u = self.units;
        let rseq = config.return_sequences;
        let ctx = self.ctx.clone();
        let _sum = ctx.sum_gpu_time();
        self.ensure_scratch(rows, chunk, batch)?;
        // The initial state, once, for all rows.
        let state = self.state.as_mut().expect("ensured");
        match init {
            InitialState::Zeros => {
                let mut enc = ctx.device().create_command_encoder(&Default::default());
                state.clear(&mut enc);
                ctx.submit(enc);
            }
            InitialState::Given => state.upload(&ctx, input.initial.as_ref().expect("given")),
            InitialState::Carried => {}
        }
        let slot0 = state.slot;
        let mut out = Array3::<f32>::zeros((batch, if rseq { steps } else { 1 }, u));
        for r0 in (0..batch).step_by(rows) {
            let nr = rows.min(batch - r0);
            self.state.as_mut().expect("ensured").slot = slot0;
            for k0 in (0..steps).step_by(chunk) {
                let nk = chunk.min(steps - k0);
                let (t0, t1) = if config.go_backwards {
                    (steps - k0 - nk, steps - k0)
                } else {
                    (k0, k0 + nk)
                };
                let out_len = nr * if rseq { nk } else { 1 } * u;
                self.ensure_host_buffers(nr, nk, out_len)?;
                let (x_buf, mask_buf, out_buf) = self.stage(
                    input.x.slice(ndarray::s![r0..r0 + nr, t0..t1, ..]),
                    input
                        .mask
                        .map(|m| m.slice_move(ndarray::s![r0..r0 + nr, t0..t1])),
                );
                let mut encoder = ctx.device().create_command_encoder(&Default::default());
                let io = Io {
                    x: &x_buf,
                    mask: mask_buf.as_ref(),
                    out: &out_buf,
                    layout: OutLayout::dense(u),
                };
                let part = Part {
                    batch,
                    row0: r0,
                    rows: nr,
                    steps: nk,
                    first: k0 == 0,
                };
                self.record(&mut encoder, config, part, InitialState::Carried, None, &io)?;
                let part_out = ctx
                    .submit_and_read(encoder, &self.bufs.staging, &[(&out_buf, 0, out_len)])?
                    .swap_remove(0);
                let part_out =
                    Array3::from_shape_vec((nr, out_len / (nr * u), u), part_out).expect("sized");
                if rseq {
                    out.slice_mut(ndarray::s![r0..r0 + nr, k0..k0 + nk, ..])
                        .assign(&part_out);
                } else {
                    out.slice_mut(ndarray::s![r0..r0 + nr, .., ..])
                        .assign(&part_out);
                }
            }
        }
        let fin = if want_state {
            Some(self.read_state(None)?)
        } else {
            None
        };
        Ok(PendingCall::Ready(out, fin))
    }

    /// Waits for a started call and reads its results.
    pub fn run_wait(&self, pending: PendingCall) -> Result<(Array3<f32>, Option<LstmState>)> {
        if matches!(pending, PendingCall::Submitted { .. }) {
            self.ctx.wait()?;
        }
        self.finish(pending)
    }

    /// Whether a started call's results are ready (polls the device, never blocks).
    pub fn poll(&self, pending: &mut PendingCall) -> Result<bool> {
        match pending {
            PendingCall::Submitted { read, .. } => self.ctx.poll_read(read),
            PendingCall::Ready(..) => Ok(true),
        }
    }

    /// Reads the results of a started call whose map has completed: the output as (B, T, U)
    /// or (B, 1, U), and the final state when asked for.
    pub fn finish(&self, pending: PendingCall) -> Result<(Array3<f32>, Option<LstmState>)> {
        let (read, batch, out_steps, want_state) = match pending {
            PendingCall::Ready(out, fin) => return Ok((out, fin)),
            PendingCall::Submitted {
                read,
                batch,
                out_steps,
                want_state,
            } => (read, batch, out_steps, want_state),
        };
        let mut parts = self.ctx.finish_read(read)?;
        let fin = if want_state {
            let c = parts.pop().unwrap_or_default();
            let h = parts.pop().unwrap_or_default();
            Some(self.wrap_state(h, c))
        } else {
            None
        };
        let out = Array3::from_shape_vec((batch, out_steps, self.units), parts.swap_remove(0))
            .expect("out_len elements");
        Ok((out, fin))
    }

    /// Zeroes the state on the GPU (for `batch` rows).
    pub fn reset_state(&mut self, batch: usize) -> Result<()> {
        let ctx = self.ctx.clone();
        if self.state.as_ref().is_none_or(|s| s.batch != batch) {
            self.state = Some(GpuState::new(&ctx, batch, self.units));
            return ctx.check_errors();
        }
        let mut encoder = ctx
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("reset"),
            });
        self.state.as_mut().expect("checked").clear(&mut encoder);
        ctx.submit(encoder);
        ctx.check_errors()
    }

    /// Reads h and c back: all rows, or one row as (1, U).
    pub fn read_state(&self, row: Option<usize>) -> Result<LstmState> {
        match &self.state {
            Some(s) => s.read(&self.ctx, row),
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
        state.clear_rows(&mut encoder, rows);
        ctx.submit(encoder);
        ctx.check_errors()
    }

    /// Writes one row's h and c (each U floats).
    pub fn write_row(&mut self, row: usize, h: &[f32], c: &[f32]) -> Result<()> {
        let state = self
            .state
            .as_ref()
            .ok_or_else(|| crate::Error::Gpu("no state allocated yet".into()))?;
        state.upload_row(&self.ctx, row, h, c);
        self.ctx.check_errors()
    }

    /// Uploads h and c (shapes checked by the caller).
    pub fn write_state(&mut self, state: &LstmState) -> Result<()> {
        let ctx = self.ctx.clone();
        let batch = state.batch();
        if self.state.as_ref().is_none_or(|s| s.batch != batch) {
            self.state = Some(GpuState::new(&ctx, batch, self.units));
        }
        self.state.as_mut().expect("made").upload(&ctx, state);
        ctx.check_errors()
    }
}

/// What the step records of one recording depend on (besides the starting h slot, which
/// picks the bank).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RecordKey {
    persistent: bool,
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
    let mut records = vec![0u8; stride * if key.persistent { 1 } else { steps }];
    if key.persistent {
        // h from the current slot into the slot the per-step schedule would end in
        let rec = SeqRecord {
            batch: batch as u32,
            steps: steps as u32,
            units: u as u32,
            has_mask: key.has_mask as u32,
            h_read: (state.slot_offset(start) + row_off) as u32,
            h_write: (state.slot_offset((start + steps) % 2) + row_off) as u32,
            out_stride: layout.stride as u32,
            out_offset: layout.offset as u32,
            time_order: layout.time_order as u32,
            c_off: row_off as u32,
            first: key.first as u32,
            pad: 0,
        };
        records[..STEP_RECORD_BYTES as usize].copy_from_slice(bytemuck::bytes_of(&rec));
        return records;
    }
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
            out_t: if layout.time_order { t_in } else { k } as u32,
            out_stride: layout.stride as u32,
            out_offset: layout.offset as u32,
            c_off: row_off as u32,
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
