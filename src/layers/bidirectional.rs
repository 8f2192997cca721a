//! Keras `Bidirectional` of an `LSTM`, `GRU`, `SimpleRNN` or `RNN(cell)`: a forward and a
//! backward layer on the same input, their outputs merged (`merge_mode`).
//!
//! As in Keras: the backward layer's sequence output (processing order) is flipped back to
//! time order before merging; both halves get `zero_output_for_mask = return_sequences`.
//! Inputs: the sequence, and optionally the initial states (forward h, c, backward h, c;
//! h alone for a GRU or SimpleRNN half). Outputs: the merged output (or the two halves with
//! `merge_mode=None`), then the final states with `return_state`, forward first. Mask: the input's with `return_sequences` (on both
//! halves with `merge_mode=None`), none otherwise.
//!
//! GPU: `gpu/ops/bidirectional.rs`, merges in `shaders/merge.wgsl`.

use ndarray::{ArrayD, Axis};

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::host_memory::HostBytes;
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};

use super::LayerOps;
use super::recurrent::{Recurrent, given_state};

/// How Bidirectional combines its two halves (Keras's `merge_mode`).
///
/// ```
/// use wgpu_lstm::layers::bidirectional::MergeMode;
/// assert_eq!(MergeMode::from_keras(Some("ave")).unwrap(), MergeMode::Ave);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMode {
    /// Concatenate on the last axis (Keras's default).
    Concat,
    /// Element-wise sum.
    Sum,
    /// Element-wise product.
    Mul,
    /// Element-wise mean.
    Ave,
    /// No merge: the two halves are returned separately.
    None,
}

impl MergeMode {
    /// From Keras's `merge_mode` (`None`/null = no merge).
    ///
    /// ```
    /// assert!(wgpu_lstm::layers::bidirectional::MergeMode::from_keras(Some("max")).is_err());
    /// ```
    pub fn from_keras(mode: Option<&str>) -> Result<Self> {
        Ok(match mode {
            None => MergeMode::None,
            Some("concat") => MergeMode::Concat,
            Some("sum") => MergeMode::Sum,
            Some("mul") => MergeMode::Mul,
            Some("ave") => MergeMode::Ave,
            Some(other) => {
                return Err(Error::config(
                    "merge_mode",
                    format!("`{other}` is not one of concat, sum, mul, ave, None"),
                ));
            }
        })
    }

    /// The `MODE` code of merge.wgsl (sum 0, mul 1, ave 2).
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::layers::bidirectional::MergeMode::Ave.code(), Some(2));
    /// ```
    pub fn code(self) -> Option<u32> {
        match self {
            MergeMode::Sum => Some(0),
            MergeMode::Mul => Some(1),
            MergeMode::Ave => Some(2),
            _ => None,
        }
    }

    /// Keras's name (`None` for no merge).
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::layers::bidirectional::MergeMode::Sum.keras_name(), "sum");
    /// ```
    pub fn keras_name(self) -> &'static str {
        match self {
            MergeMode::Concat => "concat",
            MergeMode::Sum => "sum",
            MergeMode::Mul => "mul",
            MergeMode::Ave => "ave",
            MergeMode::None => "None",
        }
    }
}

/// Merges a forward and a (time-ordered) backward output element-wise (sum, mul, ave).
/// Twin of `shaders/merge.wgsl`.
///
/// ```
/// use ndarray::array;
/// use wgpu_lstm::layers::bidirectional::{merge, MergeMode};
/// let a = array![1.0f32, 2.0].into_dyn();
/// let b = array![3.0f32, 4.0].into_dyn();
/// assert_eq!(merge(&a, &b, MergeMode::Ave), array![2.0f32, 3.0].into_dyn());
/// ```
pub fn merge(a: &ArrayD<f32>, b: &ArrayD<f32>, mode: MergeMode) -> ArrayD<f32> {
    let mut out = a.clone();
    ndarray::Zip::from(&mut out).and(b).for_each(|o, &bv| {
        *o = match mode {
            MergeMode::Mul => *o * bv,
            MergeMode::Ave => (*o + bv) * 0.5,
            _ => *o + bv,
        }
    });
    out
}

/// Keras `Bidirectional`: two recurrent layers and how their outputs merge.
///
/// ```
/// use wgpu_lstm::layers::{bidirectional::MergeMode, Bidirectional, Recurrent};
/// use wgpu_lstm::{LstmConfig, LstmWeights};
/// let f = LstmConfig { return_sequences: true, ..LstmConfig::new(3) };
/// let b = LstmConfig { go_backwards: true, ..f.clone() };
/// let bi = Bidirectional::new(
///     Recurrent::lstm(f.clone(), LstmWeights::keras_default(2, &f, 0).unwrap()).unwrap(),
///     Recurrent::lstm(b.clone(), LstmWeights::keras_default(2, &b, 1).unwrap()).unwrap(),
///     MergeMode::Concat,
/// ).unwrap();
/// assert!(bi.forward.config.zero_output_for_mask); // Keras forces it with return_sequences
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Bidirectional {
    /// The forward layer.
    pub forward: Recurrent,
    /// The backward layer (`go_backwards` flipped from the forward one unless Keras was
    /// given an explicit `backward_layer`).
    pub backward: Recurrent,
    /// How the halves combine.
    pub merge: MergeMode,
}

impl Bidirectional {
    /// Checks that the halves fit together (opposite `go_backwards`, same input size,
    /// `return_sequences`, `return_state`; equal units for an element-wise merge) and forces
    /// `zero_output_for_mask = return_sequences` on both, as Keras does.
    ///
    /// ```
    /// use wgpu_lstm::layers::{bidirectional::MergeMode, Bidirectional, Recurrent};
    /// use wgpu_lstm::{LstmConfig, LstmWeights};
    /// let a = LstmConfig::new(3);
    /// let b = LstmConfig { go_backwards: true, ..LstmConfig::new(4) };
    /// let r = |c: &LstmConfig| Recurrent::lstm(c.clone(), LstmWeights::keras_default(2, c, 0).unwrap()).unwrap();
    /// assert!(Bidirectional::new(r(&a), r(&b), MergeMode::Sum).is_err());
    /// assert!(Bidirectional::new(r(&a), r(&b), MergeMode::Concat).is_ok());
    /// ```
    pub fn new(mut forward: Recurrent, mut backward: Recurrent, merge: MergeMode) -> Result<Self> {
        let (f, b) = (&forward.config, &backward.config);
        if f.go_backwards == b.go_backwards {
            return Err(Error::config(
                "backward_layer",
                "must process the sequence the other way than the forward layer \
                 (go_backwards differs), as Keras requires",
            ));
        }
        if forward.input_dim() != backward.input_dim() {
            return Err(Error::config(
                "backward_layer",
                format!(
                    "takes {} features, the forward layer {}",
                    backward.input_dim(),
                    forward.input_dim()
                ),
            ));
        }
        if f.return_sequences != b.return_sequences || f.return_state != b.return_state {
            return Err(Error::config(
                "backward_layer",
                "must have the forward layer's return_sequences and return_state",
            ));
        }
        if f.units != b.units && !matches!(merge, MergeMode::Concat | MergeMode::None) {
            return Err(Error::config(
                "merge_mode",
                format!(
                    "{}: halves of {} and {} units cannot be merged element-wise",
                    merge.keras_name(),
                    f.units,
                    b.units
                ),
            ));
        }
        for half in [&mut forward, &mut backward] {
            half.config.zero_output_for_mask = half.config.return_sequences;
        }
        Ok(Bidirectional {
            forward,
            backward,
            merge,
        })
    }

    /// Width of the merged output (forward + backward units for concat, else forward's).
    pub(crate) fn merged_units(&self) -> usize {
        match self.merge {
            MergeMode::Concat => self.forward.config.units + self.backward.config.units,
            _ => self.forward.config.units,
        }
    }
}

impl LayerOps for Bidirectional {
    fn class_name(&self) -> &'static str {
        "Bidirectional"
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let (nf, nb) = (self.forward.state_tensors(), self.backward.state_tensors());
        let (x, fwd_state, bwd_state) = match inputs {
            [x] => (x, &inputs[..0], &inputs[..0]),
            [x, ..] if inputs.len() == 1 + nf + nb => (x, &inputs[1..1 + nf], &inputs[1 + nf..]),
            _ => {
                return Err(Error::config(
                    "inputs",
                    format!(
                        "a Bidirectional takes a sequence and optionally {} initial states \
                         (forward then backward): got {} tensors",
                        nf + nb,
                        inputs.len()
                    ),
                ));
            }
        };
        let with = |s: &[TensorInfo]| {
            let mut v = vec![x.clone()];
            v.extend_from_slice(s);
            v
        };
        self.forward.check_inputs(&with(fwd_state))?;
        self.backward.check_inputs(&with(bwd_state))?;
        let cfg = &self.forward.config;
        let seq = |u: usize| {
            if cfg.return_sequences {
                TensorInfo::f32(vec![x.shape[0], Some(u)]).with_mask(x.masked)
            } else {
                TensorInfo::f32(vec![Some(u)])
            }
        };
        let mut out = match self.merge {
            MergeMode::None => vec![
                seq(self.forward.config.units),
                seq(self.backward.config.units),
            ],
            _ => vec![seq(self.merged_units())],
        };
        if cfg.return_state {
            for half in [&self.forward, &self.backward] {
                for _ in 0..half.state_tensors() {
                    out.push(TensorInfo::f32(vec![Some(half.config.units)]));
                }
            }
        }
        Ok(out)
    }

    fn param_count(&self) -> usize {
        self.forward.param_count() + self.backward.param_count()
    }

    fn state_slots(&self) -> usize {
        2
    }

    fn cpu_work(&self, inputs: &[&[usize]], need: &mut HostBytes) -> Result<()> {
        // both directions' work, their outputs and the time-reversed backward copy
        for half in [&self.forward, &self.backward] {
            half.cpu_work(inputs, need)?;
        }
        if let Some(&[b, t, _]) = inputs.first() {
            let u = self.backward.config.units;
            need.array::<f32>(
                "forward and backward outputs, a reversed copy (3, B, T, U)",
                &[3, *b, *t, u],
            )?;
        }
        Ok(())
    }

    fn stateful(&self) -> bool {
        self.forward.config.stateful
    }

    fn detail(&self) -> String {
        format!(
            "{}({}) forward, {}({}) backward, merge_mode={}",
            self.forward.config.class_name(),
            self.forward.config.units,
            self.backward.config.class_name(),
            self.backward.config.units,
            self.merge.keras_name()
        )
    }

    fn cpu(&self, inputs: &[&Value], states: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let x = inputs[0];
        let nf = self.forward.state_tensors();
        let (fg, bg) = if inputs.len() > 1 {
            let with = |s: &[&'_ Value]| {
                let mut v = vec![x];
                v.extend_from_slice(s);
                given_state(&v)
            };
            (with(&inputs[1..1 + nf])?, with(&inputs[1 + nf..])?)
        } else {
            (None, None)
        };
        let (s0, s1) = states.split_at_mut(1);
        let (yf, ff) = self.forward.run_cpu(x, fg, &mut s0[0])?;
        let (yb, fb) = self.backward.run_cpu(x, bg, &mut s1[0])?;
        let rseq = self.forward.config.return_sequences;
        let shape = |y: ndarray::Array3<f32>| -> ArrayD<f32> {
            if rseq {
                y.into_dyn()
            } else {
                let (b, _, u) = y.dim();
                y.into_shape_with_order((b, u))
                    .expect("(B, 1, U)")
                    .into_dyn()
            }
        };
        let f = shape(yf);
        // Keras flips the backward sequence back to time order before merging
        let b = if rseq {
            shape(yb)
                .slice_axis(Axis(1), ndarray::Slice::new(0, None, -1))
                .to_owned()
        } else {
            shape(yb)
        };
        let mask = if rseq { x.mask.clone() } else { None };
        let mut out = match self.merge {
            MergeMode::Concat => {
                let axis = Axis(f.ndim() - 1);
                vec![
                    Value::new(
                        ndarray::concatenate(axis, &[f.view(), b.view()])
                            .expect("same leading shape"),
                    )
                    .masked(mask),
                ]
            }
            MergeMode::None => vec![
                Value::new(f).masked(mask.clone()),
                Value::new(b).masked(mask),
            ],
            m => vec![Value::new(merge(&f, &b, m)).masked(mask)],
        };
        if self.forward.config.return_state {
            for (s, half) in [(ff, &self.forward), (fb, &self.backward)] {
                out.push(Value::new(s.h.into_dyn()));
                if half.config.cell.has_c() {
                    out.push(Value::new(s.c.into_dyn()));
                }
            }
        }
        Ok(out)
    }
}
