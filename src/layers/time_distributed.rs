//! Keras `TimeDistributed(layer)`: the inner layer runs on every timestep, i.e. on the input
//! (B, T, ...) seen as (B·T, ...) — same buffer, same element order — and its output is seen
//! as (B, T, ...) again. The inner layer's weights are the wrapper's. Recurrent layers inside
//! are refused (their state would run across the B·T rows).
//!
//! Masks, checked against both versions (tests/fixtures/layers/td_*):
//! * Keras 3.15.1 (`supports_masking = True`, default `compute_mask`): the output carries the
//!   input's mask, whatever the inner layer (a `Masking` inside zeroes steps but its mask is
//!   lost; an inner `Embedding(mask_zero)` gives no mask).
//! * tf_keras (`TimeDistributed.compute_mask`): the inner layer's `compute_mask` on the
//!   (B·T, ...) view decides. Layers that pass masks (Dense, Activation, Dropout & kin,
//!   BatchNormalization, LayerNormalization) and an Embedding without `mask_zero` keep the
//!   input's mask; `Masking` makes its own (any feature ≠ mask_value per step); a layer that
//!   does not support masking (Flatten, Reshape, Permute, RepeatVector, …) raises a TypeError
//!   when the input is masked — refused here with a typed error. An inner
//!   `Embedding(mask_zero)` would give a (B, T, K) mask: refused (masks here are (B, T)).
//!
//! The newer Keras source (after 3.15.1) sets `supports_masking = False`; the installed
//! 3.15.1 that wrote the fixtures passes the mask, and that is what is implemented.
//!
//! GPU: `gpu/ops/time_distributed.rs` (the inner layer's op recorded on (B·T, ...) views).

use ndarray::{ArrayD, IxDyn};

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};

use super::{Layer, LayerOps, one};

/// Keras `TimeDistributed`.
///
/// ```
/// use wgpu_lstm::layers::{Dense, Layer, TimeDistributed};
/// use wgpu_lstm::{Activation, KerasFlavour};
/// let d = Dense::new(ndarray::Array2::zeros((3, 2)), None, Activation::Linear.into()).unwrap();
/// let td = TimeDistributed::new(Layer::Dense(d), KerasFlavour::Keras3).unwrap();
/// assert_eq!(td.layer.class_name(), "Dense");
/// ```
#[derive(Debug, Clone)]
pub struct TimeDistributed {
    /// The wrapped layer.
    pub layer: Box<Layer>,
    /// Which Keras made it: decides the output mask (see the module docs); the wrapper uses
    /// this, not the plan's flavour, so its CPU and GPU halves agree.
    pub flavour: KerasFlavour,
}

/// What tf_keras's `TimeDistributed.compute_mask` makes of an inner layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InnerMask {
    /// The output keeps the input's mask.
    Passes,
    /// The inner layer computes the mask (Masking).
    Computes,
    /// The inner layer does not support masking: a masked input is an error.
    Refuses,
}

impl TimeDistributed {
    /// Wraps `layer`; a recurrent layer (or anything holding state) is refused.
    ///
    /// ```
    /// use wgpu_lstm::layers::{Layer, Recurrent, TimeDistributed};
    /// use wgpu_lstm::{KerasFlavour, LstmConfig, LstmWeights};
    /// let cfg = LstmConfig::new(2);
    /// let lstm = Recurrent::lstm(cfg.clone(), LstmWeights::keras_default(3, &cfg, 0).unwrap()).unwrap();
    /// assert!(TimeDistributed::new(Layer::Recurrent(lstm), KerasFlavour::Keras3).is_err());
    /// ```
    pub fn new(layer: Layer, flavour: KerasFlavour) -> Result<Self> {
        if !layer.lstms().is_empty() || layer.ops().state_slots() > 0 || layer.ops().stateful() {
            return Err(Error::Unsupported(format!(
                "TimeDistributed({}): a recurrent layer inside TimeDistributed is not supported",
                layer.class_name()
            )));
        }
        Ok(TimeDistributed {
            layer: Box::new(layer),
            flavour,
        })
    }

    fn inner_mask(&self) -> InnerMask {
        match &*self.layer {
            Layer::Dense(_)
            | Layer::Activation(_)
            | Layer::Identity(_)
            | Layer::BatchNormalization(_)
            | Layer::LayerNormalization(_) => InnerMask::Passes,
            Layer::Embedding(e) if !e.mask_zero => InnerMask::Passes,
            Layer::Embedding(_) | Layer::Masking(_) => InnerMask::Computes,
            _ => InnerMask::Refuses,
        }
    }

    /// Whether the inner layer is a `Masking`, which runs on the (B, T, F) input itself (its
    /// rule is per (b, t) step already).
    pub(crate) fn inner_is_masking(&self) -> bool {
        matches!(&*self.layer, Layer::Masking(_))
    }

    /// Whether the output carries a mask, for an input that does (`masked`) or not.
    fn out_masked(&self, x: &TensorInfo) -> Result<bool> {
        if self.flavour == KerasFlavour::Keras3 {
            return Ok(x.masked);
        }
        match self.inner_mask() {
            InnerMask::Passes => Ok(x.masked),
            InnerMask::Computes if self.inner_is_masking() => Ok(true),
            InnerMask::Computes => Err(Error::Unsupported(format!(
                "tf_keras TimeDistributed({}) on {} makes a mask over (batch, time, ...); this \
                 crate carries masks over (batch, time) only",
                self.layer.class_name(),
                x.keras_shape(None)
            ))),
            InnerMask::Refuses if x.masked => Err(Error::config(
                "mask",
                format!(
                    "tf_keras TimeDistributed({}) raises TypeError on a masked input: {} does \
                     not support masking",
                    self.layer.class_name(),
                    self.layer.class_name()
                ),
            )),
            InnerMask::Refuses => Ok(false),
        }
    }
}

/// `a` (B, T, rest...) seen as (B·T, rest...), or back with `shape`.
fn regroup<T: Clone>(a: &ArrayD<T>, shape: &[usize]) -> Result<ArrayD<T>> {
    a.as_standard_layout()
        .into_owned()
        .into_shape_with_order(IxDyn(shape))
        .map_err(|e| Error::shape("TimeDistributed view", e.to_string(), a.shape()))
}

impl LayerOps for TimeDistributed {
    fn class_name(&self) -> &'static str {
        "TimeDistributed"
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = one(inputs)?;
        if x.rank() < 3 {
            return Err(Error::config(
                "input shape",
                format!(
                    "TimeDistributed needs an input of at least 3 dimensions (B, T, ...), got {}",
                    x.keras_shape(None)
                ),
            ));
        }
        let masked = self.out_masked(x)?;
        if self.inner_is_masking() {
            if x.rank() != 3 {
                return Err(Error::Unsupported(format!(
                    "TimeDistributed(Masking) on {}: only (B, T, features) inputs",
                    x.keras_shape(None)
                )));
            }
            return Ok(vec![x.clone().with_mask(masked)]);
        }
        let inner_in = TensorInfo {
            shape: x.shape[1..].to_vec(),
            dtype: x.dtype,
            masked: false,
        };
        let outs = self
            .layer
            .infer(&[inner_in], self.flavour)
            .map_err(|e| e.in_layer("(inner)", self.layer.class_name()))?;
        let [o] = outs.as_slice() else {
            return Err(Error::Unsupported(format!(
                "TimeDistributed({}): the inner layer returns {} tensors",
                self.layer.class_name(),
                outs.len()
            )));
        };
        let mut shape = vec![x.shape[0]];
        shape.extend(o.shape.iter().copied());
        Ok(vec![TensorInfo {
            shape,
            dtype: o.dtype,
            masked,
        }])
    }

    fn param_count(&self) -> usize {
        self.layer.param_count()
    }

    fn detail(&self) -> String {
        let inner = self.layer.detail();
        if inner.is_empty() {
            format!("layer={}", self.layer.class_name())
        } else {
            format!("layer={}({inner})", self.layer.class_name())
        }
    }

    fn computes_mask(&self, _: &[TensorInfo]) -> bool {
        self.flavour == KerasFlavour::Keras2 && self.inner_is_masking()
    }

    fn takes_tokens(&self) -> bool {
        self.layer.takes_tokens()
    }

    fn check_host_inputs(&self, inputs: &[&Value]) -> Result<()> {
        // element-wise checks (token ids): positions stay those of the wrapper's input
        self.layer.ops().check_host_inputs(inputs)
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let x = inputs[0];
        let info = TensorInfo::f32(x.data.shape()[1..].iter().map(|&d| Some(d)).collect())
            .with_mask(x.mask.is_some());
        let masked = self.out_masked(&info)?;
        if self.inner_is_masking() {
            let inner = Value::new(x.data.clone());
            let mut out = self.layer.ops().cpu(&[&inner], &mut [])?;
            let mut y = out.remove(0);
            y.mask = match (masked, self.computes_mask(&[])) {
                (true, true) => y.mask,
                (true, false) => x.mask.clone(),
                (false, _) => None,
            };
            return Ok(vec![y]);
        }
        self.layer.ops().check_host_inputs(&[x])?;
        let shape = x.data.shape();
        let (b, t) = (shape[0], shape[1]);
        let mut flat = vec![b * t];
        flat.extend_from_slice(&shape[2..]);
        let inner = Value {
            data: regroup(&x.data, &flat)?,
            mask: None,
            tokens: x.tokens.as_ref().map(|k| regroup(k, &flat)).transpose()?,
        };
        let outs = self.layer.ops().cpu(&[&inner], &mut [])?;
        let y = outs.into_iter().next().ok_or_else(|| {
            Error::Unsupported("TimeDistributed: the inner layer returned nothing".into())
        })?;
        let mut back = vec![b, t];
        back.extend_from_slice(&y.data.shape()[1..]);
        Ok(vec![
            Value::new(regroup(&y.data, &back)?).masked(if masked { x.mask.clone() } else { None }),
        ])
    }
}
