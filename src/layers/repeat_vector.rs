//! Keras `RepeatVector(n)`: (B, D) → (B, n, D), every step a copy of the input row. The mask
//! is dropped in both Keras versions (tests/fixtures/layers/repeat_vector_*).
//!
//! GPU: `gpu/ops/layout.rs`, the strided copy `shaders/layout.wgsl` (stride 0 over n).

use serde_json::Value as Json;

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};

use super::keras_args;
use super::{LayerOps, one};

/// Keras `RepeatVector`.
///
/// ```
/// let r = wgpu_lstm::layers::RepeatVector::from_keras(&serde_json::json!({"n": 5})).unwrap();
/// assert_eq!(r.n, 5);
/// assert!(wgpu_lstm::layers::RepeatVector::from_keras(&serde_json::json!({"n": 0})).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatVector {
    /// How many times the row is repeated (≥ 1).
    pub n: usize,
}

impl RepeatVector {
    /// From a Keras config (`n`, a positive integer).
    ///
    /// ```
    /// assert!(wgpu_lstm::layers::RepeatVector::from_keras(&serde_json::json!({})).is_err());
    /// ```
    pub fn from_keras(cfg: &Json) -> Result<Self> {
        let n = keras_args::count(cfg, "n")?.ok_or_else(|| Error::config("n", "missing"))?;
        Ok(RepeatVector { n })
    }
}

impl LayerOps for RepeatVector {
    fn class_name(&self) -> &'static str {
        "RepeatVector"
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = one(inputs)?;
        if x.rank() != 2 || self.n == 0 {
            return Err(Error::config(
                "input shape",
                format!(
                    "RepeatVector({}) takes (B, D) inputs, got {}",
                    self.n,
                    x.keras_shape(None)
                ),
            ));
        }
        Ok(vec![TensorInfo::f32(vec![Some(self.n), x.shape[0]])])
    }

    fn detail(&self) -> String {
        format!("n={}", self.n)
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let x = &inputs[0].data;
        let (b, d) = (x.shape()[0], x.shape()[1]);
        let xs = x.as_standard_layout();
        let y = xs
            .view()
            .into_shape_with_order((b, 1, d))
            .map_err(|e| Error::shape("RepeatVector input", e.to_string(), x.shape()))?
            .broadcast((b, self.n, d))
            .ok_or_else(|| Error::shape("RepeatVector input", "(B, D)", x.shape()))?
            .to_owned()
            .into_dyn();
        Ok(vec![Value::new(y)])
    }
}
