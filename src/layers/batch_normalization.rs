//! Keras `BatchNormalization` at inference: every element of channel c (the index along
//! `axis`) becomes a per-channel affine map of itself, from the moving statistics.
//!
//! The formula and its float order, as TensorFlow computes it (checked bit for bit against
//! Keras 3 and tf_keras, tests/fixtures/layers/bn_*): `inv = rsqrt(var + eps) · gamma`, then
//! * `tf.nn.batch_normalization` (Keras 3; tf_keras on rank 2 and 3):
//!   `y = x · inv + (beta - mean · inv)`;
//! * tf_keras's fused kernel (rank 4 with axis 1 or 3, rank 5 with axis 1 or 4, unless
//!   renorm or virtual_batch_size turn it off): `y = (x - mean) · inv + beta`.
//!
//! Both are `y = (x - m) · s + t` with per-channel (m, s, t) computed once on the host:
//! (0, inv, beta - mean·inv) or (mean, inv, beta). Without `scale` gamma is 1, without
//! `center` beta is 0. The mask passes through (BatchNormalization supports masking).
//!
//! GPU: `gpu/ops/batch_normalization.rs`, `shaders/batch_normalization.wgsl`.

use ndarray::{Array1, ArrayD};
use serde_json::Value as Json;

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};

use super::keras_args;
use super::{LayerOps, one};

/// Keras `BatchNormalization` (inference).
///
/// ```
/// use wgpu_lstm::layers::BatchNormalization;
/// let bn = BatchNormalization::new(-1, 1e-3, None, None, ndarray::Array1::zeros(3), ndarray::Array1::ones(3)).unwrap();
/// assert_eq!(bn.channels(), 3);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BatchNormalization {
    /// The channel axis as Keras gives it (negative counts from the end; not the batch axis).
    pub axis: i64,
    /// Added to the moving variance.
    pub epsilon: f32,
    /// Scale per channel (`scale=True`).
    pub gamma: Option<Array1<f32>>,
    /// Offset per channel (`center=True`).
    pub beta: Option<Array1<f32>>,
    /// Moving mean per channel.
    pub moving_mean: Array1<f32>,
    /// Moving variance per channel.
    pub moving_variance: Array1<f32>,
    /// `renorm=True`: three more (non-trainable) weights per channel, counted by Keras;
    /// inference still uses the moving statistics.
    pub renorm: bool,
    /// tf_keras: the fused kernel (and its float order) is taken where the rank allows.
    pub fused: bool,
}

impl BatchNormalization {
    /// Checks that every vector has one value per channel.
    ///
    /// ```
    /// use wgpu_lstm::layers::BatchNormalization;
    /// let bad = BatchNormalization::new(-1, 1e-3, Some(ndarray::Array1::ones(2)), None,
    ///     ndarray::Array1::zeros(3), ndarray::Array1::ones(3));
    /// assert!(bad.is_err());
    /// ```
    pub fn new(
        axis: i64,
        epsilon: f32,
        gamma: Option<Array1<f32>>,
        beta: Option<Array1<f32>>,
        moving_mean: Array1<f32>,
        moving_variance: Array1<f32>,
    ) -> Result<Self> {
        let c = moving_mean.len();
        if c == 0 {
            return Err(Error::shape(
                "moving_mean",
                "(channels,) with channels >= 1",
                &[0],
            ));
        }
        for (name, v) in [
            ("gamma", gamma.as_ref()),
            ("beta", beta.as_ref()),
            ("moving_variance", Some(&moving_variance)),
        ] {
            if let Some(v) = v
                && v.len() != c
            {
                return Err(Error::shape(name, format!("({c},)"), v.shape()));
            }
        }
        Ok(BatchNormalization {
            axis,
            epsilon,
            gamma,
            beta,
            moving_mean,
            moving_variance,
            renorm: false,
            fused: false,
        })
    }

    /// From a Keras config (`axis` an integer or a one-element list, `epsilon`, `center`,
    /// `scale`, `renorm`, tf_keras's `virtual_batch_size`) and the weights `gamma` (if
    /// scale), `beta` (if center), `moving_mean`, `moving_variance`.
    ///
    /// ```
    /// use wgpu_lstm::{layers::BatchNormalization, KerasFlavour};
    /// let cfg = serde_json::json!({"axis": [2], "epsilon": 0.001, "center": false, "scale": false});
    /// let w = vec![
    ///     ("moving_mean".to_string(), ndarray::ArrayD::zeros(vec![4])),
    ///     ("moving_variance".to_string(), ndarray::ArrayD::ones(vec![4])),
    /// ];
    /// let bn = BatchNormalization::from_keras(&cfg, &w, KerasFlavour::Keras2).unwrap();
    /// assert_eq!((bn.axis, bn.fused), (2, true));
    /// ```
    pub fn from_keras(
        cfg: &Json,
        weights: &[(String, ArrayD<f32>)],
        flavour: KerasFlavour,
    ) -> Result<Self> {
        let axis = match keras_args::int_list(cfg, "axis")?.as_deref() {
            None => -1,
            Some([a]) => *a,
            Some(other) => {
                return Err(Error::Unsupported(format!(
                    "BatchNormalization over several axes {other:?}"
                )));
            }
        };
        let epsilon = keras_args::number(cfg, "epsilon", 1e-3)? as f32;
        let mean = keras_args::require(weights, "moving_mean")?;
        let c = mean.len();
        let vec = |name: &str| -> Result<Array1<f32>> {
            keras_args::vector(keras_args::require(weights, name)?, name, c)
        };
        let gamma = if keras_args::boolean(cfg, "scale", true)? {
            Some(vec("gamma")?)
        } else {
            None
        };
        let beta = if keras_args::boolean(cfg, "center", true)? {
            Some(vec("beta")?)
        } else {
            None
        };
        let mut bn = BatchNormalization::new(
            axis,
            epsilon,
            gamma,
            beta,
            vec("moving_mean")?,
            vec("moving_variance")?,
        )?;
        bn.renorm = keras_args::boolean(cfg, "renorm", false)?;
        let virtual_batch = cfg.get("virtual_batch_size").is_some_and(|v| !v.is_null());
        bn.fused = flavour == KerasFlavour::Keras2 && !bn.renorm && !virtual_batch;
        Ok(bn)
    }

    /// Channels: the length of the moving statistics.
    ///
    /// ```
    /// use wgpu_lstm::layers::BatchNormalization;
    /// let bn = BatchNormalization::new(1, 1e-3, None, None, ndarray::Array1::zeros(5), ndarray::Array1::ones(5)).unwrap();
    /// assert_eq!(bn.channels(), 5);
    /// ```
    pub fn channels(&self) -> usize {
        self.moving_mean.len()
    }

    /// Whether tf_keras's fused order applies to an input of `rank` (batch included) whose
    /// channel axis is `axis` (resolved).
    fn fused_for(&self, rank: usize, axis: usize) -> bool {
        self.fused
            && ((rank == 4 && (axis == 1 || axis == 3)) || (rank == 5 && (axis == 1 || axis == 4)))
    }

    /// The per-channel (m, s, t) of `y = (x - m) · s + t` for an input of `rank`, and the
    /// resolved channel axis.
    ///
    /// ```
    /// use wgpu_lstm::layers::BatchNormalization;
    /// let bn = BatchNormalization::new(-1, 0.0, None, Some(ndarray::array![1.0]),
    ///     ndarray::array![2.0], ndarray::array![4.0]).unwrap();
    /// let ([m, s, t], axis) = bn.affine(3).unwrap();
    /// assert_eq!((m[0], s[0], t[0], axis), (0.0, 0.5, 0.0, 2));
    /// ```
    pub fn affine(&self, rank: usize) -> Result<([Vec<f32>; 3], usize)> {
        let axis = keras_args::resolve_axis(self.axis, rank)?;
        let fused = self.fused_for(rank, axis);
        let c = self.channels();
        let (mut m, mut s, mut t) = (vec![0.0; c], vec![0.0; c], vec![0.0; c]);
        for i in 0..c {
            let mut inv = 1.0f32 / (self.moving_variance[i] + self.epsilon).sqrt();
            if let Some(g) = &self.gamma {
                inv *= g[i];
            }
            let beta = self.beta.as_ref().map_or(0.0, |b| b[i]);
            s[i] = inv;
            if fused {
                m[i] = self.moving_mean[i];
                t[i] = beta;
            } else {
                t[i] = match &self.beta {
                    Some(_) => beta - self.moving_mean[i] * inv,
                    None => -self.moving_mean[i] * inv,
                };
            }
        }
        Ok(([m, s, t], axis))
    }
}

impl LayerOps for BatchNormalization {
    fn class_name(&self) -> &'static str {
        "BatchNormalization"
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = one(inputs)?;
        let axis = keras_args::resolve_axis(self.axis, x.rank())?;
        match x.shape[axis - 1] {
            Some(d) if d == self.channels() => Ok(vec![x.clone()]),
            d => Err(Error::config(
                "input shape",
                format!(
                    "axis {} of {} must have {} channels, got {}",
                    self.axis,
                    x.keras_shape(None),
                    self.channels(),
                    d.map_or("an open axis".to_string(), |d| d.to_string())
                ),
            )),
        }
    }

    fn param_count(&self) -> usize {
        let per = 2
            + usize::from(self.gamma.is_some())
            + usize::from(self.beta.is_some())
            + if self.renorm { 3 } else { 0 };
        per * self.channels()
    }

    fn detail(&self) -> String {
        format!("axis={} epsilon={}", self.axis, self.epsilon)
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let x = inputs[0];
        let ([m, s, t], axis) = self.affine(x.data.ndim())?;
        let mut y = x.data.as_standard_layout().into_owned();
        let inner: usize = y.shape()[axis + 1..].iter().product();
        let c = self.channels();
        for (i, v) in y.iter_mut().enumerate() {
            let ch = (i / inner.max(1)) % c;
            *v = (*v - m[ch]) * s[ch] + t[ch];
        }
        Ok(vec![Value::new(y).masked(x.mask.clone())])
    }
}
