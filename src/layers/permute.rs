//! Keras `Permute(dims)`: reorders the non-batch axes; `dims` is 1-based (`(2, 1)` swaps the
//! two axes of a (B, T, D) input). The mask is dropped in both Keras versions (Permute does
//! not support masking — tests/fixtures/layers/permute_*).
//!
//! GPU: `gpu/ops/layout.rs`, the strided copy `shaders/layout.wgsl`.

use ndarray::IxDyn;
use serde_json::Value as Json;

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};

use super::keras_args;
use super::{LayerOps, one};

/// Keras `Permute`.
///
/// ```
/// let p = wgpu_lstm::layers::Permute::new(vec![2, 1]).unwrap();
/// assert_eq!(p.axes(), vec![0, 2, 1]);
/// assert!(wgpu_lstm::layers::Permute::new(vec![1, 3]).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permute {
    /// The new order of the non-batch axes, 1-based.
    pub dims: Vec<usize>,
}

impl Permute {
    /// Checks that `dims` is a permutation of 1..=n.
    ///
    /// ```
    /// assert!(wgpu_lstm::layers::Permute::new(vec![3, 1, 2]).is_ok());
    /// ```
    pub fn new(dims: Vec<usize>) -> Result<Self> {
        let mut sorted = dims.clone();
        sorted.sort_unstable();
        if dims.is_empty() || sorted.iter().enumerate().any(|(i, &d)| d != i + 1) {
            return Err(Error::config(
                "dims",
                format!("must be a permutation of 1..={}, got {dims:?}", dims.len()),
            ));
        }
        Ok(Permute { dims })
    }

    /// From a Keras config (`dims`).
    ///
    /// ```
    /// let p = wgpu_lstm::layers::Permute::from_keras(&serde_json::json!({"dims": [2, 1]})).unwrap();
    /// assert_eq!(p.dims, vec![2, 1]);
    /// ```
    pub fn from_keras(cfg: &Json) -> Result<Self> {
        let dims =
            keras_args::int_list(cfg, "dims")?.ok_or_else(|| Error::config("dims", "missing"))?;
        let dims = dims
            .into_iter()
            .map(|d| {
                usize::try_from(d).map_err(|_| Error::config("dims", format!("{d} is negative")))
            })
            .collect::<Result<Vec<_>>>()?;
        Permute::new(dims)
    }

    /// The full axis order, batch axis 0 included.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::layers::Permute::new(vec![3, 1, 2]).unwrap().axes(), vec![0, 3, 1, 2]);
    /// ```
    pub fn axes(&self) -> Vec<usize> {
        let mut a = vec![0];
        a.extend(self.dims.iter().copied());
        a
    }
}

impl LayerOps for Permute {
    fn class_name(&self) -> &'static str {
        "Permute"
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = one(inputs)?;
        if x.shape.len() != self.dims.len() {
            return Err(Error::config(
                "input shape",
                format!(
                    "Permute({:?}) takes inputs of rank {}, got {}",
                    self.dims,
                    self.dims.len() + 1,
                    x.keras_shape(None)
                ),
            ));
        }
        Ok(vec![TensorInfo::f32(
            self.dims.iter().map(|&d| x.shape[d - 1]).collect(),
        )])
    }

    fn detail(&self) -> String {
        format!("dims={:?}", self.dims)
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let y = inputs[0]
            .data
            .view()
            .permuted_axes(IxDyn(&self.axes()))
            .as_standard_layout()
            .into_owned();
        Ok(vec![Value::new(y)])
    }
}
