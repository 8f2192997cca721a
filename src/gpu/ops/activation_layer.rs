//! Keras `Activation`, the advanced-activation layers (`ReLU`, `LeakyReLU`, `ELU`,
//! `ThresholdedReLU`, `PReLU`, `Softmax`) and `RMSNormalization` on the GPU, and the pass
//! other ops (Dense, Conv1D) run after their linear part when a GEMM cannot fuse their
//! activation: all in `shaders/activation_layer.wgsl`.
//!
//! GPU half of `layers/activation_layer.rs`, `layers/advanced_activation.rs` and
//! `layers/rms_normalization.rs`.

use std::sync::Arc;

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::gpu::context::LOOP_BUDGET;
use crate::gpu::kernels::{ACTIVATION_LAYER_WGSL, ACTIVATION_WGSL, Kernel};
use crate::layers::activation_layer::LayerActivation;
use crate::layers::advanced_activation::{AdvancedActivation, AdvancedOp};
use crate::layers::rms_normalization::RmsNormalization;

use super::bidirectional::Grow;
use super::{BindCache, GpuOp, GpuTensor, Params, Recorder};

/// The composed source: the activation functions, then the layer's kernels.
pub fn source() -> String {
    format!("{ACTIVATION_WGSL}\n{ACTIVATION_LAYER_WGSL}")
}

/// Most axes a broadcast parameter (PReLU's alpha, RMSNormalization's scale) may span.
const MAX_RANK: usize = 8;

/// The uniform record (`Params` in activation_layer.wgsl).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct ActParams {
    pub n: u32,
    pub cols: u32,
    pub rows: u32,
    pub inner: u32,
    pub p: [f32; 4],
    pub nan: u32,
    pub inf: u32,
    pub rank: u32,
    pub row_len: u32,
    pub dims: [u32; 8],
    pub pstr: [u32; 8],
}

impl ActParams {
    fn new(n: usize, cols: usize, rows: usize, inner: usize) -> Result<Self> {
        Ok(ActParams {
            n: u32_of(n, "elements")?,
            cols: u32_of(cols, "row length")?,
            rows: u32_of(rows, "rows")?,
            inner: u32_of(inner.max(1), "row stride")?,
            p: [0.0; 4],
            nan: f32::NAN.to_bits(),
            inf: f32::INFINITY.to_bits(),
            rank: 0,
            row_len: 1,
            dims: [1; 8],
            pstr: [0; 8],
        })
    }

    /// A parameter tensor of `param` (right-aligned) broadcast against the input's non-batch
    /// axes `dims` (outer to inner): dims and strides innermost first.
    fn broadcast(mut self, dims: &[usize], param: &[usize]) -> Result<Self> {
        if dims.len() > MAX_RANK || param.len() > dims.len() {
            return Err(Error::Unsupported(format!(
                "a parameter of shape {param:?} over an input of {} non-batch axes (at most \
                 {MAX_RANK}, the parameter no longer)",
                dims.len()
            )));
        }
        let r = dims.len();
        let mut stride = 1usize;
        for k in 0..r {
            let d = dims[r - 1 - k];
            let p = if k < param.len() {
                param[param.len() - 1 - k]
            } else {
                1
            };
            if p != 1 && p != d {
                return Err(Error::shape(
                    "broadcast parameter",
                    format!("1 or {d} on input axis {}", r - k),
                    param,
                ));
            }
            self.dims[k] = u32_of(d.max(1), "axis size")?;
            self.pstr[k] = if p == 1 { 0 } else { u32_of(stride, "stride")? };
            stride = stride.saturating_mul(p);
        }
        self.rank = r as u32;
        self.row_len = u32_of(dims.iter().product::<usize>().max(1), "row length")?;
        Ok(self)
    }
}

fn u32_of(v: usize, what: &str) -> Result<u32> {
    u32::try_from(v).map_err(|_| Error::TooLarge {
        what: format!("activation {what} ({v})"),
        bytes: v as u64,
        limit: u32::MAX as u64,
        limit_name: "a u32 index in activation_layer.wgsl".into(),
    })
}

fn kernel(ctx: &Arc<GpuContext>, entry: &'static str, constants: &[(&'static str, f64)]) -> Kernel {
    ctx.kernels.kernel(
        ctx.device(),
        "activation_layer.wgsl",
        source,
        entry,
        constants,
    )
}

/// Refuses a row kernel whose invocations would loop `iterations` times.
fn check_loops(what: &str, iterations: u64) -> Result<()> {
    if iterations >= LOOP_BUDGET {
        return Err(Error::Unsupported(format!(
            "{what}: one invocation would loop {iterations} times, past the loop budget of \
             {LOOP_BUDGET}"
        )));
    }
    Ok(())
}

/// One dispatch of `invocations` (in workgroups of 64) with `kernel` and `bg`.
fn dispatch(
    rec: &mut Recorder<'_>,
    kernel: &Kernel,
    bg: &wgpu::BindGroup,
    invocations: u64,
    what: &str,
) -> Result<()> {
    let (gx, gy, gz) = rec.grid(invocations, what)?;
    rec.dispatch("activation", &kernel.pipeline, bg, (gx, gy, gz));
    Ok(())
}

/// One activation pass from `x` to `y` (rows of the last axis), its kernels built once.
pub(crate) struct ActivationPass {
    act: LayerActivation,
    /// one kernel; sparsemax: the rank kernel, then the finish kernel
    kernels: Vec<Kernel>,
    params: Params,
    binds: [BindCache; 2],
    /// sparsemax's (c, flag) per element
    scratch: Option<Grow>,
}

impl ActivationPass {
    pub fn new(ctx: &Arc<GpuContext>, act: LayerActivation) -> Self {
        let mode = |m: f64| vec![("MODE", m)];
        let entries: Vec<(&'static str, Vec<(&'static str, f64)>)> = match act {
            LayerActivation::Elementwise(a) => vec![("apply", vec![("ACT", a.code() as f64)])],
            LayerActivation::Relu(p) => vec![(
                "apply_param",
                mode(if p.flavour == KerasFlavour::Keras3 {
                    0.0
                } else {
                    1.0
                }),
            )],
            LayerActivation::LeakyRelu(_) => vec![("apply_param", mode(2.0))],
            LayerActivation::Elu(_) => vec![("apply_param", mode(3.0))],
            LayerActivation::ThresholdedRelu(_) => vec![("apply_param", mode(4.0))],
            LayerActivation::Softmax => vec![("rows", mode(0.0))],
            LayerActivation::LogSoftmax => vec![("rows", mode(1.0))],
            LayerActivation::Glu => vec![("glu", vec![])],
            LayerActivation::Sparsemax => {
                vec![("sparsemax_rank", vec![]), ("sparsemax_finish", vec![])]
            }
        };
        ActivationPass {
            act,
            kernels: entries
                .into_iter()
                .map(|(e, c)| kernel(ctx, e, &c))
                .collect(),
            params: Params::new(
                ctx,
                "activation params",
                std::mem::size_of::<ActParams>() as u64,
            ),
            binds: Default::default(),
            scratch: (act == LayerActivation::Sparsemax)
                .then(|| Grow::new(ctx, "sparsemax scratch")),
        }
    }

    /// Records `y = act(x)` over `n` input floats in rows of `cols` (glu writes rows of
    /// `cols / 2`).
    pub fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        n: usize,
        cols: usize,
    ) -> Result<()> {
        let ctx = rec.ctx.clone();
        let cols = cols.max(1);
        let rows = n / cols;
        let mut params = ActParams::new(n, cols, rows, 1)?;
        let what = format!("{} over rows of {cols}", self.act);
        match self.act {
            LayerActivation::Softmax | LayerActivation::LogSoftmax => {
                // three passes over the row per invocation of 64
                check_loops(&what, 3 * (cols as u64).div_ceil(64) + 12)?;
            }
            LayerActivation::Sparsemax => {
                check_loops(&what, cols as u64 + 12)?;
                check_loops(&what, 2 * (cols as u64).div_ceil(64) + 12)?;
            }
            LayerActivation::Glu => {
                self.act.output_width(cols)?;
            }
            LayerActivation::Relu(p) => {
                params.p = [
                    p.negative_slope,
                    p.max_value.unwrap_or(0.0),
                    p.threshold,
                    if p.max_value.is_some() { 1.0 } else { 0.0 },
                ];
            }
            LayerActivation::LeakyRelu(v)
            | LayerActivation::Elu(v)
            | LayerActivation::ThresholdedRelu(v) => params.p[0] = v,
            LayerActivation::Elementwise(_) => {}
        }
        self.params.write(&ctx, bytemuck::bytes_of(&params));
        match self.act {
            LayerActivation::Sparsemax => {
                let Some(grow) = self.scratch.as_mut() else {
                    return Err(Error::Gpu("sparsemax without its scratch buffer".into()));
                };
                let scratch = grow.ensure(&ctx, (n as u64).saturating_mul(8))?.clone();
                if rec.opts.poison {
                    ctx.poison(&scratch, 2 * n);
                }
                let bg = self.binds[0].get(
                    &ctx,
                    "sparsemax rank",
                    &self.kernels[0].layout,
                    &[x, &scratch, &self.params.buf],
                );
                dispatch(rec, &self.kernels[0], &bg, n as u64, &what)?;
                let bg = self.binds[1].get(
                    &ctx,
                    "sparsemax finish",
                    &self.kernels[1].layout,
                    &[x, y, &self.params.buf, &scratch],
                );
                dispatch(rec, &self.kernels[1], &bg, rows as u64 * 64, &what)
            }
            act => {
                let bg = self.binds[0].get(
                    &ctx,
                    "activation",
                    &self.kernels[0].layout,
                    &[x, y, &self.params.buf],
                );
                let invocations = match act {
                    LayerActivation::Softmax | LayerActivation::LogSoftmax => rows as u64 * 64,
                    LayerActivation::Glu => (rows * (cols / 2)) as u64,
                    _ => n as u64,
                };
                dispatch(rec, &self.kernels[0], &bg, invocations, &what)
            }
        }
    }

    /// Scratch bytes the pass needs per input element (sparsemax's (c, flag) pairs).
    pub fn scratch_per_element(&self) -> u64 {
        if self.scratch.is_some() { 8 } else { 0 }
    }

    pub fn forget(&mut self) {
        self.params.clear();
        for b in &mut self.binds {
            b.clear();
        }
    }
}

/// The `Activation` layer.
pub(crate) struct GpuActivation {
    pass: ActivationPass,
}

impl GpuActivation {
    pub fn new(ctx: &Arc<GpuContext>, act: LayerActivation) -> Self {
        GpuActivation {
            pass: ActivationPass::new(ctx, act),
        }
    }
}

impl GpuOp for GpuActivation {
    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        ins: &[GpuTensor],
        outs: &[GpuTensor],
    ) -> Result<()> {
        let n = ins[0].len();
        let cols = ins[0].shape.last().copied().unwrap_or(1);
        if rec.opts.poison {
            rec.ctx.poison(&outs[0].buf, outs[0].len());
        }
        self.pass.record(rec, &ins[0].buf, &outs[0].buf, n, cols)
    }

    fn forget(&mut self) {
        self.pass.forget();
    }
}

/// A row kernel over lanes of merged axes (`rows` or `rms_rows`), with an optional
/// broadcast parameter (the scale).
pub(crate) struct RowsPass {
    kernel: Kernel,
    params: Params,
    bind: BindCache,
    what: &'static str,
}

impl RowsPass {
    fn new(ctx: &Arc<GpuContext>, entry: &'static str, mode: f64, what: &'static str) -> Self {
        RowsPass {
            kernel: kernel(ctx, entry, &[("MODE", mode)]),
            params: Params::new(ctx, what, std::mem::size_of::<ActParams>() as u64),
            bind: BindCache::default(),
            what,
        }
    }

    /// Records the kernel over the lanes of axes `first..=last` of `shape` (batch first).
    #[allow(clippy::too_many_arguments)]
    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        x: &GpuTensor,
        y: &GpuTensor,
        first: usize,
        last: usize,
        param: Option<(&wgpu::Buffer, &[usize], f32)>,
    ) -> Result<()> {
        let ctx = rec.ctx.clone();
        let shape = &x.shape;
        if last >= shape.len() || first > last || first == 0 {
            return Err(Error::shape(
                self.what,
                format!("axes {first}..={last} of the input"),
                shape,
            ));
        }
        let outer: usize = shape[..first].iter().product();
        let len: usize = shape[first..=last].iter().product();
        let inner: usize = shape[last + 1..].iter().product();
        let rows = outer * inner;
        check_loops(self.what, 3 * (len as u64).div_ceil(64) + 12)?;
        let mut params = ActParams::new(x.len(), len, rows, inner)?;
        if let Some((_, pshape, eps)) = param {
            params = params.broadcast(&shape[1..], pshape)?;
            params.p[0] = eps;
        }
        self.params.write(&ctx, bytemuck::bytes_of(&params));
        if rec.opts.poison {
            ctx.poison(&y.buf, y.len());
        }
        let bg = match param {
            Some((buf, _, _)) => self.bind.get(
                &ctx,
                self.what,
                &self.kernel.layout,
                &[&x.buf, &y.buf, &self.params.buf, buf],
            ),
            None => self.bind.get(
                &ctx,
                self.what,
                &self.kernel.layout,
                &[&x.buf, &y.buf, &self.params.buf],
            ),
        };
        dispatch(rec, &self.kernel, &bg, rows as u64 * 64, self.what)
    }

    fn forget(&mut self) {
        self.params.clear();
        self.bind.clear();
    }
}

/// The advanced-activation layers.
pub(crate) enum GpuAdvanced {
    Function(ActivationPass),
    Softmax {
        pass: RowsPass,
        axes: Vec<i64>,
    },
    PRelu {
        kernel: Kernel,
        alpha: wgpu::Buffer,
        alpha_shape: Vec<usize>,
        params: Params,
        bind: BindCache,
    },
}

impl GpuAdvanced {
    pub fn new(ctx: &Arc<GpuContext>, a: &AdvancedActivation) -> Result<Self> {
        Ok(match &a.op {
            AdvancedOp::Function(act) => GpuAdvanced::Function(ActivationPass::new(ctx, *act)),
            AdvancedOp::Softmax { axes } => GpuAdvanced::Softmax {
                pass: RowsPass::new(
                    ctx,
                    "rows",
                    if axes.len() > 1 { 2.0 } else { 0.0 },
                    "Softmax",
                ),
                axes: axes.clone(),
            },
            AdvancedOp::PRelu { alpha } => {
                let a = alpha.as_standard_layout();
                let data = a.as_slice().ok_or_else(|| {
                    Error::shape("PReLU alpha", "a standard-layout array", alpha.shape())
                })?;
                GpuAdvanced::PRelu {
                    kernel: kernel(ctx, "prelu", &[]),
                    alpha: ctx.storage_with("prelu alpha", data),
                    alpha_shape: alpha.shape().to_vec(),
                    params: Params::new(
                        ctx,
                        "prelu params",
                        std::mem::size_of::<ActParams>() as u64,
                    ),
                    bind: BindCache::default(),
                }
            }
        })
    }
}

impl GpuOp for GpuAdvanced {
    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        ins: &[GpuTensor],
        outs: &[GpuTensor],
    ) -> Result<()> {
        let (x, y) = (&ins[0], &outs[0]);
        match self {
            GpuAdvanced::Function(pass) => {
                if rec.opts.poison {
                    rec.ctx.poison(&y.buf, y.len());
                }
                let cols = x.shape.last().copied().unwrap_or(1);
                pass.record(rec, &x.buf, &y.buf, x.len(), cols)
            }
            GpuAdvanced::Softmax { pass, axes } => {
                let (first, last) =
                    crate::layers::advanced_activation::softmax_block(axes, x.shape.len())?;
                pass.record(rec, x, y, first, last, None)
            }
            GpuAdvanced::PRelu {
                kernel,
                alpha,
                alpha_shape,
                params,
                bind,
            } => {
                let ctx = rec.ctx.clone();
                let p = ActParams::new(x.len(), 1, x.len(), 1)?
                    .broadcast(&x.shape[1..], alpha_shape)?;
                params.write(&ctx, bytemuck::bytes_of(&p));
                if rec.opts.poison {
                    ctx.poison(&y.buf, y.len());
                }
                let bg = bind.get(
                    &ctx,
                    "prelu",
                    &kernel.layout,
                    &[&x.buf, &y.buf, &params.buf, alpha],
                );
                dispatch(rec, kernel, &bg, x.len() as u64, "PReLU")
            }
        }
    }

    fn forget(&mut self) {
        match self {
            GpuAdvanced::Function(p) => p.forget(),
            GpuAdvanced::Softmax { pass, .. } => pass.forget(),
            GpuAdvanced::PRelu { params, bind, .. } => {
                params.clear();
                bind.clear();
            }
        }
    }
}

/// Keras 3 `RMSNormalization`.
pub(crate) struct GpuRmsNorm {
    pass: RowsPass,
    axes: Vec<i64>,
    epsilon: f32,
    scale: wgpu::Buffer,
    scale_shape: Vec<usize>,
}

impl GpuRmsNorm {
    pub fn new(ctx: &Arc<GpuContext>, l: &RmsNormalization) -> Result<Self> {
        let s = l.scale.as_standard_layout();
        let data = s.as_slice().ok_or_else(|| {
            Error::shape(
                "RMSNormalization scale",
                "a standard-layout array",
                l.scale.shape(),
            )
        })?;
        Ok(GpuRmsNorm {
            pass: RowsPass::new(ctx, "rms_rows", 0.0, "RMSNormalization"),
            axes: l.axes.clone(),
            epsilon: l.epsilon,
            scale: ctx.storage_with("rms scale", data),
            scale_shape: l.scale.shape().to_vec(),
        })
    }
}

impl GpuOp for GpuRmsNorm {
    fn record(
        &mut self,
        rec: &mut Recorder<'_>,
        ins: &[GpuTensor],
        outs: &[GpuTensor],
    ) -> Result<()> {
        let (first, last) =
            crate::layers::rms_normalization::rms_block(&self.axes, ins[0].shape.len())?;
        let param = Some((&self.scale, self.scale_shape.as_slice(), self.epsilon));
        self.pass.record(rec, &ins[0], &outs[0], first, last, param)
    }

    fn forget(&mut self) {
        self.pass.forget();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_mirror_the_wgsl_struct() {
        crate::gpu::kernels::assert_mirrors!(
            ActParams,
            source(),
            "Params",
            [n, cols, rows, inner, p, nan, inf, rank, row_len, dims, pstr]
        );
    }

    #[test]
    fn broadcast_strides() {
        // alpha (1, D) over (T, D): shared time axis
        let p = ActParams::new(24, 1, 24, 1)
            .unwrap()
            .broadcast(&[4, 3], &[1, 3])
            .unwrap();
        assert_eq!((p.rank, p.row_len), (2, 12));
        assert_eq!(&p.dims[..2], &[3, 4]);
        assert_eq!(&p.pstr[..2], &[1, 0]);
        // a trailing scale (D,) over (T, D)
        let p = ActParams::new(24, 1, 24, 1)
            .unwrap()
            .broadcast(&[4, 3], &[3])
            .unwrap();
        assert_eq!(&p.pstr[..2], &[1, 0]);
        assert!(
            ActParams::new(1, 1, 1, 1)
                .unwrap()
                .broadcast(&[4, 3], &[2])
                .is_err()
        );
    }
}
