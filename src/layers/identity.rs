//! Layers that are the identity at inference: `Dropout`, `SpatialDropout1D`,
//! `GaussianNoise`, `GaussianDropout`, `AlphaDropout`, `ActivityRegularization` (their
//! randomness and penalties act only in training). The mask passes through (all of them
//! support masking, in both Keras versions).
//!
//! GPU: no kernel — the output is the input's buffer (`gpu/ops/mod.rs`).

use crate::activation::KerasFlavour;
use crate::error::Result;
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};

use super::{LayerOps, one};

/// The Keras classes that are identities at inference.
pub const IDENTITY_CLASSES: &[&str] = &[
    "Dropout",
    "SpatialDropout1D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
];

/// An identity at inference, remembering which Keras class it was.
///
/// ```
/// let d = wgpu_lstm::layers::Identity::new("Dropout");
/// assert_eq!(d.class, "Dropout");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The Keras class (one of [`IDENTITY_CLASSES`]).
    pub class: &'static str,
}

impl Identity {
    /// The identity for a Keras class name; an unknown name is kept as `Dropout`.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::layers::Identity::new("GaussianNoise").class, "GaussianNoise");
    /// ```
    pub fn new(class: &str) -> Self {
        let class = IDENTITY_CLASSES
            .iter()
            .find(|c| **c == class)
            .copied()
            .unwrap_or("Dropout");
        Identity { class }
    }
}

impl LayerOps for Identity {
    fn class_name(&self) -> &'static str {
        self.class
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = one(inputs)?;
        Ok(vec![x.clone()])
    }

    fn detail(&self) -> String {
        "identity at inference".into()
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        Ok(vec![inputs[0].clone()])
    }
}
