//! `describe`: what exactly a Keras `LSTM(units)` configuration is — equations with shapes,
//! weight shapes, Keras's parameter count, output and state shapes, and what `stateful` keeps.

use std::fmt::Write;

use crate::config::LstmConfig;
use crate::error::{Error, Result};

/// Describes one LSTM layer on `input_dim` features, for a batch of `batch` rows and
/// `timesteps` steps (either may be unknown, shown as `B` / `T`).
///
/// Every number shown is computed in checked arithmetic: a configuration that
/// [`LstmConfig::validate`] refuses, `input_dim = 0`, or a parameter count that overflows is
/// an [`Error::Config`] naming the field — never a wrapped count.
///
/// ```
/// use wgpu_lstm::{describe::describe_layer, Error, LstmConfig};
/// let text = describe_layer(&LstmConfig::new(4), 3, None, None).unwrap();
/// assert!(text.contains("parameters: 128"));
/// assert!(text.contains("kernel            (3, 16)"));
/// // GRU(4) on 3 features (reset_after=True): 108 parameters, as Keras's summary() says
/// let gru = describe_layer(&LstmConfig::gru(4), 3, None, None).unwrap();
/// assert!(gru.contains("parameters: 108") && gru.contains("bias              (2, 12)"));
/// let e = describe_layer(&LstmConfig::new(1 << 62), 3, None, None).unwrap_err();
/// assert!(matches!(&e, Error::Config { field, .. } if field == "units"));
/// ```
pub fn describe_layer(
    cfg: &LstmConfig,
    input_dim: usize,
    batch: Option<usize>,
    timesteps: Option<usize>,
) -> Result<String> {
    cfg.validate()?;
    if input_dim == 0 {
        return Err(Error::config("input_dim", "must be at least 1, got 0"));
    }
    let params = cfg.param_count(input_dim)?;
    let u = cfg.units;
    let d = input_dim;
    // validate() and param_count() bound every product below: 4U·U and 4U·D fit, and so
    // do 2U, 3U, 4U.
    let b = batch.map_or("B".to_string(), |b| b.to_string());
    let t = timesteps.map_or("T".to_string(), |t| t.to_string());
    if cfg.cell != crate::config::CellKind::Lstm {
        // GRU, SimpleRNN
        return Ok(crate::cell::describe(cfg, d, params, &b, &t));
    }
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(
        w,
        "LSTM({u}) on {d} input features ({}), activation={}, recurrent_activation={}",
        cfg.flavour.name(),
        cfg.activation,
        cfg.recurrent_activation
    );
    let _ = writeln!(
        w,
        "  one layer of {u} cells: the gates i, f, c, o and the states h, c are vectors of length {u} per batch row"
    );
    let _ = writeln!(
        w,
        "\nweights (Keras layout, gate blocks in order i | f | c | o, {u} columns each):"
    );
    let _ = writeln!(
        w,
        "  kernel            ({d}, {})   = {} params",
        4 * u,
        d * 4 * u
    );
    let _ = writeln!(
        w,
        "  recurrent_kernel  ({u}, {})   = {} params",
        4 * u,
        u * 4 * u
    );
    if cfg.use_bias {
        let _ = writeln!(w, "  bias              ({})      = {} params", 4 * u, 4 * u);
    } else {
        let _ = writeln!(w, "  bias              none (use_bias=False)");
    }
    let _ = writeln!(w, "  parameters: {params}");

    let _ = writeln!(w, "\nper timestep t, for each of the {b} batch rows:");
    let _ = writeln!(w, "  x_t ({d})  h_(t-1) ({u})  c_(t-1) ({u})");
    let bias = if cfg.use_bias { " + bias" } else { "" };
    let _ = writeln!(
        w,
        "  z   = x_t·kernel + h_(t-1)·recurrent_kernel{bias}        ({})",
        4 * u
    );
    let ra = cfg.recurrent_activation.formula();
    let a = cfg.activation.formula();
    let _ = writeln!(w, "  i   = ract(z[0:{u}])        input gate   ({u})");
    let _ = writeln!(w, "  f   = ract(z[{u}:{}])       forget gate  ({u})", 2 * u);
    let _ = writeln!(
        w,
        "  g   = act(z[{}:{}])        cell input   ({u})",
        2 * u,
        3 * u
    );
    let _ = writeln!(
        w,
        "  o   = ract(z[{}:{}])       output gate  ({u})",
        3 * u,
        4 * u
    );
    let _ = writeln!(
        w,
        "  c_t = f * c_(t-1) + i * g                              ({u})"
    );
    let _ = writeln!(
        w,
        "  h_t = o * act(c_t)      (the step's output)            ({u})"
    );
    let _ = writeln!(w, "  where ract(x) = {ra}, act(x) = {a}");

    let _ = writeln!(
        w,
        "\ncall: inputs ({b}, {t}, {d}), optional mask ({b}, {t}), optional initial_state [h ({b}, {u}), c ({b}, {u})]"
    );
    let order = if cfg.go_backwards {
        format!(
            "steps {t}-1 … 0 (go_backwards); a returned sequence stays in that processing order: out[:, k] is input step {t}-1-k"
        )
    } else {
        format!("steps 0 … {t}-1")
    };
    let _ = writeln!(w, "  processes {order}");
    let out = if cfg.return_sequences {
        format!("({b}, {t}, {u}): h_t for every step")
    } else {
        format!("({b}, {u}): the last step's h")
    };
    let _ = writeln!(w, "  output: {out}");
    if cfg.return_state {
        let _ = writeln!(
            w,
            "  return_state: also h_T ({b}, {u}) and c_T ({b}, {u}) → [output, h, c]"
        );
    }
    let _ = writeln!(
        w,
        "  masked steps: h, c carried unchanged; output = {}",
        if cfg.zero_output_for_mask {
            "0 (zero_output_for_mask)"
        } else {
            "the previous step's output (0 before the row's first valid step)"
        }
    );
    if cfg.stateful {
        let _ = writeln!(
            w,
            "\nstateful=True: h ({b}, {u}) and c ({b}, {u}) are kept after each call and are the \
             initial state of the next call (calls may differ in T, not in batch size {b}); \
             reset_states() sets them to zeros; an initial_state passed to a call overrides them. \
             The masked-output hold does not carry: each call starts with a previous output of 0."
        );
    } else {
        let _ = writeln!(
            w,
            "\nstateful=False: every call starts from h = c = 0 (or the given initial_state); nothing is kept."
        );
    }
    Ok(s)
}
