//! Keras's recurrent layers: `LSTM`, `GRU`, `SimpleRNN` (and `RNN` of one `LSTMCell`,
//! `GRUCell` or `SimpleRNNCell`). Config and weights are [`LstmConfig`] (its `cell` says
//! which) and [`LstmWeights`]; the CPU code is `cpu::run_sequence` (LSTM) and
//! `cell::run_sequence` (GRU, SimpleRNN).
//!
//! Inputs: the sequence (B, T, D), and optionally an initial state — (h, c) for an LSTM, h
//! for a GRU or SimpleRNN, each (B, U) — fed from other tensors of the graph (Keras's
//! `initial_state=[h, c]`). Outputs: the sequence (B, T, U) with `return_sequences`, else
//! the last output (B, U); then h (and c for an LSTM) with `return_state`. Mask (Keras's
//! `compute_mask`): the input's mask with `return_sequences`, none otherwise; states never
//! carry a mask.
//!
//! GPU: `gpu/ops/recurrent.rs` (the input-projection GEMM, then the persistent or per-step
//! kernels `shaders/lstm_*.wgsl`).

use ndarray::{Array2, Ix2, Ix3};

use crate::activation::KerasFlavour;
use crate::config::LstmConfig;
use crate::cpu;
use crate::error::{Error, Result};
use crate::host_memory::HostBytes;
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};
use crate::weights::LstmWeights;

use super::LayerOps;

/// One recurrent layer: its configuration and Keras-layout weights, checked against each
/// other.
///
/// ```
/// use wgpu_lstm::{layers::Recurrent, LstmConfig, LstmWeights};
/// let cfg = LstmConfig::new(4);
/// let r = Recurrent::lstm(cfg.clone(), LstmWeights::keras_default(3, &cfg, 0).unwrap()).unwrap();
/// assert_eq!(r.input_dim(), 3);
/// assert!(Recurrent::lstm(LstmConfig::new(5), LstmWeights::keras_default(3, &cfg, 0).unwrap()).is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Recurrent {
    /// The layer's configuration.
    pub config: LstmConfig,
    /// Its weights (kernel, recurrent kernel, bias).
    pub weights: LstmWeights,
}

impl Recurrent {
    /// An LSTM from its configuration and weights (checked against each other).
    ///
    /// ```
    /// use wgpu_lstm::{layers::Recurrent, LstmConfig, LstmWeights};
    /// let cfg = LstmConfig::new(2);
    /// assert!(Recurrent::lstm(cfg.clone(), LstmWeights::keras_default(1, &cfg, 0).unwrap()).is_ok());
    /// ```
    pub fn lstm(config: LstmConfig, weights: LstmWeights) -> Result<Self> {
        Self::new(config, weights)
    }

    /// A recurrent layer of any cell (`config.cell`: LSTM, GRU, SimpleRNN) from its
    /// configuration and weights, checked against each other.
    ///
    /// ```
    /// use wgpu_lstm::{layers::Recurrent, LstmConfig, LstmWeights};
    /// let cfg = LstmConfig::gru(4);
    /// let r = Recurrent::new(cfg.clone(), LstmWeights::keras_default(3, &cfg, 0).unwrap()).unwrap();
    /// assert_eq!(r.param_count(), 108);
    /// ```
    pub fn new(config: LstmConfig, weights: LstmWeights) -> Result<Self> {
        config.validate()?;
        weights.check(&config)?;
        Ok(Recurrent { config, weights })
    }

    /// Keras's parameter count (`count_params()`): the elements of the weights.
    ///
    /// ```
    /// use wgpu_lstm::{layers::Recurrent, LstmConfig, LstmWeights};
    /// let cfg = LstmConfig::simple_rnn(4);
    /// let r = Recurrent::new(cfg.clone(), LstmWeights::keras_default(3, &cfg, 0).unwrap()).unwrap();
    /// assert_eq!(r.param_count(), 4 * 3 + 4 * 4 + 4);
    /// ```
    pub fn param_count(&self) -> usize {
        // the elements of arrays in memory: the sum cannot overflow
        let w = &self.weights;
        w.kernel.len() + w.recurrent_kernel.len() + w.bias.as_ref().map_or(0, |b| b.len())
    }

    /// The number of state tensors the layer takes and returns: 2 (h, c) for an LSTM, 1 (h)
    /// for a GRU or SimpleRNN.
    pub(crate) fn state_tensors(&self) -> usize {
        if self.config.cell.has_c() { 2 } else { 1 }
    }

    /// Input feature size D.
    ///
    /// ```
    /// use wgpu_lstm::{layers::Recurrent, LstmConfig, LstmWeights};
    /// let cfg = LstmConfig::new(2);
    /// assert_eq!(Recurrent::lstm(cfg.clone(), LstmWeights::keras_default(5, &cfg, 0).unwrap()).unwrap().input_dim(), 5);
    /// ```
    pub fn input_dim(&self) -> usize {
        self.weights.input_dim()
    }

    /// Checks the sequence and optional state inputs; returns the sequence's info.
    pub(crate) fn check_inputs<'a>(&self, inputs: &'a [TensorInfo]) -> Result<&'a TensorInfo> {
        let (d, u) = (self.input_dim(), self.config.units);
        let n = self.state_tensors();
        let x = match inputs {
            [x, ..] if inputs.len() == 1 || inputs.len() == 1 + n => x,
            _ => {
                let states = if n == 2 { "[h, c]" } else { "[h]" };
                return Err(Error::config(
                    "inputs",
                    format!(
                        "a {} takes a sequence and optionally its initial state {states}: \
                         got {} tensors",
                        self.config.class_name(),
                        inputs.len()
                    ),
                ));
            }
        };
        if x.rank() != 3 || x.last() != Some(d) {
            return Err(Error::config(
                "input shape",
                format!(
                    "expected a sequence (B, T, {d}), got {}",
                    x.keras_shape(None)
                ),
            ));
        }
        for (name, s) in ["initial h", "initial c"].iter().zip(&inputs[1..]) {
            if s.shape != [Some(u)] {
                return Err(Error::config(
                    "initial_state",
                    format!("{name} must be (B, {u}), got {}", s.keras_shape(None)),
                ));
            }
        }
        Ok(x)
    }

    /// Output infos for an input sequence `x`.
    pub(crate) fn outputs_for(&self, x: &TensorInfo) -> Vec<TensorInfo> {
        let u = Some(self.config.units);
        let mut out = vec![if self.config.return_sequences {
            TensorInfo::f32(vec![x.shape[0], u]).with_mask(x.masked)
        } else {
            TensorInfo::f32(vec![u])
        }];
        if self.config.return_state {
            for _ in 0..self.state_tensors() {
                out.push(TensorInfo::f32(vec![u]));
            }
        }
        out
    }

    /// The whole call on the CPU: the output as (B, T, U) or (B, 1, U) and the final state.
    /// The start state is `given`, else the carried `state` of a stateful layer, else zeros;
    /// a stateful layer keeps the final state.
    pub(crate) fn run_cpu(
        &self,
        x: &Value,
        given: Option<LstmState>,
        state: &mut Option<LstmState>,
    ) -> Result<(ndarray::Array3<f32>, LstmState)> {
        let x3 = x.data.view().into_dimensionality::<Ix3>().map_err(|_| {
            Error::shape(
                format!("{} input", self.config.class_name()),
                "(B, T, D)",
                x.data.shape(),
            )
        })?;
        let (b, _, _) = x3.dim();
        let u = self.config.units;
        let start = match (given, state.as_ref()) {
            (Some(g), _) => g,
            (None, Some(s)) if self.config.stateful => s.clone(),
            _ => LstmState::zeros_for(b, u, self.config.cell)?,
        };
        let mut st = cpu::StepState {
            h: start.h,
            c: start.c,
            hold: crate::host_memory::zeros("state hold (B, U)", (b, u))?,
        };
        let y = crate::cell::run_sequence(
            &self.config,
            &self.weights,
            x3,
            x.mask
                .as_ref()
                .filter(|_| !self.config.ignores_mask)
                .map(|m| m.view()),
            &mut st,
        )?;
        let fin = LstmState { h: st.h, c: st.c };
        if self.config.stateful {
            *state = Some(fin.clone());
        }
        Ok((y, fin))
    }
}

/// (h, c) given as the second and third inputs (an LSTM), or h as the second (a GRU or
/// SimpleRNN: c is (B, 0)), as a state.
pub(crate) fn given_state(inputs: &[&Value]) -> Result<Option<LstmState>> {
    if inputs.len() == 2 {
        let h = inputs[1]
            .data
            .view()
            .into_dimensionality::<Ix2>()
            .map(|a| a.to_owned())
            .map_err(|_| Error::shape("initial_state h", "(B, U)", inputs[1].data.shape()))?;
        let b = h.nrows();
        return Ok(Some(LstmState {
            h,
            c: Array2::zeros((b, 0)),
        }));
    }
    if inputs.len() < 3 {
        return Ok(None);
    }
    let two = |v: &Value, what: &str| {
        v.data
            .view()
            .into_dimensionality::<Ix2>()
            .map(|a| a.to_owned())
            .map_err(|_| Error::shape(what, "(B, U)", v.data.shape()))
    };
    Ok(Some(LstmState {
        h: two(inputs[1], "initial_state h")?,
        c: two(inputs[2], "initial_state c")?,
    }))
}

/// The output values of one recurrent call from (B, T|1, U) and the final state.
pub(crate) fn output_values(
    cfg: &LstmConfig,
    y: ndarray::Array3<f32>,
    fin: LstmState,
    mask: Option<&Array2<bool>>,
) -> Vec<Value> {
    let (b, _, u) = y.dim();
    let out = if cfg.return_sequences {
        Value::new(y.into_dyn()).masked(mask.cloned())
    } else {
        Value::new(
            y.into_shape_with_order((b, u))
                .expect("(B, 1, U) is (B, U)")
                .into_dyn(),
        )
    };
    let mut v = vec![out];
    if cfg.return_state {
        v.push(Value::new(fin.h.into_dyn()));
        if cfg.cell.has_c() {
            v.push(Value::new(fin.c.into_dyn()));
        }
    }
    v
}

impl LayerOps for Recurrent {
    fn class_name(&self) -> &'static str {
        self.config.class_name()
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = self.check_inputs(inputs)?;
        Ok(self.outputs_for(x))
    }

    fn param_count(&self) -> usize {
        Recurrent::param_count(self)
    }

    fn cpu_work(&self, inputs: &[&[usize]], need: &mut HostBytes) -> Result<()> {
        if let Some(&[b, t, d]) = inputs.first() {
            need.absorb(crate::cell::call_host_bytes(&self.config, *b, *t, *d)?);
        }
        Ok(())
    }

    fn state_slots(&self) -> usize {
        1
    }

    fn stateful(&self) -> bool {
        self.config.stateful
    }

    fn detail(&self) -> String {
        let c = &self.config;
        let flag = |on: bool, s: &'static str| if on { s } else { "" };
        let rec = match c.cell {
            crate::config::CellKind::SimpleRnn => String::new(),
            crate::config::CellKind::Gru { reset_after } => {
                format!(" rec={} reset_after={reset_after}", c.recurrent_activation)
            }
            crate::config::CellKind::Lstm => format!(" rec={}", c.recurrent_activation),
        };
        format!(
            "units={} act={}{}{}{}{}{}",
            c.units,
            c.activation,
            rec,
            flag(c.return_sequences, " return_sequences"),
            flag(c.return_state, " return_state"),
            flag(c.go_backwards, " go_backwards"),
            flag(c.stateful, " stateful"),
        )
    }

    fn cpu(&self, inputs: &[&Value], states: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let given = given_state(inputs)?;
        let (y, fin) = self.run_cpu(inputs[0], given, &mut states[0])?;
        Ok(output_values(&self.config, y, fin, inputs[0].mask.as_ref()))
    }
}
