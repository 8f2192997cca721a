//! Keras `Dense(units, activation)` on the last axis of any input: `act(x·kernel + bias)`.
//! The mask passes through (Dense supports masking).
//!
//! GPU: `gpu/ops/dense.rs`, the GEMM `shaders/input_projection.wgsl` with the layer's `ACT`.

use ndarray::{Array1, Array2, ArrayD, ArrayView1, ArrayView2, ArrayViewD};

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};

use super::activation_layer::LayerActivation;
use super::{LayerOps, last_axis, one};

/// Keras `Dense`.
///
/// ```
/// use wgpu_lstm::{layers::Dense, Activation};
/// let d = Dense::new(ndarray::Array2::zeros((4, 2)), Some(ndarray::Array1::zeros(2)), Activation::Relu.into()).unwrap();
/// assert_eq!(d.units(), 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    /// (input features, units).
    pub kernel: Array2<f32>,
    /// (units), or none without `use_bias`.
    pub bias: Option<Array1<f32>>,
    /// Applied after `x·kernel + bias` (softmax and log-softmax on the last axis).
    pub activation: LayerActivation,
}

impl Dense {
    /// Checks the bias against the kernel.
    ///
    /// ```
    /// use wgpu_lstm::{layers::Dense, Activation};
    /// assert!(Dense::new(ndarray::Array2::zeros((4, 2)), Some(ndarray::Array1::zeros(3)), Activation::Linear.into()).is_err());
    /// ```
    pub fn new(
        kernel: Array2<f32>,
        bias: Option<Array1<f32>>,
        activation: LayerActivation,
    ) -> Result<Self> {
        if kernel.is_empty() {
            return Err(Error::shape(
                "Dense kernel",
                "(D, units) with D, units >= 1",
                kernel.shape(),
            ));
        }
        if let Some(b) = &bias
            && b.len() != kernel.ncols()
        {
            return Err(Error::shape(
                "Dense bias",
                format!("({})", kernel.ncols()),
                b.shape(),
            ));
        }
        Ok(Dense {
            kernel,
            bias,
            activation,
        })
    }

    /// Output features.
    ///
    /// ```
    /// use wgpu_lstm::{layers::Dense, Activation};
    /// assert_eq!(Dense::new(ndarray::Array2::zeros((1, 7)), None, Activation::Linear.into()).unwrap().units(), 7);
    /// ```
    pub fn units(&self) -> usize {
        self.kernel.ncols()
    }
}

/// `act(x·kernel + bias)` on the last axis of `x`, for every other index.
///
/// Twin of `shaders/input_projection.wgsl` specialised with the layer's `ACT` (and, for
/// softmax / log-softmax, the row pass of `shaders/activation_layer.wgsl`).
///
/// ```
/// use ndarray::array;
/// use wgpu_lstm::{layers::dense::dense, Activation};
/// let x = array![[1.0f32, -2.0]].into_dyn();
/// let k = array![[1.0f32], [1.0]];
/// let y = dense(x.view(), k.view(), None, Activation::Relu.into());
/// assert_eq!(y[[0, 0]], 0.0);
/// ```
pub fn dense(
    x: ArrayViewD<'_, f32>,
    kernel: ArrayView2<'_, f32>,
    bias: Option<ArrayView1<'_, f32>>,
    activation: LayerActivation,
) -> ArrayD<f32> {
    let d = kernel.nrows();
    let mut shape = x.shape().to_vec();
    let rows: usize = shape[..shape.len() - 1].iter().product();
    let flat = x
        .as_standard_layout()
        .into_owned()
        .into_shape_with_order((rows, d))
        .expect("last axis is D");
    let mut y = crate::matmul::matmul(flat.view(), kernel);
    if let Some(b) = bias {
        y += &b;
    }
    *shape.last_mut().expect("rank >= 1") = kernel.ncols();
    let mut y = y
        .into_shape_with_order(ndarray::IxDyn(&shape))
        .expect("rows · units");
    activation.apply(&mut y);
    y
}

impl LayerOps for Dense {
    fn class_name(&self) -> &'static str {
        "Dense"
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = one(inputs)?;
        let d = last_axis(x)?;
        if d != self.kernel.nrows() {
            return Err(Error::config(
                "input shape",
                format!(
                    "the kernel takes {} features, the input {} has {d}",
                    self.kernel.nrows(),
                    x.keras_shape(None)
                ),
            ));
        }
        let mut shape = x.shape.clone();
        // glu halves the units
        *shape.last_mut().expect("rank >= 2") = Some(self.activation.output_width(self.units())?);
        Ok(vec![TensorInfo::f32(shape).with_mask(x.masked)])
    }

    fn param_count(&self) -> usize {
        self.kernel.len() + self.bias.as_ref().map_or(0, |b| b.len())
    }

    fn detail(&self) -> String {
        format!("units={} activation={}", self.units(), self.activation)
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let x = inputs[0];
        let mut y = dense(
            x.data.view(),
            self.kernel.view(),
            self.bias.as_ref().map(|b| b.view()),
            LayerActivation::default(),
        );
        self.activation.try_apply(&mut y)?;
        Ok(vec![Value::new(y).masked(x.mask.clone())])
    }
}
