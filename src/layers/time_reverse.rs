//! [`TimeReverse`]: a (B, T, …) tensor with its time axis reversed, the mask passed on as it
//! is. Not a Keras class: the class table puts it where one Keras layer is a chain of
//! recurrent nodes that must hand a sequence back in the input's time order —
//! `RNN(StackedRNNCells(...), go_backwards=True)` (each cell but the last sees the previous
//! cell's output in processing order, reversed back so that the next cell, itself
//! `go_backwards`, reads it with the input's mask) and the backward half of
//! `Bidirectional(RNN(StackedRNNCells(...)))` (Keras flips it back before merging).
//!
//! The mask is not reversed: a recurrent layer's output mask is its input's, in the input's
//! time order, whatever order its sequence is in (Keras's `compute_mask`); after the flip
//! the sequence is in that order too.
//!
//! GPU: `gpu/ops/layout.rs`, the strided copy `shaders/layout.wgsl` (a negative time stride
//! from the last step).

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};

use super::{LayerOps, one};

/// A time-axis flip of a (B, T, …) tensor (see the module docs).
///
/// ```
/// use wgpu_lstm::layers::{Layer, TimeReverse};
/// use wgpu_lstm::{plan::Plan, tensor::TensorInfo, KerasFlavour};
/// let mut b = Plan::builder("m", KerasFlavour::Keras3);
/// let x = b.input("x", TensorInfo::f32(vec![Some(4), Some(3)]).with_mask(true));
/// let y = b.node("flip", Layer::TimeReverse(TimeReverse), &[x]).unwrap();
/// assert!(b.info(y[0]).masked); // the mask is passed on unreversed
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeReverse;

impl LayerOps for TimeReverse {
    fn class_name(&self) -> &'static str {
        "TimeReverse"
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = one(inputs)?;
        if x.rank() < 2 {
            return Err(Error::config(
                "input shape",
                format!(
                    "a time flip takes (B, T, ...) inputs, got {}",
                    x.keras_shape(None)
                ),
            ));
        }
        Ok(vec![x.clone()])
    }

    fn detail(&self) -> String {
        "time axis reversed".into()
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let x = inputs[0];
        if x.data.ndim() < 2 {
            return Err(Error::shape(
                "time flip input",
                "(B, T, ...)",
                x.data.shape(),
            ));
        }
        let mut v = x.data.view();
        v.invert_axis(ndarray::Axis(1));
        let y = crate::host_memory::to_owned("time-reversed copy", &v)?;
        Ok(vec![Value::new(y).masked(x.mask.clone())])
    }
}
