//! The GPU half of each layer kind: [`GpuOp`] records one node of a plan into the executor's
//! command encoder, reading and writing the tensors' GPU buffers. One file per kind, next to
//! its `layers/<kind>.rs` and its kernel `shaders/<kind>.wgsl`.
//!
//! A layer that is the identity at inference (Dropout and its kin) records nothing: its
//! output is its input's buffer ([`GpuOp::alias`]).

use std::sync::Arc;

use crate::config::Precision;
use crate::error::Result;
use crate::gpu::GpuContext;
use crate::gpu::options::{CallOptions, CallReport};
use crate::layers::Layer;
use crate::state::LstmState;

pub(crate) mod activation_layer;
pub(crate) mod batch_normalization;
pub(crate) mod bidirectional;
pub(crate) mod conv1d;
pub(crate) mod dense;
pub(crate) mod dot;
pub(crate) mod embedding;
pub(crate) mod global_pooling;
pub(crate) mod layer_normalization;
pub(crate) mod layout;
pub(crate) mod mask_ops;
pub(crate) mod masking;
pub(crate) mod merge;
pub(crate) mod padding;
pub(crate) mod pooling;
pub(crate) mod recurrent;
pub(crate) mod time_distributed;

pub(crate) use recurrent::GpuLstm;

/// Which part of a call one recording covers: rows [row0, row0 + rows) of a call (and of
/// the state) of `batch` rows, `steps` timesteps of the node's sequence input (set per node
/// by the executor: layers before it may change the length); `first` = the first
/// time chunk of these rows in this call (recurrent layers start their state here, and their
/// masked-output hold at zero).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Part {
    pub batch: usize,
    pub row0: usize,
    pub rows: usize,
    pub steps: usize,
    pub first: bool,
}

/// How the recurrent layers of a node start this call (where the node has no state inputs).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Init<'a> {
    /// From zeros.
    Zeros,
    /// From what their state buffers hold.
    Carried,
    /// From host states, one per state slot of the node (a single layer's `initial_state`).
    Host(&'a [LstmState]),
}

/// One tensor of a recording: its buffer (rows of this part, row-major), its concrete shape
/// (batch first), its mask buffer ((rows, T) u32, 1 = valid), if it carries one, and its dtype.
#[derive(Debug, Clone)]
pub(crate) struct GpuTensor {
    pub buf: wgpu::Buffer,
    pub shape: Vec<usize>,
    pub mask: Option<wgpu::Buffer>,
    /// float32, or token ids uploaded as their u32 bits
    pub dtype: crate::tensor::Dtype,
}

impl GpuTensor {
    /// Elements.
    pub fn len(&self) -> usize {
        self.shape.iter().product()
    }
}

/// What a node records with: the encoder of this part, the call's options, the part, how
/// recurrent layers start, and the report the call fills in.
pub(crate) struct Recorder<'a> {
    pub ctx: &'a Arc<GpuContext>,
    pub encoder: &'a mut wgpu::CommandEncoder,
    pub opts: &'a CallOptions,
    pub part: Part,
    pub init: Init<'a>,
    pub report: &'a mut CallReport,
    /// The query set for timestamps (begin at 0, end at 1), when timing.
    pub timing: Option<&'a wgpu::QuerySet>,
    /// Whether this part's first pass has written its begin timestamp.
    pub begun: bool,
}

impl<'a> Recorder<'a> {
    /// The timestamp writes of the next compute pass: the first pass writes the begin
    /// stamp, every pass the end stamp (the last one wins).
    pub fn timestamps(&mut self) -> Option<wgpu::ComputePassTimestampWrites<'a>> {
        let q = self.timing?;
        let first = !std::mem::replace(&mut self.begun, true);
        Some(wgpu::ComputePassTimestampWrites {
            query_set: q,
            beginning_of_pass_write_index: first.then_some(0),
            end_of_pass_write_index: Some(1),
        })
    }

    /// Begins a compute pass (with the timestamps, when timing).
    pub fn pass(&mut self, label: &str) -> wgpu::ComputePass<'static> {
        let timestamp_writes = self.timestamps();
        self.encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(label),
                timestamp_writes,
            })
            .forget_lifetime()
    }

    /// Records one dispatch of `pipeline` with bind group 0 `bind` over `grid` workgroups in
    /// its own pass called `label`, and counts it.
    pub fn dispatch(
        &mut self,
        label: &str,
        pipeline: &wgpu::ComputePipeline,
        bind: &wgpu::BindGroup,
        (gx, gy, gz): (u32, u32, u32),
    ) {
        let mut pass = self.pass(label);
        pass.set_pipeline(pipeline);
        pass.set_bind_group(0, bind, &[]);
        pass.dispatch_workgroups(gx, gy, gz);
        drop(pass);
        self.dispatched(1);
    }

    /// Counts `n` dispatches (in the context's stats and the call's report).
    pub fn dispatched(&mut self, n: u64) {
        self.ctx.count_dispatches(n);
        self.report.dispatches += n;
    }

    /// The workgroup grid of `n` invocations of 64 on this device (see [`crate::gpu::kernels::grid_1d`]), or
    /// [`crate::Error::TooLarge`] naming `what`.
    pub fn grid(&self, n: u64, what: &str) -> crate::Result<(u32, u32, u32)> {
        crate::gpu::kernels::grid_1d(n, self.wg_max()).ok_or_else(|| crate::Error::TooLarge {
            what: format!("{what}: {n} invocations in one dispatch"),
            bytes: n,
            limit: 64 * (self.wg_max() as u64).pow(3),
            limit_name:
                "one dispatch grid (64 × max_compute_workgroups_per_dimension³ invocations)".into(),
        })
    }

    /// The device's workgroup limit per dimension.
    pub fn wg_max(&self) -> u32 {
        self.ctx
            .device()
            .limits()
            .max_compute_workgroups_per_dimension
    }
}

/// One node of a plan on the GPU.
pub(crate) trait GpuOp: Send + Sync {
    /// Records the node: reads `ins`, writes `outs` (buffers sized by the executor; a
    /// masked output whose layer computes its mask gets its own mask buffer to fill).
    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        ins: &[GpuTensor],
        outs: &[GpuTensor],
    ) -> Result<()>;
    /// Whether output 0 is input 0's buffer (nothing is recorded).
    fn alias(&self) -> bool {
        false
    }
    /// GPU bytes of scratch the node needs per batch row and timestep besides its tensors.
    fn scratch_per_row_step(&self) -> u64 {
        0
    }
    /// The node's LSTMs, in state-slot order.
    fn lstms(&mut self) -> Vec<&mut GpuLstm> {
        Vec::new()
    }
    /// The node's LSTMs, read-only.
    fn lstms_ref(&self) -> Vec<&GpuLstm> {
        Vec::new()
    }
    /// After a failed call: forget what was cached for it.
    fn forget(&mut self) {}
}

/// A node that records nothing: its output is its input's buffer.
struct Alias;

impl GpuOp for Alias {
    fn record(&mut self, _: &mut Recorder<'_>, _: &[GpuTensor], _: &[GpuTensor]) -> Result<()> {
        Ok(())
    }

    fn alias(&self) -> bool {
        true
    }
}

/// Uploads a layer's weights and builds (or fetches) its pipelines.
pub(crate) fn build(
    ctx: &Arc<GpuContext>,
    layer: &Layer,
    precision: Precision,
) -> Result<Box<dyn GpuOp>> {
    Ok(match layer {
        Layer::Identity(_) => Box::new(Alias),
        Layer::Masking(m) => Box::new(masking::GpuMasking::new(ctx, m)),
        Layer::Dense(d) => Box::new(dense::GpuDense::new(ctx, d)),
        Layer::Activation(a) => Box::new(activation_layer::GpuActivation::new(ctx, a.activation)),
        Layer::Recurrent(r) => Box::new(recurrent::GpuRecurrent::new(ctx, r, precision)?),
        Layer::Bidirectional(b) => {
            Box::new(bidirectional::GpuBidirectional::new(ctx, b, precision)?)
        }
        Layer::Conv1D(c) => Box::new(conv1d::GpuConv1D::new(ctx, c)),
        Layer::Pooling1D(p) => Box::new(pooling::GpuPooling::new(ctx, p)),
        Layer::GlobalPooling1D(g) => Box::new(global_pooling::GpuGlobalPooling::new(ctx, g)),
        Layer::ZeroPadding1D(z) => Box::new(padding::GpuShift::zero_padding(ctx, z)),
        Layer::Cropping1D(c) => Box::new(padding::GpuShift::cropping(ctx, c)),
        Layer::Merge(m) => Box::new(merge::GpuMerge::new(ctx, m)),
        Layer::Op(op) => Box::new(mask_ops::GpuMaskOp::new(ctx, op)),
        Layer::Embedding(e) => Box::new(embedding::GpuEmbedding::new(ctx, e)?),
        Layer::TimeDistributed(t) => Box::new(time_distributed::GpuTimeDistributed::new(
            ctx, t, precision,
        )?),
        Layer::Reshape(_) => Box::new(Alias),
        Layer::Flatten(f) if f.channels_first => Box::new(layout::GpuLayout::new(
            ctx,
            layout::LayoutCopy::ChannelsLast,
        )),
        Layer::Flatten(_) => Box::new(Alias),
        Layer::Permute(p) => Box::new(layout::GpuLayout::new(
            ctx,
            layout::LayoutCopy::Permute(p.axes()),
        )),
        Layer::RepeatVector(r) => {
            Box::new(layout::GpuLayout::new(ctx, layout::LayoutCopy::Repeat(r.n)))
        }
        Layer::BatchNormalization(b) => Box::new(batch_normalization::GpuBatchNorm::new(ctx, b)),
        Layer::LayerNormalization(l) => Box::new(layer_normalization::GpuLayerNorm::new(ctx, l)?),
        Layer::AdvancedActivation(a) => Box::new(activation_layer::GpuAdvanced::new(ctx, a)?),
        Layer::RmsNormalization(r) => Box::new(activation_layer::GpuRmsNorm::new(ctx, r)?),
        Layer::Dot(d) => Box::new(dot::GpuDot::new(ctx, d)),
        Layer::TimeReverse(_) => {
            Box::new(layout::GpuLayout::new(ctx, layout::LayoutCopy::ReverseTime))
        }
    })
}

/// A cached bind group and the buffers it was made for: made again only when one changed.
#[derive(Default)]
pub(crate) struct BindCache {
    key: Vec<wgpu::Buffer>,
    group: Option<wgpu::BindGroup>,
}

impl BindCache {
    /// The bind group over `buffers` (binding i = whole buffer i).
    pub fn get(
        &mut self,
        ctx: &GpuContext,
        label: &str,
        layout: &wgpu::BindGroupLayout,
        buffers: &[&wgpu::Buffer],
    ) -> wgpu::BindGroup {
        let same = self.group.is_some()
            && self.key.len() == buffers.len()
            && self.key.iter().zip(buffers).all(|(a, b)| a == *b);
        if !same {
            self.group = Some(ctx.bind_group(label, layout, buffers));
            self.key = buffers.iter().map(|&b| b.clone()).collect();
        }
        self.group.clone().expect("made above")
    }

    /// The same with explicit entries, keyed by `key`.
    pub fn get_with(
        &mut self,
        ctx: &GpuContext,
        key: &[&wgpu::Buffer],
        desc: impl FnOnce() -> wgpu::BindGroup,
    ) -> wgpu::BindGroup {
        let same = self.group.is_some()
            && self.key.len() == key.len()
            && self.key.iter().zip(key).all(|(a, b)| a == *b);
        if !same {
            let _ = ctx;
            self.group = Some(desc());
            self.key = key.iter().map(|&b| b.clone()).collect();
        }
        self.group.clone().expect("made above")
    }

    /// Forgets the group (after a failed call).
    pub fn clear(&mut self) {
        self.group = None;
        self.key.clear();
    }
}

/// A uniform parameter record written only when its bytes change.
pub(crate) struct Params {
    pub buf: wgpu::Buffer,
    last: Vec<u8>,
}

impl Params {
    pub fn new(ctx: &GpuContext, label: &str, bytes: u64) -> Self {
        Params {
            buf: ctx.uniform(label, bytes),
            last: Vec::new(),
        }
    }

    /// Uploads `bytes` unless the buffer already holds them.
    pub fn write(&mut self, ctx: &GpuContext, bytes: &[u8]) {
        if self.last != bytes {
            ctx.upload(&self.buf, 0, bytes);
            self.last = bytes.to_vec();
        }
    }

    /// Forgets what was written (after a failed call).
    pub fn clear(&mut self) {
        self.last.clear();
    }
}
