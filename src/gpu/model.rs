//! A whole model on the GPU: every layer recorded into one command encoder, activations
//! chained through GPU buffers, one submit, one readback of the final output (and of the
//! last layer's states when it returns them). Twin of `model::call_cpu`.

use std::sync::Arc;

use ndarray::{Array2, ArrayD, ArrayView3, IxDyn};

use crate::cpu::MergeMode;
use crate::error::Result;
use crate::gpu::GpuContext;
use crate::gpu::kernels::{MaskParams, PROJ_TILE, ProjDims};
use crate::gpu::scheduler::{Io, OutLayout, Part, uniform};
use crate::layer::InitialState;
use crate::model::{Layer, ModelOutput};

/// A storage buffer that grows on demand.
struct Grow {
    buf: wgpu::Buffer,
    cap: u64,
    label: &'static str,
}

impl Grow {
    fn new(ctx: &GpuContext, label: &'static str) -> Self {
        Grow {
            buf: ctx.storage(label, 16, wgpu::BufferUsages::empty()),
            cap: 16,
            label,
        }
    }

    fn ensure(&mut self, ctx: &GpuContext, bytes: u64) -> Result<&wgpu::Buffer> {
        ctx.check_binding(self.label, bytes)?;
        if bytes > self.cap {
            self.buf = ctx.storage(self.label, bytes, wgpu::BufferUsages::empty());
            self.cap = bytes;
        }
        Ok(&self.buf)
    }
}

/// A Dense layer's GPU weights and pipeline.
struct GpuDense {
    kernel: wgpu::Buffer,
    bias: wgpu::Buffer,
    dims: wgpu::Buffer,
    pipeline: wgpu::ComputePipeline,
    in_dim: usize,
    units: usize,
}

/// Per-layer GPU resources besides the LSTMs' own.
struct Slot {
    out: Grow,
    /// Bidirectional halves before an element-wise merge / the backward output of merge None.
    half_a: Grow,
    half_b: Grow,
    params: wgpu::Buffer,
    dense: Option<GpuDense>,
    /// The bytes last written to `params` (or to the Dense dims): equal bytes are not re-sent.
    params_last: Vec<u8>,
    /// The masking / merge / Dense bind group and the buffers it was made for.
    bind: Option<(Vec<wgpu::Buffer>, wgpu::BindGroup)>,
}

impl Slot {
    /// Writes the layer's parameter record (`params`, or the Dense dims) unless it already
    /// holds these bytes.
    fn write_params(&mut self, ctx: &GpuContext, bytes: &[u8]) {
        if self.params_last != bytes {
            let buf = match &self.dense {
                Some(d) => &d.dims,
                None => &self.params,
            };
            ctx.upload(buf, 0, bytes);
            self.params_last = bytes.to_vec();
        }
    }

    /// The layer's bind group over `buffers` (binding i = buffers[i]), made again only when
    /// a buffer changed.
    fn bind_group(
        &mut self,
        ctx: &GpuContext,
        label: &str,
        layout: &wgpu::BindGroupLayout,
        buffers: &[&wgpu::Buffer],
    ) -> wgpu::BindGroup {
        let key: Vec<wgpu::Buffer> = buffers.iter().map(|&b| b.clone()).collect();
        if let Some((k, bg)) = &self.bind
            && *k == key
        {
            return bg.clone();
        }
        let bg = ctx.bind_group(label, layout, buffers);
        self.bind = Some((key, bg.clone()));
        bg
    }
}

/// The GPU halves of a model's LSTMs, in order.
fn recurrent(layers: &mut [Layer]) -> impl Iterator<Item = &mut crate::gpu::scheduler::GpuLstm> {
    layers
        .iter_mut()
        .flat_map(|l| -> Vec<&mut crate::gpu::scheduler::GpuLstm> {
            match l {
                Layer::Lstm(x) => x.gpu_mut().into_iter().collect(),
                Layer::Bidirectional {
                    forward, backward, ..
                } => forward
                    .gpu_mut()
                    .into_iter()
                    .chain(backward.gpu_mut())
                    .collect(),
                _ => vec![],
            }
        })
}

pub(crate) struct GpuModel {
    ctx: Arc<GpuContext>,
    input: Grow,
    user_mask: Grow,
    mask: Grow,
    slots: Vec<Slot>,
    staging: wgpu::Buffer,
    staging_cap: u64,
}

impl GpuModel {
    pub fn new(ctx: &Arc<GpuContext>, layers: &[Layer]) -> Result<Self> {
        let mut slots = Vec::new();
        for l in layers {
            let dense = match l {
                Layer::Dense {
                    kernel,
                    bias,
                    activation,
                } => {
                    let k = kernel.as_standard_layout();
                    let b = bias
                        .clone()
                        .unwrap_or_else(|| ndarray::Array1::zeros(kernel.ncols()));
                    Some(GpuDense {
                        kernel: ctx.storage_with("dense kernel", k.as_slice().expect("std")),
                        bias: ctx.storage_with("dense bias", b.as_slice().expect("contiguous")),
                        dims: uniform(ctx, 16),
                        pipeline: ctx.kernels.proj_pipeline(ctx.device(), activation.code()),
                        in_dim: kernel.nrows(),
                        units: kernel.ncols(),
                    })
                }
                _ => None,
            };
            slots.push(Slot {
                out: Grow::new(ctx, "layer output"),
                half_a: Grow::new(ctx, "bidirectional forward half"),
                half_b: Grow::new(ctx, "bidirectional backward half"),
                params: uniform(ctx, 16),
                dense,
                params_last: Vec::new(),
                bind: None,
            });
        }
        ctx.check_errors()?;
        Ok(GpuModel {
            ctx: ctx.clone(),
            input: Grow::new(ctx, "model input"),
            user_mask: Grow::new(ctx, "mask"),
            mask: Grow::new(ctx, "masking output"),
            slots,
            staging: ctx.staging(16),
            staging_cap: 16,
        })
    }

    /// Runs all layers: one encoder, one submit, one readback — or, when one call's buffers
    /// would exceed a storage binding or the scratch budget, the same per group of batch rows
    /// (rows are independent in every layer; the LSTMs' states stay whole on the GPU).
    pub fn call(
        &mut self,
        layers: &mut [Layer],
        x: ArrayView3<'_, f32>,
        mask: Option<&Array2<bool>>,
    ) -> Result<ModelOutput> {
        let ctx = self.ctx.clone();
        let (batch, steps, d) = x.dim();
        // the widest per-row buffer: input, activations, and an LSTM's 4U projection scratch
        let mut width = d;
        for l in layers.iter() {
            width = width.max(match l {
                Layer::Lstm(x) => 4 * x.config().units,
                Layer::Bidirectional { forward, .. } => 4 * forward.config().units,
                Layer::Dense { kernel, .. } => kernel.ncols(),
                Layer::Masking { .. } => 0,
            });
        }
        let limits = ctx.device().limits();
        let cap = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size)
            .min(ctx.scratch_budget());
        let per_row = (steps * width * 8) as u64; // a bidirectional concat doubles a width
        if per_row > cap {
            return Err(crate::Error::TooLarge {
                what: format!("one batch row of the model ({steps} steps × {width} floats × 2)"),
                bytes: per_row,
                limit: cap,
                limit_name: "the scratch budget (GpuContext::set_scratch_budget)".into(),
            });
        }
        // dispatch sizes: B·T rows of projection/Dense tiles, B workgroups of the recurrence,
        // each at most max_compute_workgroups_per_dimension
        // (an element-wise Bidirectional merge runs one invocation per element, 64 a group)
        let merge_w = layers
            .iter()
            .filter_map(|l| match l {
                Layer::Bidirectional { forward, merge, .. } if merge.code().is_some() => {
                    Some(forward.config().units)
                }
                _ => None,
            })
            .max()
            .unwrap_or(1);
        let wg_max = limits.max_compute_workgroups_per_dimension as usize;
        let row_steps = wg_max * PROJ_TILE as usize / merge_w;
        if steps > row_steps {
            return Err(crate::Error::TooLarge {
                what: format!(
                    "one batch row of the model ({steps} steps, more than one dispatch covers)"
                ),
                bytes: steps as u64,
                limit: row_steps as u64,
                limit_name: "the steps one dispatch covers (max_compute_workgroups_per_dimension)"
                    .into(),
            });
        }
        let rows = batch
            .min((cap / per_row) as usize)
            .min(wg_max)
            .min(row_steps / steps.max(1));
        // Every LSTM decides its initial state once per call (stateful rules).
        let mut inits = Vec::new();
        for l in layers.iter_mut() {
            match l {
                Layer::Lstm(x) => inits.push(x.begin_call(batch, false)?),
                Layer::Bidirectional {
                    forward, backward, ..
                } => {
                    inits.push(forward.begin_call(batch, false)?);
                    inits.push(backward.begin_call(batch, false)?);
                }
                _ => {}
            }
        }
        if rows == batch {
            return self.call_part(layers, x, mask.map(|m| m.view()), 0, batch, &inits);
        }
        // the h slot each LSTM starts this call from (clearing or uploading a state resets it
        // to 0): every row group must start there
        let slots: Vec<usize> = recurrent(layers)
            .zip(&inits)
            .map(|(g, init)| match init {
                InitialState::Carried => g.slot().unwrap_or(0),
                _ => 0,
            })
            .collect();
        let mut outputs: Vec<ArrayD<f32>> = Vec::new();
        let mut states = Vec::new();
        let _sum = ctx.sum_gpu_time();
        for r0 in (0..batch).step_by(rows) {
            let nr = rows.min(batch - r0);
            if r0 > 0 {
                for (g, s) in recurrent(layers).zip(&slots) {
                    g.set_slot(*s);
                }
            }
            let group_inits: Vec<InitialState> = if r0 == 0 {
                inits.clone()
            } else {
                vec![InitialState::Carried; inits.len()]
            };
            let part = self.call_part(
                layers,
                x.slice(ndarray::s![r0..r0 + nr, .., ..]),
                mask.map(|m| m.slice(ndarray::s![r0..r0 + nr, ..])),
                r0,
                batch,
                &group_inits,
            )?;
            if outputs.is_empty() {
                outputs = part.outputs;
            } else {
                for (o, p) in outputs.iter_mut().zip(part.outputs) {
                    *o = ndarray::concatenate(ndarray::Axis(0), &[o.view(), p.view()])
                        .expect("same trailing shape");
                }
            }
            states = part.states;
        }
        Ok(ModelOutput { outputs, states })
    }

    /// One group of rows [row0, row0 + x.rows) of a call over `total` rows.
    fn call_part(
        &mut self,
        layers: &mut [Layer],
        x: ArrayView3<'_, f32>,
        mask: Option<ndarray::ArrayView2<'_, bool>>,
        row0: usize,
        total: usize,
        inits: &[InitialState],
    ) -> Result<ModelOutput> {
        let ctx = self.ctx.clone();
        let device = ctx.device();
        let (batch, steps, d) = x.dim();
        let mut inits = inits.iter().copied();
        let part = Part {
            batch: total,
            row0,
            rows: batch,
            steps,
            first: true,
        };
        let x = x.as_standard_layout();
        let input = self
            .input
            .ensure(&ctx, (batch * steps * d * 4) as u64)?
            .clone();
        ctx.upload(&input, 0, bytemuck::cast_slice(x.as_slice().expect("std")));
        let mut cur_mask = match mask {
            Some(m) => {
                let buf = self
                    .user_mask
                    .ensure(&ctx, (batch * steps * 4) as u64)?
                    .clone();
                let words: Vec<u32> = m.iter().map(|&v| v as u32).collect();
                ctx.upload(&buf, 0, bytemuck::cast_slice(&words));
                Some(buf)
            }
            None => None,
        };
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("model call"),
        });
        let mut cur = input;
        let (mut width, mut seq) = (d, true);
        let n = layers.len();
        // (buffer, element count, shape) of each returned array, and the state ranges.
        let mut outs: Vec<(wgpu::Buffer, Vec<usize>)> = Vec::new();
        let mut state_names: Vec<String> = Vec::new();
        let mut state_ranges: Vec<(wgpu::Buffer, u64, usize)> = Vec::new();
        let mut dispatches = 0u64;
        for (i, layer) in layers.iter_mut().enumerate() {
            let last = i + 1 == n;
            let slot = &mut self.slots[i];
            match layer {
                Layer::Masking { mask_value } => {
                    let rows = batch * steps;
                    let mbuf = self.mask.ensure(&ctx, (rows * 4) as u64)?.clone();
                    let p = MaskParams {
                        rows: rows as u32,
                        dim: width as u32,
                        mask_value: *mask_value,
                        pad: 0,
                    };
                    slot.write_params(&ctx, bytemuck::bytes_of(&p));
                    let params = slot.params.clone();
                    let bg = slot.bind_group(
                        &ctx,
                        "masking",
                        &ctx.kernels.mask_layout,
                        &[&cur, &mbuf, &params],
                    );
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: None,
                        timestamp_writes: ctx.pass_timestamps(),
                    });
                    pass.set_pipeline(&ctx.kernels.mask_pipeline(device));
                    pass.set_bind_group(0, &bg, &[]);
                    pass.dispatch_workgroups((rows as u32).div_ceil(64), 1, 1);
                    dispatches += 1;
                    cur_mask = Some(mbuf);
                }
                Layer::Lstm(l) => {
                    let cfg = l.config().clone();
                    let u = cfg.units;
                    let out_steps = if cfg.return_sequences { steps } else { 1 };
                    let out = slot
                        .out
                        .ensure(&ctx, (batch * out_steps * u * 4) as u64)?
                        .clone();
                    if ctx.debug_poison() {
                        ctx.poison(&out, batch * out_steps * u);
                    }
                    let init = inits.next().expect("one per LSTM");
                    let g = l.gpu_mut().expect("a GPU model holds GPU layers");
                    let io = Io {
                        x: &cur,
                        mask: cur_mask.as_ref(),
                        out: &out,
                        layout: OutLayout::dense(u),
                    };
                    g.record(&mut encoder, &cfg, part, init, None, &io)?;
                    if last && cfg.return_state {
                        for (name, (b, o, len)) in
                            ["h", "c"].iter().zip(g.state_ranges().expect("recorded"))
                        {
                            state_names.push(name.to_string());
                            state_ranges.push((b.clone(), o, len));
                        }
                    }
                    cur = out;
                    width = u;
                    if !cfg.return_sequences {
                        seq = false;
                        cur_mask = None;
                    }
                }
                Layer::Bidirectional {
                    forward,
                    backward,
                    merge,
                } => {
                    let (fc, bc) = (forward.config().clone(), backward.config().clone());
                    let (uf, ub) = (fc.units, bc.units);
                    let out_steps = if fc.return_sequences { steps } else { 1 };
                    let rows = batch * out_steps;
                    let merged = if *merge == MergeMode::Concat {
                        uf + ub
                    } else {
                        uf
                    };
                    let out = slot.out.ensure(&ctx, (rows * merged * 4) as u64)?.clone();
                    if ctx.debug_poison() {
                        ctx.poison(&out, rows * merged);
                    }
                    let (fa, fb, layouts) = match merge {
                        MergeMode::Concat => (
                            out.clone(),
                            out.clone(),
                            [
                                OutLayout {
                                    stride: uf + ub,
                                    offset: 0,
                                    time_order: false,
                                },
                                OutLayout {
                                    stride: uf + ub,
                                    offset: uf,
                                    time_order: true,
                                },
                            ],
                        ),
                        MergeMode::None => (
                            out.clone(),
                            slot.half_b.ensure(&ctx, (rows * ub * 4) as u64)?.clone(),
                            [
                                OutLayout::dense(uf),
                                OutLayout {
                                    time_order: true,
                                    ..OutLayout::dense(ub)
                                },
                            ],
                        ),
                        _ => (
                            slot.half_a.ensure(&ctx, (rows * uf * 4) as u64)?.clone(),
                            slot.half_b.ensure(&ctx, (rows * ub * 4) as u64)?.clone(),
                            [
                                OutLayout::dense(uf),
                                OutLayout {
                                    time_order: true,
                                    ..OutLayout::dense(ub)
                                },
                            ],
                        ),
                    };
                    for (half, (l, (target, layout))) in [forward, backward]
                        .into_iter()
                        .zip([(&fa, layouts[0]), (&fb, layouts[1])])
                        .enumerate()
                    {
                        let cfg = if half == 0 { &fc } else { &bc };
                        let init = inits.next().expect("one per LSTM");
                        let g = l.gpu_mut().expect("a GPU model holds GPU layers");
                        let io = Io {
                            x: &cur,
                            mask: cur_mask.as_ref(),
                            out: target,
                            layout,
                        };
                        g.record(&mut encoder, cfg, part, init, None, &io)?;
                        if last && cfg.return_state {
                            let prefix = if half == 0 { "forward" } else { "backward" };
                            for (name, (b, o, len)) in
                                ["h", "c"].iter().zip(g.state_ranges().expect("recorded"))
                            {
                                state_names.push(format!("{prefix}_{name}"));
                                state_ranges.push((b.clone(), o, len));
                            }
                        }
                    }
                    if let Some(mode) = merge.code() {
                        let nel = rows * uf;
                        slot.write_params(&ctx, bytemuck::cast_slice(&[nel as u32, 0, 0, 0]));
                        let params = slot.params.clone();
                        let bg = slot.bind_group(
                            &ctx,
                            "merge",
                            &ctx.kernels.merge_layout,
                            &[&fa, &fb, &out, &params],
                        );
                        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                            label: None,
                            timestamp_writes: ctx.pass_timestamps(),
                        });
                        pass.set_pipeline(&ctx.kernels.merge_pipeline(device, mode));
                        pass.set_bind_group(0, &bg, &[]);
                        pass.dispatch_workgroups((nel as u32).div_ceil(64), 1, 1);
                        dispatches += 1;
                    }
                    let shape = |w: usize| {
                        if fc.return_sequences {
                            vec![batch, steps, w]
                        } else {
                            vec![batch, w]
                        }
                    };
                    if *merge == MergeMode::None {
                        outs.push((fa, shape(uf)));
                        outs.push((fb, shape(ub)));
                    }
                    cur = out;
                    width = merged;
                    if !fc.return_sequences {
                        seq = false;
                        cur_mask = None;
                    }
                }
                Layer::Dense { .. } => {
                    let dn = slot.dense.as_ref().expect("made for Dense layers");
                    debug_assert_eq!(dn.in_dim, width);
                    let rows = batch * if seq { steps } else { 1 };
                    let out = slot.out.ensure(&ctx, (rows * dn.units * 4) as u64)?.clone();
                    if ctx.debug_poison() {
                        ctx.poison(&out, rows * dn.units);
                    }
                    let dims = ProjDims {
                        m: rows as u32,
                        n: dn.units as u32,
                        k: dn.in_dim as u32,
                        pad: 0,
                    };
                    let (kernel, bias, dims_buf) =
                        (dn.kernel.clone(), dn.bias.clone(), dn.dims.clone());
                    let (pipeline, units) = (dn.pipeline.clone(), dn.units);
                    slot.write_params(&ctx, bytemuck::bytes_of(&dims));
                    let bg = slot.bind_group(
                        &ctx,
                        "dense",
                        &ctx.kernels.proj_layout,
                        &[&cur, &kernel, &bias, &out, &dims_buf],
                    );
                    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                        label: None,
                        timestamp_writes: ctx.pass_timestamps(),
                    });
                    pass.set_pipeline(&pipeline);
                    pass.set_bind_group(0, &bg, &[]);
                    pass.dispatch_workgroups(
                        (units as u32).div_ceil(PROJ_TILE),
                        (rows as u32).div_ceil(PROJ_TILE),
                        1,
                    );
                    dispatches += 1;
                    cur = out;
                    width = units;
                }
            }
        }
        ctx.count_dispatches(dispatches);
        if outs.is_empty() {
            let shape = if seq {
                vec![batch, steps, width]
            } else {
                vec![batch, width]
            };
            outs.push((cur, shape));
        }
        let mut ranges: Vec<(&wgpu::Buffer, u64, usize)> = outs
            .iter()
            .map(|(b, shape)| (b, 0u64, shape.iter().product()))
            .collect();
        ranges.extend(state_ranges.iter().map(|(b, o, l)| (b, *o, *l)));
        let total: u64 = ranges.iter().map(|r| (r.2 * 4) as u64).sum();
        if total > self.staging_cap {
            self.staging = ctx.staging(total);
            self.staging_cap = total;
        }
        let mut parts = ctx
            .submit_and_read(encoder, &self.staging, &ranges)?
            .into_iter();
        let outputs = outs
            .iter()
            .map(|(_, shape)| {
                ArrayD::from_shape_vec(IxDyn(shape), parts.next().unwrap_or_default())
                    .expect("sized")
            })
            .collect();
        let states = state_names
            .into_iter()
            .map(|name| {
                let v = parts.next().unwrap_or_default();
                let rows = batch;
                let cols = v.len() / rows.max(1);
                (name, Array2::from_shape_vec((rows, cols), v).expect("B·U"))
            })
            .collect();
        Ok(ModelOutput { outputs, states })
    }
}
