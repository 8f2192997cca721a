//! Keras's advanced-activation layers: `ReLU`, `LeakyReLU`, `ELU`, tf_keras's
//! `ThresholdedReLU` (one function per element, [`LayerActivation`]'s parametric ones),
//! `PReLU` (a learned slope per element, broadcast over `shared_axes`) and `Softmax` (over
//! one axis or several). All of them support masking: the mask passes through.
//!
//! What Keras does (Keras 3.15.1 and tf_keras 2.21; fixtures `tests/fixtures/layers/act_*`):
//! * `ReLU(max_value, negative_slope, threshold)`: Keras's general relu; with a threshold
//!   Keras 3 takes `where(x > t, x, 0)` (NaN and -inf give 0), tf_keras `x·cast(x > t)`
//!   (they give NaN).
//! * `LeakyReLU`: slope `negative_slope` (Keras 3; `alpha` in older files) or `alpha`
//!   (tf_keras), default 0.3 in both; Keras 3 runs `tf.nn.leaky_relu` for any slope (a
//!   slope of 0 gives NaN at -inf), tf_keras `relu` for a slope of 0.
//! * `ELU(alpha)`: `x if x > 0 else alpha·(e^x - 1)`.
//! * `ThresholdedReLU(theta)` (tf_keras only): `x·cast(x > theta)`.
//! * `PReLU`: `relu(x) + (-alpha)·relu(-x)`, alpha of the input's non-batch shape with 1 on
//!   the shared axes.
//! * `Softmax(axis)`: an integer or a one-element list is `softmax` over that axis; several
//!   axes are `exp(x - logsumexp(x, axes))`. Axes must be adjacent here, and the batch axis
//!   is refused (a split call would change the result). Given a mask, Keras broadcasts the
//!   (batch, time) mask against the input's last two axes, which fails for any
//!   (batch, time, features) input but a square one: a masked input is refused.
//!
//! GPU: `gpu/ops/activation_layer.rs` (`GpuAdvanced`), `shaders/activation_layer.wgsl`.

use ndarray::{ArrayD, Zip};
use serde_json::Value as Json;

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};

use super::activation_layer::{LayerActivation, RowMode, rows_over};
use super::keras_args::{self, NamedWeights};
use super::{LayerOps, one};

/// The Keras classes of this kind.
pub const ADVANCED_CLASSES: &[&str] = &[
    "ReLU",
    "LeakyReLU",
    "ELU",
    "ThresholdedReLU",
    "PReLU",
    "Softmax",
];

/// Whether a layer config's `activation` makes a PReLU (tf_keras's name `"PReLU"`, or a
/// PReLU object), which holds weights of its own (saved as the layer's `alpha`).
///
/// ```
/// use wgpu_lstm::layers::advanced_activation::activation_is_prelu;
/// assert!(activation_is_prelu(&serde_json::json!({"activation": "PReLU"})));
/// assert!(activation_is_prelu(&serde_json::json!({"activation": {"class_name": "PReLU", "config": {}}})));
/// assert!(!activation_is_prelu(&serde_json::json!({"activation": "relu"})));
/// ```
pub fn activation_is_prelu(cfg: &Json) -> bool {
    match cfg.get("activation") {
        Some(Json::String(s)) => s == "PReLU",
        Some(Json::Object(o)) => o.get("class_name").and_then(Json::as_str) == Some("PReLU"),
        _ => false,
    }
}

/// Which advanced-activation class a layer is.
///
/// ```
/// use wgpu_lstm::layers::advanced_activation::AdvancedClass;
/// assert_eq!(AdvancedClass::from_keras_name("PReLU"), Some(AdvancedClass::PRelu));
/// assert_eq!(AdvancedClass::PRelu.keras_name(), "PReLU");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AdvancedClass {
    /// `ReLU`.
    Relu,
    /// `LeakyReLU`.
    LeakyRelu,
    /// `ELU`.
    Elu,
    /// `ThresholdedReLU` (tf_keras).
    ThresholdedRelu,
    /// `PReLU`.
    PRelu,
    /// `Softmax`.
    Softmax,
}

impl AdvancedClass {
    /// The Keras class name.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::layers::advanced_activation::AdvancedClass::Relu.keras_name(), "ReLU");
    /// ```
    pub fn keras_name(self) -> &'static str {
        match self {
            AdvancedClass::Relu => "ReLU",
            AdvancedClass::LeakyRelu => "LeakyReLU",
            AdvancedClass::Elu => "ELU",
            AdvancedClass::ThresholdedRelu => "ThresholdedReLU",
            AdvancedClass::PRelu => "PReLU",
            AdvancedClass::Softmax => "Softmax",
        }
    }

    /// The class of a Keras class name.
    ///
    /// ```
    /// assert!(wgpu_lstm::layers::advanced_activation::AdvancedClass::from_keras_name("Dense").is_none());
    /// ```
    pub fn from_keras_name(name: &str) -> Option<Self> {
        Some(match name {
            "ReLU" => AdvancedClass::Relu,
            "LeakyReLU" => AdvancedClass::LeakyRelu,
            "ELU" => AdvancedClass::Elu,
            "ThresholdedReLU" => AdvancedClass::ThresholdedRelu,
            "PReLU" => AdvancedClass::PRelu,
            "Softmax" => AdvancedClass::Softmax,
            _ => return None,
        })
    }
}

/// What an advanced-activation layer computes.
///
/// ```
/// use wgpu_lstm::layers::advanced_activation::AdvancedOp;
/// let s = AdvancedOp::Softmax { axes: vec![-1] };
/// assert!(matches!(s, AdvancedOp::Softmax { .. }));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum AdvancedOp {
    /// One function per element (ReLU, LeakyReLU, ELU, ThresholdedReLU).
    Function(LayerActivation),
    /// Softmax over the axes (Keras's, negative from the end, the batch axis 0).
    Softmax {
        /// The axes as the config gives them.
        axes: Vec<i64>,
    },
    /// `relu(x) + (-alpha)·relu(-x)`.
    PRelu {
        /// The slopes: the input's non-batch shape, 1 on the shared axes.
        alpha: ArrayD<f32>,
    },
}

/// One of Keras's advanced-activation layers.
///
/// ```
/// use wgpu_lstm::layers::advanced_activation::AdvancedActivation;
/// use wgpu_lstm::KerasFlavour;
/// let cfg = serde_json::json!({"negative_slope": 0.1});
/// let l = AdvancedActivation::from_keras("LeakyReLU", &cfg, &[], KerasFlavour::Keras3).unwrap();
/// assert_eq!(l.class.keras_name(), "LeakyReLU");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AdvancedActivation {
    /// The Keras class.
    pub class: AdvancedClass,
    /// What it computes.
    pub op: AdvancedOp,
}

impl AdvancedActivation {
    /// From a Keras class name, config and weights (PReLU's `alpha`), checked as Keras's
    /// constructor checks it. `ThresholdedReLU` exists only in tf_keras.
    ///
    /// ```
    /// use wgpu_lstm::layers::advanced_activation::AdvancedActivation;
    /// use wgpu_lstm::KerasFlavour;
    /// let cfg = serde_json::json!({"theta": 1.0});
    /// assert!(AdvancedActivation::from_keras("ThresholdedReLU", &cfg, &[], KerasFlavour::Keras2).is_ok());
    /// assert!(AdvancedActivation::from_keras("ThresholdedReLU", &cfg, &[], KerasFlavour::Keras3).is_err());
    /// ```
    pub fn from_keras(
        class: &str,
        cfg: &Json,
        weights: &NamedWeights,
        flavour: KerasFlavour,
    ) -> Result<Self> {
        let c = AdvancedClass::from_keras_name(class).ok_or_else(|| {
            Error::Unsupported(format!("`{class}` is not an advanced-activation layer"))
        })?;
        let op = match c {
            AdvancedClass::PRelu => AdvancedOp::PRelu {
                alpha: keras_args::require(weights, "alpha")?.clone(),
            },
            AdvancedClass::Softmax => {
                if keras_args::boolean(cfg, "robust_masking", false)?
                    && flavour == KerasFlavour::Keras3
                {
                    return Err(Error::config(
                        "robust_masking",
                        "is a tf_keras option: Keras 3's Softmax has none",
                    ));
                }
                AdvancedOp::Softmax {
                    axes: keras_args::int_list(cfg, "axis")?.unwrap_or(vec![-1]),
                }
            }
            _ => AdvancedOp::Function(LayerActivation::from_layer_config(class, cfg, flavour)?),
        };
        if let AdvancedOp::Softmax { axes } = &op
            && axes.is_empty()
        {
            return Err(Error::config("axis", "an empty list of axes"));
        }
        Ok(AdvancedActivation { class: c, op })
    }
}

/// A Softmax layer's axes for an input of `rank` (batch included) as one block
/// `first..=last` of adjacent axes, or an error: the batch axis, axes out of range,
/// repeated or not adjacent.
///
/// ```
/// use wgpu_lstm::layers::advanced_activation::softmax_block;
/// assert_eq!(softmax_block(&[-1], 3).unwrap(), (2, 2));
/// assert_eq!(softmax_block(&[2, 1], 3).unwrap(), (1, 2));
/// assert!(softmax_block(&[0], 3).is_err());
/// assert!(softmax_block(&[1, 3], 4).is_err());
/// ```
pub fn softmax_block(axes: &[i64], rank: usize) -> Result<(usize, usize)> {
    let r = rank as i64;
    let mut resolved = Vec::with_capacity(axes.len());
    for &a in axes {
        let v = if a < 0 { a + r } else { a };
        if v < 0 || v >= r {
            return Err(Error::config(
                "axis",
                format!("axis {a} is outside a rank-{rank} input"),
            ));
        }
        if v == 0 {
            return Err(Error::Unsupported(
                "a softmax over the batch axis: the result of each row would depend on the \
                 other rows of the call (and on how a call is split)"
                    .into(),
            ));
        }
        resolved.push(v as usize);
    }
    resolved.sort_unstable();
    let n = resolved.len();
    resolved.dedup();
    if resolved.len() != n {
        return Err(Error::config("axis", format!("repeated axes in {axes:?}")));
    }
    let (Some(&first), Some(&last)) = (resolved.first(), resolved.last()) else {
        return Err(Error::config("axis", "an empty list of axes"));
    };
    if last - first + 1 != resolved.len() {
        return Err(Error::Unsupported(format!(
            "a softmax over the axes {axes:?}, which are not adjacent"
        )));
    }
    Ok((first, last))
}

impl LayerOps for AdvancedActivation {
    fn class_name(&self) -> &'static str {
        self.class.keras_name()
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = one(inputs)?;
        match &self.op {
            AdvancedOp::Function(_) => {}
            AdvancedOp::Softmax { axes } => {
                softmax_block(axes, x.rank())?;
                if x.masked {
                    return Err(Error::Unsupported(format!(
                        "a Softmax layer given the (batch, time) mask of its input {}: Keras \
                         applies the mask broadcast against the input's last two axes, which \
                         fails unless they have the sizes of the batch and time axes",
                        x.keras_shape(None)
                    )));
                }
            }
            AdvancedOp::PRelu { alpha } => {
                let ok = alpha.ndim() == x.shape.len()
                    && alpha
                        .shape()
                        .iter()
                        .zip(&x.shape)
                        .all(|(&a, d)| a == 1 || *d == Some(a));
                if !ok {
                    return Err(Error::config(
                        "input shape",
                        format!(
                            "PReLU's alpha {:?} does not fit the input {} (alpha has the \
                             input's non-batch shape, 1 on the shared axes; the other axes \
                             must be known)",
                            alpha.shape(),
                            x.keras_shape(None)
                        ),
                    ));
                }
            }
        }
        Ok(vec![x.clone()])
    }

    fn param_count(&self) -> usize {
        match &self.op {
            AdvancedOp::PRelu { alpha } => alpha.len(),
            _ => 0,
        }
    }

    fn detail(&self) -> String {
        match &self.op {
            AdvancedOp::Function(a) => format!("activation={a}"),
            AdvancedOp::Softmax { axes } => format!("axis={axes:?}"),
            AdvancedOp::PRelu { alpha } => format!("alpha shape={:?}", alpha.shape()),
        }
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let mut v = inputs[0].clone();
        v.tokens = None;
        match &self.op {
            AdvancedOp::Function(a) => a.try_apply(&mut v.data)?,
            AdvancedOp::Softmax { axes } => {
                let (first, last) = softmax_block(axes, v.data.ndim())?;
                let mode = if axes.len() > 1 {
                    RowMode::LogSumExp
                } else {
                    RowMode::Softmax
                };
                rows_over(&mut v.data, first, last, mode)?;
            }
            AdvancedOp::PRelu { alpha } => {
                let shape = v.data.shape().to_vec();
                let a = alpha.broadcast(shape.as_slice()).ok_or_else(|| {
                    Error::shape("PReLU input", format!("{:?}", alpha.shape()), &shape)
                })?;
                Zip::from(&mut v.data).and(&a).for_each(|y, &al| {
                    let x = *y;
                    let pos = if x.is_nan() { x } else { x.max(0.0) };
                    let nx = -x;
                    let negr = if nx.is_nan() { nx } else { nx.max(0.0) };
                    *y = pos + (-al) * negr;
                });
            }
        }
        Ok(vec![v])
    }
}
