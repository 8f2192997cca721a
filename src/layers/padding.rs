//! Keras `ZeroPadding1D(padding)` and `Cropping1D(cropping)` on the time axis: zeros added
//! before and after, or steps cut from both ends; `padding` / `cropping` an int (both ends)
//! or (left, right).
//!
//! * `ZeroPadding1D` also takes `data_format` in Keras 3 (`channels_first` pads axis 2);
//!   tf_keras has no such argument (always axis 1).
//! * `Cropping1D` always crops axis 1 (neither version has `data_format`); cropping all the
//!   steps (left + right ≥ T) is an error, as in Keras.
//!
//! Mask: neither layer supports masking in either version; the mask is dropped (Keras 3
//! warns, tf_keras is silent).
//!
//! GPU: `gpu/ops/padding.rs`, `shaders/padding.wgsl`.

use ndarray::{Array3, ArrayView3, s};
use serde_json::Value as Json;

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};

use super::conv1d::{DataFormat, int_tuple, sequence_axes, three_d};
use super::{LayerOps, one};

/// Keras `ZeroPadding1D`.
///
/// ```
/// use wgpu_lstm::layers::ZeroPadding1D;
/// let z = ZeroPadding1D::from_keras(&serde_json::json!({"padding": 2})).unwrap();
/// assert_eq!((z.left, z.right), (2, 2));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ZeroPadding1D {
    /// Zero steps before.
    pub left: usize,
    /// Zero steps after.
    pub right: usize,
    /// Which axis is time (Keras 3 only; tf_keras is always `channels_last`).
    pub data_format: DataFormat,
}

impl ZeroPadding1D {
    /// From a Keras config (`padding`: int or (left, right), default 1; `data_format`).
    ///
    /// ```
    /// use wgpu_lstm::layers::ZeroPadding1D;
    /// let z = ZeroPadding1D::from_keras(&serde_json::json!({"padding": [1, 0]})).unwrap();
    /// assert_eq!((z.left, z.right), (1, 0));
    /// assert!(ZeroPadding1D::from_keras(&serde_json::json!({"padding": [1, 2, 3]})).is_err());
    /// ```
    pub fn from_keras(cfg: &Json) -> Result<Self> {
        let p = int_tuple(cfg, "padding", 2, Some(&[1, 1]))?;
        Ok(ZeroPadding1D {
            left: p[0],
            right: p[1],
            data_format: DataFormat::from_config(cfg)?,
        })
    }
}

/// Keras `Cropping1D`.
///
/// ```
/// use wgpu_lstm::layers::Cropping1D;
/// let c = Cropping1D::from_keras(&serde_json::json!({})).unwrap();
/// assert_eq!((c.left, c.right), (1, 1));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cropping1D {
    /// Steps cut at the start.
    pub left: usize,
    /// Steps cut at the end.
    pub right: usize,
}

impl Cropping1D {
    /// From a Keras config (`cropping`: int or (left, right), default (1, 1)).
    ///
    /// ```
    /// use wgpu_lstm::layers::Cropping1D;
    /// let c = Cropping1D::from_keras(&serde_json::json!({"cropping": 3})).unwrap();
    /// assert_eq!((c.left, c.right), (3, 3));
    /// ```
    pub fn from_keras(cfg: &Json) -> Result<Self> {
        let c = int_tuple(cfg, "cropping", 2, Some(&[1, 1]))?;
        Ok(Cropping1D {
            left: c[0],
            right: c[1],
        })
    }

    /// Output steps for `t` input steps, or the error Keras raises.
    ///
    /// ```
    /// use wgpu_lstm::layers::Cropping1D;
    /// let c = Cropping1D { left: 1, right: 2 };
    /// assert_eq!(c.output_steps(5).unwrap(), 2);
    /// assert!(c.output_steps(3).is_err());
    /// ```
    pub fn output_steps(&self, t: usize) -> Result<usize> {
        t.checked_sub(self.left)
            .and_then(|r| r.checked_sub(self.right))
            .filter(|&l| l > 0)
            .ok_or_else(|| {
                Error::config(
                    "cropping",
                    format!(
                        "({}, {}) must leave at least one of the {t} steps",
                        self.left, self.right
                    ),
                )
            })
    }
}

/// `y[b, l, c] = x[b, l − shift, c]` where that step exists, else 0, for a (B, A1, A2) input
/// shifted along `axis` (2, else 1) to `len` steps: zero padding with `shift = left`,
/// cropping with `shift = −left`; an error when the result would be too large an array.
///
/// Twin of `shaders/padding.wgsl`.
///
/// ```
/// use ndarray::array;
/// use wgpu_lstm::layers::padding::shift_steps;
/// let x = array![[[1.0f32], [2.0]]];
/// let pad = shift_steps(x.view(), 1, 1, 4).unwrap();
/// assert_eq!(pad.into_raw_vec_and_offset().0, vec![0.0, 1.0, 2.0, 0.0]);
/// let crop = shift_steps(x.view(), 1, -1, 1).unwrap();
/// assert_eq!(crop.into_raw_vec_and_offset().0, vec![2.0]);
/// assert!(shift_steps(x.view(), 1, 0, usize::MAX).is_err());
/// ```
pub fn shift_steps(
    x: ArrayView3<'_, f32>,
    axis: usize,
    shift: isize,
    len: usize,
) -> Result<Array3<f32>> {
    let (b, a1, a2) = x.dim();
    let (t, shape, other) = if axis == 2 {
        (a2, (b, a1, len), a1)
    } else {
        (a1, (b, len, a2), a2)
    };
    b.checked_mul(len)
        .and_then(|v| v.checked_mul(other))
        .filter(|&n| n <= isize::MAX as usize / 4)
        .ok_or_else(|| {
            Error::config(
                "padding",
                format!("{len} steps of {b} × {other} make too large an array"),
            )
        })?;
    let mut y = Array3::<f32>::zeros(shape);
    // output steps [o0, o1) read input steps [o0 - shift, o1 - shift)
    let (t, len, shift) = (t as i128, len as i128, shift as i128);
    let o0 = shift.clamp(0, len);
    let o1 = (t + shift).clamp(0, len);
    if o1 > o0 {
        let (o0, o1, i0) = (o0 as usize, o1 as usize, (o0 - shift) as usize);
        let i1 = i0 + (o1 - o0);
        if axis == 2 {
            y.slice_mut(s![.., .., o0..o1])
                .assign(&x.slice(s![.., .., i0..i1]));
        } else {
            y.slice_mut(s![.., o0..o1, ..])
                .assign(&x.slice(s![.., i0..i1, ..]));
        }
    }
    Ok(y)
}

impl LayerOps for ZeroPadding1D {
    fn class_name(&self) -> &'static str {
        "ZeroPadding1D"
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = one(inputs)?;
        let (a1, a2) = sequence_axes(x, "ZeroPadding1D")?;
        let (t, c) = self.data_format.steps_channels(a1, a2);
        let l = match t {
            Some(t) => Some(
                t.checked_add(self.left)
                    .and_then(|v| v.checked_add(self.right))
                    .ok_or_else(|| Error::config("padding", "the padded length overflows"))?,
            ),
            None => None,
        };
        let (b1, b2) = self.data_format.axes(l, c);
        Ok(vec![TensorInfo::f32(vec![b1, b2])])
    }

    fn detail(&self) -> String {
        let mut s = format!("padding=({}, {})", self.left, self.right);
        if self.data_format != DataFormat::ChannelsLast {
            s.push_str(&format!(" data_format={}", self.data_format.name()));
        }
        s
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let x = three_d(&inputs[0].data, "ZeroPadding1D")?;
        let axis = match self.data_format {
            DataFormat::ChannelsLast => 1,
            DataFormat::ChannelsFirst => 2,
        };
        let t = x.shape()[axis];
        let too_long = || Error::config("padding", "the padded length overflows");
        let len = t
            .checked_add(self.left)
            .and_then(|v| v.checked_add(self.right))
            .ok_or_else(too_long)?;
        let shift = isize::try_from(self.left).map_err(|_| too_long())?;
        let y = shift_steps(x, axis, shift, len)?;
        Ok(vec![Value::new(y.into_dyn())])
    }
}

impl LayerOps for Cropping1D {
    fn class_name(&self) -> &'static str {
        "Cropping1D"
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = one(inputs)?;
        let (t, c) = sequence_axes(x, "Cropping1D")?;
        let l = t.map(|t| self.output_steps(t)).transpose()?;
        Ok(vec![TensorInfo::f32(vec![l, c])])
    }

    fn detail(&self) -> String {
        format!("cropping=({}, {})", self.left, self.right)
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let x = three_d(&inputs[0].data, "Cropping1D")?;
        let len = self.output_steps(x.dim().1)?;
        // left < T here, so it fits an isize
        let y = shift_steps(x, 1, -(self.left as isize), len)?;
        Ok(vec![Value::new(y.into_dyn())])
    }
}
