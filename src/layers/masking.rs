//! Keras `Masking(mask_value)`: a timestep is valid when any of its features differs from
//! `mask_value`; the output is the input with masked timesteps zeroed, and it carries that
//! mask (Keras's `compute_mask`: `any(x != mask_value, axis=-1)`).
//!
//! GPU: `gpu/ops/masking.rs`, `shaders/masking.wgsl`.

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};

use super::{LayerOps, one};

/// Keras `Masking`.
///
/// ```
/// use wgpu_lstm::layers::Masking;
/// let m = Masking::from_keras(&serde_json::json!({"mask_value": -1.0})).unwrap();
/// assert_eq!(m.mask_value, -1.0);
/// assert!(Masking::from_keras(&serde_json::json!({"mask_value": "banana"})).is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Masking {
    /// The value that marks a padded timestep (default 0.0).
    pub mask_value: f32,
}

impl Masking {
    /// From a Keras config dict: `mask_value` must be a number (default 0.0).
    ///
    /// ```
    /// let m = wgpu_lstm::layers::Masking::from_keras(&serde_json::json!({})).unwrap();
    /// assert_eq!(m.mask_value, 0.0);
    /// ```
    pub fn from_keras(cfg: &serde_json::Value) -> Result<Self> {
        let mask_value = match cfg.get("mask_value") {
            None | Some(serde_json::Value::Null) => 0.0,
            Some(v) => v
                .as_f64()
                .ok_or_else(|| Error::config("mask_value", format!("must be a number, got {v}")))?
                as f32,
        };
        Ok(Masking { mask_value })
    }
}

impl LayerOps for Masking {
    fn class_name(&self) -> &'static str {
        "Masking"
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = one(inputs)?;
        if x.rank() < 3 {
            return Err(Error::config(
                "input shape",
                format!(
                    "Masking needs a sequence (B, T, ...), got {}",
                    x.keras_shape(None)
                ),
            ));
        }
        Ok(vec![x.clone().with_mask(true)])
    }

    fn detail(&self) -> String {
        format!("mask_value={}", self.mask_value)
    }

    fn computes_mask(&self, _: &[TensorInfo]) -> bool {
        true
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let x = &inputs[0].data;
        let (b, t) = (x.shape()[0], x.shape()[1]);
        let per = x.len() / (b * t).max(1);
        let mut y = x.as_standard_layout().into_owned();
        let mut mask = ndarray::Array2::from_elem((b, t), false);
        let flat = y.as_slice_mut().expect("standard layout");
        for (row, chunk) in flat.chunks_mut(per.max(1)).enumerate().take(b * t) {
            let valid = chunk.iter().any(|&v| v != self.mask_value);
            mask[[row / t, row % t]] = valid;
            if !valid {
                chunk.fill(0.0);
            }
        }
        Ok(vec![Value::new(y).masked(Some(mask))])
    }
}
