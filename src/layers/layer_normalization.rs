//! Keras `LayerNormalization`: every sample is normalised over its trailing feature axes
//! (`axis`, default -1) with its own mean and (biased, two-pass) variance, then scaled by
//! `gamma` and shifted by `beta` per feature.
//!
//! The float order per Keras version (tests/fixtures/layers/ln_*; `r = rsqrt(var + eps)`):
//! * Keras 3: `inv = r · gamma`, `y = x · inv + (beta - mean · inv)`;
//! * Keras 3 `rms_scaling=True` (deprecated, kept by old files): `y = (x · r) · gamma` — the
//!   variance is still the centred one, the mean is not subtracted, there is no beta;
//! * tf_keras with epsilon ≥ 1.001e-5: its fused kernel, `y = ((x - mean) · r) · gamma + beta`;
//!   with a smaller epsilon `tf.nn.batch_normalization`, the Keras 3 order.
//!
//! The mask passes through (LayerNormalization supports masking and ignores it).
//!
//! GPU: `gpu/ops/layer_normalization.rs`, `shaders/layer_normalization.wgsl` (the reduction
//! over features in chunks, any width).

use ndarray::{Array1, ArrayD};
use serde_json::Value as Json;

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};

use super::keras_args;
use super::{LayerOps, one};

/// Which float order the layer follows (see the module docs).
///
/// ```
/// use wgpu_lstm::layers::layer_normalization::LnOrder;
/// assert_eq!(LnOrder::TfFused.code(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LnOrder {
    /// `x · inv + (beta - mean · inv)` with `inv = r · gamma`.
    Affine,
    /// `((x - mean) · r) · gamma + beta`.
    TfFused,
    /// `(x · r) · gamma`.
    Rms,
}

impl LnOrder {
    /// The code of `MODE` in layer_normalization.wgsl.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::layers::layer_normalization::LnOrder::Rms.code(), 2);
    /// ```
    pub fn code(self) -> u32 {
        match self {
            LnOrder::Affine => 0,
            LnOrder::TfFused => 1,
            LnOrder::Rms => 2,
        }
    }
}

/// Keras `LayerNormalization`.
///
/// ```
/// use wgpu_lstm::layers::{LayerNormalization, layer_normalization::LnOrder};
/// let ln = LayerNormalization::new(vec![-1], 1e-3, None, None, LnOrder::Affine).unwrap();
/// assert_eq!(ln.epsilon, 1e-3);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LayerNormalization {
    /// The normalised axes as Keras gives them: a contiguous block ending at the last axis.
    pub axes: Vec<i64>,
    /// Added to the variance.
    pub epsilon: f32,
    /// Scale per normalised element (the shape of the normalised axes), if any.
    pub gamma: Option<ArrayD<f32>>,
    /// Offset per normalised element, if any.
    pub beta: Option<ArrayD<f32>>,
    /// The float order.
    pub order: LnOrder,
}

impl LayerNormalization {
    /// Checks that gamma and beta have the same size.
    ///
    /// ```
    /// use wgpu_lstm::layers::{LayerNormalization, layer_normalization::LnOrder};
    /// let g = Some(ndarray::ArrayD::ones(vec![3]));
    /// let b = Some(ndarray::ArrayD::zeros(vec![4]));
    /// assert!(LayerNormalization::new(vec![-1], 1e-3, g, b, LnOrder::Affine).is_err());
    /// ```
    pub fn new(
        axes: Vec<i64>,
        epsilon: f32,
        gamma: Option<ArrayD<f32>>,
        beta: Option<ArrayD<f32>>,
        order: LnOrder,
    ) -> Result<Self> {
        if axes.is_empty() {
            return Err(Error::config("axis", "at least one axis"));
        }
        if let (Some(g), Some(b)) = (&gamma, &beta)
            && g.shape() != b.shape()
        {
            return Err(Error::shape(
                "beta",
                format!("{:?} like gamma", g.shape()),
                b.shape(),
            ));
        }
        Ok(LayerNormalization {
            axes,
            epsilon,
            gamma,
            beta,
            order,
        })
    }

    /// From a Keras config (`axis`, `epsilon`, `center`, `scale`, Keras 3's `rms_scaling`)
    /// and the weights `gamma` (if scale or rms_scaling) and `beta` (if center and not
    /// rms_scaling).
    ///
    /// ```
    /// use wgpu_lstm::{layers::{LayerNormalization, layer_normalization::LnOrder}, KerasFlavour};
    /// let cfg = serde_json::json!({"axis": -1, "epsilon": 0.001, "center": false, "scale": false});
    /// let ln = LayerNormalization::from_keras(&cfg, &[], KerasFlavour::Keras2).unwrap();
    /// assert_eq!(ln.order, LnOrder::TfFused);
    /// let ln3 = LayerNormalization::from_keras(&cfg, &[], KerasFlavour::Keras3).unwrap();
    /// assert_eq!(ln3.order, LnOrder::Affine);
    /// ```
    pub fn from_keras(
        cfg: &Json,
        weights: &[(String, ArrayD<f32>)],
        flavour: KerasFlavour,
    ) -> Result<Self> {
        let axes = keras_args::int_list(cfg, "axis")?.unwrap_or_else(|| vec![-1]);
        let epsilon = keras_args::number(cfg, "epsilon", 1e-3)?;
        let rms = keras_args::boolean(cfg, "rms_scaling", false)?;
        let scale = keras_args::boolean(cfg, "scale", true)?;
        let center = keras_args::boolean(cfg, "center", true)?;
        let gamma = if scale || rms {
            Some(keras_args::require(weights, "gamma")?.clone())
        } else {
            None
        };
        let beta = if center && !rms {
            Some(keras_args::require(weights, "beta")?.clone())
        } else {
            None
        };
        let order = if rms {
            LnOrder::Rms
        } else if flavour == KerasFlavour::Keras2 && epsilon >= 1.001e-5 {
            LnOrder::TfFused
        } else {
            LnOrder::Affine
        };
        LayerNormalization::new(axes, epsilon as f32, gamma, beta, order)
    }

    /// The first normalised axis for an input of `rank` (batch included): the axes must be
    /// a contiguous block ending at the last one.
    pub(crate) fn first_axis(&self, rank: usize) -> Result<usize> {
        let mut axes = self
            .axes
            .iter()
            .map(|&a| keras_args::resolve_axis(a, rank))
            .collect::<Result<Vec<_>>>()?;
        axes.sort_unstable();
        axes.dedup();
        let first = axes[0];
        if axes.len() != self.axes.len()
            || axes.iter().enumerate().any(|(i, &a)| a != first + i)
            || axes[axes.len() - 1] != rank - 1
        {
            return Err(Error::Unsupported(format!(
                "LayerNormalization over axes {:?} of a rank-{rank} input: only a contiguous \
                 block of trailing axes",
                self.axes
            )));
        }
        Ok(first)
    }

    /// Normalises rows of `n` features in place (the CPU twin of
    /// `shaders/layer_normalization.wgsl`). The mean and the variance are float32 sums in
    /// TensorFlow's CPU order ([`tf_sum`]), so ill-conditioned rows (a large mean, a small
    /// spread) round as Keras does; then the layer's float order in f32.
    ///
    /// ```
    /// use wgpu_lstm::layers::{LayerNormalization, layer_normalization::LnOrder};
    /// let ln = LayerNormalization::new(vec![-1], 0.0, None, None, LnOrder::Affine).unwrap();
    /// let mut x = vec![1.0f32, 3.0];
    /// ln.normalize_rows(&mut x, 2);
    /// assert_eq!(x, vec![-1.0, 1.0]);
    /// ```
    pub fn normalize_rows(&self, data: &mut [f32], n: usize) {
        let ones = |a: &Option<ArrayD<f32>>, v: f32| -> Vec<f32> {
            a.as_ref()
                .map_or_else(|| vec![v; n], |a| a.iter().copied().collect())
        };
        let (g, b) = (ones(&self.gamma, 1.0), ones(&self.beta, 0.0));
        // tf_keras's fused kernel adds in order; tf.nn.moments reduces in packets
        let lanes = self.order != LnOrder::TfFused;
        let mut sq = vec![0.0f32; n];
        for row in data.chunks_mut(n.max(1)) {
            let mean = tf_sum(row, lanes) / n as f32;
            for (s, &v) in sq.iter_mut().zip(row.iter()) {
                let d = v - mean;
                *s = d * d;
            }
            let var = tf_sum(&sq[..row.len()], lanes) / n as f32;
            let r = 1.0f32 / (var + self.epsilon).sqrt();
            for (j, v) in row.iter_mut().enumerate() {
                *v = match self.order {
                    LnOrder::Affine => {
                        let inv = r * g[j];
                        *v * inv + (b[j] - mean * inv)
                    }
                    LnOrder::TfFused => ((*v - mean) * r) * g[j] + b[j],
                    LnOrder::Rms => (*v * r) * g[j],
                };
            }
        }
    }
}

/// A float32 sum in TensorFlow's CPU order: in sequence (`lanes = false`: the fused
/// batch-norm kernel tf_keras's LayerNormalization uses), or in 16 interleaved lanes halved
/// pairwise, then the tail in sequence (`lanes = true`: Eigen's packet reduction of
/// `tf.nn.moments` on AVX-512). Checked bit for bit on the Keras fixtures, where summation
/// order decides the last bits of ill-conditioned rows (tests/fixtures/layers/ln_offset_*).
///
/// ```
/// use wgpu_lstm::layers::layer_normalization::tf_sum;
/// let v: Vec<f32> = (1..=20).map(|i| i as f32).collect();
/// assert_eq!(tf_sum(&v, true), 210.0);
/// assert_eq!(tf_sum(&v, false), 210.0);
/// ```
pub fn tf_sum(v: &[f32], lanes: bool) -> f32 {
    if !lanes {
        return v.iter().fold(0.0, |s, &x| s + x);
    }
    let mut acc = [0.0f32; 16];
    let whole = v.len() / 16 * 16;
    for chunk in v[..whole].chunks_exact(16) {
        for (a, &x) in acc.iter_mut().zip(chunk) {
            *a += x;
        }
    }
    let mut w = 16;
    while w > 1 {
        w /= 2;
        for i in 0..w {
            acc[i] += acc[i + w];
        }
    }
    acc[0] + v[whole..].iter().fold(0.0, |s, &x| s + x)
}

impl LayerOps for LayerNormalization {
    fn class_name(&self) -> &'static str {
        "LayerNormalization"
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = one(inputs)?;
        let first = self.first_axis(x.rank())?;
        let dims: Vec<Option<usize>> = x.shape[first - 1..].to_vec();
        let known: Option<Vec<usize>> = dims.iter().copied().collect();
        let Some(known) = known else {
            return Err(Error::config(
                "input shape",
                format!(
                    "the normalised axes of {} must be known",
                    x.keras_shape(None)
                ),
            ));
        };
        for (name, w) in [("gamma", &self.gamma), ("beta", &self.beta)] {
            if let Some(w) = w {
                let n: usize = known.iter().product();
                // Keras's shape is the normalised axes'; a flat vector of the same size is
                // accepted too (the layer reads it row-major)
                if w.shape() != known.as_slice() && !(w.ndim() == 1 && w.len() == n) {
                    return Err(Error::shape(name, format!("{known:?}"), w.shape()));
                }
            }
        }
        Ok(vec![x.clone()])
    }

    fn param_count(&self) -> usize {
        self.gamma.as_ref().map_or(0, |g| g.len()) + self.beta.as_ref().map_or(0, |b| b.len())
    }

    fn detail(&self) -> String {
        let order = match self.order {
            LnOrder::Affine => "",
            LnOrder::TfFused => " (tf_keras fused)",
            LnOrder::Rms => " rms_scaling",
        };
        format!("axis={:?} epsilon={}{order}", self.axes, self.epsilon)
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let x = inputs[0];
        let first = self.first_axis(x.data.ndim())?;
        let n: usize = x.data.shape()[first..].iter().product();
        let mut y = x.data.as_standard_layout().into_owned();
        let data = y
            .as_slice_mut()
            .ok_or_else(|| Error::shape("LayerNormalization input", "contiguous", &[]))?;
        self.normalize_rows(data, n);
        Ok(vec![Value::new(y).masked(x.mask.clone())])
    }
}

/// gamma or beta as the flat vector the GPU reads (`fill` where absent).
pub(crate) fn flat_or(a: &Option<ArrayD<f32>>, n: usize, fill: f32) -> Array1<f32> {
    a.as_ref().map_or_else(
        || Array1::from_elem(n, fill),
        |a| a.iter().copied().collect(),
    )
}
