//! Keras `MaxPooling1D` and `AveragePooling1D(pool_size, strides, padding, data_format)`:
//! the max or the mean of each window of `pool_size` steps, windows `strides` apart
//! (`strides` defaults to `pool_size`), per channel, as `tf.nn.max_pool` / `avg_pool`
//! compute them in both Keras versions:
//!
//! * output length: `valid` ⌊(T − pool_size) / s⌋ + 1 (an error when ≤ 0), `same`
//!   ⌊(T − 1) / s⌋ + 1, with the `same` padding split as Conv1D's (left gets the smaller
//!   half);
//! * the padding takes no part: a `same` max is over the window's real steps, and a `same`
//!   average divides by the number of real steps in the window (`[1, 2, 3]`, pool 2, `same`
//!   → `[1.5, 3]`);
//! * a max starts from the lowest finite float and takes a value only when it is greater, as
//!   TensorFlow's max pool does: NaN is skipped, and a window of only NaN or −inf gives
//!   −3.4028235e38 (an average sums, so NaN and inf reach it).
//!
//! Mask: neither layer supports masking in either version; the mask is dropped (Keras 3
//! warns, tf_keras is silent).
//!
//! GPU: `gpu/ops/pooling.rs`, `shaders/pooling.wgsl`.

use ndarray::{Array3, ArrayView3};
use serde_json::Value as Json;

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};

use super::conv1d::{
    ConvPadding, DataFormat, int_tuple, padding_name, sequence_axes, three_d, window_geometry,
};
use super::{LayerOps, one};

/// What a pooling layer computes over its window.
///
/// ```
/// assert_eq!(wgpu_lstm::layers::pooling::PoolMode::Average.code(), 1);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum PoolMode {
    /// The maximum.
    #[default]
    Max,
    /// The mean.
    Average,
}

impl PoolMode {
    /// The kernels' `MODE` code: 0 max, 1 average.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::layers::pooling::PoolMode::Max.code(), 0);
    /// ```
    pub fn code(self) -> u32 {
        match self {
            PoolMode::Max => 0,
            PoolMode::Average => 1,
        }
    }
}

/// Keras `MaxPooling1D` / `AveragePooling1D`.
///
/// ```
/// use wgpu_lstm::layers::{pooling::PoolMode, Pooling1D};
/// let p = Pooling1D::new(PoolMode::Average, 3);
/// assert_eq!((p.pool_size, p.strides), (3, 3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pooling1D {
    /// Max or average.
    pub mode: PoolMode,
    /// Window size (≥ 1).
    pub pool_size: usize,
    /// Step between windows (≥ 1).
    pub strides: usize,
    /// `valid` or `same` (`causal` is Conv1D's only).
    pub padding: ConvPadding,
    /// Which axis is time.
    pub data_format: DataFormat,
}

impl Pooling1D {
    /// A `valid`, `channels_last` pooling with `strides = pool_size` (Keras's defaults).
    ///
    /// ```
    /// use wgpu_lstm::layers::{pooling::PoolMode, Pooling1D};
    /// assert_eq!(Pooling1D::new(PoolMode::Max, 2).strides, 2);
    /// ```
    pub fn new(mode: PoolMode, pool_size: usize) -> Self {
        Pooling1D {
            mode,
            pool_size,
            strides: pool_size,
            padding: ConvPadding::Valid,
            data_format: DataFormat::ChannelsLast,
        }
    }

    /// From a Keras config (`pool_size`, `strides` (null = `pool_size`), `padding`,
    /// `data_format`).
    ///
    /// ```
    /// use wgpu_lstm::layers::{conv1d::ConvPadding, pooling::PoolMode, Pooling1D};
    /// let cfg = serde_json::json!({"pool_size": [3], "strides": null, "padding": "same"});
    /// let p = Pooling1D::from_keras(PoolMode::Max, &cfg).unwrap();
    /// assert_eq!((p.pool_size, p.strides, p.padding), (3, 3, ConvPadding::Same));
    /// assert!(Pooling1D::from_keras(PoolMode::Max, &serde_json::json!({"pool_size": 2, "padding": "causal"})).is_err());
    /// ```
    pub fn from_keras(mode: PoolMode, cfg: &Json) -> Result<Self> {
        let pool_size = int_tuple(cfg, "pool_size", 1, Some(&[2]))?[0];
        let strides = int_tuple(cfg, "strides", 1, Some(&[pool_size]))?[0];
        let padding = match padding_name(cfg, &["valid", "same"])? {
            "same" => ConvPadding::Same,
            _ => ConvPadding::Valid,
        };
        let p = Pooling1D {
            mode,
            pool_size,
            strides,
            padding,
            data_format: DataFormat::from_config(cfg)?,
        };
        p.check()?;
        Ok(p)
    }

    fn check(&self) -> Result<()> {
        if self.pool_size == 0 {
            return Err(Error::config("pool_size", "must be at least 1, got 0"));
        }
        if self.strides == 0 {
            return Err(Error::config("strides", "must be at least 1, got 0"));
        }
        if self.padding == ConvPadding::Causal {
            return Err(Error::config(
                "padding",
                "must be \"valid\" or \"same\" for pooling, got \"causal\"",
            ));
        }
        Ok(())
    }

    /// Output steps and left padding for `t` input steps.
    ///
    /// ```
    /// use wgpu_lstm::layers::{conv1d::ConvPadding, pooling::PoolMode, Pooling1D};
    /// let p = Pooling1D { padding: ConvPadding::Same, ..Pooling1D::new(PoolMode::Max, 2) };
    /// assert_eq!(p.geometry(3).unwrap(), (2, 0));
    /// assert!(Pooling1D::new(PoolMode::Max, 4).geometry(3).is_err());
    /// ```
    pub fn geometry(&self, t: usize) -> Result<(usize, usize)> {
        window_geometry(t, self.pool_size, self.strides, 1, self.padding).ok_or_else(|| {
            Error::config(
                "pool_size",
                format!(
                    "a window of {} does not fit {t} steps with padding \"{}\": the output \
                     would be empty",
                    self.pool_size,
                    self.padding.name()
                ),
            )
        })
    }
}

/// The pooled (B, A1, A2) input in `p.data_format`, or an error when the configuration or
/// the input's length do not fit.
///
/// Twin of `shaders/pooling.wgsl`.
///
/// ```
/// use ndarray::array;
/// use wgpu_lstm::layers::{conv1d::ConvPadding, pooling::{pool1d, PoolMode}, Pooling1D};
/// let p = Pooling1D { padding: ConvPadding::Same, ..Pooling1D::new(PoolMode::Average, 2) };
/// let y = pool1d(&p, array![[[1.0f32], [2.0], [3.0]]].view()).unwrap();
/// assert_eq!(y.into_raw_vec_and_offset().0, vec![1.5, 3.0]);
/// assert!(pool1d(&Pooling1D::new(PoolMode::Max, 4), array![[[1.0f32], [2.0]]].view()).is_err());
/// ```
pub fn pool1d(p: &Pooling1D, x: ArrayView3<'_, f32>) -> Result<Array3<f32>> {
    p.check()?;
    let x = p.data_format.to_channels_last(x);
    let (b, t, c) = x.dim();
    let (l, pad) = p.geometry(t)?;
    let mut y = Array3::<f32>::zeros((b, l, c));
    for bi in 0..b {
        for li in 0..l {
            // the window's real steps [lo, hi)
            let start = li * p.strides;
            let lo = start.max(pad) - pad;
            let hi = start
                .saturating_add(p.pool_size)
                .min(t + pad)
                .saturating_sub(pad)
                .max(lo);
            for ci in 0..c {
                let vals = (lo..hi).map(|ti| x[[bi, ti, ci]]);
                y[[bi, li, ci]] = match p.mode {
                    // tf.nn.max_pool: start from the lowest finite value, take v where
                    // v > max (so NaN and -inf never win)
                    PoolMode::Max => vals.fold(f32::MIN, |m, v| if v > m { v } else { m }),
                    PoolMode::Average => vals.sum::<f32>() / (hi - lo) as f32,
                };
            }
        }
    }
    Ok(p.data_format.from_channels_last(y))
}

impl LayerOps for Pooling1D {
    fn class_name(&self) -> &'static str {
        match self.mode {
            PoolMode::Max => "MaxPooling1D",
            PoolMode::Average => "AveragePooling1D",
        }
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = one(inputs)?;
        self.check()?;
        let (a1, a2) = sequence_axes(x, self.class_name())?;
        let (t, c) = self.data_format.steps_channels(a1, a2);
        let l = t.map(|t| self.geometry(t).map(|g| g.0)).transpose()?;
        let (b1, b2) = self.data_format.axes(l, c);
        Ok(vec![TensorInfo::f32(vec![b1, b2])])
    }

    fn detail(&self) -> String {
        let mut s = format!(
            "pool_size={} strides={} padding={}",
            self.pool_size,
            self.strides,
            self.padding.name()
        );
        if self.data_format != DataFormat::ChannelsLast {
            s.push_str(&format!(" data_format={}", self.data_format.name()));
        }
        s
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let x = three_d(&inputs[0].data, self.class_name())?;
        Ok(vec![Value::new(pool1d(self, x)?.into_dyn())])
    }
}
