//! Keras `Conv1D(filters, kernel_size, strides, padding, data_format, dilation_rate, groups,
//! activation, use_bias)`: `act(conv(x, kernel) + bias)` over the time axis of a (B, T, C)
//! sequence (`channels_last`) or a (B, C, T) one (`channels_first`), exactly as
//! `tf.nn.convolution` computes it in both Keras versions:
//!
//! * output length: `valid` ⌊(T − d·(k − 1) − 1) / s⌋ + 1 (an error when ≤ 0); `same` and
//!   `causal` ⌊(T − 1) / s⌋ + 1;
//! * padding: `same` pads max((L − 1)·s + d·(k − 1) + 1 − T, 0) zeros, half of them (rounded
//!   down) on the left; `causal` pads d·(k − 1) zeros on the left only (Keras pads, then
//!   convolves `valid`);
//! * `groups`: input channel block g (C / groups channels) feeds filters block g
//!   (filters / groups filters); the kernel is (kernel_size, C / groups, filters);
//! * `strides > 1` together with `dilation_rate > 1` is refused, as Keras refuses it.
//!
//! Mask: Conv1D does not support masking in either version; the mask is dropped (Keras 3
//! warns, tf_keras is silent).
//!
//! This file also holds what the other time-axis layers share: [`DataFormat`] and the Keras
//! config readers for int-or-tuple fields.
//!
//! GPU: `gpu/ops/conv1d.rs`, `shaders/conv1d.wgsl` (and the softmax pass of
//! `shaders/activation_layer.wgsl` for a softmax activation).

use ndarray::{Array1, Array2, Array3, ArrayD, ArrayView3, Ix1, Ix3, s};
use serde_json::Value as Json;

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};

use super::activation_layer::LayerActivation;
use super::{LayerOps, one};

/// Which axis of a (B, A1, A2) sequence is time: Keras's `data_format`.
///
/// ```
/// use wgpu_lstm::layers::conv1d::DataFormat;
/// assert_eq!(DataFormat::ChannelsLast.steps_channels(7, 3), (7, 3));
/// assert_eq!(DataFormat::ChannelsFirst.steps_channels(7, 3), (3, 7));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum DataFormat {
    /// (B, steps, channels), Keras's default.
    #[default]
    ChannelsLast,
    /// (B, channels, steps).
    ChannelsFirst,
}

impl DataFormat {
    /// From a config's `data_format` field: absent or null is `channels_last` (Keras's
    /// default `image_data_format`).
    ///
    /// ```
    /// use wgpu_lstm::layers::conv1d::DataFormat;
    /// let cfg = serde_json::json!({"data_format": "channels_first"});
    /// assert_eq!(DataFormat::from_config(&cfg).unwrap(), DataFormat::ChannelsFirst);
    /// assert!(DataFormat::from_config(&serde_json::json!({"data_format": "NCW"})).is_err());
    /// ```
    pub fn from_config(cfg: &Json) -> Result<Self> {
        match cfg.get("data_format") {
            None | Some(Json::Null) => Ok(DataFormat::ChannelsLast),
            Some(Json::String(s)) => match s.to_ascii_lowercase().as_str() {
                "channels_last" => Ok(DataFormat::ChannelsLast),
                "channels_first" => Ok(DataFormat::ChannelsFirst),
                _ => Err(Error::config(
                    "data_format",
                    format!("must be \"channels_last\" or \"channels_first\", got \"{s}\""),
                )),
            },
            Some(other) => Err(Error::config(
                "data_format",
                format!("must be a string, got {other}"),
            )),
        }
    }

    /// Keras's spelling.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::layers::conv1d::DataFormat::ChannelsFirst.name(), "channels_first");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            DataFormat::ChannelsLast => "channels_last",
            DataFormat::ChannelsFirst => "channels_first",
        }
    }

    /// (steps, channels) of a tensor whose two axes after the batch are (a1, a2).
    ///
    /// ```
    /// use wgpu_lstm::layers::conv1d::DataFormat;
    /// assert_eq!(DataFormat::ChannelsFirst.steps_channels(4, 9), (9, 4));
    /// ```
    pub fn steps_channels<T>(self, a1: T, a2: T) -> (T, T) {
        match self {
            DataFormat::ChannelsLast => (a1, a2),
            DataFormat::ChannelsFirst => (a2, a1),
        }
    }

    /// The two axes after the batch of a tensor of `steps` × `channels` in this format.
    ///
    /// ```
    /// use wgpu_lstm::layers::conv1d::DataFormat;
    /// assert_eq!(DataFormat::ChannelsFirst.axes(9, 4), (4, 9));
    /// ```
    pub fn axes<T>(self, steps: T, channels: T) -> (T, T) {
        match self {
            DataFormat::ChannelsLast => (steps, channels),
            DataFormat::ChannelsFirst => (channels, steps),
        }
    }

    /// Element strides (time, channel) inside one batch row of `steps` × `channels`.
    ///
    /// ```
    /// use wgpu_lstm::layers::conv1d::DataFormat;
    /// assert_eq!(DataFormat::ChannelsLast.strides(5, 3), (3, 1));
    /// assert_eq!(DataFormat::ChannelsFirst.strides(5, 3), (1, 5));
    /// ```
    pub fn strides(self, steps: usize, channels: usize) -> (usize, usize) {
        match self {
            DataFormat::ChannelsLast => (channels, 1),
            DataFormat::ChannelsFirst => (1, steps),
        }
    }

    /// A (B, A1, A2) array in this format as (B, steps, channels), standard layout.
    ///
    /// ```
    /// use wgpu_lstm::layers::conv1d::DataFormat;
    /// let x = ndarray::Array3::<f32>::zeros((2, 4, 9));
    /// assert_eq!(DataFormat::ChannelsFirst.to_channels_last(x.view()).dim(), (2, 9, 4));
    /// ```
    pub fn to_channels_last(self, x: ArrayView3<'_, f32>) -> Array3<f32> {
        match self {
            DataFormat::ChannelsLast => x.as_standard_layout().into_owned(),
            DataFormat::ChannelsFirst => {
                x.permuted_axes([0, 2, 1]).as_standard_layout().into_owned()
            }
        }
    }

    /// A (B, steps, channels) array put into this format, standard layout.
    ///
    /// ```
    /// use wgpu_lstm::layers::conv1d::DataFormat;
    /// let x = ndarray::Array3::<f32>::zeros((2, 9, 4));
    /// assert_eq!(DataFormat::ChannelsFirst.from_channels_last(x).dim(), (2, 4, 9));
    /// ```
    pub fn from_channels_last(self, x: Array3<f32>) -> Array3<f32> {
        match self {
            DataFormat::ChannelsLast => x,
            DataFormat::ChannelsFirst => {
                x.permuted_axes([0, 2, 1]).as_standard_layout().into_owned()
            }
        }
    }
}

/// A non-negative integer field given as an int or a list of `n` ints (Keras writes tuples
/// as lists): `kernel_size: [3]`, `padding: [1, 2]`, `padding: 2` (→ `[2, 2]`).
///
/// ```
/// use wgpu_lstm::layers::conv1d::int_tuple;
/// let cfg = serde_json::json!({"padding": 2, "cropping": [1, 0]});
/// assert_eq!(int_tuple(&cfg, "padding", 2, None).unwrap(), vec![2, 2]);
/// assert_eq!(int_tuple(&cfg, "cropping", 2, None).unwrap(), vec![1, 0]);
/// assert_eq!(int_tuple(&cfg, "strides", 1, Some(&[1])).unwrap(), vec![1]);
/// assert!(int_tuple(&cfg, "kernel_size", 1, None).is_err());
/// assert!(int_tuple(&serde_json::json!({"p": [1, -2]}), "p", 2, None).is_err());
/// ```
pub fn int_tuple(
    cfg: &Json,
    field: &str,
    n: usize,
    default: Option<&[usize]>,
) -> Result<Vec<usize>> {
    let as_int = |v: &Json| -> Result<usize> {
        v.as_u64()
            .and_then(|u| usize::try_from(u).ok())
            .ok_or_else(|| Error::config(field, format!("must be a non-negative integer, got {v}")))
    };
    match cfg.get(field) {
        None | Some(Json::Null) => default
            .map(<[usize]>::to_vec)
            .ok_or_else(|| Error::config(field, "is missing")),
        Some(Json::Array(a)) => {
            if a.len() != n {
                return Err(Error::config(
                    field,
                    format!("must hold {n} integer(s), got {}", Json::Array(a.clone())),
                ));
            }
            a.iter().map(as_int).collect()
        }
        Some(v) => Ok(vec![as_int(v)?; n]),
    }
}

/// One positive integer from an int-or-1-tuple field.
fn positive(cfg: &Json, field: &str, default: Option<usize>) -> Result<usize> {
    let d = default.map(|d| [d]);
    let v = int_tuple(cfg, field, 1, d.as_ref().map(|d| &d[..]))?[0];
    if v == 0 {
        return Err(Error::config(field, "must be at least 1, got 0"));
    }
    Ok(v)
}

/// A config's `padding` string, case-insensitive, among `allowed`.
pub(crate) fn padding_name<'a>(cfg: &Json, allowed: &[&'a str]) -> Result<&'a str> {
    let v = match cfg.get("padding") {
        None | Some(Json::Null) => return Ok(allowed[0]),
        Some(Json::String(s)) => s.to_ascii_lowercase(),
        Some(other) => {
            return Err(Error::config(
                "padding",
                format!("must be a string, got {other}"),
            ));
        }
    };
    allowed.iter().find(|a| **a == v).copied().ok_or_else(|| {
        Error::config(
            "padding",
            format!("must be one of {}, got \"{v}\"", allowed.join(", ")),
        )
    })
}

/// Conv1D's `padding`.
///
/// ```
/// use wgpu_lstm::layers::conv1d::ConvPadding;
/// assert_eq!(ConvPadding::Causal.name(), "causal");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum ConvPadding {
    /// No padding.
    #[default]
    Valid,
    /// Zeros on both sides (the left gets the smaller half) so that L = ⌈T / s⌉.
    Same,
    /// d·(k − 1) zeros on the left only: `output[t]` sees no input after `t·s`.
    Causal,
}

impl ConvPadding {
    /// Keras's spelling.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::layers::conv1d::ConvPadding::Same.name(), "same");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            ConvPadding::Valid => "valid",
            ConvPadding::Same => "same",
            ConvPadding::Causal => "causal",
        }
    }
}

/// Output length and left padding of a 1-D window op (a convolution or a pooling) over `t`
/// steps: window of `k` taps `d` apart, stride `s`. `None` when a `valid` output would be
/// empty (Keras raises "Computed output size would be zero or negative").
///
/// ```
/// use wgpu_lstm::layers::conv1d::{window_geometry, ConvPadding};
/// assert_eq!(window_geometry(7, 3, 1, 1, ConvPadding::Valid), Some((5, 0)));
/// assert_eq!(window_geometry(7, 3, 2, 1, ConvPadding::Same), Some((4, 1)));
/// assert_eq!(window_geometry(7, 3, 2, 1, ConvPadding::Causal), Some((4, 2)));
/// assert_eq!(window_geometry(7, 4, 1, 1, ConvPadding::Same), Some((7, 1)));
/// assert_eq!(window_geometry(2, 3, 1, 1, ConvPadding::Valid), None);
/// ```
pub fn window_geometry(
    t: usize,
    k: usize,
    s: usize,
    d: usize,
    padding: ConvPadding,
) -> Option<(usize, usize)> {
    let s = s.max(1);
    let span = d.checked_mul(k.checked_sub(1)?)?.checked_add(1)?;
    match padding {
        ConvPadding::Valid => {
            let room = t.checked_sub(span)?;
            Some((room / s + 1, 0))
        }
        ConvPadding::Same | ConvPadding::Causal if t == 0 => None,
        ConvPadding::Same => {
            let l = (t - 1) / s + 1;
            let total = ((l - 1).checked_mul(s)?.checked_add(span)?).saturating_sub(t);
            Some((l, total / 2))
        }
        ConvPadding::Causal => Some(((t - 1) / s + 1, span - 1)),
    }
}

/// Keras `Conv1D`.
///
/// ```
/// use ndarray::{Array1, Array3};
/// use wgpu_lstm::layers::{conv1d::ConvPadding, Conv1D};
/// use wgpu_lstm::Activation;
/// let c = Conv1D {
///     padding: ConvPadding::Same,
///     ..Conv1D::new(Array3::zeros((3, 4, 6)), Some(Array1::zeros(6)), Activation::Relu.into()).unwrap()
/// };
/// assert_eq!((c.kernel_size(), c.filters()), (3, 6));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Conv1D {
    /// (kernel_size, input channels / groups, filters), as Keras stores it.
    pub kernel: Array3<f32>,
    /// (filters), or none without `use_bias`.
    pub bias: Option<Array1<f32>>,
    /// Step between windows (≥ 1).
    pub strides: usize,
    /// `valid`, `same` or `causal`.
    pub padding: ConvPadding,
    /// Step between a window's taps (≥ 1; > 1 only with `strides` = 1).
    pub dilation_rate: usize,
    /// Channel groups (≥ 1, dividing the input channels and the filters).
    pub groups: usize,
    /// Which axis is time.
    pub data_format: DataFormat,
    /// Applied after `conv + bias` (softmax / log-softmax over the last axis, as Keras's
    /// activation functions do).
    pub activation: LayerActivation,
}

impl Conv1D {
    /// A `valid`, stride-1, undilated, ungrouped `channels_last` convolution with these
    /// weights (set the other fields after); checks the bias against the kernel.
    ///
    /// ```
    /// use ndarray::{Array1, Array3};
    /// use wgpu_lstm::{layers::Conv1D, Activation};
    /// assert!(Conv1D::new(Array3::zeros((2, 3, 4)), Some(Array1::zeros(5)), Activation::Linear.into()).is_err());
    /// ```
    pub fn new(
        kernel: Array3<f32>,
        bias: Option<Array1<f32>>,
        activation: LayerActivation,
    ) -> Result<Self> {
        let c = Conv1D {
            kernel,
            bias,
            strides: 1,
            padding: ConvPadding::Valid,
            dilation_rate: 1,
            groups: 1,
            data_format: DataFormat::ChannelsLast,
            activation,
        };
        c.check()?;
        Ok(c)
    }

    /// From a Keras config and the layer's weights (`kernel`, and `bias` with `use_bias`).
    ///
    /// ```
    /// use ndarray::ArrayD;
    /// use wgpu_lstm::{layers::{conv1d::ConvPadding, Conv1D}, KerasFlavour};
    /// let cfg = serde_json::json!({"filters": 4, "kernel_size": [2], "strides": [1],
    ///     "padding": "causal", "dilation_rate": [2], "groups": 1, "activation": "relu",
    ///     "use_bias": true, "data_format": "channels_last"});
    /// let k = ArrayD::zeros(vec![2, 3, 4]);
    /// let b = ArrayD::zeros(vec![4]);
    /// let c = Conv1D::from_keras(&cfg, k, Some(b), KerasFlavour::Keras3).unwrap();
    /// assert_eq!((c.padding, c.dilation_rate), (ConvPadding::Causal, 2));
    /// ```
    pub fn from_keras(
        cfg: &Json,
        kernel: ArrayD<f32>,
        bias: Option<ArrayD<f32>>,
        flavour: KerasFlavour,
    ) -> Result<Self> {
        let filters = positive(cfg, "filters", None)?;
        let kernel_size = positive(cfg, "kernel_size", None)?;
        let strides = positive(cfg, "strides", Some(1))?;
        let dilation_rate = positive(cfg, "dilation_rate", Some(1))?;
        let groups = positive(cfg, "groups", Some(1))?;
        let padding = match padding_name(cfg, &["valid", "same", "causal"])? {
            "same" => ConvPadding::Same,
            "causal" => ConvPadding::Causal,
            _ => ConvPadding::Valid,
        };
        let use_bias = match cfg.get("use_bias") {
            None | Some(Json::Null) => true,
            Some(v) => v
                .as_bool()
                .ok_or_else(|| Error::config("use_bias", format!("must be a bool, got {v}")))?,
        };
        let shape = kernel.shape().to_vec();
        let kernel = kernel.into_dimensionality::<Ix3>().map_err(|_| {
            Error::shape(
                "Conv1D kernel",
                "(kernel_size, channels / groups, filters)",
                &shape,
            )
        })?;
        if kernel.dim().0 != kernel_size || kernel.dim().2 != filters {
            return Err(Error::shape(
                "Conv1D kernel",
                format!("({kernel_size}, channels / groups, {filters})"),
                &shape,
            ));
        }
        let bias = match (use_bias, bias) {
            (true, Some(b)) => {
                let bshape = b.shape().to_vec();
                Some(
                    b.into_dimensionality::<Ix1>().map_err(|_| {
                        Error::shape("Conv1D bias", format!("({filters})"), &bshape)
                    })?,
                )
            }
            (true, None) => return Err(Error::config("use_bias", "is true but there is no bias")),
            (false, _) => None,
        };
        let c = Conv1D {
            kernel,
            bias,
            strides,
            padding,
            dilation_rate,
            groups,
            data_format: DataFormat::from_config(cfg)?,
            activation: LayerActivation::from_config(cfg, flavour)?,
        };
        c.check()?;
        Ok(c)
    }

    /// Window size.
    ///
    /// ```
    /// use wgpu_lstm::{layers::Conv1D, Activation};
    /// let c = Conv1D::new(ndarray::Array3::zeros((5, 1, 2)), None, Activation::Linear.into()).unwrap();
    /// assert_eq!(c.kernel_size(), 5);
    /// ```
    pub fn kernel_size(&self) -> usize {
        self.kernel.dim().0
    }

    /// Output channels.
    ///
    /// ```
    /// use wgpu_lstm::{layers::Conv1D, Activation};
    /// let c = Conv1D::new(ndarray::Array3::zeros((5, 1, 2)), None, Activation::Linear.into()).unwrap();
    /// assert_eq!(c.filters(), 2);
    /// ```
    pub fn filters(&self) -> usize {
        self.kernel.dim().2
    }

    /// Input channels the layer takes (`groups` × the kernel's second axis).
    ///
    /// ```
    /// use wgpu_lstm::{layers::Conv1D, Activation};
    /// let c = Conv1D { groups: 2, ..Conv1D::new(ndarray::Array3::zeros((5, 3, 4)), None, Activation::Linear.into()).unwrap() };
    /// assert_eq!(c.in_channels(), 6);
    /// ```
    pub fn in_channels(&self) -> usize {
        self.kernel.dim().1.saturating_mul(self.groups)
    }

    /// Output steps and left padding for `t` input steps (see [`window_geometry`]).
    ///
    /// ```
    /// use wgpu_lstm::{layers::Conv1D, Activation};
    /// let c = Conv1D::new(ndarray::Array3::zeros((3, 1, 1)), None, Activation::Linear.into()).unwrap();
    /// assert_eq!(c.geometry(7).unwrap(), (5, 0));
    /// assert!(c.geometry(2).is_err());
    /// ```
    pub fn geometry(&self, t: usize) -> Result<(usize, usize)> {
        window_geometry(
            t,
            self.kernel_size(),
            self.strides,
            self.dilation_rate,
            self.padding,
        )
        .ok_or_else(|| {
            Error::config(
                "kernel_size",
                format!(
                    "a window of {} taps {} apart does not fit {t} steps with padding \
                     \"{}\": the output would be empty",
                    self.kernel_size(),
                    self.dilation_rate,
                    self.padding.name()
                ),
            )
        })
    }

    /// Checks the configuration as Keras's constructor and `build` do.
    fn check(&self) -> Result<()> {
        let (k, cg, f) = self.kernel.dim();
        if k == 0 || cg == 0 || f == 0 {
            return Err(Error::shape(
                "Conv1D kernel",
                "(kernel_size, channels / groups, filters), all >= 1",
                self.kernel.shape(),
            ));
        }
        if let Some(b) = &self.bias
            && b.len() != f
        {
            return Err(Error::shape("Conv1D bias", format!("({f})"), b.shape()));
        }
        if self.strides == 0 {
            return Err(Error::config("strides", "must be at least 1, got 0"));
        }
        if self.dilation_rate == 0 {
            return Err(Error::config("dilation_rate", "must be at least 1, got 0"));
        }
        if self.strides > 1 && self.dilation_rate > 1 {
            return Err(Error::config(
                "strides",
                format!(
                    "strides > 1 together with dilation_rate > 1 is not supported (Keras \
                     refuses it): strides={}, dilation_rate={}",
                    self.strides, self.dilation_rate
                ),
            ));
        }
        if self.groups == 0 {
            return Err(Error::config("groups", "must be at least 1, got 0"));
        }
        if f % self.groups != 0 {
            return Err(Error::config(
                "groups",
                format!(
                    "the filters ({f}) must be divisible by groups ({})",
                    self.groups
                ),
            ));
        }
        Ok(())
    }
}

/// `act(conv1d(x) + bias)` for a (B, A1, A2) input in `c.data_format`; returns
/// (B, L, filters) or (B, filters, L), or an error when the configuration or the input's
/// channels or length do not fit.
///
/// Twin of `shaders/conv1d.wgsl` (with the softmax pass of `shaders/activation_layer.wgsl`).
///
/// ```
/// use ndarray::{array, Array3};
/// use wgpu_lstm::{layers::{conv1d::conv1d, Conv1D}, Activation};
/// // a 2-tap moving sum on one channel
/// let c = Conv1D::new(Array3::ones((2, 1, 1)), None, Activation::Linear.into()).unwrap();
/// let x = array![[[1.0f32], [2.0], [4.0]]];
/// let y = conv1d(&c, x.view()).unwrap();
/// assert_eq!(y.into_raw_vec_and_offset().0, vec![3.0, 6.0]);
/// assert!(conv1d(&c, array![[[1.0f32, 2.0]]].view()).is_err()); // 2 channels
/// ```
pub fn conv1d(c: &Conv1D, x: ArrayView3<'_, f32>) -> Result<Array3<f32>> {
    c.check()?;
    let (t, ch) = c.data_format.steps_channels(x.dim().1, x.dim().2);
    if ch != c.in_channels() {
        return Err(Error::shape(
            "Conv1D input",
            format!("{} channels ({})", c.in_channels(), c.data_format.name()),
            x.shape(),
        ));
    }
    let (l, pad) = c.geometry(t)?;
    let x = c.data_format.to_channels_last(x);
    let b = x.dim().0;
    let (k, cg, f) = c.kernel.dim();
    let g_n = c.groups;
    let fg = f / g_n;
    let mut y = Array2::<f32>::zeros((b * l, f));
    // per tap: the rows of x each output step reads (zeros where the tap is in the
    // padding), times the tap's slice of the kernel, added to y — per group
    let mut rows = Array2::<f32>::zeros((b * l, cg));
    for g in 0..g_n {
        for tap in 0..k {
            rows.fill(0.0);
            let mut any = false;
            for bi in 0..b {
                for li in 0..l {
                    let at = li * c.strides + tap * c.dilation_rate;
                    if at < pad || at - pad >= t {
                        continue;
                    }
                    any = true;
                    rows.row_mut(bi * l + li).assign(&x.slice(s![
                        bi,
                        at - pad,
                        g * cg..(g + 1) * cg
                    ]));
                }
            }
            if !any {
                continue;
            }
            let w = c.kernel.slice(s![tap, .., g * fg..(g + 1) * fg]);
            crate::matmul::matmul_acc(rows.view(), w, y.slice_mut(s![.., g * fg..(g + 1) * fg]));
        }
    }
    if let Some(bias) = &c.bias {
        y += bias;
    }
    let y = y
        .into_shape_with_order((b, l, f))
        .expect("B·L rows of filters");
    let mut y = c.data_format.from_channels_last(y).into_dyn();
    c.activation.try_apply(&mut y)?;
    y.into_dimensionality()
        .map_err(|e| Error::shape("Conv1D output", format!("rank 3 ({e})"), &[]))
}

/// The (B, A1, A2) input shape a time-axis layer takes (its axes (A1, A2) without the
/// batch), or an error naming the layer's need.
pub(crate) fn sequence_axes(x: &TensorInfo, layer: &str) -> Result<(Option<usize>, Option<usize>)> {
    match x.shape.as_slice() {
        [a1, a2] => Ok((*a1, *a2)),
        _ => Err(Error::config(
            "input shape",
            format!(
                "{layer} takes a 3-D input (batch, steps, channels) or (batch, channels, \
                 steps), got {}",
                x.keras_shape(None)
            ),
        )),
    }
}

impl LayerOps for Conv1D {
    fn class_name(&self) -> &'static str {
        "Conv1D"
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = one(inputs)?;
        self.check()?;
        let (a1, a2) = sequence_axes(x, "Conv1D")?;
        let (t, ch) = self.data_format.steps_channels(a1, a2);
        let ch = ch.ok_or_else(|| {
            Error::config(
                "input shape",
                format!(
                    "the channel axis of {} ({}) must be known",
                    x.keras_shape(None),
                    self.data_format.name()
                ),
            )
        })?;
        if ch != self.in_channels() {
            return Err(Error::config(
                "input shape",
                format!(
                    "the kernel takes {} channels ({} groups of {}), the input {} has {ch} \
                     ({})",
                    self.in_channels(),
                    self.groups,
                    self.kernel.dim().1,
                    x.keras_shape(None),
                    self.data_format.name()
                ),
            ));
        }
        let l = t.map(|t| self.geometry(t).map(|g| g.0)).transpose()?;
        let (b1, b2) = self.data_format.axes(l, Some(self.filters()));
        // glu halves the last axis (the steps with channels_first)
        Ok(vec![TensorInfo::f32(vec![
            b1,
            self.activation.output_last(b2)?,
        ])])
    }

    fn param_count(&self) -> usize {
        self.kernel.len() + self.bias.as_ref().map_or(0, |b| b.len())
    }

    fn detail(&self) -> String {
        let mut s = format!(
            "filters={} kernel_size={} strides={} padding={}",
            self.filters(),
            self.kernel_size(),
            self.strides,
            self.padding.name()
        );
        if self.dilation_rate != 1 {
            s.push_str(&format!(" dilation_rate={}", self.dilation_rate));
        }
        if self.groups != 1 {
            s.push_str(&format!(" groups={}", self.groups));
        }
        if self.data_format != DataFormat::ChannelsLast {
            s.push_str(&format!(" data_format={}", self.data_format.name()));
        }
        if self.bias.is_none() {
            s.push_str(" use_bias=False");
        }
        s.push_str(&format!(" activation={}", self.activation));
        s
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let x = three_d(&inputs[0].data, "Conv1D")?;
        Ok(vec![Value::new(conv1d(self, x)?.into_dyn())])
    }
}

/// A value's array as a (B, A1, A2) view, or an error for another rank.
pub(crate) fn three_d<'a>(data: &'a ArrayD<f32>, layer: &str) -> Result<ArrayView3<'a, f32>> {
    data.view().into_dimensionality::<Ix3>().map_err(|_| {
        Error::shape(
            format!("{layer} input"),
            "(batch, steps, channels) or (batch, channels, steps)",
            data.shape(),
        )
    })
}
