//! Keras `Flatten(data_format)` and `Reshape(target_shape)`: new shapes for the same elements
//! in the same row-major order, so on the GPU the output is the input's buffer — except
//! `Flatten(data_format="channels_first")` on rank > 2, which first moves axis 1 last
//! (Keras transposes to (0, 2, …, 1)) and is a strided copy (`shaders/layout.wgsl`).
//!
//! Both drop the mask, in both Keras versions (neither supports masking; Keras 3 warns,
//! tf_keras drops it silently — tests/fixtures/layers/flatten_*, reshape_*).
//!
//! GPU: `gpu/ops/mod.rs` (alias) and `gpu/ops/layout.rs` (channels_first).

use ndarray::IxDyn;
use serde_json::Value as Json;

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};

use super::keras_args;
use super::{LayerOps, one};

/// Keras `Flatten`: (B, d1, …, dn) → (B, d1·…·dn); (B,) → (B, 1).
///
/// ```
/// let f = wgpu_lstm::layers::Flatten::from_keras(&serde_json::json!({"data_format": "channels_first"})).unwrap();
/// assert!(f.channels_first);
/// assert_eq!(f.permutation(4), Some(vec![0, 2, 3, 1]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flatten {
    /// `data_format="channels_first"`: axis 1 moves last before flattening.
    pub channels_first: bool,
}

impl Flatten {
    /// From a Keras config: `data_format` is `channels_last` (default) or `channels_first`.
    ///
    /// ```
    /// use wgpu_lstm::layers::Flatten;
    /// assert!(!Flatten::from_keras(&serde_json::json!({})).unwrap().channels_first);
    /// assert!(Flatten::from_keras(&serde_json::json!({"data_format": "nhwc"})).is_err());
    /// ```
    pub fn from_keras(cfg: &Json) -> Result<Self> {
        let channels_first = match keras_args::string(cfg, "data_format")? {
            None | Some("channels_last") => false,
            Some("channels_first") => true,
            Some(other) => {
                return Err(Error::config(
                    "data_format",
                    format!("must be channels_last or channels_first, got {other}"),
                ));
            }
        };
        Ok(Flatten { channels_first })
    }

    /// The axis order Keras transposes to before flattening an input of `rank` (batch
    /// included), when it moves anything.
    ///
    /// ```
    /// let f = wgpu_lstm::layers::Flatten { channels_first: true };
    /// assert_eq!(f.permutation(2), None);
    /// assert_eq!(f.permutation(3), Some(vec![0, 2, 1]));
    /// ```
    pub fn permutation(&self, rank: usize) -> Option<Vec<usize>> {
        (self.channels_first && rank > 2).then(|| {
            let mut p = vec![0];
            p.extend(2..rank);
            p.push(1);
            p
        })
    }
}

impl LayerOps for Flatten {
    fn class_name(&self) -> &'static str {
        "Flatten"
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = one(inputs)?;
        let flat = x
            .shape
            .iter()
            .try_fold(1usize, |acc, d| d.and_then(|d| acc.checked_mul(d)));
        Ok(vec![TensorInfo::f32(vec![flat])])
    }

    fn detail(&self) -> String {
        if self.channels_first {
            "data_format=channels_first".into()
        } else {
            String::new()
        }
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let x = &inputs[0].data;
        let b = x.shape()[0];
        let n = x.len() / b.max(1);
        let moved = match self.permutation(x.ndim()) {
            Some(p) => x.view().permuted_axes(IxDyn(&p)),
            None => x.view(),
        };
        let y = moved
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(&[b, n]))
            .map_err(|e| Error::shape("Flatten output", e.to_string(), x.shape()))?;
        Ok(vec![Value::new(y)])
    }
}

/// Keras `Reshape(target_shape)` (without the batch axis; at most one -1, resolved from the
/// input's size).
///
/// ```
/// let r = wgpu_lstm::layers::Reshape::new(vec![-1, 3]).unwrap();
/// assert_eq!(r.output_shape(&[Some(4), Some(6)]).unwrap(), vec![Some(8), Some(3)]);
/// assert!(wgpu_lstm::layers::Reshape::new(vec![-1, -1]).is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reshape {
    /// The target shape; -1 = the one axis the input's size decides.
    pub target_shape: Vec<i64>,
}

impl Reshape {
    /// Checks the target: every entry ≥ 1 or -1, at most one -1.
    ///
    /// ```
    /// assert!(wgpu_lstm::layers::Reshape::new(vec![0, 2]).is_err());
    /// ```
    pub fn new(target_shape: Vec<i64>) -> Result<Self> {
        if target_shape.iter().any(|&d| d == 0 || d < -1) {
            return Err(Error::config(
                "target_shape",
                format!("each entry must be >= 1 or -1, got {target_shape:?}"),
            ));
        }
        if target_shape.iter().filter(|&&d| d == -1).count() > 1 {
            return Err(Error::config(
                "target_shape",
                format!("at most one -1, got {target_shape:?}"),
            ));
        }
        Ok(Reshape { target_shape })
    }

    /// From a Keras config (`target_shape`).
    ///
    /// ```
    /// let r = wgpu_lstm::layers::Reshape::from_keras(&serde_json::json!({"target_shape": [15, 2]})).unwrap();
    /// assert_eq!(r.target_shape, vec![15, 2]);
    /// ```
    pub fn from_keras(cfg: &Json) -> Result<Self> {
        let t = keras_args::int_list(cfg, "target_shape")?
            .ok_or_else(|| Error::config("target_shape", "missing"))?;
        Reshape::new(t)
    }

    /// The output shape (without batch) for an input shape (without batch): `None` where the
    /// input leaves it open; an error when the sizes cannot match.
    ///
    /// ```
    /// let r = wgpu_lstm::layers::Reshape::new(vec![5, 5]).unwrap();
    /// assert!(r.output_shape(&[Some(4), Some(6)]).is_err());
    /// assert_eq!(r.output_shape(&[None, Some(6)]).unwrap(), vec![Some(5), Some(5)]);
    /// ```
    pub fn output_shape(&self, input: &[Option<usize>]) -> Result<Vec<Option<usize>>> {
        let as_dim = |d: i64| (d > 0).then_some(d as usize);
        let known: Option<usize> = input
            .iter()
            .try_fold(1usize, |acc, d| d.and_then(|d| acc.checked_mul(d)));
        let Some(total) = known else {
            return Ok(self.target_shape.iter().map(|&d| as_dim(d)).collect());
        };
        let fixed = self
            .target_shape
            .iter()
            .filter(|&&d| d > 0)
            .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize));
        let mismatch = || {
            Error::config(
                "target_shape",
                format!(
                    "{:?} cannot hold the {total} elements of an input {input:?}",
                    self.target_shape
                ),
            )
        };
        let fixed = fixed.ok_or_else(mismatch)?;
        if self.target_shape.contains(&-1) {
            if fixed == 0 || total % fixed != 0 {
                return Err(mismatch());
            }
            Ok(self
                .target_shape
                .iter()
                .map(|&d| Some(if d == -1 { total / fixed } else { d as usize }))
                .collect())
        } else if fixed != total {
            Err(mismatch())
        } else {
            Ok(self.target_shape.iter().map(|&d| as_dim(d)).collect())
        }
    }
}

impl LayerOps for Reshape {
    fn class_name(&self) -> &'static str {
        "Reshape"
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = one(inputs)?;
        Ok(vec![TensorInfo::f32(self.output_shape(&x.shape)?)])
    }

    fn detail(&self) -> String {
        format!("target_shape={:?}", self.target_shape)
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let x = &inputs[0].data;
        let dims: Vec<Option<usize>> = x.shape()[1..].iter().map(|&d| Some(d)).collect();
        let mut shape = vec![x.shape()[0]];
        for d in self.output_shape(&dims)? {
            shape.push(d.ok_or_else(|| Error::config("target_shape", "an axis stayed open"))?);
        }
        let y = x
            .as_standard_layout()
            .into_owned()
            .into_shape_with_order(IxDyn(&shape))
            .map_err(|e| Error::shape("Reshape output", e.to_string(), x.shape()))?;
        Ok(vec![Value::new(y)])
    }
}
