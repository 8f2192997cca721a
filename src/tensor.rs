//! Tensors between the layers of a plan: what is known at load time ([`TensorInfo`]: shape
//! without the batch axis, dtype, whether a Keras mask travels with it) and a value on the
//! CPU ([`Value`]: the array and its mask).
//!
//! Shapes follow Keras: the batch axis is left out, and an axis Keras leaves open (`None`,
//! usually time) is `None` until a call fixes it. Every array is row-major.

use ndarray::{Array2, ArrayD};

use crate::error::{Error, Result};

/// The element type of a tensor: float32 everywhere, except the integer token ids an
/// `Embedding` reads.
///
/// ```
/// assert_eq!(wgpu_lstm::tensor::Dtype::F32.name(), "float32");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dtype {
    /// float32.
    F32,
    /// Integer token ids (int32 or int64 in the file; read as i64).
    Int,
}

impl Dtype {
    /// numpy's name for it.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::tensor::Dtype::Int.name(), "int");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::Int => "int",
        }
    }
}

/// A tensor as the plan knows it before a call: its shape without the batch axis (`None` for
/// an axis fixed only by the call), its dtype, and whether a Keras mask (B, T) travels with
/// it.
///
/// ```
/// use wgpu_lstm::tensor::TensorInfo;
/// let t = TensorInfo::f32(vec![None, Some(8)]);
/// assert_eq!(t.rank(), 3); // (B, T, 8)
/// assert_eq!(t.last(), Some(8));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorInfo {
    /// Shape without the batch axis.
    pub shape: Vec<Option<usize>>,
    /// Element type.
    pub dtype: Dtype,
    /// Whether a mask (B, T) over the first axis after the batch travels with it.
    pub masked: bool,
}

impl TensorInfo {
    /// A float32 tensor without a mask.
    ///
    /// ```
    /// assert!(!wgpu_lstm::tensor::TensorInfo::f32(vec![Some(3)]).masked);
    /// ```
    pub fn f32(shape: Vec<Option<usize>>) -> Self {
        TensorInfo {
            shape,
            dtype: Dtype::F32,
            masked: false,
        }
    }

    /// The same tensor with a mask (or without).
    ///
    /// ```
    /// assert!(wgpu_lstm::tensor::TensorInfo::f32(vec![None, Some(3)]).with_mask(true).masked);
    /// ```
    pub fn with_mask(mut self, masked: bool) -> Self {
        self.masked = masked;
        self
    }

    /// Rank including the batch axis.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::tensor::TensorInfo::f32(vec![Some(3)]).rank(), 2);
    /// ```
    pub fn rank(&self) -> usize {
        self.shape.len() + 1
    }

    /// The last axis (features), if known.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::tensor::TensorInfo::f32(vec![None, Some(5)]).last(), Some(5));
    /// ```
    pub fn last(&self) -> Option<usize> {
        self.shape.last().copied().flatten()
    }

    /// Keras's way of writing it: `(None, 10, 4)`.
    ///
    /// ```
    /// let t = wgpu_lstm::tensor::TensorInfo::f32(vec![None, Some(4)]);
    /// assert_eq!(t.keras_shape(None), "(None, None, 4)");
    /// assert_eq!(t.keras_shape(Some(2)), "(2, None, 4)");
    /// ```
    pub fn keras_shape(&self, batch: Option<usize>) -> String {
        let dim = |d: Option<usize>| d.map_or_else(|| "None".to_string(), |d| d.to_string());
        let mut parts = vec![dim(batch)];
        parts.extend(self.shape.iter().map(|&d| dim(d)));
        if parts.len() == 1 {
            format!("({},)", parts[0])
        } else {
            format!("({})", parts.join(", "))
        }
    }

    /// The concrete shape (batch first) for a call, when every axis is known.
    pub(crate) fn concrete(&self, batch: usize) -> Option<Vec<usize>> {
        let mut v = vec![batch];
        for d in &self.shape {
            v.push((*d)?);
        }
        Some(v)
    }
}

/// One tensor's value on the CPU: the array (batch first) and its Keras mask (B, T), if any.
/// Integer token ids (an `Embedding`'s input) are kept exactly in `tokens`, with `data` their
/// float32 values.
///
/// ```
/// use wgpu_lstm::tensor::Value;
/// let v = Value::new(ndarray::ArrayD::zeros(vec![2, 3, 4]));
/// assert_eq!(v.data.shape(), &[2, 3, 4]);
/// assert!(v.mask.is_none());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// The array, batch first.
    pub data: ArrayD<f32>,
    /// The mask over (batch, first axis after it), `true` = valid.
    pub mask: Option<Array2<bool>>,
    /// Exact integer token ids, when the tensor is an integer input.
    pub tokens: Option<ArrayD<i64>>,
}

impl Value {
    /// A float32 value without a mask.
    ///
    /// ```
    /// let v = wgpu_lstm::tensor::Value::new(ndarray::ArrayD::zeros(vec![1]));
    /// assert!(v.tokens.is_none());
    /// ```
    pub fn new(data: ArrayD<f32>) -> Self {
        Value {
            data,
            mask: None,
            tokens: None,
        }
    }

    /// The same value with a mask.
    ///
    /// ```
    /// let m = ndarray::Array2::from_elem((1, 2), true);
    /// let v = wgpu_lstm::tensor::Value::new(ndarray::ArrayD::zeros(vec![1, 2, 3])).masked(Some(m));
    /// assert!(v.mask.is_some());
    /// ```
    pub fn masked(mut self, mask: Option<Array2<bool>>) -> Self {
        self.mask = mask;
        self
    }

    /// Integer token ids as a value (their float32 values in `data`).
    ///
    /// ```
    /// let v = wgpu_lstm::tensor::Value::from_tokens(ndarray::arr2(&[[1i64, 0]]).into_dyn());
    /// assert_eq!(v.data[[0, 0]], 1.0);
    /// ```
    pub fn from_tokens(tokens: ArrayD<i64>) -> Self {
        Value {
            data: tokens.mapv(|t| t as f32),
            mask: None,
            tokens: Some(tokens),
        }
    }

    /// Batch size (the first axis).
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::tensor::Value::new(ndarray::ArrayD::zeros(vec![4, 1])).batch(), 4);
    /// ```
    pub fn batch(&self) -> usize {
        self.data.shape().first().copied().unwrap_or(0)
    }
}

/// Checks that a mask fits a tensor: (B, T) for a tensor of rank ≥ 3 whose first two axes are
/// (B, T). `of` names the tensor in the message when the model has several inputs.
pub(crate) fn check_mask(
    of: Option<&str>,
    mask: &ndarray::ArrayView2<bool>,
    shape: &[usize],
) -> Result<()> {
    if shape.len() < 3 || mask.dim() != (shape[0], shape[1]) {
        let whose = of.map_or(String::new(), |w| format!(" for {w}"));
        let want = if shape.len() >= 3 {
            format!("({}, {}){whose}", shape[0], shape[1])
        } else {
            format!("none: the input{whose} of shape {shape:?} has no time axis")
        };
        return Err(Error::shape("mask", want, mask.shape()));
    }
    Ok(())
}

/// How an input's expected shape reads in an error: the batch as `B`, an open time axis as
/// `T`, with `B >= 1` (and `T >= 1`) spelled out: `(B, T, 3) with B >= 1 and T >= 1`.
pub(crate) fn expected_words(info: &TensorInfo, batch: Option<usize>) -> String {
    let mut parts = vec![batch.map_or("B".to_string(), |b| b.to_string())];
    let mut open_t = false;
    for (i, d) in info.shape.iter().enumerate() {
        parts.push(match d {
            Some(d) => d.to_string(),
            None if i == 0 => {
                open_t = true;
                "T".to_string()
            }
            None => "?".to_string(),
        });
    }
    let cond = match (batch.is_none(), open_t) {
        (true, true) => " with B >= 1 and T >= 1",
        (true, false) => " with B >= 1",
        (false, true) => " with T >= 1",
        (false, false) => "",
    };
    format!("({}){cond}", parts.join(", "))
}
