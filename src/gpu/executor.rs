//! The GPU executor: runs any [`Plan`] as one command encoder and one submit per call — the
//! inputs uploaded, every node recorded by its [`GpuOp`] with intermediates in GPU buffers,
//! the outputs read back with one map. Buffers and bind groups are made on the first call of
//! a shape and reused, so a warm call creates none and uploads only its inputs.
//!
//! It is also the one place where big calls are split: a call whose tensors and scratch
//! exceed one storage binding or the call's scratch budget runs in parts — groups of batch
//! rows (every layer treats rows independently; recurrent states stay whole on the GPU and
//! each part works on its rows), and, when one row is still too big and every layer allows
//! it, chunks of time carrying the recurrent states from chunk to chunk. Same results as
//! one part.
//!
//! Twin of `cpu_executor.rs`.

use std::sync::Arc;

use ndarray::{ArrayD, IxDyn, Slice};

use crate::config::Precision;
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::gpu::ops::{self, GpuOp, GpuTensor, Init, Part, Recorder};
use crate::gpu::options::{CallOptions, CallReport};
use crate::layers::Layer;
use crate::plan::Plan;
use crate::state::LstmState;
use crate::tensor::{Dtype, TensorInfo, Value};

/// The scratch budget's name in [`Error::TooLarge`].
const SCRATCH_NAME: &str = "the scratch budget (CallOptions::scratch_budget)";
/// The binding limit's name in [`Error::TooLarge`].
const BINDING_NAME: &str = "the device's max_storage_buffer_binding_size";

pub(crate) use crate::gpu::ops::bidirectional::Grow;

/// Timestamp queries of this executor's calls (its own, so calls on other executors of the
/// same context never mix their times).
struct Timing {
    queries: wgpu::QuerySet,
    resolve: wgpu::Buffer,
}

/// Where a tensor's data lives during a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Home {
    /// Its own buffer (index = tensor id).
    Own,
    /// Another tensor's buffer (an identity layer's output).
    Alias(usize),
}

/// How a call is cut: rows per part and, for a time-chunked call, steps per chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Split {
    rows: usize,
    chunk: Option<usize>,
}

/// Per tensor, whether it is in the input's time order (`false`) or in a backward recurrent
/// layer's processing order (`true`); `None` for a plan that cannot run in time chunks
/// (layers that mix time steps or take states, sequences of different lengths).
fn time_orders(plan: &Plan, shapes: &[Vec<usize>]) -> Option<(bool, Vec<bool>)> {
    let mut lengths = shapes.iter().filter(|s| s.len() >= 3).map(|s| s[1]);
    if let Some(t) = lengths.next()
        && lengths.any(|l| l != t)
    {
        return None;
    }
    let mut reversed = vec![false; plan.tensor_count()];
    let mut backwards = None;
    for node in &plan.nodes {
        let first = reversed[node.inputs[0].0];
        match &node.layer {
            Layer::Identity(_) | Layer::Masking(_) | Layer::Dense(_) => {
                for t in &node.outputs {
                    reversed[t.0] = first;
                }
            }
            Layer::Recurrent(r) => {
                if first || node.inputs.len() > 1 {
                    return None;
                }
                let back = r.config.go_backwards;
                if *backwards.get_or_insert(back) != back {
                    return None;
                }
                reversed[node.outputs[0].0] = back;
            }
            _ => return None,
        }
    }
    Some((backwards.unwrap_or(false), reversed))
}

/// A plan's nodes on one GPU context, and the buffers their calls reuse.
pub(crate) struct GpuExecutor {
    ctx: Arc<GpuContext>,
    ops: Vec<Box<dyn GpuOp>>,
    data: Vec<Grow>,
    masks: Vec<Grow>,
    staging: wgpu::Buffer,
    staging_cap: u64,
    timing: Option<Timing>,
    report: CallReport,
}

impl GpuExecutor {
    /// Uploads every layer's weights and builds the pipelines, once.
    pub fn new(ctx: &Arc<GpuContext>, plan: &Plan, precision: Precision) -> Result<Self> {
        ctx.scoped("building a model on the GPU", || {
            let ops = plan
                .nodes
                .iter()
                .map(|n| {
                    ops::build(ctx, &n.layer, precision)
                        .map_err(|e| e.in_layer(&n.name, n.layer.class_name()))
                })
                .collect::<Result<Vec<_>>>()?;
            let n = plan.tensor_count();
            let device = ctx.device();
            let timing = device
                .features()
                .contains(wgpu::Features::TIMESTAMP_QUERY)
                .then(|| Timing {
                    queries: device.create_query_set(&wgpu::QuerySetDescriptor {
                        label: Some("call timestamps"),
                        ty: wgpu::QueryType::Timestamp,
                        count: 2,
                    }),
                    resolve: device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("timestamp resolve"),
                        size: 16,
                        usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                        mapped_at_creation: false,
                    }),
                });
            Ok(GpuExecutor {
                ctx: ctx.clone(),
                ops,
                data: (0..n).map(|_| Grow::new(ctx, "tensor")).collect(),
                masks: (0..n).map(|_| Grow::new(ctx, "mask")).collect(),
                staging: ctx.staging(16),
                staging_cap: 16,
                timing,
                report: CallReport::default(),
            })
        })
    }

    /// The context.
    pub fn ctx(&self) -> &Arc<GpuContext> {
        &self.ctx
    }

    /// What the last call did.
    pub fn report(&self) -> CallReport {
        self.report
    }

    /// Every LSTM of the plan, in state-slot order.
    pub fn lstms(&mut self) -> Vec<&mut ops::GpuLstm> {
        self.ops.iter_mut().flat_map(|o| o.lstms()).collect()
    }

    /// The same, read-only.
    pub fn lstms_ref(&self) -> Vec<&ops::GpuLstm> {
        self.ops.iter().flat_map(|o| o.lstms_ref()).collect()
    }

    /// Runs the plan on `inputs` (one per plan input, masks attached). Stateful layers start
    /// from their state when `carry`, else from zeros; `host` overrides the start state of
    /// the first node (a single layer's `initial_state`). Runs in its own error scopes; a
    /// failed call puts the layers' bookkeeping back so the model stays usable.
    pub fn call(
        &mut self,
        plan: &Plan,
        inputs: &[Value],
        carry: bool,
        host: Option<&[LstmState]>,
        opts: &CallOptions,
    ) -> Result<Vec<ArrayD<f32>>> {
        let started = self.start(plan, inputs, carry, host, opts, false)?;
        if let Started::Pending(_) = &started {
            self.ctx.wait()?;
        }
        self.finish(started)
    }

    /// Starts a call: a call that fits one part is submitted and, with `pending_ok`, left
    /// pending (see [`GpuExecutor::finish`]); a split call runs all its parts.
    pub fn start(
        &mut self,
        plan: &Plan,
        inputs: &[Value],
        carry: bool,
        host: Option<&[LstmState]>,
        opts: &CallOptions,
        pending_ok: bool,
    ) -> Result<Started> {
        let slots: Vec<Option<usize>> = self.lstms_ref().iter().map(|l| l.slot()).collect();
        let ctx = self.ctx.clone();
        let r = ctx.scoped("model call", || {
            self.call_unscoped(plan, inputs, carry, host, opts, pending_ok)
        });
        if r.is_err() {
            for (l, s) in self.lstms().into_iter().zip(slots) {
                l.forget_cached(s);
            }
            for op in &mut self.ops {
                op.forget();
            }
        }
        r
    }

    fn call_unscoped(
        &mut self,
        plan: &Plan,
        inputs: &[Value],
        carry: bool,
        host: Option<&[LstmState]>,
        opts: &CallOptions,
        pending_ok: bool,
    ) -> Result<Started> {
        self.report = CallReport::default();
        let batch = inputs.first().map_or(0, Value::batch);
        // what only the host can check (token ids against a vocabulary), before any work
        for node in &plan.nodes {
            let host: Option<Vec<&Value>> = node
                .inputs
                .iter()
                .map(|t| {
                    plan.inputs
                        .iter()
                        .position(|i| i.tensor == *t)
                        .map(|i| &inputs[i])
                })
                .collect();
            if let Some(values) = host {
                node.layer
                    .ops()
                    .check_host_inputs(&values)
                    .map_err(|e| e.in_layer(&node.name, node.layer.class_name()))?;
            }
        }
        let given: Vec<(&[usize], bool)> = inputs
            .iter()
            .map(|v| (v.data.shape(), v.mask.is_some()))
            .collect();
        let (shapes, infos) = plan.concrete_shapes(&given)?;
        let homes = self.homes(plan);
        let split = self.split(plan, &shapes, opts)?;
        // stateful layers with a state start from it; everything else from zeros
        let inits: Vec<Init<'_>> = plan
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| match (i, host) {
                (0, Some(h)) => Init::Host(h),
                _ if carry && n.layer.ops().stateful() => Init::Carried,
                _ => Init::Zeros,
            })
            .collect();
        let start_slots: Vec<Option<usize>> = self.lstms_ref().iter().map(|l| l.slot()).collect();
        let steps = time_steps(plan, &shapes);
        let orders = split.chunk.and_then(|_| time_orders(plan, &shapes));
        let mut outputs: Vec<ArrayD<f32>> = plan
            .outputs
            .iter()
            .map(|t| ArrayD::zeros(IxDyn(&shapes[t.0])))
            .collect();
        let mut gpu_ns = 0u64;
        let mut timed = false;
        let chunk = split.chunk.unwrap_or(steps.max(1));
        for r0 in (0..batch).step_by(split.rows.max(1)) {
            let rows = split.rows.min(batch - r0);
            if r0 > 0 {
                // every row group starts from the slot the call started in (a state made
                // by this call's first group starts in slot 0)
                for (l, s) in self.lstms().into_iter().zip(&start_slots) {
                    l.set_slot(s.unwrap_or(0));
                }
            }
            for k0 in (0..steps.max(1)).step_by(chunk) {
                let k1 = (k0 + chunk).min(steps.max(1));
                // the input-time window of this chunk, for tensors in input order
                let window = |reversed: bool| -> (usize, usize) {
                    match &orders {
                        Some((true, _)) if !reversed => (steps - k1, steps - k0),
                        _ => (k0, k1),
                    }
                };
                let part = Part {
                    batch,
                    row0: r0,
                    rows,
                    steps: if split.chunk.is_some() {
                        k1 - k0
                    } else {
                        steps
                    },
                    first: k0 == 0,
                };
                let slice = |t: usize, shape: &[usize]| -> Vec<usize> {
                    let mut s = shape.to_vec();
                    s[0] = rows;
                    if split.chunk.is_some() && s.len() >= 3 {
                        s[1] = k1 - k0;
                    }
                    let _ = t;
                    s
                };
                let part_shapes: Vec<Vec<usize>> = shapes
                    .iter()
                    .enumerate()
                    .map(|(t, s)| slice(t, s))
                    .collect();
                let pending = self.submit_part(
                    plan,
                    inputs,
                    &infos,
                    &homes,
                    &part_shapes,
                    part,
                    |t, a: &ArrayD<f32>| -> ArrayD<f32> {
                        let mut v = a.slice_axis(ndarray::Axis(0), Slice::from(r0..r0 + rows));
                        if split.chunk.is_some() && a.ndim() >= 3 {
                            let rev = orders.as_ref().is_some_and(|(_, o)| o[t]);
                            let (a0, a1) = window(rev);
                            v = v.slice_axis_move(ndarray::Axis(1), Slice::from(a0..a1));
                        }
                        v.to_owned()
                    },
                    &inits,
                    k0 > 0,
                    opts,
                )?;
                self.report.parts += 1;
                let single = split.chunk.is_none() && split.rows >= batch;
                if single && pending_ok {
                    return Ok(Started::Pending(pending));
                }
                self.ctx.wait()?;
                let (outs, ns) = self.read_part(pending)?;
                if let Some(ns) = ns {
                    gpu_ns += ns;
                    timed = true;
                }
                for ((o, t), part_out) in outputs.iter_mut().zip(&plan.outputs).zip(outs) {
                    let mut dst = o.slice_axis_mut(ndarray::Axis(0), Slice::from(r0..r0 + rows));
                    if split.chunk.is_some() && dst.ndim() >= 3 {
                        let rev = orders.as_ref().is_some_and(|(_, o)| o[t.0]);
                        let (a0, a1) = window(rev);
                        dst.slice_axis_mut(ndarray::Axis(1), Slice::from(a0..a1))
                            .assign(&part_out);
                    } else {
                        dst.assign(&part_out);
                    }
                }
            }
        }
        self.report.gpu_time_ns = timed.then_some(gpu_ns);
        Ok(Started::Done(outputs))
    }

    /// Which buffer each tensor's data lives in (identity layers alias their input).
    fn homes(&self, plan: &Plan) -> Vec<Home> {
        let mut homes = vec![Home::Own; plan.tensor_count()];
        for (node, op) in plan.nodes.iter().zip(&self.ops) {
            if op.alias() {
                let src = match homes[node.inputs[0].0] {
                    Home::Own => node.inputs[0].0,
                    Home::Alias(s) => s,
                };
                homes[node.outputs[0].0] = Home::Alias(src);
            }
        }
        homes
    }

    /// How to cut the call so every tensor fits one storage binding and all of them, with
    /// the layers' scratch, fit the budget.
    fn split(&self, plan: &Plan, shapes: &[Vec<usize>], opts: &CallOptions) -> Result<Split> {
        let limits = self.ctx.device().limits();
        let binding = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        let budget = opts.scratch_budget.min(u64::MAX / 2);
        let batch = shapes.iter().map(|s| s[0]).max().unwrap_or(1).max(1) as u64;
        let steps = time_steps(plan, shapes).max(1) as u64;
        // bytes per row: every tensor (and its mask), and each layer's scratch per step
        let mut per_row = 0u64;
        let mut widest = (0u64, String::new());
        for (t, s) in shapes.iter().enumerate() {
            let row: u64 = s[1..].iter().map(|&d| d as u64).product::<u64>() * 4;
            per_row += row + if s.len() >= 3 { s[1] as u64 * 4 } else { 0 };
            if row > widest.0 {
                widest = (row, format!("tensor {t}"));
            }
        }
        for (node, op) in plan.nodes.iter().zip(&self.ops) {
            let scratch = op.scratch_per_row_step() * steps;
            per_row += scratch;
            if scratch > widest.0 {
                widest = (scratch, format!("layer `{}`'s scratch", node.name));
            }
        }
        let wg_max = limits.max_compute_workgroups_per_dimension as u64;
        let fit_rows = (budget / per_row.max(1))
            .min(binding / widest.0.max(1))
            .min(wg_max);
        if fit_rows >= 1 {
            return Ok(Split {
                rows: fit_rows.min(batch) as usize,
                chunk: None,
            });
        }
        // one row is too big: chunks of time, where the plan allows
        if time_orders(plan, shapes).is_some() && steps > 1 {
            let per_step = per_row.div_ceil(steps);
            let widest_step = widest.0.div_ceil(steps);
            let fit = (budget / per_step.max(1)).min(binding / widest_step.max(1));
            if fit >= 1 {
                return Ok(Split {
                    rows: 1,
                    chunk: Some(fit.min(steps) as usize),
                });
            }
            let (bytes, limit, limit_name) = if per_step > budget {
                (per_step, budget, SCRATCH_NAME)
            } else {
                (widest_step, binding, BINDING_NAME)
            };
            return Err(Error::TooLarge {
                what: format!("one timestep of one row of model `{}`", plan.name),
                bytes,
                limit,
                limit_name: limit_name.into(),
            });
        }
        let (bytes, limit, limit_name) = if per_row > budget {
            (per_row, budget, SCRATCH_NAME)
        } else {
            (widest.0, binding, BINDING_NAME)
        };
        Err(Error::TooLarge {
            what: format!(
                "one batch row of model `{}` ({} the largest: {})",
                plan.name,
                if per_row > budget {
                    "all its tensors;"
                } else {
                    "one binding;"
                },
                widest.1
            ),
            bytes,
            limit,
            limit_name: limit_name.into(),
        })
    }

    /// One part: buffers, uploads, every node recorded, submitted with the readback of the
    /// outputs requested (not waited for).
    #[allow(clippy::too_many_arguments)]
    fn submit_part(
        &mut self,
        plan: &Plan,
        inputs: &[Value],
        infos: &[TensorInfo],
        homes: &[Home],
        shapes: &[Vec<usize>],
        part: Part,
        slice: impl Fn(usize, &ArrayD<f32>) -> ArrayD<f32>,
        inits: &[Init<'_>],
        later_chunk: bool,
        opts: &CallOptions,
    ) -> Result<PendingPart> {
        let ctx = self.ctx.clone();
        // buffers
        for (t, s) in shapes.iter().enumerate() {
            if homes[t] == Home::Own {
                let bytes = s.iter().map(|&d| d as u64).product::<u64>() * 4;
                self.data[t].ensure(&ctx, bytes)?;
            }
            if infos[t].masked && s.len() >= 2 {
                self.masks[t].ensure(&ctx, (s[0] * s[1] * 4) as u64)?;
            }
        }
        let buf = |t: usize| -> wgpu::Buffer {
            match homes[t] {
                Home::Own => self.data[t].buf.clone(),
                Home::Alias(s) => self.data[s].buf.clone(),
            }
        };
        // which mask buffer each masked tensor reads: its own (inputs and layers that
        // compute a mask), else the one it inherits from its layer's first masked input
        let mut mask_of: Vec<Option<wgpu::Buffer>> = vec![None; shapes.len()];
        for (i, input) in plan.inputs.iter().enumerate() {
            let t = input.tensor.0;
            if inputs[i].mask.is_some() {
                mask_of[t] = Some(self.masks[t].buf.clone());
            }
        }
        for node in &plan.nodes {
            let computes = node.layer.computes_mask(
                &node
                    .inputs
                    .iter()
                    .map(|t| infos[t.0].clone())
                    .collect::<Vec<_>>(),
            );
            let explicit = node.mask.map(|m| buf(m.0));
            let inherited = explicit
                .clone()
                .or_else(|| node.inputs.iter().find_map(|t| mask_of[t.0].clone()));
            for t in &node.outputs {
                if infos[t.0].masked {
                    mask_of[t.0] = if computes {
                        Some(self.masks[t.0].buf.clone())
                    } else {
                        inherited.clone()
                    };
                }
            }
        }
        // uploads
        for (i, input) in plan.inputs.iter().enumerate() {
            let t = input.tensor.0;
            let v = &inputs[i];
            let data = if infos[t].dtype == Dtype::Int {
                // token ids as u32 (checked against the vocabulary by the Embedding's op)
                // (the exact ids, two's complement in 32 bits, carried bit for bit in f32s)
                let tokens = v
                    .tokens
                    .as_ref()
                    .map_or_else(|| v.data.mapv(|x| x as i64), |tk| tk.clone());
                slice(t, &tokens.mapv(|x| f32::from_bits(x as u32)))
            } else {
                slice(t, &v.data)
            };
            let data = data.as_standard_layout();
            ctx.upload(
                &buf(t),
                0,
                bytemuck::cast_slice(data.as_slice().expect("standard layout")),
            );
            if let Some(m) = &v.mask {
                let m3 = m
                    .view()
                    .insert_axis(ndarray::Axis(2))
                    .into_dyn()
                    .mapv(|b| b as u32 as f32);
                let words: Vec<u32> = slice(t, &m3).iter().map(|&x| x as u32).collect();
                ctx.upload(&self.masks[t].buf, 0, bytemuck::cast_slice(&words));
            }
        }
        let mut encoder = ctx
            .device()
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("call"),
            });
        let timing = self.timing.as_ref().filter(|_| opts.gpu_timing);
        let mut report = self.report;
        {
            let mut rec = Recorder {
                ctx: &ctx,
                encoder: &mut encoder,
                opts,
                part,
                init: Init::Zeros,
                report: &mut report,
                timing: timing.map(|t| &t.queries),
                begun: false,
            };
            for ((node, op), init) in plan.nodes.iter().zip(&mut self.ops).zip(inits) {
                if op.alias() {
                    continue;
                }
                let tensor = |t: &crate::plan::TensorId| GpuTensor {
                    buf: buf(t.0),
                    shape: shapes[t.0].clone(),
                    mask: mask_of[t.0].clone(),
                    dtype: infos[t.0].dtype,
                };
                let mut ins: Vec<GpuTensor> = node.inputs.iter().map(tensor).collect();
                if let Some(m) = node.mask {
                    ins[0].mask = Some(buf(m.0));
                }
                let outs: Vec<GpuTensor> = node.outputs.iter().map(tensor).collect();
                rec.init = if later_chunk { Init::Carried } else { *init };
                // a node's steps are its sequence input's: a layer before it (Conv1D,
                // pooling, padding, cropping) may have changed the length
                rec.part.steps = match ins.first() {
                    Some(x) if x.shape.len() >= 3 => x.shape[1],
                    _ => part.steps,
                };
                op.record(&mut rec, &ins, &outs)
                    .map_err(|e| e.in_layer(&node.name, node.layer.class_name()))?;
            }
        }
        self.report = report;
        let mut ranges: Vec<(wgpu::Buffer, u64, usize)> = plan
            .outputs
            .iter()
            .map(|t| (buf(t.0), 0u64, shapes[t.0].iter().product()))
            .collect();
        if let Some(t) = timing {
            encoder.resolve_query_set(&t.queries, 0..2, &t.resolve, 0);
            ranges.push((t.resolve.clone(), 0, 4));
        }
        let total: u64 = ranges
            .iter()
            .map(|r| (r.2 as u64 * 4).next_multiple_of(4))
            .sum();
        if total > self.staging_cap {
            self.staging = ctx.staging(total);
            self.staging_cap = total;
        }
        let refs: Vec<(&wgpu::Buffer, u64, usize)> =
            ranges.iter().map(|(b, o, l)| (b, *o, *l)).collect();
        let read = ctx.submit_for_read(encoder, &self.staging, &refs);
        Ok(PendingPart {
            read,
            shapes: plan.outputs.iter().map(|t| shapes[t.0].clone()).collect(),
            timed: timing.is_some(),
        })
    }

    /// Whether a submitted part's results are mapped (polls without blocking).
    pub fn poll(&self, pending: &mut PendingPart) -> Result<bool> {
        self.ctx.poll_read(&mut pending.read)
    }

    /// Reads a part whose map completed (or waits for it): its outputs and GPU time.
    pub fn read_part(&self, pending: PendingPart) -> Result<(Vec<ArrayD<f32>>, Option<u64>)> {
        let ctx = &self.ctx;
        let mut parts = ctx.finish_read(pending.read)?;
        let ns = if pending.timed {
            let words = parts.pop().unwrap_or_default();
            let bits: Vec<u32> = words.iter().map(|w| w.to_bits()).collect();
            (bits.len() == 4).then(|| {
                let stamp = |i: usize| bits[2 * i] as u64 | (bits[2 * i + 1] as u64) << 32;
                let period = ctx.queue().get_timestamp_period() as f64;
                (stamp(1).saturating_sub(stamp(0)) as f64 * period) as u64
            })
        } else {
            None
        };
        let outs = pending
            .shapes
            .iter()
            .zip(parts)
            .map(|(s, v)| {
                ArrayD::from_shape_vec(IxDyn(s), v)
                    .map_err(|e| Error::Gpu(format!("an output was read back wrongly: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok((outs, ns))
    }

    /// Finishes a call [`GpuExecutor::start`] left pending.
    pub fn finish(&mut self, started: Started) -> Result<Vec<ArrayD<f32>>> {
        match started {
            Started::Done(out) => Ok(out),
            Started::Pending(p) => {
                let (out, ns) = self.read_part(p)?;
                self.report.gpu_time_ns = ns;
                Ok(out)
            }
        }
    }
}

/// A submitted part whose outputs have not been read yet. Dropping it discards them (the
/// staging buffer's map is released; see `PendingRead`).
pub(crate) struct PendingPart {
    read: crate::gpu::context::PendingRead,
    shapes: Vec<Vec<usize>>,
    timed: bool,
}

/// A started call: finished (it ran in several parts, each waited for), or its one part
/// submitted and pending.
pub(crate) enum Started {
    Done(Vec<ArrayD<f32>>),
    Pending(PendingPart),
}

/// The longest time axis of the plan's sequence tensors (their second axis; 1 when none
/// has one). Plans that run in time chunks (`time_orders`) have one time axis throughout.
fn time_steps(plan: &Plan, shapes: &[Vec<usize>]) -> usize {
    let _ = plan;
    shapes
        .iter()
        .filter(|s| s.len() >= 3)
        .map(|s| s[1])
        .max()
        .unwrap_or(1)
}
