//! Keras `GlobalMaxPooling1D` and `GlobalAveragePooling1D(data_format, keepdims)`: the max
//! or the mean over the whole time axis, per channel; (B, C), or (B, 1, C) / (B, C, 1) with
//! `keepdims`.
//!
//! Masks (both versions; checked against Keras with the real-Keras layer fixtures):
//!
//! * `GlobalAveragePooling1D` reads its input's mask: Σ x·m / Σ m over the valid steps, so a
//!   fully masked row gives 0 / 0 = NaN, as in Keras. How a masked step is left out differs:
//!   Keras 3 selects (`where(mask, x, 0)`: a NaN or ±inf at a masked step is ignored),
//!   tf_keras multiplies (`x * mask`: NaN · 0 and inf · 0 are NaN, so they reach the mean).
//!   The layer keeps the flavour that built it ([`GlobalPooling1D::flavour`]). A masked
//!   `channels_first` input is refused: Keras would broadcast the (B, channels) mask against
//!   the steps, which is not a mask over time.
//! * `GlobalMaxPooling1D` ignores the mask: masked steps take part in the max (a NaN
//!   anywhere gives NaN, as `reduce_max` does — unlike MaxPooling1D, which skips NaN).
//! * Neither passes a mask on (their output has no time axis).
//!
//! GPU: `gpu/ops/global_pooling.rs`, `shaders/global_pooling.wgsl`.

use ndarray::{Array2, ArrayView2, ArrayView3, Axis};
use serde_json::Value as Json;

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};

use super::conv1d::{DataFormat, sequence_axes, three_d};
use super::pooling::PoolMode;
use super::{LayerOps, one};

/// Keras `GlobalMaxPooling1D` / `GlobalAveragePooling1D`.
///
/// ```
/// use wgpu_lstm::layers::{pooling::PoolMode, GlobalPooling1D};
/// let g = GlobalPooling1D::new(PoolMode::Average);
/// assert!(!g.keepdims);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalPooling1D {
    /// Max or average.
    pub mode: PoolMode,
    /// Keep the time axis as size 1.
    pub keepdims: bool,
    /// Which axis is time.
    pub data_format: DataFormat,
    /// Which Keras's arithmetic leaves masked steps out of an average (see the module docs).
    pub flavour: KerasFlavour,
}

impl GlobalPooling1D {
    /// Over `channels_last` input, without `keepdims`, as Keras 3 computes it.
    ///
    /// ```
    /// use wgpu_lstm::layers::{pooling::PoolMode, GlobalPooling1D};
    /// assert_eq!(GlobalPooling1D::new(PoolMode::Max).flavour, wgpu_lstm::KerasFlavour::Keras3);
    /// ```
    pub fn new(mode: PoolMode) -> Self {
        GlobalPooling1D {
            mode,
            keepdims: false,
            data_format: DataFormat::ChannelsLast,
            flavour: KerasFlavour::Keras3,
        }
    }

    /// From a Keras config (`data_format`, `keepdims`) saved by `flavour`.
    ///
    /// ```
    /// use wgpu_lstm::layers::{pooling::PoolMode, GlobalPooling1D};
    /// use wgpu_lstm::KerasFlavour;
    /// let cfg = serde_json::json!({"keepdims": true, "data_format": "channels_last"});
    /// let g = GlobalPooling1D::from_keras(PoolMode::Max, &cfg, KerasFlavour::Keras2).unwrap();
    /// assert!(g.keepdims);
    /// assert!(GlobalPooling1D::from_keras(PoolMode::Max, &serde_json::json!({"keepdims": 1}), KerasFlavour::Keras2).is_err());
    /// ```
    pub fn from_keras(mode: PoolMode, cfg: &Json, flavour: KerasFlavour) -> Result<Self> {
        let keepdims = match cfg.get("keepdims") {
            None | Some(Json::Null) => false,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| Error::config("keepdims", format!("must be a bool, got {v}")))?,
        };
        Ok(GlobalPooling1D {
            mode,
            keepdims,
            data_format: DataFormat::from_config(cfg)?,
            flavour,
        })
    }
}

/// The pooled (B, A1, A2) input in `g.data_format`, as (B, C) (the caller adds a `keepdims`
/// axis), with the optional (B, steps) mask for an average (a max ignores it), or an error
/// for an empty time axis or a mask that does not fit.
///
/// Twin of `shaders/global_pooling.wgsl`.
///
/// ```
/// use ndarray::array;
/// use wgpu_lstm::layers::{global_pooling::global_pool1d, pooling::PoolMode, GlobalPooling1D};
/// let x = array![[[1.0f32], [5.0], [3.0]]];
/// let m = array![[true, false, true]];
/// let avg = GlobalPooling1D::new(PoolMode::Average);
/// assert_eq!(global_pool1d(&avg, x.view(), Some(m.view())).unwrap()[[0, 0]], 2.0);
/// let max = GlobalPooling1D::new(PoolMode::Max);
/// assert_eq!(global_pool1d(&max, x.view(), Some(m.view())).unwrap()[[0, 0]], 5.0);
/// assert!(global_pool1d(&avg, x.view(), Some(array![[true]].view())).is_err());
/// ```
pub fn global_pool1d(
    g: &GlobalPooling1D,
    x: ArrayView3<'_, f32>,
    mask: Option<ArrayView2<'_, bool>>,
) -> Result<Array2<f32>> {
    let (t, _) = g.data_format.steps_channels(x.dim().1, x.dim().2);
    if t == 0 {
        return Err(Error::shape(
            format!("{} input", g.class_name()),
            "at least one step",
            x.shape(),
        ));
    }
    let mask = if g.mode == PoolMode::Average {
        mask
    } else {
        None
    };
    if let Some(m) = mask
        && (g.data_format == DataFormat::ChannelsFirst || m.dim() != (x.dim().0, t))
    {
        return Err(Error::shape(
            "GlobalAveragePooling1D mask",
            format!("({}, {t}) over a channels_last input", x.dim().0),
            m.shape(),
        ));
    }
    let x = g.data_format.to_channels_last(x);
    let (b, t, c) = x.dim();
    let mut y = Array2::<f32>::zeros((b, c));
    for bi in 0..b {
        for ci in 0..c {
            let col = x.slice(ndarray::s![bi, .., ci]);
            y[[bi, ci]] = match (g.mode, mask) {
                // tf.reduce_max: NaN anywhere gives NaN
                (PoolMode::Max, _) => col.iter().copied().fold(f32::NEG_INFINITY, |m, v| {
                    if m.is_nan() || v.is_nan() {
                        f32::NAN
                    } else {
                        m.max(v)
                    }
                }),
                (PoolMode::Average, None) => col.sum() / t as f32,
                (PoolMode::Average, Some(m)) => {
                    let mut sum = 0.0f32;
                    let mut n = 0.0f32;
                    for (ti, &v) in col.iter().enumerate() {
                        let valid = m[[bi, ti]];
                        match g.flavour {
                            KerasFlavour::Keras3 if valid => sum += v,
                            KerasFlavour::Keras3 => {}
                            KerasFlavour::Keras2 => sum += v * if valid { 1.0 } else { 0.0 },
                        }
                        n += if valid { 1.0 } else { 0.0 };
                    }
                    sum / n
                }
            };
        }
    }
    Ok(y)
}

impl LayerOps for GlobalPooling1D {
    fn class_name(&self) -> &'static str {
        match self.mode {
            PoolMode::Max => "GlobalMaxPooling1D",
            PoolMode::Average => "GlobalAveragePooling1D",
        }
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = one(inputs)?;
        let (a1, a2) = sequence_axes(x, self.class_name())?;
        let (t, c) = self.data_format.steps_channels(a1, a2);
        if t == Some(0) {
            return Err(Error::config(
                "input shape",
                format!("cannot pool over 0 steps: {}", x.keras_shape(None)),
            ));
        }
        if x.masked
            && self.mode == PoolMode::Average
            && self.data_format == DataFormat::ChannelsFirst
        {
            return Err(Error::Unsupported(
                "GlobalAveragePooling1D with data_format=\"channels_first\" on a masked \
                 input: Keras would apply the (batch, channels) mask along the steps"
                    .into(),
            ));
        }
        let shape = if self.keepdims {
            let (b1, b2) = self.data_format.axes(Some(1), c);
            vec![b1, b2]
        } else {
            vec![c]
        };
        Ok(vec![TensorInfo::f32(shape)])
    }

    fn detail(&self) -> String {
        let mut s = format!("keepdims={}", self.keepdims);
        if self.data_format != DataFormat::ChannelsLast {
            s.push_str(&format!(" data_format={}", self.data_format.name()));
        }
        s
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let v = inputs[0];
        let x = three_d(&v.data, self.class_name())?;
        let y = global_pool1d(self, x, v.mask.as_ref().map(|m| m.view()))?;
        let y = if self.keepdims {
            let axis = match self.data_format {
                DataFormat::ChannelsLast => Axis(1),
                DataFormat::ChannelsFirst => Axis(2),
            };
            y.insert_axis(axis).into_dyn()
        } else {
            y.into_dyn()
        };
        Ok(vec![Value::new(y)])
    }
}
