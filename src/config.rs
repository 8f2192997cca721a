//! [`LstmConfig`]: the Keras `LSTM(...)` / `GRU(...)` / `SimpleRNN(...)` arguments that
//! change inference numbers, and [`CellKind`]: which of the three cells a layer runs.

use crate::activation::{Activation, KerasFlavour};
use crate::error::{Error, Result};

/// The cell a recurrent layer runs at every step: Keras's `LSTM`, `GRU` or `SimpleRNN`
/// (and their `LSTMCell`, `GRUCell`, `SimpleRNNCell` inside `RNN(cell)`).
///
/// | cell | gate blocks (Keras order) | state | bias |
/// |---|---|---|---|
/// | `Lstm` | 4: i, f, c, o | h, c | (4U) |
/// | `Gru { reset_after: true }` | 3: z, r, h | h | (2, 3U): input bias, recurrent bias |
/// | `Gru { reset_after: false }` | 3: z, r, h | h | (3U) |
/// | `SimpleRnn` | 1 | h | (U) |
///
/// ```
/// use wgpu_lstm::CellKind;
/// assert_eq!(CellKind::Gru { reset_after: true }.gates(), 3);
/// assert!(CellKind::Lstm.has_c() && !CellKind::SimpleRnn.has_c());
/// assert_eq!(CellKind::SimpleRnn.class_name(), "SimpleRNN");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CellKind {
    /// Keras `LSTM` (the default).
    #[default]
    Lstm,
    /// Keras `GRU`; `reset_after` as Keras's argument (default true: the reset gate
    /// multiplies `h·R_h + b_h`, after the product; false: it multiplies h before it).
    Gru {
        /// Keras's `reset_after`.
        reset_after: bool,
    },
    /// Keras `SimpleRNN`: `h' = act(x·K + h·R + b)`.
    SimpleRnn,
}

impl CellKind {
    /// Gate blocks of U columns in the kernels: 4, 3 or 1.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::CellKind::Lstm.gates(), 4);
    /// ```
    pub fn gates(self) -> usize {
        match self {
            CellKind::Lstm => 4,
            CellKind::Gru { .. } => 3,
            CellKind::SimpleRnn => 1,
        }
    }

    /// Whether the cell has a cell state c besides h (only the LSTM).
    ///
    /// ```
    /// assert!(!wgpu_lstm::CellKind::Gru { reset_after: false }.has_c());
    /// ```
    pub fn has_c(self) -> bool {
        self == CellKind::Lstm
    }

    /// The width of the state c for `units`: U for an LSTM, 0 for the others (their
    /// [`crate::LstmState`] has a c of shape (B, 0)).
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::CellKind::SimpleRnn.c_units(8), 0);
    /// ```
    pub fn c_units(self, units: usize) -> usize {
        if self.has_c() { units } else { 0 }
    }

    /// The Keras layer class: `LSTM`, `GRU`, `SimpleRNN`.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::CellKind::Gru { reset_after: true }.class_name(), "GRU");
    /// ```
    pub fn class_name(self) -> &'static str {
        match self {
            CellKind::Lstm => "LSTM",
            CellKind::Gru { .. } => "GRU",
            CellKind::SimpleRnn => "SimpleRNN",
        }
    }

    /// The cell of a Keras class name: `LSTM`/`LSTMCell`, `GRU`/`GRUCell`,
    /// `SimpleRNN`/`SimpleRNNCell` (`reset_after` is read from the config later).
    ///
    /// ```
    /// use wgpu_lstm::CellKind;
    /// assert_eq!(CellKind::from_class("GRUCell"), Some(CellKind::Gru { reset_after: true }));
    /// assert_eq!(CellKind::from_class("Dense"), None);
    /// ```
    pub fn from_class(class: &str) -> Option<Self> {
        Some(match class {
            "LSTM" | "LSTMCell" => CellKind::Lstm,
            "GRU" | "GRUCell" => CellKind::Gru { reset_after: true },
            "SimpleRNN" | "SimpleRNNCell" => CellKind::SimpleRnn,
            _ => return None,
        })
    }

    /// The bias length Keras stores for `units` (flattened): 4U, 2·3U or 3U, U.
    ///
    /// ```
    /// use wgpu_lstm::CellKind;
    /// assert_eq!(CellKind::Gru { reset_after: true }.bias_len(4), 24);
    /// assert_eq!(CellKind::Gru { reset_after: false }.bias_len(4), 12);
    /// ```
    pub fn bias_len(self, units: usize) -> usize {
        match self {
            CellKind::Gru { reset_after: true } => 6 * units,
            c => c.gates() * units,
        }
    }
}

/// The configuration of one Keras `LSTM` layer, with Keras's field names and defaults — or
/// of a `GRU` or `SimpleRNN` layer, with [`LstmConfig::cell`] saying which (the options are
/// the same; `recurrent_activation` is unused by `SimpleRNN`, `unit_forget_bias` is LSTM's).
///
/// Arguments that do not change inference numbers (`dropout`, `recurrent_dropout`,
/// regularizers, constraints, `unroll`, `implementation`) are not represented;
/// `unit_forget_bias` only matters when weights are initialised here.
///
/// ```
/// use wgpu_lstm::{Activation, LstmConfig};
/// let cfg = LstmConfig { return_sequences: true, ..LstmConfig::new(4) };
/// assert_eq!(cfg.units, 4);
/// assert_eq!(cfg.activation, Activation::Tanh);
/// assert_eq!(cfg.recurrent_activation, Activation::Sigmoid);
/// assert!(cfg.use_bias && !cfg.stateful);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LstmConfig {
    /// `units`: the hidden size U. The gates i, f, c, o and the states h, c are vectors of
    /// length U per batch row. Must be ≥ 1. No default in Keras.
    pub units: usize,
    /// `activation`: applied to the cell candidate g and to c before `h = o·act(c)`.
    /// Default `tanh`.
    pub activation: Activation,
    /// `recurrent_activation`: applied to the gates i, f, o. Default `sigmoid`.
    pub recurrent_activation: Activation,
    /// `use_bias`: whether the layer has a `bias` of shape (4U). Default true.
    pub use_bias: bool,
    /// `unit_forget_bias`: initialise the forget-gate bias to 1 (only affects
    /// [`crate::LstmWeights::keras_default`]). Default true.
    pub unit_forget_bias: bool,
    /// `return_sequences`: output every step (B, T, U) instead of the last one (B, U).
    /// Default false.
    pub return_sequences: bool,
    /// `return_state`: also return the final h and c, each (B, U). Default false.
    pub return_state: bool,
    /// `go_backwards`: process steps T-1 … 0; the returned sequence stays in that processing
    /// order. Default false.
    pub go_backwards: bool,
    /// `stateful`: carry the final h, c of one call into the next call. Default false.
    pub stateful: bool,
    /// `zero_output_for_mask`: masked steps output zeros instead of the previous output.
    /// Default false (Keras's `Bidirectional` sets it to `return_sequences`).
    pub zero_output_for_mask: bool,
    /// Which Keras the configuration came from. Recorded for `describe`; activation names are
    /// resolved with it by [`LstmConfig::from_keras_json`]. Default Keras 3.
    pub flavour: KerasFlavour,
    /// The cell: LSTM (the default), GRU or SimpleRNN.
    pub cell: CellKind,
    /// The layer does not read its input's mask (it still passes it on): Keras 3 gives a
    /// layer called with more than one tensor argument — a sequence and an `initial_state` —
    /// no mask unless `mask=` is passed explicitly, and the output keeps the input's mask.
    /// Set by the model loader; default false.
    pub ignores_mask: bool,
}

impl LstmConfig {
    /// Keras's defaults for `LSTM(units)`.
    ///
    /// ```
    /// let cfg = wgpu_lstm::LstmConfig::new(128);
    /// assert!(!cfg.return_sequences && !cfg.return_state && !cfg.go_backwards);
    /// ```
    pub fn new(units: usize) -> Self {
        LstmConfig {
            units,
            activation: Activation::Tanh,
            recurrent_activation: Activation::Sigmoid,
            use_bias: true,
            unit_forget_bias: true,
            return_sequences: false,
            return_state: false,
            go_backwards: false,
            stateful: false,
            zero_output_for_mask: false,
            flavour: KerasFlavour::Keras3,
            cell: CellKind::Lstm,
            ignores_mask: false,
        }
    }

    /// Keras's defaults for `GRU(units)` (`reset_after=True`).
    ///
    /// ```
    /// let cfg = wgpu_lstm::LstmConfig::gru(4);
    /// assert_eq!(cfg.cell, wgpu_lstm::CellKind::Gru { reset_after: true });
    /// ```
    pub fn gru(units: usize) -> Self {
        LstmConfig {
            cell: CellKind::Gru { reset_after: true },
            ..Self::new(units)
        }
    }

    /// Keras's defaults for `SimpleRNN(units)`.
    ///
    /// ```
    /// let cfg = wgpu_lstm::LstmConfig::simple_rnn(4);
    /// assert_eq!(cfg.cell.gates(), 1);
    /// ```
    pub fn simple_rnn(units: usize) -> Self {
        LstmConfig {
            cell: CellKind::SimpleRnn,
            ..Self::new(units)
        }
    }

    /// The Keras class this configuration is a layer of (`LSTM`, `GRU`, `SimpleRNN`).
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::LstmConfig::gru(2).class_name(), "GRU");
    /// ```
    pub fn class_name(&self) -> &'static str {
        self.cell.class_name()
    }

    /// Checks the fields that can be wrong on their own: `units ≥ 1`, and `units` small enough
    /// that the recurrent kernel (U, 4U) of f32 has a size this machine can address (4U,
    /// U·4U and its bytes fit `isize::MAX`); a larger `units` is an [`Error::Config`] naming
    /// `units`, not a wrapped size.
    ///
    /// ```
    /// use wgpu_lstm::{Error, LstmConfig};
    /// assert!(LstmConfig::new(0).validate().is_err());
    /// assert!(LstmConfig::new(1).validate().is_ok());
    /// let e = LstmConfig::new(1 << 31).validate().unwrap_err();
    /// assert!(matches!(&e, Error::Config { field, .. } if field == "units"));
    /// ```
    pub fn validate(&self) -> Result<()> {
        let u = self.units;
        if u == 0 {
            return Err(Error::config("units", "must be at least 1, got 0"));
        }
        if crate::host_memory::checked_bytes::<f32>("", &[u, 4])
            .and_then(|_| crate::host_memory::checked_bytes::<f32>("", &[u, 4, u]))
            .is_err()
        {
            return Err(Error::config(
                "units",
                format!(
                    "{u} is too large: the recurrent kernel (U, 4U) would hold {u}·{} f32 values, \
                     more bytes than this machine can address",
                    u.saturating_mul(4)
                ),
            ));
        }
        Ok(())
    }

    /// Reads a Keras `LSTM` config dict (as `layer.get_config()` returns it, or as stored in a
    /// fixture / `config.json`). Missing optional fields take Keras's defaults; `units` is
    /// required; activation names are resolved for `flavour`.
    ///
    /// ```
    /// use wgpu_lstm::{Activation, KerasFlavour, LstmConfig};
    /// let json = serde_json::json!({"units": 3, "recurrent_activation": "hard_sigmoid"});
    /// let cfg = LstmConfig::from_keras_json(&json, KerasFlavour::Keras2).unwrap();
    /// assert_eq!(cfg.recurrent_activation, Activation::HardSigmoidKeras2);
    /// ```
    pub fn from_keras_json(v: &serde_json::Value, flavour: KerasFlavour) -> Result<Self> {
        Self::from_keras_cell_json(CellKind::Lstm, v, flavour)
    }

    /// Reads the config dict of a `GRU`, `SimpleRNN` or `LSTM` layer (or of its cell class
    /// merged with the `RNN` wrapper's flags), as [`LstmConfig::from_keras_json`] does; for a
    /// GRU `reset_after` is read (default true).
    ///
    /// ```
    /// use wgpu_lstm::{CellKind, KerasFlavour, LstmConfig};
    /// let json = serde_json::json!({"units": 3, "reset_after": false});
    /// let cfg = LstmConfig::from_keras_cell_json(CellKind::Gru { reset_after: true }, &json, KerasFlavour::Keras3).unwrap();
    /// assert_eq!(cfg.cell, CellKind::Gru { reset_after: false });
    /// ```
    pub fn from_keras_cell_json(
        cell: CellKind,
        v: &serde_json::Value,
        flavour: KerasFlavour,
    ) -> Result<Self> {
        let class = cell.class_name();
        let obj = v.as_object().ok_or_else(|| {
            Error::config("config", format!("a {class} config must be a JSON object"))
        })?;
        let units = match obj.get("units") {
            Some(u) => u.as_u64().ok_or_else(|| {
                Error::config("units", format!("must be a non-negative integer, got {u}"))
            })? as usize,
            None => return Err(Error::config("units", "missing")),
        };
        let mut cfg = LstmConfig {
            flavour,
            cell,
            ..LstmConfig::new(units)
        };
        let act = |field: &str, default: Activation| -> Result<Activation> {
            match obj.get(field) {
                None | Some(serde_json::Value::Null) => Ok(default),
                Some(serde_json::Value::String(s)) => Activation::from_keras_name(s, flavour),
                Some(other) => Err(Error::config(
                    field,
                    format!("expected an activation name (string), got {other}"),
                )),
            }
        };
        cfg.activation = act("activation", cfg.activation)?;
        cfg.recurrent_activation = act("recurrent_activation", cfg.recurrent_activation)?;
        let flag = |field: &str, default: bool| -> Result<bool> {
            match obj.get(field) {
                None | Some(serde_json::Value::Null) => Ok(default),
                Some(serde_json::Value::Bool(b)) => Ok(*b),
                Some(other) => Err(Error::config(
                    field,
                    format!("expected true or false, got {other}"),
                )),
            }
        };
        cfg.use_bias = flag("use_bias", cfg.use_bias)?;
        cfg.unit_forget_bias = flag("unit_forget_bias", cfg.unit_forget_bias)?;
        cfg.return_sequences = flag("return_sequences", cfg.return_sequences)?;
        cfg.return_state = flag("return_state", cfg.return_state)?;
        cfg.go_backwards = flag("go_backwards", cfg.go_backwards)?;
        cfg.stateful = flag("stateful", cfg.stateful)?;
        cfg.zero_output_for_mask = flag("zero_output_for_mask", cfg.zero_output_for_mask)?;
        if let CellKind::Gru { .. } = cell {
            cfg.cell = CellKind::Gru {
                reset_after: flag("reset_after", true)?,
            };
        }
        if flag("time_major", false)? {
            return Err(Error::Unsupported(format!(
                "time_major=true {class} layers (inputs must be batch-major)"
            )));
        }
        cfg.validate()?;
        Ok(cfg)
    }

    /// Keras's parameter count for this layer on `input_dim` features:
    /// `4U·D + 4U·U + 4U` for an LSTM (the last term only with `use_bias`; a GRU has
    /// `3U·D + 3U·U` and a bias of 2·3U with `reset_after`, else 3U; a SimpleRNN
    /// `U·D + U·U + U`), in checked arithmetic: a
    /// `units` that [`LstmConfig::validate`] refuses is that error, and a count that
    /// overflows is an [`Error::Config`] naming `input_dim` — never a wrapped number.
    ///
    /// ```
    /// use wgpu_lstm::{Error, LstmConfig};
    /// // LSTM(4) on 3 features has 128 parameters, as Keras's summary() says.
    /// assert_eq!(LstmConfig::new(4).param_count(3).unwrap(), 128);
    /// // GRU(4) with reset_after=True: 108; SimpleRNN(4): 32
    /// assert_eq!(LstmConfig::gru(4).param_count(3).unwrap(), 108);
    /// assert_eq!(LstmConfig::simple_rnn(4).param_count(3).unwrap(), 32);
    /// let e = LstmConfig::new(4).param_count(usize::MAX / 8).unwrap_err();
    /// assert!(matches!(&e, Error::Config { field, .. } if field == "input_dim"));
    /// ```
    pub fn param_count(&self, input_dim: usize) -> Result<usize> {
        self.validate()?;
        let u = self.units;
        // validate() bounds 4U and U·4U far below usize::MAX
        let g = self.cell.gates() * u;
        let bias = if self.use_bias {
            self.cell.bias_len(u)
        } else {
            0
        };
        g.checked_mul(input_dim)
            .and_then(|k| k.checked_add(g * u))
            .and_then(|n| n.checked_add(bias))
            .ok_or_else(|| {
                Error::config(
                    "input_dim",
                    format!(
                        "{input_dim} is too large: the parameter count of {}({u}) on \
                         {input_dim} features overflows a {}-bit count",
                        self.class_name(),
                        usize::BITS
                    ),
                )
            })
    }
}

/// The precision a layer's weights are stored in on the GPU.
///
/// `F16Weights` (opt-in) stores the recurrent kernel as f16 — half the bytes read per
/// timestep, the step's bottleneck — while every product and sum stays f32. It needs the
/// adapter feature `SHADER_F16`. Its error against f32 grows with `units` (measured on the
/// CPU twin, see README "Precision"); on the CPU the same rounding is applied, so both paths
/// still agree with each other.
///
/// ```
/// assert_eq!(wgpu_lstm::Precision::default(), wgpu_lstm::Precision::F32);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    /// Exact f32, as Keras computes (the default).
    #[default]
    F32,
    /// Recurrent kernel stored as f16, arithmetic in f32.
    F16Weights,
}
