//! [`Lstm`]: one Keras `LSTM` layer — configuration, weights, a device, and the state a
//! stateful layer carries between calls.

use ndarray::{Array2, ArrayD, ArrayView, ArrayView2, ArrayView3, ArrayViewD, Dimension, Ix2, Ix3};

use crate::config::{LstmConfig, Precision};
use crate::cpu;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::gpu::GpuLstm;
use crate::host_memory::{self, HostBytes};
use crate::weights::LstmWeights;

/// The recurrent state of a layer: h and c, each (B, U).
///
/// ```
/// let s = wgpu_lstm::LstmState::zeros(2, 8).unwrap();
/// assert_eq!(s.h.dim(), (2, 8));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LstmState {
    /// Hidden state h (B, U) — also the last valid output.
    pub h: Array2<f32>,
    /// Cell state c (B, U).
    pub c: Array2<f32>,
}

impl LstmState {
    /// Zero state for `batch` rows of `units`. Both arrays are checked against the
    /// host-memory budget ([`crate::host_memory`]) first: a size the machine cannot hold is
    /// an error, not an abort.
    ///
    /// ```
    /// use wgpu_lstm::{Error, LstmState};
    /// assert_eq!(LstmState::zeros(1, 3).unwrap().c.sum(), 0.0);
    /// assert!(matches!(LstmState::zeros(usize::MAX / 2, 4), Err(Error::SizeOverflow { .. })));
    /// assert!(matches!(LstmState::zeros(1 << 40, 64), Err(Error::HostMemory { .. })));
    /// ```
    pub fn zeros(batch: usize, units: usize) -> Result<Self> {
        state_bytes(batch, units)?.check()?;
        Ok(LstmState {
            h: host_memory::zeros("state h (B, U)", (batch, units))?,
            c: host_memory::zeros("state c (B, U)", (batch, units))?,
        })
    }

    /// Batch size B.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::LstmState::zeros(5, 3).unwrap().batch(), 5);
    /// ```
    pub fn batch(&self) -> usize {
        self.h.nrows()
    }
}

/// The arguments of one call: inputs (B, T, D), and optionally a mask (B, T) and an initial
/// state (h, c), each (B, U) — Keras's `layer(inputs, mask=..., initial_state=[h, c])`.
///
/// Arrays of any dimensionality are accepted and checked at call time, so a wrong rank is a
/// typed error, not a compile error (inputs often come from files).
///
/// ```
/// use ndarray::{Array2, Array3};
/// use wgpu_lstm::LstmInput;
/// let x = Array3::<f32>::zeros((2, 5, 3));
/// let m = Array2::from_elem((2, 5), true);
/// let input = LstmInput::new(x.view()).mask(m.view());
/// assert_eq!(input.inputs().shape(), &[2, 5, 3]);
/// ```
#[derive(Debug, Clone)]
pub struct LstmInput<'a> {
    inputs: ArrayViewD<'a, f32>,
    mask: Option<ArrayViewD<'a, bool>>,
    initial_state: Option<(ArrayViewD<'a, f32>, ArrayViewD<'a, f32>)>,
}

impl<'a> LstmInput<'a> {
    /// Inputs of shape (B, T, D).
    ///
    /// ```
    /// let x = ndarray::Array3::<f32>::zeros((1, 1, 1));
    /// let _ = wgpu_lstm::LstmInput::new(x.view());
    /// ```
    pub fn new<D: Dimension>(inputs: ArrayView<'a, f32, D>) -> Self {
        LstmInput {
            inputs: inputs.into_dyn(),
            mask: None,
            initial_state: None,
        }
    }

    /// A mask (B, T): `true` = the step is processed, `false` = skipped (state carried, output
    /// held — see the crate docs).
    ///
    /// ```
    /// let x = ndarray::Array3::<f32>::zeros((1, 2, 1));
    /// let m = ndarray::array![[true, false]];
    /// let _ = wgpu_lstm::LstmInput::new(x.view()).mask(m.view());
    /// ```
    pub fn mask<D: Dimension>(mut self, mask: ArrayView<'a, bool, D>) -> Self {
        self.mask = Some(mask.into_dyn());
        self
    }

    /// An initial state (h, c), each (B, U). It overrides a stateful layer's stored state.
    ///
    /// ```
    /// let x = ndarray::Array3::<f32>::zeros((1, 2, 1));
    /// let h = ndarray::Array2::<f32>::zeros((1, 4));
    /// let _ = wgpu_lstm::LstmInput::new(x.view()).initial_state(h.view(), h.view());
    /// ```
    pub fn initial_state<D1: Dimension, D2: Dimension>(
        mut self,
        h: ArrayView<'a, f32, D1>,
        c: ArrayView<'a, f32, D2>,
    ) -> Self {
        self.initial_state = Some((h.into_dyn(), c.into_dyn()));
        self
    }

    /// The inputs as given.
    ///
    /// ```
    /// let x = ndarray::Array3::<f32>::zeros((1, 2, 1));
    /// assert_eq!(wgpu_lstm::LstmInput::new(x.view()).inputs().ndim(), 3);
    /// ```
    pub fn inputs(&self) -> &ArrayViewD<'a, f32> {
        &self.inputs
    }
}

/// What a call returns: Keras's `output` and, with `return_state`, the final `h` and `c`.
///
/// ```
/// use wgpu_lstm::{Lstm, LstmConfig};
/// let cfg = LstmConfig { return_state: true, ..LstmConfig::new(3) };
/// let mut lstm = Lstm::with_default_weights(cfg, 2, 0).unwrap();
/// let out = lstm.forward(ndarray::Array3::<f32>::ones((1, 4, 2)).view()).unwrap();
/// assert_eq!(out.output.shape(), &[1, 3]);
/// assert_eq!(out.h.as_ref().unwrap(), &out.output.clone().into_dimensionality().unwrap());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LstmOutput {
    /// (B, T, U) with `return_sequences`, else (B, U).
    pub output: ArrayD<f32>,
    /// Final hidden state (B, U) when `return_state`.
    pub h: Option<Array2<f32>>,
    /// Final cell state (B, U) when `return_state`.
    pub c: Option<Array2<f32>>,
}

/// A copy of a state through the checked path.
fn host_memory_clone(state: &LstmState) -> Result<LstmState> {
    Ok(LstmState {
        h: host_memory::to_owned("state h (B, U)", &state.h.view())?,
        c: host_memory::to_owned("state c (B, U)", &state.c.view())?,
    })
}

/// The host memory of one state, h and c (B, U) each.
fn state_bytes(batch: usize, units: usize) -> Result<HostBytes> {
    let mut need = HostBytes::new(format!("a state of {batch} rows of {units} units"));
    need.array::<f32>("h, c (2, B, U)", &[2, batch, units])?;
    Ok(need)
}

/// Checked views of one call's arguments (see [`Lstm::check_input`]).
pub(crate) struct CheckedInput<'a> {
    pub x: ArrayView3<'a, f32>,
    pub mask: Option<ArrayView2<'a, bool>>,
    pub initial: Option<LstmState>,
}

/// Checks inputs (B, T, D) with B, T ≥ 1 and an optional mask (B, T): the one place where
/// a sequence's shapes are checked, for layers and models.
pub(crate) fn check_sequence<'a>(
    inputs: &ArrayViewD<'a, f32>,
    mask: Option<&ArrayViewD<'a, bool>>,
    d: usize,
) -> Result<(ArrayView3<'a, f32>, Option<ArrayView2<'a, bool>>)> {
    let x = inputs
        .clone()
        .into_dimensionality::<Ix3>()
        .ok()
        .filter(|x| {
            let (b, t, xd) = x.dim();
            xd == d && b > 0 && t > 0
        })
        .ok_or_else(|| {
            Error::shape(
                "inputs",
                format!("(B, T, {d}) with B >= 1 and T >= 1"),
                inputs.shape(),
            )
        })?;
    let (b, t, _) = x.dim();
    let mask = match mask {
        None => None,
        Some(m) => Some(
            m.clone()
                .into_dimensionality::<Ix2>()
                .ok()
                .filter(|m| m.dim() == (b, t))
                .ok_or_else(|| Error::shape("mask", format!("({b}, {t})"), m.shape()))?,
        ),
    };
    Ok((x, mask))
}

/// Where a call's initial state comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InitialState {
    /// Zeros (a stateless layer, or a stateful one right after reset / creation).
    Zeros,
    /// The state stored by the previous call of a stateful layer.
    Carried,
    /// The caller's `initial_state`.
    Given,
}

/// A call that finished on the CPU or was submitted to the GPU.
enum Started {
    Done(LstmOutput),
    Gpu(crate::gpu::scheduler::PendingCall),
}

enum Backend {
    Cpu { state: Option<LstmState> },
    Gpu(Box<GpuLstm>),
}

/// One Keras `LSTM` layer on a [`Device`].
///
/// ```
/// use ndarray::Array3;
/// use wgpu_lstm::{Device, Lstm, LstmConfig, LstmInput};
/// // LSTM(4, return_sequences=True, stateful=True) on 3 features, on the CPU.
/// let cfg = LstmConfig { return_sequences: true, stateful: true, ..LstmConfig::new(4) };
/// let mut lstm = Lstm::with_default_weights(cfg, 3, 42).unwrap();
/// let x = Array3::<f32>::ones((2, 5, 3));
/// let y1 = lstm.call(LstmInput::new(x.view())).unwrap();
/// let y2 = lstm.call(LstmInput::new(x.view())).unwrap(); // continues from y1's final state
/// assert_eq!(y1.output.shape(), &[2, 5, 4]);
/// assert_ne!(y1.output, y2.output);
/// lstm.reset_states().unwrap();
/// assert_eq!(lstm.call(LstmInput::new(x.view())).unwrap().output, y1.output);
/// ```
pub struct Lstm {
    config: LstmConfig,
    weights: LstmWeights,
    backend: Backend,
    /// Batch size a stateful layer's state was created for.
    stateful_batch: Option<usize>,
}

impl std::fmt::Debug for Lstm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lstm")
            .field("config", &self.config)
            .field("input_dim", &self.weights.input_dim())
            .field("device", &self.device_name())
            .finish()
    }
}

impl Lstm {
    /// A layer on the CPU from a configuration and Keras-layout weights (checked against each
    /// other).
    ///
    /// ```
    /// use wgpu_lstm::{Lstm, LstmConfig, LstmWeights};
    /// let cfg = LstmConfig::new(4);
    /// let w = LstmWeights::keras_default(3, &cfg, 0).unwrap();
    /// assert!(Lstm::new(LstmConfig::new(5), w).is_err());
    /// ```
    pub fn new(config: LstmConfig, weights: LstmWeights) -> Result<Self> {
        Self::on_device(config, weights, &Device::Cpu)
    }

    /// A layer on the given device. On a GPU the weights are uploaded (rearranged for the
    /// kernels) and the pipelines are built here, once.
    ///
    /// ```
    /// use wgpu_lstm::{Device, Lstm, LstmConfig, LstmWeights};
    /// let cfg = LstmConfig::new(4);
    /// let lstm = Lstm::on_device(cfg.clone(), LstmWeights::keras_default(3, &cfg, 0).unwrap(), &Device::Cpu).unwrap();
    /// assert_eq!(lstm.device_name(), "cpu");
    /// ```
    pub fn on_device(config: LstmConfig, weights: LstmWeights, device: &Device) -> Result<Self> {
        Self::on_device_with_precision(config, weights, device, Precision::F32)
    }

    /// A layer on a device with a weight precision. [`Precision::F16Weights`] stores the
    /// recurrent kernel as f16 on the GPU (needs `SHADER_F16`, else an
    /// [`Error::Unsupported`]); on the CPU it rounds the recurrent kernel to f16 the same way,
    /// so the CPU stays the GPU's reference.
    ///
    /// ```
    /// use wgpu_lstm::{Device, Lstm, LstmConfig, LstmWeights, Precision};
    /// let cfg = LstmConfig::new(4);
    /// let w = LstmWeights::keras_default(3, &cfg, 0).unwrap();
    /// let l = Lstm::on_device_with_precision(cfg, w.clone(), &Device::Cpu, Precision::F16Weights).unwrap();
    /// assert_eq!(l.weights(), &w.with_f16_recurrent_kernel());
    /// ```
    pub fn on_device_with_precision(
        config: LstmConfig,
        weights: LstmWeights,
        device: &Device,
        precision: Precision,
    ) -> Result<Self> {
        config.validate()?;
        weights.check(&config)?;
        let weights = match precision {
            Precision::F32 => weights,
            Precision::F16Weights => weights.with_f16_recurrent_kernel(),
        };
        let backend = match device {
            Device::Cpu => Backend::Cpu { state: None },
            Device::Gpu(ctx) => {
                Backend::Gpu(Box::new(GpuLstm::new(ctx, &config, &weights, precision)?))
            }
        };
        Ok(Lstm {
            config,
            weights,
            backend,
            stateful_batch: None,
        })
    }

    /// A CPU layer with Keras's default initializers (seeded), as `LSTM(units)` built on
    /// `input_dim` features ([`LstmWeights::keras_default`]: sizes are checked, and the host
    /// memory the weights need, before anything is drawn).
    ///
    /// ```
    /// use wgpu_lstm::{Error, Lstm, LstmConfig};
    /// let l = Lstm::with_default_weights(LstmConfig::new(4), 3, 1).unwrap();
    /// assert_eq!(l.param_count(), 128);
    /// let e = Lstm::with_default_weights(LstmConfig::new(1 << 62), 3, 1).unwrap_err();
    /// assert!(matches!(&e, Error::Config { field, .. } if field == "units"));
    /// ```
    pub fn with_default_weights(config: LstmConfig, input_dim: usize, seed: u64) -> Result<Self> {
        let weights = LstmWeights::keras_default(input_dim, &config, seed)?;
        Self::new(config, weights)
    }

    /// The configuration.
    ///
    /// ```
    /// let l = wgpu_lstm::Lstm::with_default_weights(wgpu_lstm::LstmConfig::new(4), 3, 1).unwrap();
    /// assert_eq!(l.config().units, 4);
    /// ```
    pub fn config(&self) -> &LstmConfig {
        &self.config
    }

    /// The weights in Keras layout.
    ///
    /// ```
    /// let l = wgpu_lstm::Lstm::with_default_weights(wgpu_lstm::LstmConfig::new(4), 3, 1).unwrap();
    /// assert_eq!(l.weights().kernel.dim(), (3, 16));
    /// ```
    pub fn weights(&self) -> &LstmWeights {
        &self.weights
    }

    /// Input feature size D.
    ///
    /// ```
    /// let l = wgpu_lstm::Lstm::with_default_weights(wgpu_lstm::LstmConfig::new(4), 3, 1).unwrap();
    /// assert_eq!(l.input_dim(), 3);
    /// ```
    pub fn input_dim(&self) -> usize {
        self.weights.input_dim()
    }

    /// Keras's parameter count: the elements of the weights this layer holds.
    ///
    /// ```
    /// let l = wgpu_lstm::Lstm::with_default_weights(wgpu_lstm::LstmConfig::new(8), 1, 1).unwrap();
    /// assert_eq!(l.param_count(), 4 * 8 * (1 + 8 + 1));
    /// ```
    pub fn param_count(&self) -> usize {
        let w = &self.weights;
        // arrays in memory: their element counts cannot overflow when added
        w.kernel.len() + w.recurrent_kernel.len() + w.bias.as_ref().map_or(0, |b| b.len())
    }

    /// `"cpu"` or the GPU adapter's name.
    ///
    /// ```
    /// let l = wgpu_lstm::Lstm::with_default_weights(wgpu_lstm::LstmConfig::new(4), 3, 1).unwrap();
    /// assert_eq!(l.device_name(), "cpu");
    /// ```
    pub fn device_name(&self) -> String {
        match &self.backend {
            Backend::Cpu { .. } => "cpu".to_string(),
            Backend::Gpu(g) => g.adapter_name(),
        }
    }

    /// Calls the layer without mask or initial state.
    ///
    /// ```
    /// let mut l = wgpu_lstm::Lstm::with_default_weights(wgpu_lstm::LstmConfig::new(4), 3, 1).unwrap();
    /// let y = l.forward(ndarray::Array3::<f32>::zeros((2, 6, 3)).view()).unwrap();
    /// assert_eq!(y.output.shape(), &[2, 4]);
    /// ```
    pub fn forward<D: Dimension>(&mut self, inputs: ArrayView<'_, f32, D>) -> Result<LstmOutput> {
        self.call(LstmInput::new(inputs))
    }

    /// Calls the layer: Keras's `layer(inputs, mask=..., initial_state=...)`.
    ///
    /// Errors name the offending argument and shape: inputs not (B, T, D) with this layer's D,
    /// B or T of zero, a mask not (B, T), an initial state not (B, U), or a stateful layer
    /// called with another batch size than its state holds.
    ///
    /// ```
    /// use ndarray::{Array2, Array3};
    /// use wgpu_lstm::{Error, Lstm, LstmConfig, LstmInput};
    /// let mut l = Lstm::with_default_weights(LstmConfig::new(4), 3, 1).unwrap();
    /// let x = Array3::<f32>::zeros((2, 6, 3));
    /// let bad_mask = Array2::from_elem((2, 5), true);
    /// let err = l.call(LstmInput::new(x.view()).mask(bad_mask.view())).unwrap_err();
    /// assert!(matches!(err, Error::Shape { .. }));
    /// ```
    pub fn call(&mut self, input: LstmInput<'_>) -> Result<LstmOutput> {
        match self.start_call(input)? {
            Started::Done(out) => Ok(out),
            Started::Gpu(pending) => {
                let gpu = self.gpu_mut().expect("a GPU call");
                let (out3, fin) = gpu.run_wait(pending)?;
                Ok(self.shape_output(out3, fin))
            }
        }
    }

    /// The same call as a future: on a GPU the work is submitted at once and the future
    /// completes when the results are mapped, polling the device without blocking (the
    /// executor's thread keeps polling while the GPU works — any executor will do, e.g.
    /// `pollster::block_on`). On the CPU it completes at once.
    ///
    /// ```
    /// use wgpu_lstm::{Lstm, LstmConfig, LstmInput};
    /// let mut l = Lstm::with_default_weights(LstmConfig::new(4), 3, 1).unwrap();
    /// let x = ndarray::Array3::<f32>::zeros((2, 6, 3));
    /// let y = pollster::block_on(l.call_async(LstmInput::new(x.view()))).unwrap();
    /// assert_eq!(y.output.shape(), &[2, 4]);
    /// ```
    pub async fn call_async(&mut self, input: LstmInput<'_>) -> Result<LstmOutput> {
        match self.start_call(input)? {
            Started::Done(out) => Ok(out),
            Started::Gpu(mut pending) => {
                let gpu = self.gpu_mut().expect("a GPU call");
                std::future::poll_fn(|cx| match gpu.poll(&mut pending) {
                    Ok(true) => std::task::Poll::Ready(Ok(())),
                    Ok(false) => {
                        cx.waker().wake_by_ref();
                        std::task::Poll::Pending
                    }
                    Err(e) => std::task::Poll::Ready(Err(e)),
                })
                .await?;
                let (out3, fin) = gpu.finish(pending)?;
                Ok(self.shape_output(out3, fin))
            }
        }
    }

    /// Checks the arguments and runs the call on the CPU, or submits it on the GPU.
    fn start_call(&mut self, input: LstmInput<'_>) -> Result<Started> {
        let mut checked = self.check_input(&input)?;
        let (batch, steps, d) = checked.x.dim();
        let u = self.config.units;
        if let Backend::Cpu { .. } = self.backend {
            // every host array of the call, before the stateful bookkeeping and any work
            cpu::call_host_bytes(&self.config, batch, steps, d)?.check()?;
        }
        let init = self.begin_call(batch, checked.initial.is_some())?;
        let want_state = self.config.return_state;
        match &mut self.backend {
            Backend::Cpu { state } => {
                let start = match (init, checked.initial.take(), &*state) {
                    (InitialState::Given, Some(given), _) => given,
                    (InitialState::Carried, _, Some(carried)) => carried.clone(),
                    _ => LstmState::zeros(batch, u)?,
                };
                let mut st = cpu::StepState {
                    h: start.h,
                    c: start.c,
                    hold: host_memory::zeros("state hold (B, U)", (batch, u))?,
                };
                let y = cpu::run_sequence(
                    &self.config,
                    &self.weights,
                    checked.x,
                    checked.mask,
                    &mut st,
                )?;
                let fin = LstmState { h: st.h, c: st.c };
                if self.config.stateful {
                    *state = Some(fin.clone());
                }
                Ok(Started::Done(
                    self.shape_output(y, want_state.then_some(fin)),
                ))
            }
            Backend::Gpu(gpu) => Ok(Started::Gpu(gpu.start(
                &self.config,
                &checked,
                init,
                want_state,
            )?)),
        }
    }

    /// (B, T, U) or (B, 1, U) plus the final state → Keras's output shapes.
    fn shape_output(&self, out3: ndarray::Array3<f32>, fin: Option<LstmState>) -> LstmOutput {
        let (batch, _, u) = out3.dim();
        let output = if self.config.return_sequences {
            out3.into_dyn()
        } else {
            out3.into_shape_with_order((batch, u))
                .expect("(B, 1, U) reshapes to (B, U)")
                .into_dyn()
        };
        let (h, c) = match fin {
            Some(s) => (Some(s.h), Some(s.c)),
            None => (None, None),
        };
        LstmOutput { output, h, c }
    }

    /// Starts a call of `batch` rows: enforces the stateful batch size and decides where the
    /// initial state comes from (Keras 3: a given `initial_state` overrides a stored one).
    pub(crate) fn begin_call(&mut self, batch: usize, given: bool) -> Result<InitialState> {
        if let Some(sb) = self.stateful_batch
            && self.config.stateful
            && sb != batch
        {
            return Err(Error::StatefulBatch {
                expected: sb,
                got: batch,
            });
        }
        let init = if given {
            InitialState::Given
        } else if self.config.stateful && self.stateful_batch.is_some() {
            InitialState::Carried
        } else {
            InitialState::Zeros
        };
        if self.config.stateful {
            self.stateful_batch = Some(batch);
        }
        Ok(init)
    }

    /// The GPU half of this layer, when it runs on a GPU (for models that chain layers on the
    /// GPU).
    pub(crate) fn gpu_mut(&mut self) -> Option<&mut GpuLstm> {
        match &mut self.backend {
            Backend::Gpu(g) => Some(g),
            Backend::Cpu { .. } => None,
        }
    }

    /// The single place where a call's arguments are checked (rank, sizes, mask, state).
    pub(crate) fn check_input<'a>(&self, input: &LstmInput<'a>) -> Result<CheckedInput<'a>> {
        let u = self.config.units;
        let (x, mask) = check_sequence(&input.inputs, input.mask.as_ref(), self.input_dim())?;
        let (b, _, _) = x.dim();
        let initial = match &input.initial_state {
            None => None,
            Some((h, c)) => {
                let check = |name: &str, a: &ArrayViewD<'_, f32>| -> Result<Array2<f32>> {
                    let view = a
                        .view()
                        .into_dimensionality::<Ix2>()
                        .ok()
                        .filter(|a| a.dim() == (b, u))
                        .ok_or_else(|| Error::shape(name, format!("({b}, {u})"), a.shape()))?;
                    // (a broadcast view may stand for far more than it occupies)
                    host_memory::to_owned(name, &view)
                };
                state_bytes(b, u)?.check()?;
                Some(LstmState {
                    h: check("initial_state h", h)?,
                    c: check("initial_state c", c)?,
                })
            }
        };
        Ok(CheckedInput { x, mask, initial })
    }

    /// Zeroes the state of a stateful layer (Keras's `reset_states()`); on a GPU the buffers
    /// are cleared on the GPU. The batch size the state was made for is kept.
    ///
    /// ```
    /// let cfg = wgpu_lstm::LstmConfig { stateful: true, ..wgpu_lstm::LstmConfig::new(2) };
    /// let mut l = wgpu_lstm::Lstm::with_default_weights(cfg, 1, 1).unwrap();
    /// l.forward(ndarray::Array3::<f32>::ones((1, 3, 1)).view()).unwrap();
    /// l.reset_states().unwrap();
    /// assert_eq!(l.states().unwrap().unwrap().h.sum(), 0.0);
    /// ```
    pub fn reset_states(&mut self) -> Result<()> {
        let u = self.config.units;
        match (&mut self.backend, self.stateful_batch) {
            (_, None) => Ok(()),
            (Backend::Cpu { state }, Some(b)) => {
                match state {
                    Some(s) => {
                        s.h.fill(0.0);
                        s.c.fill(0.0);
                    }
                    None => *state = Some(LstmState::zeros(b, u)?),
                }
                Ok(())
            }
            (Backend::Gpu(g), Some(b)) => g.reset_state(b),
        }
    }

    /// The state a stateful layer holds (read back from the GPU), or `None` before its first
    /// call. Stateless layers hold no state.
    ///
    /// ```
    /// let cfg = wgpu_lstm::LstmConfig { stateful: true, ..wgpu_lstm::LstmConfig::new(2) };
    /// let mut l = wgpu_lstm::Lstm::with_default_weights(cfg, 1, 1).unwrap();
    /// assert!(l.states().unwrap().is_none());
    /// let out = l.forward(ndarray::Array3::<f32>::ones((1, 3, 1)).view()).unwrap();
    /// assert_eq!(l.states().unwrap().unwrap().h.into_dyn(), out.output);
    /// ```
    pub fn states(&self) -> Result<Option<LstmState>> {
        if !self.config.stateful || self.stateful_batch.is_none() {
            return Ok(None);
        }
        let b = self.stateful_batch.expect("checked");
        match &self.backend {
            Backend::Cpu { state } => match state {
                Some(s) => {
                    state_bytes(b, self.config.units)?.check()?;
                    Ok(Some(s.clone()))
                }
                None => LstmState::zeros(b, self.config.units).map(Some),
            },
            Backend::Gpu(g) => g.read_state(None).map(Some),
        }
    }

    /// Gives a stateful layer a zero state for `batch` rows (Keras: a layer built with a fixed
    /// `batch_shape`), e.g. the stream slots of a server.
    ///
    /// ```
    /// let cfg = wgpu_lstm::LstmConfig { stateful: true, ..wgpu_lstm::LstmConfig::new(2) };
    /// let mut l = wgpu_lstm::Lstm::with_default_weights(cfg, 1, 1).unwrap();
    /// l.init_states(8).unwrap();
    /// assert_eq!(l.states().unwrap().unwrap().batch(), 8);
    /// ```
    ///
    /// The state's host memory is checked against the budget ([`crate::host_memory`]) before
    /// it is allocated: a batch the machine cannot hold is an error, not an abort.
    ///
    /// ```
    /// use wgpu_lstm::{Error, Lstm, LstmConfig};
    /// let cfg = LstmConfig { stateful: true, ..LstmConfig::new(256) };
    /// let mut l = Lstm::with_default_weights(cfg, 1, 1).unwrap();
    /// assert!(matches!(l.init_states(usize::MAX / 2), Err(Error::SizeOverflow { .. })));
    /// assert!(matches!(l.init_states(1 << 40), Err(Error::HostMemory { .. })));
    /// assert!(l.states().unwrap().is_none()); // nothing changed
    /// ```
    pub fn init_states(&mut self, batch: usize) -> Result<()> {
        self.check_settable(batch)?;
        let state = LstmState::zeros(batch, self.config.units)?;
        self.install_states(state)
    }

    /// Checks that a state of `batch` rows may be set (a stateful layer, B ≥ 1).
    fn check_settable(&self, batch: usize) -> Result<()> {
        if !self.config.stateful {
            return Err(Error::config(
                "stateful",
                "is false: a stateless layer holds no state to set (pass initial_state instead)",
            ));
        }
        if batch == 0 {
            return Err(Error::config("batch", "must be at least 1, got 0"));
        }
        Ok(())
    }

    /// Installs a checked (B, U) state as the layer's state.
    fn install_states(&mut self, state: LstmState) -> Result<()> {
        let b = state.batch();
        match &mut self.backend {
            Backend::Cpu { state: s } => *s = Some(state),
            Backend::Gpu(g) => g.write_state(&state)?,
        }
        self.stateful_batch = Some(b);
        Ok(())
    }

    fn check_rows(&self, rows: &[usize]) -> Result<usize> {
        let batch = match (self.config.stateful, self.stateful_batch) {
            (true, Some(b)) => b,
            (false, _) => {
                return Err(Error::NoState(
                    "per-row state needs a stateful layer (stateful=True)".into(),
                ));
            }
            (true, None) => {
                return Err(Error::NoState(
                    "the stateful layer holds no state yet: call it once or use init_states(batch)"
                        .into(),
                ));
            }
        };
        match rows.iter().find(|&&r| r >= batch) {
            Some(&row) => Err(Error::RowOutOfRange { row, batch }),
            None => Ok(batch),
        }
    }

    /// Zeroes h and c of the given batch rows only (a stream in those slots starts over);
    /// every other row keeps its state exactly.
    ///
    /// ```
    /// use wgpu_lstm::{Lstm, LstmConfig};
    /// let cfg = LstmConfig { stateful: true, ..LstmConfig::new(2) };
    /// let mut l = Lstm::with_default_weights(cfg, 1, 1).unwrap();
    /// l.forward(ndarray::Array3::<f32>::ones((3, 2, 1)).view()).unwrap();
    /// let before = l.states().unwrap().unwrap();
    /// l.reset_rows(&[1]).unwrap();
    /// let after = l.states().unwrap().unwrap();
    /// assert_eq!(after.h.row(1).sum(), 0.0);
    /// assert_eq!(after.h.row(0), before.h.row(0));
    /// assert!(l.reset_rows(&[3]).is_err());
    /// ```
    pub fn reset_rows(&mut self, rows: &[usize]) -> Result<()> {
        self.check_rows(rows)?;
        match &mut self.backend {
            Backend::Cpu { state } => {
                if let Some(s) = state {
                    for &r in rows {
                        s.h.row_mut(r).fill(0.0);
                        s.c.row_mut(r).fill(0.0);
                    }
                }
                Ok(())
            }
            Backend::Gpu(g) => g.reset_rows(rows),
        }
    }

    /// One row's state, (1, U) each — a checkpoint of the stream in that slot.
    ///
    /// ```
    /// use wgpu_lstm::{Lstm, LstmConfig};
    /// let cfg = LstmConfig { stateful: true, ..LstmConfig::new(2) };
    /// let mut l = Lstm::with_default_weights(cfg, 1, 1).unwrap();
    /// l.forward(ndarray::Array3::<f32>::ones((3, 2, 1)).view()).unwrap();
    /// let s = l.row_state(2).unwrap();
    /// assert_eq!(s.h.dim(), (1, 2));
    /// ```
    pub fn row_state(&self, row: usize) -> Result<LstmState> {
        self.check_rows(&[row])?;
        match &self.backend {
            Backend::Cpu { state } => {
                let s = state
                    .as_ref()
                    .ok_or_else(|| Error::NoState("no state yet".into()))?;
                Ok(LstmState {
                    h: s.h.slice(ndarray::s![row..row + 1, ..]).to_owned(),
                    c: s.c.slice(ndarray::s![row..row + 1, ..]).to_owned(),
                })
            }
            Backend::Gpu(g) => g.read_state(Some(row)),
        }
    }

    /// Writes one row's state ((1, U) each) — restore or migrate a stream into a slot;
    /// every other row keeps its state exactly.
    ///
    /// ```
    /// use wgpu_lstm::{Lstm, LstmConfig};
    /// let cfg = LstmConfig { stateful: true, ..LstmConfig::new(2) };
    /// let mut l = Lstm::with_default_weights(cfg, 1, 1).unwrap();
    /// l.forward(ndarray::Array3::<f32>::ones((3, 2, 1)).view()).unwrap();
    /// let s = l.row_state(2).unwrap();
    /// l.set_row_state(0, &s).unwrap();
    /// assert_eq!(l.row_state(0).unwrap(), s);
    /// ```
    pub fn set_row_state(&mut self, row: usize, state: &LstmState) -> Result<()> {
        self.check_rows(&[row])?;
        let u = self.config.units;
        for (name, a) in [("row state h", &state.h), ("row state c", &state.c)] {
            if a.dim() != (1, u) {
                return Err(Error::shape(name, format!("(1, {u})"), a.shape()));
            }
        }
        match &mut self.backend {
            Backend::Cpu { state: s } => {
                let s = s
                    .as_mut()
                    .ok_or_else(|| Error::NoState("no state yet".into()))?;
                s.h.row_mut(row).assign(&state.h.row(0));
                s.c.row_mut(row).assign(&state.c.row(0));
                Ok(())
            }
            Backend::Gpu(g) => {
                let h = state.h.as_standard_layout();
                let c = state.c.as_standard_layout();
                g.write_row(row, h.as_slice().expect("std"), c.as_slice().expect("std"))
            }
        }
    }

    /// Sets the state of a stateful layer (Keras 3's `layer.states[...].assign`), fixing its
    /// batch size to the state's. Shapes must be (B, U).
    ///
    /// ```
    /// use wgpu_lstm::{Lstm, LstmConfig, LstmState};
    /// let cfg = LstmConfig { stateful: true, ..LstmConfig::new(2) };
    /// let mut l = Lstm::with_default_weights(cfg, 1, 1).unwrap();
    /// l.set_states(&LstmState::zeros(3, 2).unwrap()).unwrap();
    /// assert!(l.set_states(&LstmState::zeros(3, 5).unwrap()).is_err());
    /// ```
    pub fn set_states(&mut self, state: &LstmState) -> Result<()> {
        let u = self.config.units;
        let b = state.h.nrows();
        for (name, a) in [("state h", &state.h), ("state c", &state.c)] {
            if a.dim() != (b, u) || b == 0 {
                return Err(Error::shape(
                    name,
                    format!("({b}, {u}) with B >= 1"),
                    a.shape(),
                ));
            }
        }
        self.check_settable(b)?;
        match &mut self.backend {
            Backend::Cpu { state: s } => {
                state_bytes(b, u)?.check()?;
                *s = Some(host_memory_clone(state)?);
            }
            Backend::Gpu(g) => g.write_state(state)?,
        }
        self.stateful_batch = Some(b);
        Ok(())
    }
}
