//! Keras 3 `RMSNormalization(axis, epsilon)`: `x · rsqrt(mean(x², axes) + epsilon) · scale`
//! (`keras.ops.rms_normalization`; not LayerNormalization's `rms_scaling`, whose variance is
//! centred). Keras 3 only (tf_keras has no such layer).
//!
//! What Keras 3.15.1 does (fixtures `tests/fixtures/layers/act_rms_*`): the axes are sorted,
//! `scale` has their sizes, and it multiplies the normalised tensor with numpy broadcasting —
//! against the input's TRAILING axes, whichever axes were normalised (with `axis=1` on
//! (B, T, D) Keras fails unless T = D). RMSNormalization does not support masking: the mask
//! is dropped. Here the axes must be adjacent and the scale must broadcast against the
//! trailing axes without growing the output.
//!
//! GPU: `gpu/ops/activation_layer.rs` (`GpuRmsNorm`), entry `rms_rows` of
//! `shaders/activation_layer.wgsl`.

use ndarray::{ArrayD, Zip};
use serde_json::Value as Json;

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};

use super::activation_layer::for_lanes;
use super::keras_args::{self, NamedWeights};
use super::{LayerOps, one};

/// Keras 3 `RMSNormalization`.
///
/// ```
/// use wgpu_lstm::layers::RmsNormalization;
/// let l = RmsNormalization { axes: vec![-1], epsilon: 1e-6, scale: ndarray::ArrayD::ones(vec![4]) };
/// assert_eq!(l.scale.len(), 4);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RmsNormalization {
    /// The normalised axes as Keras gives them (adjacent).
    pub axes: Vec<i64>,
    /// Added to the mean square.
    pub epsilon: f32,
    /// The scale (the normalised axes' sizes), broadcast against the input's trailing axes.
    pub scale: ArrayD<f32>,
}

impl RmsNormalization {
    /// From a Keras config (`axis`, `epsilon`) and the weight `scale`.
    ///
    /// ```
    /// use wgpu_lstm::layers::RmsNormalization;
    /// use wgpu_lstm::KerasFlavour;
    /// let cfg = serde_json::json!({"axis": [-1], "epsilon": 1e-6});
    /// let w = vec![("scale".to_string(), ndarray::ArrayD::ones(vec![3]))];
    /// assert!(RmsNormalization::from_keras(&cfg, &w, KerasFlavour::Keras3).is_ok());
    /// assert!(RmsNormalization::from_keras(&cfg, &w, KerasFlavour::Keras2).is_err());
    /// ```
    pub fn from_keras(cfg: &Json, weights: &NamedWeights, flavour: KerasFlavour) -> Result<Self> {
        if flavour == KerasFlavour::Keras2 {
            return Err(Error::Unsupported(
                "RMSNormalization is a Keras 3 layer: tf_keras has none".into(),
            ));
        }
        let axes = keras_args::int_list(cfg, "axis")?.unwrap_or(vec![-1]);
        if axes.is_empty() {
            return Err(Error::config("axis", "an empty list of axes"));
        }
        let epsilon = keras_args::number(cfg, "epsilon", 1e-6)? as f32;
        let scale = keras_args::require(weights, "scale")?.clone();
        if scale.ndim() != axes.len() {
            return Err(Error::shape(
                "scale",
                format!("one axis per normalised axis ({})", axes.len()),
                scale.shape(),
            ));
        }
        Ok(RmsNormalization {
            axes,
            epsilon,
            scale,
        })
    }
}

/// The normalised axes for an input of `rank` (batch included) as one block
/// `first..=last`, or an error (the batch axis, repeated or not adjacent axes).
///
/// ```
/// use wgpu_lstm::layers::rms_normalization::rms_block;
/// assert_eq!(rms_block(&[-2, -1], 4).unwrap(), (2, 3));
/// assert!(rms_block(&[1, 3], 4).is_err());
/// ```
pub fn rms_block(axes: &[i64], rank: usize) -> Result<(usize, usize)> {
    let mut resolved = axes
        .iter()
        .map(|&a| keras_args::resolve_axis(a, rank))
        .collect::<Result<Vec<_>>>()?;
    resolved.sort_unstable();
    let n = resolved.len();
    resolved.dedup();
    let (Some(&first), Some(&last)) = (resolved.first(), resolved.last()) else {
        return Err(Error::config("axis", "an empty list of axes"));
    };
    if resolved.len() != n || last - first + 1 != n {
        return Err(Error::Unsupported(format!(
            "RMSNormalization over the axes {axes:?}: only adjacent, distinct axes are supported"
        )));
    }
    Ok((first, last))
}

impl LayerOps for RmsNormalization {
    fn class_name(&self) -> &'static str {
        "RMSNormalization"
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = one(inputs)?;
        rms_block(&self.axes, x.rank())?;
        let s = self.scale.shape();
        if s.len() > x.shape.len() {
            return Err(Error::shape(
                "scale",
                format!("at most {} axes", x.shape.len()),
                s,
            ));
        }
        // numpy broadcasting against the input's trailing axes
        for (k, &sd) in s.iter().rev().enumerate() {
            let d = x.shape[x.shape.len() - 1 - k];
            match d {
                _ if sd == 1 => {}
                Some(d) if d == sd => {}
                Some(1) => {
                    return Err(Error::Unsupported(format!(
                        "RMSNormalization's scale {s:?} would broadcast the input {} to a \
                         larger output",
                        x.keras_shape(None)
                    )));
                }
                _ => {
                    return Err(Error::config(
                        "input shape",
                        format!(
                            "Keras multiplies the normalised input by the scale {s:?} with \
                             numpy broadcasting against its trailing axes, which does not fit \
                             the input {} (Keras fails too)",
                            x.keras_shape(None)
                        ),
                    ));
                }
            }
        }
        // RMSNormalization does not support masking: Keras 3 drops the mask
        Ok(vec![x.clone().with_mask(false)])
    }

    fn param_count(&self) -> usize {
        self.scale.len()
    }

    fn detail(&self) -> String {
        format!("axis={:?} epsilon={}", self.axes, self.epsilon)
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let mut data = inputs[0].data.clone();
        let (first, last) = rms_block(&self.axes, data.ndim())?;
        let eps = self.epsilon;
        for_lanes(&mut data, first, last, |mut lane| {
            let n = lane.len() as f32;
            let sq: f32 = lane.iter().map(|&v| v * v).sum();
            let r = 1.0 / (sq / n + eps).sqrt();
            lane.mapv_inplace(|v| v * r);
            Ok(())
        })?;
        let shape = data.shape().to_vec();
        let s = self.scale.broadcast(shape.as_slice()).ok_or_else(|| {
            Error::shape(
                "RMSNormalization input",
                format!("axes the scale {:?} broadcasts to", self.scale.shape()),
                &shape,
            )
        })?;
        Zip::from(&mut data).and(&s).for_each(|y, &sc| *y *= sc);
        Ok(vec![Value::new(data)])
    }
}
