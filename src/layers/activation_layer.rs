//! Keras `Activation(name)`, and the activation any layer applies after its linear part
//! ([`LayerActivation`]): the element-wise ones of `crate::activation`; `softmax`,
//! `log_softmax` and Keras 3's `sparsemax`, which act on rows of the last axis; Keras 3's
//! `glu`, which halves the last axis; and the functions of the advanced-activation layers
//! (`ReLU` with its options, `LeakyReLU`, `ELU`, tf_keras's `ThresholdedReLU`), which Keras
//! also takes as a layer's activation (saved as the layer's dict). The mask passes through.
//!
//! What Keras does, per version (checked with Keras 3.15.1 and tf_keras 2.21, fixtures
//! `tests/fixtures/layers/act_*`, made by `scripts/gen_fixtures/gen_activation_cases.py`):
//! * Keras 3 names are the keys of `keras.activations.ALL_OBJECTS_DICT` (with the aliases
//!   `swish`, `hard_swish`); `threshold` is among them but needs two more arguments, so
//!   Keras fails when a layer calls it: it is refused here too.
//! * tf_keras finds its 14 documented names, the globals `leaky_relu`, `log_softmax`,
//!   `relu6`, `silu` (saved as `swish`), and — its `deserialize` also looks in
//!   `tf_keras.layers.activation` — the class names `ReLU`, `LeakyReLU`, `ELU`, `Softmax`,
//!   `ThresholdedReLU`, which make that layer with its defaults (`PReLU` too, which holds
//!   weights: an `Activation("PReLU")` is loaded as that PReLU layer by the class table, a
//!   Dense's or Conv1D's is refused).
//! * An activation given as a layer object is saved as the layer's dict
//!   (`{"module": "keras.layers", "class_name": "LeakyReLU", "config": {...}}`); a custom
//!   Python function as `{"module": "builtins", "class_name": "function", "config": name}`,
//!   whose code is not in the file: refused, naming it.
//! * `glu` splits the last axis in halves `a, b` and returns `a·sigmoid(b)`: the output is
//!   half as wide, and an odd width is an error. Keras's own shape inference does not know
//!   this (a `Dense(8, activation="glu")` reports 8 units and outputs 4; a layer after it
//!   built for 8 fails at call): here the plan carries the true width.
//! * `sparsemax` is Keras's formula, which is not the textbook one: with `z` sorted
//!   descending, `c` its cumulative sums and the support `k = #{j : z_j - (c_j - 1)/j > 0}`,
//!   Keras's threshold is `tau = (Σ_{j in support} c_j - 1) / k` (the sum of the support's
//!   cumulative sums, not the last one), so rows need not sum to 1.
//!
//! GPU: `gpu/ops/activation_layer.rs`, `shaders/activation_layer.wgsl`.

use ndarray::{ArrayD, ArrayViewMut1, Axis, Ix3};
use serde_json::Value as Json;

use crate::activation::{Activation, KerasFlavour};
use crate::error::{Error, Result};
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};

use super::{LayerOps, one};

/// The options of Keras's general `relu` (the `ReLU` layer): `max_value`, `negative_slope`,
/// `threshold`, and the Keras version, which decides what the threshold does with NaN and
/// -inf (Keras 3: `where(x > t, x, 0)`, both give 0; tf_keras: `x·cast(x > t)`, both give
/// NaN).
///
/// ```
/// use wgpu_lstm::layers::activation_layer::ReluParams;
/// use wgpu_lstm::KerasFlavour;
/// let p = ReluParams { negative_slope: 0.1, max_value: Some(2.0), threshold: 0.5, flavour: KerasFlavour::Keras3 };
/// assert_eq!(p.apply(3.0), 2.0);
/// assert!((p.apply(-1.0) + 0.15).abs() < 1e-7); // -0.1 · relu(0.5 - (-1))
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReluParams {
    /// Slope below the threshold (≥ 0).
    pub negative_slope: f32,
    /// Upper clip, if any (≥ 0).
    pub max_value: Option<f32>,
    /// Values at or below it are 0 (before the slope part) (≥ 0).
    pub threshold: f32,
    /// Which Keras: decides NaN and -inf under a nonzero threshold.
    pub flavour: KerasFlavour,
}

impl ReluParams {
    /// Keras's `relu(x, negative_slope, max_value, threshold)` on one value, step by step as
    /// Keras's TensorFlow code computes it (`ReLU.static_call` / `backend.relu`).
    ///
    /// ```
    /// use wgpu_lstm::layers::activation_layer::ReluParams;
    /// use wgpu_lstm::KerasFlavour;
    /// let k3 = ReluParams { negative_slope: 0.0, max_value: None, threshold: 0.5, flavour: KerasFlavour::Keras3 };
    /// let k2 = ReluParams { flavour: KerasFlavour::Keras2, ..k3 };
    /// assert_eq!(k3.apply(f32::NEG_INFINITY), 0.0);
    /// assert!(k2.apply(f32::NEG_INFINITY).is_nan());
    /// ```
    pub fn apply(&self, x: f32) -> f32 {
        let slope = self.negative_slope;
        let t = self.threshold;
        let negative_part = if slope != 0.0 {
            relu(if t != 0.0 { -x + t } else { -x })
        } else {
            0.0
        };
        let mut clip = self.max_value;
        let mut y = if t != 0.0 {
            match self.flavour {
                KerasFlavour::Keras3 => {
                    if x > t {
                        x
                    } else {
                        0.0
                    }
                }
                KerasFlavour::Keras2 => x * if x > t { 1.0 } else { 0.0 },
            }
        } else if self.max_value == Some(6.0) {
            clip = None;
            if x.is_nan() { x } else { x.clamp(0.0, 6.0) }
        } else {
            relu(x)
        };
        if let Some(m) = clip {
            // tf.clip_by_value: NaN stays NaN (f32::clamp keeps it too)
            y = y.clamp(0.0, m.max(0.0));
        }
        if slope != 0.0 {
            y -= slope * negative_part;
        }
        y
    }
}

/// `max(x, 0)`, NaN kept (TensorFlow's relu).
fn relu(x: f32) -> f32 {
    if x.is_nan() { x } else { x.max(0.0) }
}

/// An activation as a layer applies it: element-wise, over rows of the last axis (softmax,
/// log-softmax, sparsemax), halving the last axis (glu), or the function of an
/// advanced-activation layer.
///
/// ```
/// use wgpu_lstm::layers::activation_layer::LayerActivation;
/// use wgpu_lstm::{Activation, KerasFlavour};
/// let s = LayerActivation::from_keras_name("softmax", KerasFlavour::Keras3).unwrap();
/// assert_eq!(s, LayerActivation::Softmax);
/// let t = LayerActivation::from_keras_name("tanh", KerasFlavour::Keras2).unwrap();
/// assert_eq!(t, LayerActivation::Elementwise(Activation::Tanh));
/// let l = LayerActivation::from_keras_name("LeakyReLU", KerasFlavour::Keras2).unwrap();
/// assert_eq!(l, LayerActivation::LeakyRelu(0.3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LayerActivation {
    /// An element-wise activation.
    Elementwise(Activation),
    /// `exp(x - max) / Σ exp(x - max)` over the last axis.
    Softmax,
    /// `x - max - ln Σ exp(x - max)` over the last axis.
    LogSoftmax,
    /// Keras 3 `glu`: the last axis split in halves `a, b`, `a · sigmoid(b)` (half as wide).
    Glu,
    /// Keras 3 `sparsemax` over the last axis, Keras's threshold (see the module docs).
    Sparsemax,
    /// Keras's general relu with options (the `ReLU` layer).
    Relu(ReluParams),
    /// `x if x > 0 else slope · x` (TensorFlow's `leaky_relu`, any slope).
    LeakyRelu(f32),
    /// `x if x > 0 else alpha · (e^x - 1)`.
    Elu(f32),
    /// tf_keras `ThresholdedReLU`: `x · cast(x > theta)` (NaN and -inf give NaN).
    ThresholdedRelu(f32),
}

impl Default for LayerActivation {
    fn default() -> Self {
        LayerActivation::Elementwise(Activation::Linear)
    }
}

impl From<Activation> for LayerActivation {
    fn from(a: Activation) -> Self {
        LayerActivation::Elementwise(a)
    }
}

impl std::fmt::Display for LayerActivation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayerActivation::Elementwise(a) => write!(f, "{a}"),
            LayerActivation::Softmax => f.write_str("softmax"),
            LayerActivation::LogSoftmax => f.write_str("log_softmax"),
            LayerActivation::Glu => f.write_str("glu"),
            LayerActivation::Sparsemax => f.write_str("sparsemax"),
            LayerActivation::Relu(p) => {
                write!(f, "relu(negative_slope={}", p.negative_slope)?;
                if let Some(m) = p.max_value {
                    write!(f, ", max_value={m}")?;
                }
                write!(f, ", threshold={})", p.threshold)
            }
            LayerActivation::LeakyRelu(s) => write!(f, "leaky_relu(negative_slope={s})"),
            LayerActivation::Elu(a) => write!(f, "elu(alpha={a})"),
            LayerActivation::ThresholdedRelu(t) => write!(f, "thresholded_relu(theta={t})"),
        }
    }
}

/// Modules a Keras built-in activation function is saved under.
const ACTIVATION_MODULES: &[&str] = &[
    "keras.activations",
    "keras.src.activations",
    "keras.src.activations.activations",
    "tf_keras.activations",
    "tf_keras.src.activations",
];

/// Layer classes a tf_keras activation string may name (made with their defaults).
const KERAS2_CLASS_NAMES: &[&str] = &["ReLU", "LeakyReLU", "ELU", "Softmax", "ThresholdedReLU"];

impl LayerActivation {
    /// By Keras name for a flavour: `softmax`, `log_softmax`, Keras 3's `glu` and
    /// `sparsemax`, an element-wise name, or (tf_keras) an advanced-activation class name
    /// with its defaults.
    ///
    /// ```
    /// use wgpu_lstm::{layers::activation_layer::LayerActivation, KerasFlavour};
    /// assert!(LayerActivation::from_keras_name("sofmax", KerasFlavour::Keras3).is_err());
    /// assert_eq!(LayerActivation::from_keras_name("glu", KerasFlavour::Keras3).unwrap(), LayerActivation::Glu);
    /// assert!(LayerActivation::from_keras_name("glu", KerasFlavour::Keras2).is_err());
    /// // Keras 3's `threshold` needs arguments a layer cannot give it
    /// assert!(LayerActivation::from_keras_name("threshold", KerasFlavour::Keras3).is_err());
    /// ```
    pub fn from_keras_name(name: &str, flavour: KerasFlavour) -> Result<Self> {
        let keras3 = flavour == KerasFlavour::Keras3;
        match name {
            "softmax" => return Ok(LayerActivation::Softmax),
            "log_softmax" => return Ok(LayerActivation::LogSoftmax),
            "glu" if keras3 => return Ok(LayerActivation::Glu),
            "sparsemax" if keras3 => return Ok(LayerActivation::Sparsemax),
            "threshold" if keras3 => {
                return Err(Error::Unsupported(
                    "activation `threshold`: keras.activations.threshold(x, threshold, \
                     default_value) needs two arguments a layer does not pass (Keras fails \
                     when the layer is called)"
                        .into(),
                ));
            }
            "PReLU" if !keras3 => {
                return Err(Error::Unsupported(
                    "activation `PReLU`: a PReLU as an activation holds weights of its own \
                     (use a PReLU layer)"
                        .into(),
                ));
            }
            c if !keras3 && KERAS2_CLASS_NAMES.contains(&c) => {
                return Self::from_layer_config(c, &Json::Object(Default::default()), flavour);
            }
            _ => {}
        }
        match Activation::from_keras_name(name, flavour) {
            Ok(a) => Ok(LayerActivation::Elementwise(a)),
            Err(Error::UnknownActivation {
                name,
                flavour: f,
                known,
            }) => {
                let extra = if keras3 {
                    "softmax, log_softmax, glu, sparsemax".to_string()
                } else {
                    format!("softmax, log_softmax, {}", KERAS2_CLASS_NAMES.join(", "))
                };
                Err(Error::UnknownActivation {
                    name,
                    flavour: f,
                    known: format!("{extra}, {known}"),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// From a config's `activation` field: a name, null / absent for linear, or a
    /// serialized activation (a Keras built-in function, an advanced-activation layer, or a
    /// Keras 3 `Activation` layer). A custom function or class is an
    /// [`Error::Unsupported`] naming it.
    ///
    /// ```
    /// use wgpu_lstm::{layers::activation_layer::LayerActivation, KerasFlavour};
    /// let cfg = serde_json::json!({"activation": null});
    /// assert_eq!(LayerActivation::from_config(&cfg, KerasFlavour::Keras3).unwrap(), LayerActivation::default());
    /// let obj = serde_json::json!({"activation": {"module": "keras.layers", "class_name": "LeakyReLU",
    ///     "config": {"negative_slope": 0.1}, "registered_name": null}});
    /// assert_eq!(LayerActivation::from_config(&obj, KerasFlavour::Keras3).unwrap(), LayerActivation::LeakyRelu(0.1));
    /// let custom = serde_json::json!({"activation": {"module": "builtins", "class_name": "function",
    ///     "config": "my_act", "registered_name": "function"}});
    /// assert!(LayerActivation::from_config(&custom, KerasFlavour::Keras3).unwrap_err().to_string().contains("my_act"));
    /// ```
    pub fn from_config(cfg: &Json, flavour: KerasFlavour) -> Result<Self> {
        Self::from_json(cfg.get("activation").unwrap_or(&Json::Null), flavour)
    }

    /// From an activation as a config stores it (see [`LayerActivation::from_config`]).
    ///
    /// ```
    /// use wgpu_lstm::{layers::activation_layer::LayerActivation, Activation, KerasFlavour};
    /// let f = serde_json::json!({"module": "keras.activations", "class_name": "function", "config": "relu"});
    /// assert_eq!(LayerActivation::from_json(&f, KerasFlavour::Keras3).unwrap(), Activation::Relu.into());
    /// ```
    pub fn from_json(v: &Json, flavour: KerasFlavour) -> Result<Self> {
        match v {
            Json::Null => Ok(LayerActivation::default()),
            Json::String(s) => Self::from_keras_name(s, flavour),
            Json::Object(o) => {
                let class = o.get("class_name").and_then(Json::as_str);
                let module = o.get("module").and_then(Json::as_str).unwrap_or("");
                let config = o.get("config").unwrap_or(&Json::Null);
                match class {
                    Some("function") => {
                        let name = config
                            .as_str()
                            .or_else(|| o.get("registered_name").and_then(Json::as_str))
                            .unwrap_or("?");
                        if ACTIVATION_MODULES.contains(&module) {
                            Self::from_keras_name(name, flavour)
                        } else {
                            Err(Error::Unsupported(format!(
                                "the activation is the custom function `{name}` (module \
                                 `{module}`): its code is not in the file"
                            )))
                        }
                    }
                    Some("Activation") if flavour == KerasFlavour::Keras3 => {
                        Self::from_json(config.get("activation").unwrap_or(&Json::Null), flavour)
                    }
                    Some("PReLU") => Err(Error::Unsupported(
                        "a PReLU layer as an activation holds weights of its own (use a PReLU \
                         layer)"
                            .into(),
                    )),
                    Some(c @ ("ReLU" | "LeakyReLU" | "ELU" | "Softmax" | "ThresholdedReLU")) => {
                        Self::from_layer_config(c, config, flavour)
                    }
                    Some("__lambda__") | None => Err(Error::Unsupported(
                        "the activation is a Python lambda: its code is not in the file".into(),
                    )),
                    Some(c) => Err(Error::Unsupported(format!(
                        "the activation is an object of class `{c}` (module `{module}`), not \
                         a Keras activation this crate knows"
                    ))),
                }
            }
            other => Err(Error::config(
                "activation",
                format!("expected an activation name or a serialized activation, got {other}"),
            )),
        }
    }

    /// The function of an advanced-activation layer (`ReLU`, `LeakyReLU`, `ELU`,
    /// `ThresholdedReLU`, or `Softmax` over the last axis) from its config, checked as its
    /// constructor checks it, in the form Keras computes it (a `ReLU` with only a slope is
    /// `leaky_relu`, tf_keras's `LeakyReLU(0)` is `relu`, ...).
    ///
    /// ```
    /// use wgpu_lstm::{layers::activation_layer::LayerActivation, Activation, KerasFlavour};
    /// let cfg = serde_json::json!({"max_value": 6.0, "negative_slope": 0.0, "threshold": 0.0});
    /// assert_eq!(LayerActivation::from_layer_config("ReLU", &cfg, KerasFlavour::Keras3).unwrap(), Activation::Relu6.into());
    /// let cfg = serde_json::json!({"max_value": -1.0});
    /// assert!(LayerActivation::from_layer_config("ReLU", &cfg, KerasFlavour::Keras3).is_err());
    /// ```
    pub fn from_layer_config(class: &str, cfg: &Json, flavour: KerasFlavour) -> Result<Self> {
        let keras3 = flavour == KerasFlavour::Keras3;
        let num = |field: &str, default: Option<f64>| -> Result<Option<f64>> {
            match cfg.get(field) {
                None => Ok(default),
                Some(Json::Null) => Ok(None),
                Some(v) => v
                    .as_f64()
                    .map(Some)
                    .ok_or_else(|| Error::config(field, format!("must be a number, got {v}"))),
            }
        };
        let required = |field: &str, v: Option<f64>, min: Option<f64>| -> Result<f32> {
            match v {
                None => Err(Error::config(field, "cannot be None")),
                Some(v) if min.is_some_and(|m| v < m) || !v.is_finite() => Err(Error::config(
                    field,
                    format!("must be a finite number >= 0, got {v}"),
                )),
                Some(v) => Ok(v as f32),
            }
        };
        match class {
            "ReLU" => {
                let max_value = num("max_value", None)?;
                if let Some(m) = max_value
                    && (m < 0.0 || m.is_nan())
                {
                    return Err(Error::config(
                        "max_value",
                        format!("a ReLU's max_value cannot be negative, got {m}"),
                    ));
                }
                let slope = required(
                    "negative_slope",
                    num("negative_slope", Some(0.0))?,
                    Some(0.0),
                )?;
                let threshold = required("threshold", num("threshold", Some(0.0))?, Some(0.0))?;
                Ok(Self::relu(ReluParams {
                    negative_slope: slope,
                    max_value: max_value.map(|m| m as f32),
                    threshold,
                    flavour,
                }))
            }
            "LeakyReLU" => {
                // Keras 3 reads `negative_slope` (an `alpha` from an older file too);
                // tf_keras `alpha`. Keras 3 refuses a negative slope, tf_keras does not.
                let field = if keras3 && cfg.get("negative_slope").is_some() {
                    "negative_slope"
                } else {
                    "alpha"
                };
                let v = num(field, Some(0.3))?;
                let slope = required(field, v, keras3.then_some(0.0))?;
                if !keras3 && slope == 0.0 {
                    // tf_keras: backend.relu(x, alpha=0) is tf.nn.relu
                    return Ok(Activation::Relu.into());
                }
                Ok(LayerActivation::LeakyRelu(slope))
            }
            "ELU" => {
                let alpha = required("alpha", num("alpha", Some(1.0))?, None)?;
                Ok(if alpha == 1.0 {
                    Activation::Elu.into()
                } else {
                    LayerActivation::Elu(alpha)
                })
            }
            "ThresholdedReLU" if !keras3 => {
                let theta = required("theta", num("theta", Some(1.0))?, Some(0.0))?;
                Ok(LayerActivation::ThresholdedRelu(theta))
            }
            "ThresholdedReLU" => Err(Error::Unsupported(
                "ThresholdedReLU is a tf_keras layer: Keras 3 has none".into(),
            )),
            "Softmax" => {
                let axes = super::keras_args::int_list(cfg, "axis")?.unwrap_or(vec![-1]);
                if axes != [-1] {
                    return Err(Error::Unsupported(format!(
                        "a Softmax over axis {axes:?} as an activation: only the last axis \
                         (-1) is supported there (use a Softmax layer)"
                    )));
                }
                Ok(LayerActivation::Softmax)
            }
            other => Err(Error::Unsupported(format!(
                "`{other}` is not an advanced-activation layer"
            ))),
        }
    }

    /// Keras's general relu in the form Keras computes it: `relu`, `relu6`, `leaky_relu`,
    /// or the full formula.
    ///
    /// ```
    /// use wgpu_lstm::layers::activation_layer::{LayerActivation, ReluParams};
    /// use wgpu_lstm::KerasFlavour;
    /// let p = ReluParams { negative_slope: 0.2, max_value: None, threshold: 0.0, flavour: KerasFlavour::Keras3 };
    /// assert_eq!(LayerActivation::relu(p), LayerActivation::LeakyRelu(0.2));
    /// ```
    pub fn relu(p: ReluParams) -> Self {
        match (p.negative_slope != 0.0, p.max_value, p.threshold != 0.0) {
            (true, None, false) => LayerActivation::LeakyRelu(p.negative_slope),
            (false, None, false) => Activation::Relu.into(),
            (false, Some(6.0), false) => Activation::Relu6.into(),
            _ => LayerActivation::Relu(p),
        }
    }

    /// The element-wise part a GEMM kernel can fuse (`ACT` code): the activation itself, or
    /// linear for the others, which need a pass of their own.
    ///
    /// ```
    /// use wgpu_lstm::{layers::activation_layer::LayerActivation, Activation};
    /// assert_eq!(LayerActivation::Softmax.fused_code(), Activation::Linear.code());
    /// ```
    pub fn fused_code(self) -> u32 {
        match self {
            LayerActivation::Elementwise(a) => a.code(),
            _ => Activation::Linear.code(),
        }
    }

    /// Whether it acts on whole rows of the last axis (softmax, log-softmax, sparsemax,
    /// glu).
    ///
    /// ```
    /// assert!(wgpu_lstm::layers::activation_layer::LayerActivation::LogSoftmax.is_row_wise());
    /// ```
    pub fn is_row_wise(self) -> bool {
        matches!(
            self,
            LayerActivation::Softmax
                | LayerActivation::LogSoftmax
                | LayerActivation::Sparsemax
                | LayerActivation::Glu
        )
    }

    /// Whether a GEMM cannot fuse it, so that it runs as a pass of its own after the
    /// layer's linear part (every activation but the element-wise ones).
    ///
    /// ```
    /// use wgpu_lstm::layers::activation_layer::LayerActivation;
    /// assert!(LayerActivation::Elu(0.5).needs_pass());
    /// assert!(!LayerActivation::default().needs_pass());
    /// ```
    pub fn needs_pass(self) -> bool {
        !matches!(self, LayerActivation::Elementwise(_))
    }

    /// The width of the last axis after it, for an input width `cols`: half for glu (an
    /// error for an odd width), else the same.
    ///
    /// ```
    /// use wgpu_lstm::layers::activation_layer::LayerActivation;
    /// assert_eq!(LayerActivation::Glu.output_width(8).unwrap(), 4);
    /// assert!(LayerActivation::Glu.output_width(5).is_err());
    /// assert_eq!(LayerActivation::Softmax.output_width(5).unwrap(), 5);
    /// ```
    pub fn output_width(self, cols: usize) -> Result<usize> {
        if self != LayerActivation::Glu {
            return Ok(cols);
        }
        if !cols.is_multiple_of(2) {
            return Err(Error::config(
                "activation",
                format!(
                    "glu splits the last axis into two halves: its size must be even, got {cols}"
                ),
            ));
        }
        Ok(cols / 2)
    }

    /// [`LayerActivation::output_width`] for a last axis that may be unknown.
    ///
    /// ```
    /// use wgpu_lstm::layers::activation_layer::LayerActivation;
    /// assert_eq!(LayerActivation::Glu.output_last(None).unwrap(), None);
    /// ```
    pub fn output_last(self, last: Option<usize>) -> Result<Option<usize>> {
        last.map(|c| self.output_width(c)).transpose()
    }

    /// Applies it to one value (the element-wise and parametric ones; the row-wise ones
    /// return `x`).
    ///
    /// ```
    /// use wgpu_lstm::layers::activation_layer::LayerActivation;
    /// assert_eq!(LayerActivation::ThresholdedRelu(1.0).apply_one(0.5), 0.0);
    /// assert!(LayerActivation::ThresholdedRelu(1.0).apply_one(f32::NEG_INFINITY).is_nan());
    /// assert_eq!(LayerActivation::Elu(0.5).apply_one(f32::NEG_INFINITY), -0.5);
    /// ```
    pub fn apply_one(self, x: f32) -> f32 {
        match self {
            LayerActivation::Elementwise(a) => a.apply(x),
            LayerActivation::Relu(p) => p.apply(x),
            LayerActivation::LeakyRelu(s) => {
                if x > 0.0 {
                    x
                } else {
                    x * s
                }
            }
            LayerActivation::Elu(alpha) => {
                if x > 0.0 {
                    x
                } else {
                    alpha * (x.exp() - 1.0)
                }
            }
            LayerActivation::ThresholdedRelu(theta) => x * if x > theta { 1.0 } else { 0.0 },
            _ => x,
        }
    }

    /// Applies it, over the last axis for the row-wise ones; glu replaces the array by one
    /// half as wide. An odd width under glu is an error (the array is left as it was).
    ///
    /// ```
    /// use wgpu_lstm::layers::activation_layer::LayerActivation;
    /// let mut a = ndarray::array![[0.0f32, 2.0, 0.0, 0.0]].into_dyn();
    /// LayerActivation::Glu.try_apply(&mut a).unwrap();
    /// assert_eq!(a, ndarray::array![[0.0f32, 1.0]].into_dyn());
    /// let mut odd = ndarray::array![[1.0f32, 2.0, 3.0]].into_dyn();
    /// assert!(LayerActivation::Glu.try_apply(&mut odd).is_err());
    /// ```
    pub fn try_apply(self, a: &mut ArrayD<f32>) -> Result<()> {
        match self {
            LayerActivation::Elementwise(Activation::Linear) => {}
            LayerActivation::Softmax => row_op(a, RowMode::Softmax)?,
            LayerActivation::LogSoftmax => row_op(a, RowMode::LogSoftmax)?,
            LayerActivation::Sparsemax => row_op(a, RowMode::Sparsemax)?,
            LayerActivation::Glu => *a = glu(a)?,
            act => a.mapv_inplace(|v| act.apply_one(v)),
        }
        Ok(())
    }

    /// Applies it in place, over the last axis for the row-wise ones; glu replaces the
    /// array by one half as wide (an odd width, which plans refuse, leaves it as it was:
    /// [`LayerActivation::try_apply`] reports it).
    ///
    /// ```
    /// use wgpu_lstm::layers::activation_layer::LayerActivation;
    /// let mut a = ndarray::array![[1.0f32, 1.0]].into_dyn();
    /// LayerActivation::Softmax.apply(&mut a);
    /// assert_eq!(a[[0, 1]], 0.5);
    /// ```
    pub fn apply(self, a: &mut ArrayD<f32>) {
        let _ = self.try_apply(a);
    }
}

/// What a pass over rows computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RowMode {
    /// `exp(x - max) / Σ exp(x - max)` (`tf.nn.softmax`).
    Softmax,
    /// `x - max - ln Σ exp(x - max)` (`tf.nn.log_softmax`).
    LogSoftmax,
    /// `exp(x - logsumexp(x))` with TensorFlow's `reduce_logsumexp` (a non-finite max
    /// replaced by 0): Keras's Softmax layer over several axes.
    LogSumExp,
    /// Keras 3's sparsemax.
    Sparsemax,
}

/// Applies `mode` to every row of the last axis.
fn row_op(a: &mut ArrayD<f32>, mode: RowMode) -> Result<()> {
    let last = a.ndim().saturating_sub(1);
    rows_over(a, last, last, mode)
}

/// Applies `mode` to every lane over the axes `first..=last` (contiguous, merged into one)
/// of `a` (made standard-layout first).
pub(crate) fn rows_over(
    a: &mut ArrayD<f32>,
    first: usize,
    last: usize,
    mode: RowMode,
) -> Result<()> {
    let mut scratch: Vec<f32> = Vec::new();
    for_lanes(a, first, last, |lane| row(lane, mode, &mut scratch))
}

/// Calls `f` on every lane over the axes `first..=last` (contiguous, merged into one) of
/// `a` (made standard-layout first).
pub(crate) fn for_lanes(
    a: &mut ArrayD<f32>,
    first: usize,
    last: usize,
    mut f: impl FnMut(ArrayViewMut1<'_, f32>) -> Result<()>,
) -> Result<()> {
    if a.ndim() == 0 || last >= a.ndim() || first > last {
        return Err(Error::shape(
            "activation input",
            format!("axes {first}..={last} inside the array"),
            a.shape(),
        ));
    }
    if !a.is_standard_layout() {
        *a = a.as_standard_layout().into_owned();
    }
    let shape = a.shape().to_vec();
    let outer: usize = shape[..first].iter().product();
    let len: usize = shape[first..=last].iter().product();
    let inner: usize = shape[last + 1..].iter().product();
    let mut v = a
        .view_mut()
        .into_shape_with_order(Ix3(outer, len, inner))
        .map_err(|_| Error::shape("activation input", "a standard-layout array", &shape))?;
    for lane in v.lanes_mut(Axis(1)) {
        f(lane)?;
    }
    Ok(())
}

/// One row: softmax, log-softmax, the logsumexp form, or sparsemax (Keras's formulas in
/// TensorFlow's order: the max, then Σ exp(x - max) in sequence).
fn row(mut r: ArrayViewMut1<'_, f32>, mode: RowMode, scratch: &mut Vec<f32>) -> Result<()> {
    let max = r.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    match mode {
        RowMode::Softmax | RowMode::LogSoftmax => {
            let sum: f32 = r.iter().map(|&v| (v - max).exp()).sum();
            if mode == RowMode::Softmax {
                r.mapv_inplace(|v| (v - max).exp() / sum);
            } else {
                let ls = sum.ln();
                r.mapv_inplace(|v| v - max - ls);
            }
        }
        RowMode::LogSumExp => {
            let m = if max.is_finite() { max } else { 0.0 };
            let sum: f32 = r.iter().map(|&v| (v - m).exp()).sum();
            let lse = sum.ln() + m;
            r.mapv_inplace(|v| (v - lse).exp());
        }
        RowMode::Sparsemax => {
            scratch.clear();
            crate::host_memory::check_host_bytes("sparsemax row", (r.len() as u128) * 4)?;
            scratch.extend(r.iter().copied());
            scratch.sort_by(|a, b| b.partial_cmp(a).unwrap_or(std::cmp::Ordering::Equal));
            let tau = sparsemax_tau(scratch);
            r.mapv_inplace(|v| {
                let d = v - tau;
                if d.is_nan() { d } else { d.max(0.0) }
            });
        }
    }
    Ok(())
}

/// Keras's sparsemax threshold for a row sorted in descending order: the support
/// `z_j - (c_j - 1)/j > 0` (`c` the cumulative sums, in sequence), `k` its size,
/// `tau = (Σ_{support} c_j - 1) / k`.
pub(crate) fn sparsemax_tau(sorted: &[f32]) -> f32 {
    let mut c = 0.0f32;
    let mut k = 0.0f32;
    let mut s = 0.0f32;
    for (j, &z) in sorted.iter().enumerate() {
        c += z;
        let r = (j + 1) as f32;
        if z - (c - 1.0) / r > 0.0 {
            k += 1.0;
            s += c;
        }
    }
    (s - 1.0) / k
}

/// Keras 3's glu over the last axis: `a · sigmoid(b)` for the halves `a, b`.
fn glu(a: &ArrayD<f32>) -> Result<ArrayD<f32>> {
    let cols = a.shape().last().copied().unwrap_or(0);
    let half = LayerActivation::Glu.output_width(cols)?;
    let mut shape = a.shape().to_vec();
    if let Some(l) = shape.last_mut() {
        *l = half;
    }
    let mut out = crate::host_memory::zeros::<f32, _>("glu output", ndarray::IxDyn(&shape))?;
    let x = a.as_standard_layout();
    let (Some(xs), Some(ys)) = (x.as_slice(), out.as_slice_mut()) else {
        return Err(Error::shape(
            "glu input",
            "a standard-layout array",
            a.shape(),
        ));
    };
    if half > 0 {
        for (src, dst) in xs.chunks_exact(cols).zip(ys.chunks_exact_mut(half)) {
            for j in 0..half {
                dst[j] = src[j] * Activation::Sigmoid.apply(src[half + j]);
            }
        }
    }
    Ok(out)
}

/// Keras `Activation`: one activation on every element (softmax / log-softmax / sparsemax
/// on the last axis, glu halving it).
///
/// ```
/// use wgpu_lstm::layers::{activation_layer::LayerActivation, ActivationLayer};
/// let l = ActivationLayer { activation: LayerActivation::Softmax };
/// assert_eq!(l.activation.to_string(), "softmax");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ActivationLayer {
    /// The activation.
    pub activation: LayerActivation,
}

impl LayerOps for ActivationLayer {
    fn class_name(&self) -> &'static str {
        "Activation"
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = one(inputs)?;
        if self.activation.is_row_wise() && x.last().is_none() {
            return Err(Error::config(
                "input shape",
                format!(
                    "{} needs a known last axis, got {}",
                    self.activation,
                    x.keras_shape(None)
                ),
            ));
        }
        let mut out = x.clone();
        if let Some(l) = out.shape.last_mut() {
            *l = self.activation.output_last(*l)?;
        }
        Ok(vec![out])
    }

    fn detail(&self) -> String {
        format!("activation={}", self.activation)
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let mut v = inputs[0].clone();
        v.tokens = None;
        self.activation.try_apply(&mut v.data)?;
        Ok(vec![v])
    }
}
