//! [`Model`]: a Keras `Sequential` (or linear `Functional`) model of `InputLayer`,
//! `Masking`, `LSTM`, `Bidirectional(LSTM)` and `Dense` layers, loaded from a Keras file or
//! built from parts, run on the CPU or the GPU.
//!
//! On a GPU the whole model is one command encoder and one submit: activations stay in GPU
//! buffers from layer to layer, and only the final output (and any requested state) is read
//! back.

use std::path::Path;

use ndarray::{Array1, Array2, ArrayD, ArrayView, ArrayViewD, Axis, Dimension, Ix2, Ix3};
use serde_json::Value;

use crate::activation::{Activation, KerasFlavour};
use crate::config::LstmConfig;
use crate::cpu::{self, MergeMode};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::gpu::model::GpuModel;
use crate::host_memory::{self, HostBytes};
use crate::keras::{self, LayerSpec, ModelFile};
use crate::layer::{Lstm, LstmInput, LstmState, check_sequence};
use crate::weights::LstmWeights;

/// A layer's definition (configuration and weights), independent of the device.
///
/// ```
/// use wgpu_lstm::{model::LayerDef, Activation};
/// let dense = LayerDef::Dense {
///     kernel: ndarray::Array2::zeros((4, 1)),
///     bias: Some(ndarray::Array1::zeros(1)),
///     activation: Activation::Linear,
/// };
/// assert_eq!(dense.class_name(), "Dense");
/// ```
#[derive(Debug, Clone)]
// Definitions are built once per model; boxing the Bidirectional halves would only make the
// public API clumsier.
#[allow(clippy::large_enum_variant)]
pub enum LayerDef {
    /// Keras `Masking(mask_value)`: steps whose features all equal `mask_value` are masked.
    Masking {
        /// The value that marks a padded step.
        mask_value: f32,
    },
    /// Keras `LSTM`.
    Lstm {
        /// Its configuration.
        config: LstmConfig,
        /// Its weights.
        weights: LstmWeights,
    },
    /// Keras `Bidirectional(LSTM)`: a forward and a backward LSTM on the same input.
    Bidirectional {
        /// The forward layer (`go_backwards = false`).
        forward: (LstmConfig, LstmWeights),
        /// The backward layer (`go_backwards = true`).
        backward: (LstmConfig, LstmWeights),
        /// How the halves are combined.
        merge: MergeMode,
    },
    /// Keras `Dense(units, activation)` on the last axis.
    Dense {
        /// (in, units)
        kernel: Array2<f32>,
        /// (units) or none.
        bias: Option<Array1<f32>>,
        /// Applied after `x·kernel + bias`.
        activation: Activation,
    },
}

impl LayerDef {
    /// The Keras class name.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::model::LayerDef::Masking { mask_value: 0.0 }.class_name(), "Masking");
    /// ```
    pub fn class_name(&self) -> &'static str {
        match self {
            LayerDef::Masking { .. } => "Masking",
            LayerDef::Lstm { .. } => "LSTM",
            LayerDef::Bidirectional { .. } => "Bidirectional",
            LayerDef::Dense { .. } => "Dense",
        }
    }

    /// Keras's parameter count: the elements of the layer's weights (arrays in memory, so
    /// the count cannot overflow).
    ///
    /// ```
    /// let d = wgpu_lstm::model::LayerDef::Dense {
    ///     kernel: ndarray::Array2::zeros((32, 1)),
    ///     bias: Some(ndarray::Array1::zeros(1)),
    ///     activation: wgpu_lstm::Activation::Linear,
    /// };
    /// assert_eq!(d.param_count(), 33);
    /// ```
    pub fn param_count(&self) -> usize {
        let lstm = |w: &LstmWeights| {
            w.kernel.len() + w.recurrent_kernel.len() + w.bias.as_ref().map_or(0, |b| b.len())
        };
        match self {
            LayerDef::Masking { .. } => 0,
            LayerDef::Lstm { weights, .. } => lstm(weights),
            LayerDef::Bidirectional {
                forward, backward, ..
            } => lstm(&forward.1).saturating_add(lstm(&backward.1)),
            LayerDef::Dense { kernel, bias, .. } => {
                kernel.len() + bias.as_ref().map_or(0, |b| b.len())
            }
        }
    }

    /// The feature size this layer consumes, if it has weights.
    fn input_dim(&self) -> Option<usize> {
        match self {
            LayerDef::Masking { .. } => None,
            LayerDef::Lstm { weights, .. } => Some(weights.input_dim()),
            LayerDef::Bidirectional { forward, .. } => Some(forward.1.input_dim()),
            LayerDef::Dense { kernel, .. } => Some(kernel.nrows()),
        }
    }
}

/// A whole model's definition: name, Keras flavour and layers (with their Keras names).
///
/// ```
/// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
/// let file = wgpu_lstm::keras::load_keras_bytes(bytes, "sine_forecaster.keras").unwrap();
/// let def = wgpu_lstm::model::ModelDef::from_model_file(&file).unwrap();
/// assert_eq!(def.layers.len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct ModelDef {
    /// The model's name.
    pub name: String,
    /// Which Keras saved it.
    pub flavour: KerasFlavour,
    /// (layer name, definition), in order.
    pub layers: Vec<(String, LayerDef)>,
}

fn weight_of(spec: &LayerSpec, name: &str) -> Result<ArrayD<f32>> {
    spec.weight(name)
        .ok_or_else(|| {
            Error::model_file(
                format!("layer `{}`", spec.name),
                format!("has no weight `{name}`"),
            )
        })?
        .to_array()
}

fn as2(a: ArrayD<f32>, what: &str) -> Result<Array2<f32>> {
    let shape = a.shape().to_vec();
    a.into_dimensionality::<Ix2>()
        .map_err(|_| Error::shape(what, "a matrix", &shape))
}

fn as1(a: ArrayD<f32>, what: &str) -> Result<Array1<f32>> {
    let shape = a.shape().to_vec();
    a.into_dimensionality()
        .map_err(|_| Error::shape(what, "a vector", &shape))
}

fn lstm_from(
    config: &Value,
    spec: &LayerSpec,
    prefix: &str,
    flavour: KerasFlavour,
) -> Result<(LstmConfig, LstmWeights)> {
    let cfg = LstmConfig::from_keras_json(config, flavour)?;
    let w = |n: &str| weight_of(spec, &format!("{prefix}{n}"));
    let k = as2(w("kernel")?, &format!("{} {prefix}kernel", spec.name))?;
    let r = as2(
        w("recurrent_kernel")?,
        &format!("{} {prefix}recurrent_kernel", spec.name),
    )?;
    let b = if cfg.use_bias {
        Some(as1(w("bias")?, &format!("{} {prefix}bias", spec.name))?)
    } else {
        None
    };
    let weights = LstmWeights::new(k, r, b)?;
    weights.check(&cfg)?;
    Ok((cfg, weights))
}

/// Keras `Masking`'s `mask_value`: a number (as float32, as Keras compares it), 0.0 when
/// absent or null (Keras's default); anything else is refused, naming the layer.
fn mask_value(cfg: &Value, pos: usize, name: &str) -> Result<f32> {
    match cfg.get("mask_value") {
        None | Some(Value::Null) => Ok(0.0),
        Some(Value::Number(n)) => n.as_f64().map(|v| v as f32).ok_or_else(|| {
            Error::config(
                "mask_value",
                format!("layer {pos} `{name}` (Masking): {n} is not a float"),
            )
        }),
        Some(other) => Err(Error::config(
            "mask_value",
            format!("layer {pos} `{name}` (Masking): expected a number, got {other}"),
        )),
    }
}

fn inner_config(v: Option<&Value>) -> Option<&Value> {
    v.map(|l| l.get("config").unwrap_or(l))
}

impl ModelDef {
    /// Builds a definition from a loaded Keras file. The saving Keras version picks the
    /// `hard_sigmoid` flavour; a layer class other than InputLayer, Masking, LSTM,
    /// Bidirectional(LSTM), Dense (or a weightless Dropout/ActivityRegularization, which do
    /// nothing at inference) is an [`Error::Unsupported`] naming the class and position.
    ///
    /// ```no_run
    /// let file = wgpu_lstm::keras::load_model_file("model.keras".as_ref()).unwrap();
    /// let def = wgpu_lstm::model::ModelDef::from_model_file(&file).unwrap();
    /// ```
    pub fn from_model_file(file: &ModelFile) -> Result<ModelDef> {
        let flavour = KerasFlavour::from_keras_version(&file.keras_version)?;
        let mut layers = Vec::new();
        for (pos, spec) in file.layers.iter().enumerate() {
            let cfg = &spec.config;
            let def = match spec.class_name.as_str() {
                "InputLayer"
                | "Dropout"
                | "SpatialDropout1D"
                | "GaussianNoise"
                | "GaussianDropout"
                | "AlphaDropout"
                | "ActivityRegularization" => continue,
                "Masking" => LayerDef::Masking {
                    mask_value: mask_value(cfg, pos, &spec.name)?,
                },
                "LSTM" => {
                    let (config, weights) = lstm_from(cfg, spec, "", flavour)?;
                    LayerDef::Lstm { config, weights }
                }
                "Bidirectional" => {
                    let merge = match cfg.get("merge_mode") {
                        None | Some(Value::Null) => MergeMode::from_keras(None)?,
                        Some(Value::String(m)) => MergeMode::from_keras(Some(m))?,
                        Some(other) => {
                            return Err(Error::config(
                                "merge_mode",
                                format!(
                                    "layer {pos} `{}`: expected one of \"concat\", \"sum\", \"mul\", \"ave\" or null, got {other}",
                                    spec.name
                                ),
                            ));
                        }
                    };
                    let fwd_cfg = inner_config(cfg.get("layer")).ok_or_else(|| {
                        Error::model_file(
                            format!("layer `{}`", spec.name),
                            "Bidirectional without an inner `layer` config",
                        )
                    })?;
                    let bwd_cfg = match inner_config(cfg.get("backward_layer")) {
                        Some(b) => b.clone(),
                        None => {
                            let mut b = fwd_cfg.clone();
                            let gb = fwd_cfg
                                .get("go_backwards")
                                .and_then(Value::as_bool)
                                .unwrap_or(false);
                            b["go_backwards"] = Value::Bool(!gb);
                            b
                        }
                    };
                    LayerDef::Bidirectional {
                        forward: lstm_from(fwd_cfg, spec, "forward/", flavour)?,
                        backward: lstm_from(&bwd_cfg, spec, "backward/", flavour)?,
                        merge,
                    }
                }
                "Dense" => {
                    let act = match cfg.get("activation") {
                        None | Some(Value::Null) => Activation::Linear,
                        Some(Value::String(s)) => Activation::from_keras_name(s, flavour)?,
                        Some(other) => {
                            return Err(Error::config(
                                "activation",
                                format!("expected a name, got {other}"),
                            ));
                        }
                    };
                    let kernel = as2(weight_of(spec, "kernel")?, &format!("{} kernel", spec.name))?;
                    let bias = match spec.weight("bias") {
                        Some(_) => Some(as1(
                            weight_of(spec, "bias")?,
                            &format!("{} bias", spec.name),
                        )?),
                        None => None,
                    };
                    LayerDef::Dense {
                        kernel,
                        bias,
                        activation: act,
                    }
                }
                other => {
                    return Err(Error::Unsupported(format!(
                        "layer {pos} `{}` is a {other}; supported: InputLayer, Masking, LSTM, Bidirectional(LSTM), Dense",
                        spec.name
                    )));
                }
            };
            layers.push((spec.name.clone(), def));
        }
        Ok(ModelDef {
            name: file.model_name.clone(),
            flavour,
            layers,
        })
    }
}

/// What a model call returns: the output(s) of the last layer and, when the last layer has
/// `return_state`, its final states.
///
/// ```
/// use wgpu_lstm::model::ModelOutput;
/// let out = ModelOutput { outputs: vec![ndarray::ArrayD::zeros(vec![1, 2])], states: vec![] };
/// assert_eq!(out.output().shape(), &[1, 2]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOutput {
    /// One array, or two for a final `Bidirectional(merge_mode=None)` (forward, backward).
    pub outputs: Vec<ArrayD<f32>>,
    /// Final states of the last layer when it has `return_state`: `h`, `c` for an LSTM;
    /// `forward_h`, `forward_c`, `backward_h`, `backward_c` for a Bidirectional.
    pub states: Vec<(String, Array2<f32>)>,
}

impl ModelOutput {
    /// The (first) output.
    ///
    /// ```
    /// let out = wgpu_lstm::model::ModelOutput { outputs: vec![ndarray::ArrayD::zeros(vec![3])], states: vec![] };
    /// assert_eq!(out.output().len(), 3);
    /// ```
    pub fn output(&self) -> &ArrayD<f32> {
        &self.outputs[0]
    }
}

/// A layer of a built model.
pub(crate) enum Layer {
    Masking {
        mask_value: f32,
    },
    Lstm(Box<Lstm>),
    Bidirectional {
        forward: Box<Lstm>,
        backward: Box<Lstm>,
        merge: MergeMode,
    },
    Dense {
        kernel: Array2<f32>,
        bias: Option<Array1<f32>>,
        activation: Activation,
    },
}

/// The shape of the activations between layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flow {
    pub width: usize,
    /// true: (B, T, width); false: (B, width).
    pub seq: bool,
}

/// A runnable model.
///
/// ```
/// use wgpu_lstm::{Device, model::Model};
/// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
/// let mut model = Model::from_keras_bytes(bytes, "sine_forecaster.keras", &Device::Cpu).unwrap();
/// let x = ndarray::Array3::<f32>::zeros((1, 10, 1));
/// let y = model.predict(x.view()).unwrap();
/// assert_eq!(y.shape(), &[1, 10, 1]);
/// ```
pub struct Model {
    def: ModelDef,
    layers: Vec<Layer>,
    input_dim: usize,
    gpu: Option<GpuModel>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.def.name)
            .field(
                "layers",
                &self
                    .def
                    .layers
                    .iter()
                    .map(|(n, l)| (n, l.class_name()))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn force_bidir(mut cfg: LstmConfig, backwards: bool) -> LstmConfig {
    // Keras's Bidirectional: masked outputs are zeros exactly when sequences are returned.
    cfg.zero_output_for_mask = cfg.return_sequences;
    cfg.go_backwards = backwards;
    cfg
}

impl Model {
    /// Loads a `.keras` or legacy `.h5` file (see [`crate::keras::load_model_file`]) onto a
    /// device.
    ///
    /// ```no_run
    /// let mut m = wgpu_lstm::model::Model::load("model.keras".as_ref(), &wgpu_lstm::Device::Cpu).unwrap();
    /// ```
    pub fn load(path: &Path, device: &Device) -> Result<Model> {
        let file = keras::load_model_file(path)?;
        Self::new(ModelDef::from_model_file(&file)?, device)
    }

    /// Loads a `.keras` archive from memory.
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// assert_eq!(m.param_count(), 4385);
    /// ```
    pub fn from_keras_bytes(bytes: &[u8], name: &str, device: &Device) -> Result<Model> {
        let file = keras::load_keras_bytes(bytes, name)?;
        Self::new(ModelDef::from_model_file(&file)?, device)
    }

    /// Builds a model from a definition on a device. The layers must chain: each layer's
    /// input size equals the previous layer's output size, and LSTM / Bidirectional / Masking
    /// layers need a sequence (an LSTM without `return_sequences` ends the sequence).
    ///
    /// ```
    /// use wgpu_lstm::{Device, LstmConfig, LstmWeights, KerasFlavour};
    /// use wgpu_lstm::model::{LayerDef, Model, ModelDef};
    /// let c0 = LstmConfig { return_sequences: true, ..LstmConfig::new(6) };
    /// let c1 = LstmConfig::new(4);
    /// let def = ModelDef {
    ///     name: "stack".into(),
    ///     flavour: KerasFlavour::Keras3,
    ///     layers: vec![
    ///         ("lstm".into(), LayerDef::Lstm { weights: LstmWeights::keras_default(3, &c0, 0).unwrap(), config: c0 }),
    ///         ("lstm_1".into(), LayerDef::Lstm { weights: LstmWeights::keras_default(6, &c1, 1).unwrap(), config: c1 }),
    ///     ],
    /// };
    /// let mut m = Model::new(def, &Device::Cpu).unwrap();
    /// assert_eq!(m.predict(ndarray::Array3::<f32>::zeros((2, 5, 3)).view()).unwrap().shape(), &[2, 4]);
    /// ```
    pub fn new(def: ModelDef, device: &Device) -> Result<Model> {
        let input_dim = def
            .layers
            .iter()
            .find_map(|(_, l)| l.input_dim())
            .ok_or_else(|| {
                Error::Unsupported(format!("model `{}` has no layer with weights", def.name))
            })?;
        let mut flow = Flow {
            width: input_dim,
            seq: true,
        };
        let mut layers = Vec::new();
        for (pos, (name, l)) in def.layers.iter().enumerate() {
            let at = || format!("layer {pos} `{name}` ({})", l.class_name());
            if let Some(d) = l.input_dim()
                && d != flow.width
            {
                return Err(Error::shape(
                    format!("{} kernel", at()),
                    format!(
                        "({}, ...) to take the previous layer's {} features",
                        flow.width, flow.width
                    ),
                    &[d],
                ));
            }
            if matches!(
                l,
                LayerDef::Lstm { .. } | LayerDef::Bidirectional { .. } | LayerDef::Masking { .. }
            ) && !flow.seq
            {
                return Err(Error::Unsupported(format!(
                    "{} needs a sequence (B, T, D), but the previous LSTM has return_sequences=False",
                    at()
                )));
            }
            let layer = match l {
                LayerDef::Masking { mask_value } => Layer::Masking {
                    mask_value: *mask_value,
                },
                LayerDef::Lstm { config, weights } => {
                    flow = Flow {
                        width: config.units,
                        seq: config.return_sequences,
                    };
                    Layer::Lstm(Box::new(Lstm::on_device(
                        config.clone(),
                        weights.clone(),
                        device,
                    )?))
                }
                LayerDef::Bidirectional {
                    forward,
                    backward,
                    merge,
                } => {
                    if forward.0.units != backward.0.units && *merge != MergeMode::Concat {
                        return Err(Error::config(
                            "merge_mode",
                            format!(
                                "{}: halves of {} and {} units cannot be merged element-wise",
                                at(),
                                forward.0.units,
                                backward.0.units
                            ),
                        ));
                    }
                    let f = force_bidir(forward.0.clone(), false);
                    let b = force_bidir(backward.0.clone(), true);
                    flow = Flow {
                        width: if *merge == MergeMode::Concat {
                            f.units + b.units
                        } else {
                            f.units
                        },
                        seq: f.return_sequences,
                    };
                    Layer::Bidirectional {
                        forward: Box::new(Lstm::on_device(f, forward.1.clone(), device)?),
                        backward: Box::new(Lstm::on_device(b, backward.1.clone(), device)?),
                        merge: *merge,
                    }
                }
                LayerDef::Dense {
                    kernel,
                    bias,
                    activation,
                } => {
                    if let Some(b) = bias
                        && b.len() != kernel.ncols()
                    {
                        return Err(Error::shape(
                            format!("{} bias", at()),
                            format!("({})", kernel.ncols()),
                            b.shape(),
                        ));
                    }
                    flow.width = kernel.ncols();
                    Layer::Dense {
                        kernel: kernel.clone(),
                        bias: bias.clone(),
                        activation: *activation,
                    }
                }
            };
            if matches!(
                layer,
                Layer::Bidirectional {
                    merge: MergeMode::None,
                    ..
                }
            ) && pos + 1 != def.layers.len()
            {
                return Err(Error::Unsupported(format!(
                    "{}: merge_mode=None returns two tensors and must be the last layer",
                    at()
                )));
            }
            layers.push(layer);
        }
        let gpu = match device {
            Device::Cpu => None,
            Device::Gpu(ctx) => Some(GpuModel::new(ctx, &layers)?),
        };
        Ok(Model {
            def,
            layers,
            input_dim,
            gpu,
        })
    }

    /// The definition (names, configs, weights).
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// assert_eq!(m.def().name, "sine_forecaster");
    /// ```
    pub fn def(&self) -> &ModelDef {
        &self.def
    }

    /// Input feature size D.
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// assert_eq!(m.input_dim(), 1);
    /// ```
    pub fn input_dim(&self) -> usize {
        self.input_dim
    }

    /// Keras's total parameter count.
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// assert_eq!(m.param_count(), 4352 + 33);
    /// ```
    pub fn param_count(&self) -> usize {
        self.def.layers.iter().map(|(_, l)| l.param_count()).sum()
    }

    /// Runs the model on inputs (B, T, D) and returns the (first) output.
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let mut m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// assert!(m.predict(ndarray::Array2::<f32>::zeros((1, 1)).view()).is_err());
    /// ```
    pub fn predict<D: Dimension>(&mut self, inputs: ArrayView<'_, f32, D>) -> Result<ArrayD<f32>> {
        Ok(self.call(inputs.into_dyn(), None)?.outputs.swap_remove(0))
    }

    /// Runs the model on inputs (B, T, D) with an optional mask (B, T) (Keras's
    /// `model(x, mask=...)`; a Masking layer derives its own).
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let mut m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// let x = ndarray::Array3::<f32>::zeros((2, 4, 1));
    /// let mask = ndarray::Array2::from_elem((2, 4), true);
    /// let out = m.call(x.view().into_dyn(), Some(mask.view().into_dyn())).unwrap();
    /// assert_eq!(out.output().shape(), &[2, 4, 1]);
    /// ```
    pub fn call(
        &mut self,
        inputs: ArrayViewD<'_, f32>,
        mask: Option<ArrayViewD<'_, bool>>,
    ) -> Result<ModelOutput> {
        let (x, mask) = check_sequence(&inputs, mask.as_ref(), self.input_dim)?;
        let (b, t, _) = x.dim();
        if self.gpu.is_none() {
            // every host array of the whole call, before any work
            cpu_call_bytes(&self.layers, self.input_dim, b, t)?.check()?;
        }
        let mask = match mask {
            Some(m) => Some(host_memory::to_owned("mask (B, T)", &m)?),
            None => None,
        };
        match &mut self.gpu {
            Some(g) => g.call(&mut self.layers, x, mask.as_ref()),
            None => {
                let x = host_memory::to_owned("model inputs copy (B, T, D)", &x)?;
                call_cpu(&mut self.layers, x.into_dyn(), mask)
            }
        }
    }

    /// Zeroes the state of every stateful layer (Keras's `model.reset_states()`).
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let mut m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// m.reset_states().unwrap();
    /// ```
    pub fn reset_states(&mut self) -> Result<()> {
        for l in &mut self.layers {
            match l {
                Layer::Lstm(x) => x.reset_states()?,
                Layer::Bidirectional {
                    forward, backward, ..
                } => {
                    forward.reset_states()?;
                    backward.reset_states()?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Makes every LSTM of the model stateful (Keras: rebuilding with `stateful=True`), for
    /// streaming a signal through it call by call. Returns the same model.
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// let m = m.into_stateful(&wgpu_lstm::Device::Cpu).unwrap();
    /// ```
    pub fn into_stateful(self, device: &Device) -> Result<Model> {
        let mut def = self.def;
        for (_, l) in &mut def.layers {
            match l {
                LayerDef::Lstm { config, .. } => config.stateful = true,
                LayerDef::Bidirectional {
                    forward, backward, ..
                } => {
                    forward.0.stateful = true;
                    backward.0.stateful = true;
                }
                _ => {}
            }
        }
        Model::new(def, device)
    }

    /// Every LSTM of the model (both halves of a Bidirectional), in layer order.
    fn recurrent_mut(&mut self) -> impl Iterator<Item = &mut Lstm> {
        self.layers.iter_mut().flat_map(|l| -> Vec<&mut Lstm> {
            match l {
                Layer::Lstm(x) => vec![x.as_mut()],
                Layer::Bidirectional {
                    forward, backward, ..
                } => vec![forward.as_mut(), backward.as_mut()],
                _ => vec![],
            }
        })
    }

    fn recurrent(&self) -> impl Iterator<Item = &Lstm> {
        self.layers.iter().flat_map(|l| -> Vec<&Lstm> {
            match l {
                Layer::Lstm(x) => vec![x.as_ref()],
                Layer::Bidirectional {
                    forward, backward, ..
                } => vec![forward.as_ref(), backward.as_ref()],
                _ => vec![],
            }
        })
    }

    /// Gives every stateful LSTM a zero state for `batch` rows: the stream slots of a server.
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let dev = wgpu_lstm::Device::Cpu;
    /// let mut m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &dev).unwrap().into_stateful(&dev).unwrap();
    /// m.init_states(16).unwrap();
    /// ```
    pub fn init_states(&mut self, batch: usize) -> Result<()> {
        self.recurrent_mut().try_for_each(|l| l.init_states(batch))
    }

    /// Zeroes the given batch rows in every stateful LSTM (those streams start over); every
    /// other row keeps its state exactly.
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let dev = wgpu_lstm::Device::Cpu;
    /// let mut m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &dev).unwrap().into_stateful(&dev).unwrap();
    /// m.init_states(4).unwrap();
    /// m.reset_rows(&[0, 3]).unwrap();
    /// assert!(m.reset_rows(&[4]).is_err());
    /// ```
    pub fn reset_rows(&mut self, rows: &[usize]) -> Result<()> {
        self.recurrent_mut().try_for_each(|l| l.reset_rows(rows))
    }

    /// The state of one batch row in every stateful LSTM, in layer order (a checkpoint of the
    /// stream in that slot).
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let dev = wgpu_lstm::Device::Cpu;
    /// let mut m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &dev).unwrap().into_stateful(&dev).unwrap();
    /// m.init_states(2).unwrap();
    /// assert_eq!(m.row_states(1).unwrap().len(), 1);
    /// ```
    pub fn row_states(&self, row: usize) -> Result<Vec<LstmState>> {
        self.recurrent().map(|l| l.row_state(row)).collect()
    }

    /// Writes one batch row's state in every stateful LSTM (restore or migrate a stream),
    /// `states` as returned by [`Model::row_states`].
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let dev = wgpu_lstm::Device::Cpu;
    /// let mut m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &dev).unwrap().into_stateful(&dev).unwrap();
    /// m.init_states(2).unwrap();
    /// let s = m.row_states(0).unwrap();
    /// m.set_row_states(1, &s).unwrap();
    /// ```
    pub fn set_row_states(&mut self, row: usize, states: &[LstmState]) -> Result<()> {
        let n = self.recurrent().count();
        if states.len() != n {
            return Err(Error::shape(
                "row states",
                format!("{n} states (one per LSTM)"),
                &[states.len()],
            ));
        }
        self.recurrent_mut()
            .zip(states)
            .try_for_each(|(l, s)| l.set_row_state(row, s))
    }

    /// The states of the model's LSTM layers (for inspection), in layer order.
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// assert!(m.states().unwrap().iter().all(|s| s.is_none()));
    /// ```
    pub fn states(&self) -> Result<Vec<Option<LstmState>>> {
        let mut v = Vec::new();
        for l in &self.layers {
            match l {
                Layer::Lstm(x) => v.push(x.states()?),
                Layer::Bidirectional {
                    forward, backward, ..
                } => {
                    v.push(forward.states()?);
                    v.push(backward.states()?);
                }
                _ => {}
            }
        }
        Ok(v)
    }

    /// A summary like Keras's `model.summary()`: layers, output shapes, parameter counts.
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// assert!(m.summary().contains("Total params: 4385"));
    /// ```
    pub fn summary(&self) -> String {
        let mut s = format!(
            "Model \"{}\" (saved by {}), input (B, T, {})\n",
            self.def.name,
            self.def.flavour.name(),
            self.input_dim
        );
        s.push_str(&format!(
            "{:<28} {:<22} {:>10}\n",
            "Layer (type)", "Output shape", "Param #"
        ));
        let mut flow = Flow {
            width: self.input_dim,
            seq: true,
        };
        for (name, l) in &self.def.layers {
            let detail = match l {
                LayerDef::Masking { mask_value } => format!("mask_value={mask_value}"),
                LayerDef::Lstm { config, .. } => {
                    flow = Flow {
                        width: config.units,
                        seq: config.return_sequences,
                    };
                    format!(
                        "units={} act={} rec={}{}{}{}",
                        config.units,
                        config.activation,
                        config.recurrent_activation,
                        if config.return_sequences {
                            " return_sequences"
                        } else {
                            ""
                        },
                        if config.go_backwards {
                            " go_backwards"
                        } else {
                            ""
                        },
                        if config.stateful { " stateful" } else { "" }
                    )
                }
                LayerDef::Bidirectional {
                    forward,
                    backward,
                    merge,
                } => {
                    flow = Flow {
                        width: if *merge == MergeMode::Concat {
                            forward.0.units + backward.0.units
                        } else {
                            forward.0.units
                        },
                        seq: forward.0.return_sequences,
                    };
                    format!("LSTM({}) both ways, merge={merge:?}", forward.0.units)
                }
                LayerDef::Dense {
                    kernel, activation, ..
                } => {
                    flow.width = kernel.ncols();
                    format!("units={} activation={activation}", kernel.ncols())
                }
            };
            let shape = if flow.seq {
                format!("(B, T, {})", flow.width)
            } else {
                format!("(B, {})", flow.width)
            };
            s.push_str(&format!(
                "{:<28} {:<22} {:>10}   {detail}\n",
                format!("{name} ({})", l.class_name()),
                shape,
                l.param_count()
            ));
        }
        s.push_str(&format!("Total params: {}\n", self.param_count()));
        s
    }
}

/// The host memory of a CPU call on inputs (B, T, D) at its peak: the copies of the inputs
/// and the mask, plus the largest of the layers' needs (a layer's input, its work and its
/// output; [`cpu::call_host_bytes`] for an LSTM).
fn cpu_call_bytes(layers: &[Layer], input_dim: usize, b: usize, t: usize) -> Result<HostBytes> {
    let what = format!("a CPU model call on inputs ({b}, {t}, {input_dim})");
    let mut base = HostBytes::new(what.clone());
    base.array::<f32>("model inputs copy (B, T, D)", &[b, t, input_dim])?
        .array::<bool>("mask copy (B, T)", &[b, t])?;
    let mut flow = Flow {
        width: input_dim,
        seq: true,
    };
    let mut peak = HostBytes::new(what.clone());
    for (i, layer) in layers.iter().enumerate() {
        let dims = |f: Flow| {
            if f.seq {
                vec![b, t, f.width]
            } else {
                vec![b, f.width]
            }
        };
        let mut need = HostBytes::new(what.clone());
        need.array::<f32>(&format!("layer {i} input"), &dims(flow))?;
        match layer {
            Layer::Masking { .. } => {
                need.array::<f32>(&format!("layer {i} (Masking) output"), &dims(flow))?
                    .array::<bool>(&format!("layer {i} (Masking) mask (B, T)"), &[b, t])?;
            }
            Layer::Lstm(l) => {
                need.absorb(cpu::call_host_bytes(l.config(), b, t, flow.width)?);
                flow = Flow {
                    width: l.config().units,
                    seq: l.config().return_sequences,
                };
            }
            Layer::Bidirectional {
                forward,
                backward,
                merge,
            } => {
                need.absorb(cpu::call_host_bytes(forward.config(), b, t, flow.width)?);
                need.absorb(cpu::call_host_bytes(backward.config(), b, t, flow.width)?);
                let seq = forward.config().return_sequences;
                let (fu, bu) = (forward.config().units, backward.config().units);
                let out = Flow {
                    width: if *merge == MergeMode::Concat {
                        fu + bu
                    } else {
                        fu
                    },
                    seq,
                };
                let half = Flow { width: bu, seq };
                need.array::<f32>(
                    &format!("layer {i} (Bidirectional) reversed copy"),
                    &dims(half),
                )?
                .array::<f32>(
                    &format!("layer {i} (Bidirectional) merged output"),
                    &dims(out),
                )?;
                flow = out;
            }
            Layer::Dense { kernel, .. } => {
                let out = Flow {
                    width: kernel.ncols(),
                    ..flow
                };
                need.array::<f32>(&format!("layer {i} (Dense) inputs copy"), &dims(flow))?
                    .array::<f32>(&format!("layer {i} (Dense) output"), &dims(out))?;
                flow = out;
            }
        }
        if need.total() > peak.total() {
            peak = need;
        }
    }
    base.absorb(peak);
    Ok(base)
}

/// Runs the layers on the CPU, the twin of `GpuModel::call`.
fn call_cpu(
    layers: &mut [Layer],
    mut x: ArrayD<f32>,
    mut mask: Option<Array2<bool>>,
) -> Result<ModelOutput> {
    let n = layers.len();
    let mut states = Vec::new();
    let mut outputs = None;
    for (i, layer) in layers.iter_mut().enumerate() {
        let last = i + 1 == n;
        match layer {
            Layer::Masking { mask_value } => {
                let x3 = x
                    .view()
                    .into_dimensionality::<Ix3>()
                    .expect("checked at build");
                let (y, m) = cpu::masking(x3, *mask_value)?;
                x = y.into_dyn();
                mask = Some(m);
            }
            Layer::Lstm(l) => {
                let mut input = LstmInput::new(x.view());
                if let Some(m) = &mask {
                    input = input.mask(m.view());
                }
                let out = l.call(input)?;
                if !l.config().return_sequences {
                    mask = None;
                }
                if last && let (Some(h), Some(c)) = (out.h, out.c) {
                    states.push(("h".to_string(), h));
                    states.push(("c".to_string(), c));
                }
                x = out.output;
            }
            Layer::Bidirectional {
                forward,
                backward,
                merge,
            } => {
                let mut input = LstmInput::new(x.view());
                if let Some(m) = &mask {
                    input = input.mask(m.view());
                }
                let f = forward.call(input.clone())?;
                let b = backward.call(input)?;
                let seq = forward.config().return_sequences;
                let b_out = if seq {
                    host_memory::to_owned(
                        "time-reversed backward output",
                        &b.output
                            .slice_axis(Axis(1), ndarray::Slice::new(0, None, -1)),
                    )?
                } else {
                    b.output.clone()
                };
                if last {
                    for (prefix, o) in [("forward", &f), ("backward", &b)] {
                        if let (Some(h), Some(c)) = (&o.h, &o.c) {
                            states.push((format!("{prefix}_h"), h.clone()));
                            states.push((format!("{prefix}_c"), c.clone()));
                        }
                    }
                }
                if !seq {
                    mask = None;
                }
                x = match merge {
                    MergeMode::Concat => {
                        let axis = Axis(f.output.ndim() - 1);
                        ndarray::concatenate(axis, &[f.output.view(), b_out.view()])
                            .expect("same leading shape")
                    }
                    MergeMode::None => {
                        outputs = Some(vec![f.output, b_out]);
                        break;
                    }
                    m => cpu::merge(&f.output, &b_out, *m),
                };
            }
            Layer::Dense {
                kernel,
                bias,
                activation,
            } => {
                x = cpu::dense(
                    x.view(),
                    kernel.view(),
                    bias.as_ref().map(|b| b.view()),
                    *activation,
                )?;
            }
        }
    }
    Ok(ModelOutput {
        outputs: outputs.unwrap_or_else(|| vec![x]),
        states,
    })
}
