//! Keras's recurrent layers: `LSTM` (GRU and SimpleRNN join here). Config and weights are
//! [`LstmConfig`] and [`LstmWeights`]; the CPU code is `cpu::run_sequence`.
//!
//! Inputs: the sequence (B, T, D), and optionally an initial state (h, c), each (B, U), fed
//! from other tensors of the graph (Keras's `initial_state=[h, c]`). Outputs: the sequence
//! (B, T, U) with `return_sequences`, else the last output (B, U); then h and c with
//! `return_state`. Mask (Keras's `compute_mask`): the input's mask with `return_sequences`,
//! none otherwise; states never carry a mask.
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
        config.validate()?;
        weights.check(&config)?;
        Ok(Recurrent { config, weights })
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
        let x = match inputs {
            [x] | [x, _, _] => x,
            _ => {
                return Err(Error::config(
                    "inputs",
                    format!(
                        "an LSTM takes a sequence and optionally its initial state [h, c]: \
                         got {} tensors",
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
            out.push(TensorInfo::f32(vec![u]));
            out.push(TensorInfo::f32(vec![u]));
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
        let x3 = x
            .data
            .view()
            .into_dimensionality::<Ix3>()
            .map_err(|_| Error::shape("LSTM input", "(B, T, D)", x.data.shape()))?;
        let (b, _, _) = x3.dim();
        let u = self.config.units;
        let start = match (given, state.as_ref()) {
            (Some(g), _) => g,
            (None, Some(s)) if self.config.stateful => s.clone(),
            _ => LstmState::zeros(b, u)?,
        };
        let mut st = cpu::StepState {
            h: start.h,
            c: start.c,
            hold: crate::host_memory::zeros("state hold (B, U)", (b, u))?,
        };
        let y = cpu::run_sequence(
            &self.config,
            &self.weights,
            x3,
            x.mask.as_ref().map(|m| m.view()),
            &mut st,
        )?;
        let fin = LstmState { h: st.h, c: st.c };
        if self.config.stateful {
            *state = Some(fin.clone());
        }
        Ok((y, fin))
    }
}

/// (h, c) given as the second and third inputs, as a state.
pub(crate) fn given_state(inputs: &[&Value]) -> Result<Option<LstmState>> {
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
        v.push(Value::new(fin.c.into_dyn()));
    }
    v
}

impl LayerOps for Recurrent {
    fn class_name(&self) -> &'static str {
        "LSTM"
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = self.check_inputs(inputs)?;
        Ok(self.outputs_for(x))
    }

    fn param_count(&self) -> usize {
        // the elements of arrays in memory: the sum cannot overflow
        let w = &self.weights;
        w.kernel.len() + w.recurrent_kernel.len() + w.bias.as_ref().map_or(0, |b| b.len())
    }

    fn cpu_work(&self, inputs: &[&[usize]], need: &mut HostBytes) -> Result<()> {
        if let Some(&[b, t, d]) = inputs.first() {
            need.absorb(cpu::call_host_bytes(&self.config, *b, *t, *d)?);
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
        format!(
            "units={} act={} rec={}{}{}{}{}",
            c.units,
            c.activation,
            c.recurrent_activation,
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
