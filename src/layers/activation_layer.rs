//! Keras `Activation(name)`, and the activation any layer applies after its linear part
//! ([`LayerActivation`]): the element-wise ones of `crate::activation`, and `softmax` /
//! `log_softmax`, which act on the last axis. The mask passes through.
//!
//! GPU: `gpu/ops/activation_layer.rs`, `shaders/activation_layer.wgsl`.

use ndarray::{ArrayD, Axis};
use serde_json::Value as Json;

use crate::activation::{Activation, KerasFlavour};
use crate::error::{Error, Result};
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};

use super::{LayerOps, one};

/// An activation as a layer applies it: element-wise, or softmax / log-softmax over the last
/// axis (Keras's default axis).
///
/// ```
/// use wgpu_lstm::layers::activation_layer::LayerActivation;
/// use wgpu_lstm::{Activation, KerasFlavour};
/// let s = LayerActivation::from_keras_name("softmax", KerasFlavour::Keras3).unwrap();
/// assert_eq!(s, LayerActivation::Softmax);
/// let t = LayerActivation::from_keras_name("tanh", KerasFlavour::Keras2).unwrap();
/// assert_eq!(t, LayerActivation::Elementwise(Activation::Tanh));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LayerActivation {
    /// An element-wise activation.
    Elementwise(Activation),
    /// `exp(x - max) / Σ exp(x - max)` over the last axis.
    Softmax,
    /// `x - max - ln Σ exp(x - max)` over the last axis.
    LogSoftmax,
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
        }
    }
}

impl LayerActivation {
    /// By Keras name for a flavour: `softmax`, `log_softmax`, or an element-wise name.
    ///
    /// ```
    /// use wgpu_lstm::{layers::activation_layer::LayerActivation, KerasFlavour};
    /// assert!(LayerActivation::from_keras_name("sofmax", KerasFlavour::Keras3).is_err());
    /// ```
    pub fn from_keras_name(name: &str, flavour: KerasFlavour) -> Result<Self> {
        Ok(match name {
            "softmax" => LayerActivation::Softmax,
            "log_softmax" => LayerActivation::LogSoftmax,
            other => match Activation::from_keras_name(other, flavour) {
                Ok(a) => LayerActivation::Elementwise(a),
                Err(Error::UnknownActivation {
                    name,
                    flavour,
                    known,
                }) => {
                    return Err(Error::UnknownActivation {
                        name,
                        flavour,
                        known: format!("softmax, log_softmax, {known}"),
                    });
                }
                Err(e) => return Err(e),
            },
        })
    }

    /// From a config's `activation` field: a name, or null / absent for linear.
    ///
    /// ```
    /// use wgpu_lstm::{layers::activation_layer::LayerActivation, KerasFlavour};
    /// let cfg = serde_json::json!({"activation": null});
    /// assert_eq!(LayerActivation::from_config(&cfg, KerasFlavour::Keras3).unwrap(), LayerActivation::default());
    /// ```
    pub fn from_config(cfg: &Json, flavour: KerasFlavour) -> Result<Self> {
        match cfg.get("activation") {
            None | Some(Json::Null) => Ok(LayerActivation::default()),
            Some(Json::String(s)) => Self::from_keras_name(s, flavour),
            Some(other) => Err(Error::config(
                "activation",
                format!("expected an activation name, got {other}"),
            )),
        }
    }

    /// The element-wise part a GEMM kernel can fuse (`ACT` code): the activation itself, or
    /// linear for softmax and log-softmax, which need a pass of their own.
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

    /// Whether it needs a pass over whole rows (softmax, log-softmax).
    ///
    /// ```
    /// assert!(wgpu_lstm::layers::activation_layer::LayerActivation::LogSoftmax.is_row_wise());
    /// ```
    pub fn is_row_wise(self) -> bool {
        !matches!(self, LayerActivation::Elementwise(_))
    }

    /// Applies it in place, over the last axis for softmax / log-softmax.
    ///
    /// ```
    /// use wgpu_lstm::layers::activation_layer::LayerActivation;
    /// let mut a = ndarray::array![[1.0f32, 1.0]].into_dyn();
    /// LayerActivation::Softmax.apply(&mut a);
    /// assert_eq!(a[[0, 1]], 0.5);
    /// ```
    pub fn apply(self, a: &mut ArrayD<f32>) {
        match self {
            LayerActivation::Elementwise(Activation::Linear) => {}
            LayerActivation::Elementwise(act) => a.mapv_inplace(|v| act.apply(v)),
            LayerActivation::Softmax | LayerActivation::LogSoftmax => {
                let last = Axis(a.ndim().saturating_sub(1));
                for mut row in a.lanes_mut(last) {
                    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    let sum: f32 = row.iter().map(|&v| (v - max).exp()).sum();
                    if self == LayerActivation::Softmax {
                        row.mapv_inplace(|v| (v - max).exp() / sum);
                    } else {
                        let ls = sum.ln();
                        row.mapv_inplace(|v| v - max - ls);
                    }
                }
            }
        }
    }
}

/// Keras `Activation`: one activation on every element (softmax / log-softmax on the last
/// axis).
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
        Ok(vec![x.clone()])
    }

    fn detail(&self) -> String {
        format!("activation={}", self.activation)
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let mut v = inputs[0].clone();
        v.tokens = None;
        self.activation.apply(&mut v.data);
        Ok(vec![v])
    }
}
