//! [`Lstm`]: one Keras `LSTM` layer — configuration, weights, a device, and the state a
//! stateful layer carries between calls. A one-node [`Plan`] run by a [`Model`], so a layer
//! and a model share every code path (executors, splitting, states).

use ndarray::{Array2, ArrayD, ArrayView, ArrayViewD, Dimension, Ix2};

use crate::config::{LstmConfig, Precision};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::gpu::options::{CallOptions, CallReport};
use crate::layers::{Layer, Recurrent};
use crate::model::{Model, ModelInput};
use crate::plan::Plan;
use crate::tensor::TensorInfo;
use crate::weights::LstmWeights;

pub use crate::state::LstmState;

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
    initial_state: Option<(ArrayViewD<'a, f32>, Option<ArrayViewD<'a, f32>>)>,
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
        self.initial_state = Some((h.into_dyn(), Some(c.into_dyn())));
        self
    }

    /// The initial state h (B, U) of a layer whose cell has no c (a GRU or SimpleRNN). It
    /// overrides a stateful layer's stored state. An LSTM refuses it (it needs c too).
    ///
    /// ```
    /// use wgpu_lstm::{Lstm, LstmConfig, LstmInput};
    /// let mut gru = Lstm::with_default_weights(LstmConfig::gru(4), 1, 0).unwrap();
    /// let x = ndarray::Array3::<f32>::zeros((1, 2, 1));
    /// let h = ndarray::Array2::<f32>::ones((1, 4));
    /// assert!(gru.call(LstmInput::new(x.view()).initial_h(h.view())).is_ok());
    /// ```
    pub fn initial_h<D: Dimension>(mut self, h: ArrayView<'a, f32, D>) -> Self {
        self.initial_state = Some((h.into_dyn(), None));
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

/// What a call returns: Keras's `output` and, with `return_state`, the final `h` and `c`
/// (`c` stays `None` for a GRU or SimpleRNN, which have no cell state).
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

/// One Keras `LSTM` layer on a [`Device`] — or a `GRU` or `SimpleRNN` layer, given a
/// configuration of that cell ([`LstmConfig::gru`], [`LstmConfig::simple_rnn`]).
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
    model: Model,
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
        let layer = Recurrent::new(config.clone(), weights)?;
        let d = layer.input_dim();
        let plan = Plan::sequential(
            "lstm",
            config.flavour,
            TensorInfo::f32(vec![None, Some(d)]),
            vec![(config.class_name().to_lowercase(), Layer::Recurrent(layer))],
        )?;
        let model = Model::from_plan_with_precision(plan, device, precision)?;
        let weights = model.plan().nodes[0].layer.lstms()[0].weights.clone();
        Ok(Lstm {
            config,
            weights,
            model,
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
        self.model.device_name()
    }

    /// The one-node model this layer runs as.
    ///
    /// ```
    /// let l = wgpu_lstm::Lstm::with_default_weights(wgpu_lstm::LstmConfig::new(4), 3, 1).unwrap();
    /// assert_eq!(l.model().plan().nodes.len(), 1);
    /// ```
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Sets the options plain calls ([`Lstm::call`], [`Lstm::forward`], [`Lstm::call_async`])
    /// use on the GPU; they belong to this layer only.
    ///
    /// ```
    /// use wgpu_lstm::gpu::{CallOptions, KernelChoice};
    /// let mut l = wgpu_lstm::Lstm::with_default_weights(wgpu_lstm::LstmConfig::new(4), 3, 1).unwrap();
    /// l.set_options(CallOptions { kernel: KernelChoice::Persistent, ..CallOptions::default() });
    /// assert_eq!(l.options().kernel, KernelChoice::Persistent);
    /// ```
    pub fn set_options(&mut self, options: CallOptions) {
        self.model.set_options(options);
    }

    /// The options plain calls use.
    ///
    /// ```
    /// let l = wgpu_lstm::Lstm::with_default_weights(wgpu_lstm::LstmConfig::new(4), 3, 1).unwrap();
    /// assert!(!l.options().poison);
    /// ```
    pub fn options(&self) -> CallOptions {
        self.model.options()
    }

    /// What the last GPU call did (kernel, parts, GPU time).
    ///
    /// ```
    /// let l = wgpu_lstm::Lstm::with_default_weights(wgpu_lstm::LstmConfig::new(4), 3, 1).unwrap();
    /// assert_eq!(l.last_report().kernel, "");
    /// ```
    pub fn last_report(&self) -> CallReport {
        self.model.last_report()
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
        let opts = self.model.options();
        self.call_with(input, &opts)
    }

    /// [`Lstm::call`] with per-call options (kernel choice, scratch budget, poisoning,
    /// timing; see [`CallOptions`]).
    ///
    /// ```
    /// use wgpu_lstm::{gpu::{CallOptions, KernelChoice}, Lstm, LstmConfig, LstmInput};
    /// let mut l = Lstm::with_default_weights(LstmConfig::new(4), 3, 1).unwrap();
    /// let x = ndarray::Array3::<f32>::zeros((2, 6, 3));
    /// let opts = CallOptions { kernel: KernelChoice::PerStep, ..CallOptions::default() };
    /// assert!(l.call_with(LstmInput::new(x.view()), &opts).is_ok());
    /// ```
    pub fn call_with(&mut self, input: LstmInput<'_>, opts: &CallOptions) -> Result<LstmOutput> {
        let (inputs, host) = self.prepare(&input)?;
        let out =
            self.model
                .run_with_state(&inputs, host.as_ref().map(std::slice::from_ref), opts)?;
        self.wrap(out)
    }

    /// The same call as a future: on a GPU the work is submitted at its first poll and the
    /// future completes when the results are mapped, polling the device without blocking
    /// (the executor's thread keeps polling while the GPU works — any executor will do, e.g.
    /// `pollster::block_on`). On the CPU it completes at its first poll.
    ///
    /// Cancellation (a timeout, `select!`): a future dropped before its first poll did
    /// nothing — the call did not happen. Once polled, the call happened: its work was
    /// submitted and, for a stateful layer, the state advanced exactly as a completed call
    /// would have advanced it; dropping the future only discards the results. Either way the
    /// layer (and every other layer of its context) stays usable.
    ///
    /// ```
    /// use wgpu_lstm::{Lstm, LstmConfig, LstmInput};
    /// let mut l = Lstm::with_default_weights(LstmConfig::new(4), 3, 1).unwrap();
    /// let x = ndarray::Array3::<f32>::zeros((2, 6, 3));
    /// let y = pollster::block_on(l.call_async(LstmInput::new(x.view()))).unwrap();
    /// assert_eq!(y.output.shape(), &[2, 4]);
    /// ```
    pub async fn call_async(&mut self, input: LstmInput<'_>) -> Result<LstmOutput> {
        let (inputs, host) = self.prepare(&input)?;
        let opts = self.model.options();
        let out = self
            .model
            .run_async_with_state(&inputs, host.as_ref().map(std::slice::from_ref), &opts)
            .await?;
        self.wrap(out)
    }

    /// The model inputs and the checked initial state of one call.
    fn prepare<'a>(
        &self,
        input: &LstmInput<'a>,
    ) -> Result<(Vec<ModelInput<'a>>, Option<LstmState>)> {
        let mut x = ModelInput::f32(input.inputs.clone());
        if let Some(m) = &input.mask {
            let m2 = m
                .clone()
                .into_dimensionality::<Ix2>()
                .map_err(|_| Error::shape("mask", "(B, T)", m.shape()))?;
            x = x.with_mask(m2);
        }
        let host = match &input.initial_state {
            None => None,
            Some((h, c)) => {
                let b = input.inputs.shape().first().copied().unwrap_or(0);
                let u = self.config.units;
                let check =
                    |name: &str, a: &ArrayViewD<'_, f32>, u: usize| -> Result<Array2<f32>> {
                        let view = a
                            .view()
                            .into_dimensionality::<Ix2>()
                            .ok()
                            .filter(|a| a.dim() == (b, u))
                            .ok_or_else(|| Error::shape(name, format!("({b}, {u})"), a.shape()))?;
                        // (a broadcast view may stand for far more than it occupies)
                        crate::host_memory::to_owned(name, &view)
                    };
                crate::state::state_bytes(b, u)?.check()?;
                let cu = self.config.cell.c_units(u);
                let c = match (c, cu) {
                    (Some(c), _) => check("initial_state c", c, cu)?,
                    (None, 0) => Array2::zeros((b, 0)),
                    (None, _) => {
                        return Err(Error::config(
                            "initial_state",
                            "an LSTM's initial state is [h, c]: use initial_state(h, c)",
                        ));
                    }
                };
                Some(LstmState {
                    h: check("initial_state h", h, u)?,
                    c,
                })
            }
        };
        Ok((vec![x], host))
    }

    /// The model's outputs as an [`LstmOutput`].
    fn wrap(&self, mut out: Vec<ArrayD<f32>>) -> Result<LstmOutput> {
        let two = |a: ArrayD<f32>| {
            a.into_dimensionality::<Ix2>()
                .map_err(|e| Error::Gpu(format!("a state came back with the wrong rank: {e}")))
        };
        let (h, c) = if self.config.return_state && out.len() == 3 {
            let c = two(out.pop().expect("three outputs"))?;
            let h = two(out.pop().expect("three outputs"))?;
            (Some(h), Some(c))
        } else if self.config.return_state && out.len() == 2 {
            // a GRU or SimpleRNN returns h alone
            (Some(two(out.pop().expect("two outputs"))?), None)
        } else {
            (None, None)
        };
        Ok(LstmOutput {
            output: out.swap_remove(0),
            h,
            c,
        })
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
        self.model.reset_states()
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
        Ok(self.model.states()?.into_iter().next().flatten())
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
        if !self.config.stateful {
            return Err(Error::config(
                "stateful",
                "is false: a stateless layer holds no state to set (pass initial_state instead)",
            ));
        }
        self.model.init_states(batch)
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
        self.model.reset_rows(rows)
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
        Ok(self.model.row_states(row)?.swap_remove(0))
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
        self.model.set_row_states(row, std::slice::from_ref(state))
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
        self.model.set_states(std::slice::from_ref(state))
    }
}
