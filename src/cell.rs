//! The CPU cells of Keras's `GRU` and `SimpleRNN` (the LSTM's are in [`crate::cpu`]): one
//! timestep for all batch rows, and a whole call. Twins of the `gru_cell` / `simple_rnn_cell`
//! updates in `shaders/activation.wgsl`, which the GPU's persistent and per-step recurrent
//! kernels call for these cells.
//!
//! | CPU (this file)     | GPU                                         |
//! |---------------------|---------------------------------------------|
//! | [`gru_cell`]        | `gru_cell` in `shaders/activation.wgsl`     |
//! | [`simple_rnn_cell`] | `simple_rnn_cell` in `shaders/activation.wgsl` |
//! | [`cell_step`]       | one dispatch of `lstm_step.wgsl` (two for `reset_after=False`) |
//! | [`run_sequence`]    | the input projection, then the recurrence   |
//!
//! The arithmetic is Keras's (`GRUCell.call`, `SimpleRNNCell.call`, Keras 3 and tf_keras
//! alike), in its order:
//!
//! ```text
//! GRU, reset_after=True:   x3 = x·K + b_x;  r3 = h·R + b_h            (3 blocks z, r, h)
//!                          z = ract(x_z + r_z);  r = ract(x_r + r_r)
//!                          h~ = act(x_h + r ⊙ r_h)
//! GRU, reset_after=False:  x3 = x·K + b;  z = ract(x_z + h·R_z);  r = ract(x_r + h·R_r)
//!                          h~ = act(x_h + (r ⊙ h)·R_h)
//!                          h' = z ⊙ h + (1 − z) ⊙ h~                  (both GRU forms)
//! SimpleRNN:               h' = act((x·K + b) + h·R)
//! ```
//!
//! Masking, `go_backwards`, `zero_output_for_mask` and the output hold follow the LSTM's rules
//! exactly (see [`crate::cpu::lstm_step`]); the state is h alone.

use ndarray::{Array2, Array3, ArrayView2, ArrayView3, ArrayViewMut2, Axis, s};

use crate::activation::Activation;
use crate::config::{CellKind, LstmConfig};
use crate::cpu::StepState;
use crate::error::{Error, Result};
use crate::host_memory::{self, HostBytes};
use crate::weights::LstmWeights;

/// The host memory a CPU call of a recurrent layer of any cell allocates on inputs
/// (B, T, D) — for an LSTM, [`crate::cpu::call_host_bytes`]; for a GRU or SimpleRNN the
/// inputs copy, the input projection (B, T, G·U), the output, the states (initial, carried,
/// hold, a stateful layer's stored copy), one step's recurrent product and gate work arrays,
/// the row mask. Overflow is an [`Error::SizeOverflow`] naming the array.
///
/// ```
/// use wgpu_lstm::{cell, LstmConfig};
/// let need = cell::call_host_bytes(&LstmConfig::gru(4), 2, 5, 3).unwrap();
/// assert!(need.total() > 4 * 2 * 5 * 12);
/// ```
pub fn call_host_bytes(
    config: &LstmConfig,
    batch: usize,
    steps: usize,
    input_dim: usize,
) -> Result<HostBytes> {
    if config.cell.has_c() {
        return crate::cpu::call_host_bytes(config, batch, steps, input_dim);
    }
    config.validate()?;
    let (b, t, d, u) = (batch, steps, input_dim, config.units);
    let g = config.cell.gates() * u; // validate() bounds it
    let out_steps = if config.return_sequences { t } else { 1 };
    let mut need = HostBytes::new(format!(
        "a CPU call of {}({u}) on inputs ({b}, {t}, {d})",
        config.class_name()
    ));
    need.array::<f32>("inputs copy (B, T, D)", &[b, t, d])?
        .array::<f32>("input projection (B, T, G·U)", &[b, t, g])?
        .array::<f32>("output (B, T, U)", &[b, out_steps, u])?
        .array::<f32>("initial state h (B, U)", &[b, u])?
        .array::<f32>("state h, hold (2, B, U)", &[2, b, u])?
        .array::<f32>("recurrent product and gates (3, B, G·U)", &[3, b, g])?
        .array::<bool>("row mask (B)", &[b])?;
    if config.stateful {
        need.array::<f32>("stored state h (B, U)", &[b, u])?;
    }
    Ok(need)
}

/// The GRU update of one unit: `x` = (x_z, x_r, x_h), the input projection with the input
/// bias; `rec` = (r_z, r_r, r_h), the recurrent products — with `reset_after`, `h·R + b_h`
/// (the recurrent bias included); without, `h·R_z`, `h·R_r` and `(r ⊙ h)·R_h`; `h` the
/// unit's previous state. Returns h'. Twin of `gru_cell` in `shaders/activation.wgsl`.
///
/// ```
/// use wgpu_lstm::{cell, Activation};
/// // zero pre-activations: z = 0.5, h~ = tanh(0) = 0, h' = 0.5·h
/// let h = cell::gru_cell([0.0; 3], [0.0; 3], 0.8, Activation::Tanh, Activation::Sigmoid, true);
/// assert_eq!(h, 0.4);
/// ```
pub fn gru_cell(
    x: [f32; 3],
    rec: [f32; 3],
    h: f32,
    act: Activation,
    ract: Activation,
    reset_after: bool,
) -> f32 {
    let z = ract.apply(x[0] + rec[0]);
    let hh = if reset_after {
        let r = ract.apply(x[1] + rec[1]);
        act.apply(x[2] + r * rec[2])
    } else {
        act.apply(x[2] + rec[2])
    };
    z * h + (1.0 - z) * hh
}

/// The SimpleRNN update of one unit: `x` the input projection with the bias, `rec` = h·R.
/// Twin of `simple_rnn_cell` in `shaders/activation.wgsl`.
///
/// ```
/// use wgpu_lstm::{cell, Activation};
/// assert_eq!(cell::simple_rnn_cell(0.5, 0.25, Activation::Linear), 0.75);
/// ```
pub fn simple_rnn_cell(x: f32, rec: f32, act: Activation) -> f32 {
    act.apply(x + rec)
}

/// One timestep of a GRU or SimpleRNN layer for all rows, in place: step `k` in processing
/// order (input step `T-1-k` with `go_backwards`). `z` is the input projection
/// (B, T, G·U) with the input bias; `recurrent_bias` a GRU's `b_h` with `reset_after`.
/// Valid rows: h, hold = h'; y = h'. Masked rows: h carried; y = 0 with
/// `zero_output_for_mask`, else the hold. `y` goes to `out[b, k·U..]` with
/// `return_sequences` (`out` is (B, T·U)), else to `out[b, ..U]`. An LSTM configuration is
/// an [`Error::Unsupported`] (its step is [`crate::cpu::lstm_step`]); the shapes are the
/// caller's to keep consistent, as [`run_sequence`] does.
///
/// ```
/// use ndarray::{Array2, Array3};
/// use wgpu_lstm::{cell, cpu, LstmConfig, LstmWeights};
/// let cfg = LstmConfig::simple_rnn(2);
/// let w = LstmWeights::keras_default(1, &cfg, 0).unwrap();
/// let z = Array3::<f32>::zeros((1, 1, 2));
/// let mut st = cpu::StepState { c: Array2::zeros((1, 0)), ..cpu::StepState::zeros(1, 2).unwrap() };
/// let mut out = Array2::<f32>::zeros((1, 2));
/// cell::cell_step(&cfg, 0, z.view(), w.recurrent_kernel.view(), None, None, &mut st, out.view_mut()).unwrap();
/// assert_eq!(out[[0, 0]], 0.0); // tanh(0 + 0·R)
/// ```
#[allow(clippy::too_many_arguments)]
pub fn cell_step(
    config: &LstmConfig,
    k: usize,
    z: ArrayView3<'_, f32>,
    recurrent_kernel: ArrayView2<'_, f32>,
    recurrent_bias: Option<ndarray::ArrayView1<'_, f32>>,
    mask: Option<ArrayView2<'_, bool>>,
    state: &mut StepState,
    mut out: ArrayViewMut2<'_, f32>,
) -> Result<()> {
    if config.cell == CellKind::Lstm {
        return Err(Error::Unsupported(
            "cell::cell_step of an LSTM (its step is cpu::lstm_step)".into(),
        ));
    }
    let (batch, steps, _) = z.dim();
    let u = config.units;
    let t_in = if config.go_backwards {
        steps - 1 - k
    } else {
        k
    };
    let x = z.index_axis(Axis(1), t_in);
    let valid: Vec<bool> = (0..batch)
        .map(|b| mask.is_none_or(|m| m[[b, t_in]]))
        .collect();
    let cols = if config.return_sequences {
        k * u..(k + 1) * u
    } else {
        0..u
    };
    let mut out = out.slice_mut(s![.., cols]);
    let (act, ract) = (config.activation, config.recurrent_activation);
    let h_new: Array2<f32> = match config.cell {
        CellKind::SimpleRnn => {
            let rec = crate::matmul::matmul(state.h.view(), recurrent_kernel);
            ndarray::Zip::from(&x)
                .and(&rec)
                .map_collect(|&xv, &rv| simple_rnn_cell(xv, rv, act))
        }
        CellKind::Gru { reset_after: true } => {
            let mut rec = crate::matmul::matmul(state.h.view(), recurrent_kernel);
            if let Some(bh) = recurrent_bias {
                rec += &bh;
            }
            Array2::from_shape_fn((batch, u), |(b, j)| {
                gru_cell(
                    [x[[b, j]], x[[b, u + j]], x[[b, 2 * u + j]]],
                    [rec[[b, j]], rec[[b, u + j]], rec[[b, 2 * u + j]]],
                    state.h[[b, j]],
                    act,
                    ract,
                    true,
                )
            })
        }
        CellKind::Gru { reset_after: false } => {
            let zr = crate::matmul::matmul(state.h.view(), recurrent_kernel.slice(s![.., ..2 * u]));
            // r ⊙ h, then its product with R_h
            let rh = Array2::from_shape_fn((batch, u), |(b, j)| {
                ract.apply(x[[b, u + j]] + zr[[b, u + j]]) * state.h[[b, j]]
            });
            let rec_h = crate::matmul::matmul(rh.view(), recurrent_kernel.slice(s![.., 2 * u..]));
            Array2::from_shape_fn((batch, u), |(b, j)| {
                gru_cell(
                    [x[[b, j]], x[[b, u + j]], x[[b, 2 * u + j]]],
                    [zr[[b, j]], zr[[b, u + j]], rec_h[[b, j]]],
                    state.h[[b, j]],
                    act,
                    ract,
                    false,
                )
            })
        }
        CellKind::Lstm => return Ok(()), // refused above
    };
    for (b, &ok) in valid.iter().enumerate() {
        if ok {
            state.h.row_mut(b).assign(&h_new.row(b));
            state.hold.row_mut(b).assign(&h_new.row(b));
            out.row_mut(b).assign(&h_new.row(b));
        } else if config.zero_output_for_mask {
            out.row_mut(b).fill(0.0);
        } else {
            out.row_mut(b).assign(&state.hold.row(b));
        }
    }
    Ok(())
}

/// The input bias and (GRU with `reset_after`) the recurrent bias of a layer's weights.
fn biases<'a>(
    config: &LstmConfig,
    weights: &'a LstmWeights,
) -> (
    Option<ndarray::ArrayView1<'a, f32>>,
    Option<ndarray::ArrayView1<'a, f32>>,
) {
    let g = config.cell.gates() * config.units;
    match (&weights.bias, config.cell) {
        (None, _) => (None, None),
        (Some(b), CellKind::Gru { reset_after: true }) => {
            (Some(b.slice(s![..g])), Some(b.slice(s![g..])))
        }
        (Some(b), _) => (Some(b.view()), None),
    }
}

/// A whole call of a GRU or SimpleRNN layer on the CPU, on the packed kernels of
/// [`crate::cpu_kernels`] (weights packed at the first call and kept with them, the
/// recurrent product and the cell fused per tile — a GRU with `reset_after=False` in two
/// phases per step; once warm a call packs nothing and grows no work space).
/// [`run_sequence_reference`] runs the plain per-step code ([`cell_step`]) instead. `state.h` holds h0 on entry
/// and h_T on return (`state.c` is unused, (B, 0)); its hold is reset to zeros first. Returns (B, T, U) with
/// `return_sequences`, else (B, 1, U). The call's memory ([`call_host_bytes`]) is checked
/// before any work.
///
/// ```
/// use ndarray::Array3;
/// use wgpu_lstm::{cell, cpu, LstmConfig, LstmWeights};
/// let cfg = LstmConfig { return_sequences: true, ..LstmConfig::gru(3) };
/// let w = LstmWeights::keras_default(2, &cfg, 7).unwrap();
/// let x = Array3::<f32>::ones((4, 5, 2));
/// let mut st = cpu::StepState::zeros(4, 3).unwrap();
/// let y = cell::run_sequence(&cfg, &w, x.view(), None, &mut st).unwrap();
/// assert_eq!(y.dim(), (4, 5, 3));
/// assert_eq!(y.slice(ndarray::s![.., 4, ..]), st.h);
/// ```
pub fn run_sequence(
    config: &LstmConfig,
    weights: &LstmWeights,
    x: ArrayView3<'_, f32>,
    mask: Option<ArrayView2<'_, bool>>,
    state: &mut StepState,
) -> Result<Array3<f32>> {
    run(config, weights, x, mask, state, true)
}

/// [`run_sequence`] on the plain per-step code of this file ([`cell_step`] with
/// `matmul`), whatever the cell: the reference the packed kernels are tested against. An
/// LSTM configuration runs [`crate::cpu::run_sequence_reference`].
///
/// ```
/// use ndarray::Array3;
/// use wgpu_lstm::{cell, cpu, LstmConfig, LstmWeights};
/// let cfg = LstmConfig { return_sequences: true, ..LstmConfig::gru(3) };
/// let w = LstmWeights::keras_default(2, &cfg, 7).unwrap();
/// let x = Array3::<f32>::ones((4, 5, 2));
/// let mut a = cpu::StepState::zeros(4, 3).unwrap();
/// let mut b = cpu::StepState::zeros(4, 3).unwrap();
/// let y = cell::run_sequence_reference(&cfg, &w, x.view(), None, &mut a).unwrap();
/// let fast = cell::run_sequence(&cfg, &w, x.view(), None, &mut b).unwrap();
/// assert!((&y - &fast).iter().all(|d| d.abs() < 1e-6));
/// ```
pub fn run_sequence_reference(
    config: &LstmConfig,
    weights: &LstmWeights,
    x: ArrayView3<'_, f32>,
    mask: Option<ArrayView2<'_, bool>>,
    state: &mut StepState,
) -> Result<Array3<f32>> {
    run(config, weights, x, mask, state, false)
}

fn run(
    config: &LstmConfig,
    weights: &LstmWeights,
    x: ArrayView3<'_, f32>,
    mask: Option<ArrayView2<'_, bool>>,
    state: &mut StepState,
    packed: bool,
) -> Result<Array3<f32>> {
    if config.cell == CellKind::Lstm {
        return if packed {
            crate::cpu::run_sequence(config, weights, x, mask, state)
        } else {
            crate::cpu::run_sequence_reference(config, weights, x, mask, state)
        };
    }
    let (batch, steps, d) = x.dim();
    let u = config.units;
    weights.check(config)?;
    for (name, a) in [("h", &state.h), ("hold", &state.hold)] {
        if a.dim() != (batch, u) {
            return Err(Error::shape(
                format!("step state {name}"),
                format!("({batch}, {u})"),
                a.shape(),
            ));
        }
    }
    if let Some(m) = mask
        && m.dim() != (batch, steps)
    {
        return Err(Error::shape(
            "mask",
            format!("({batch}, {steps})"),
            m.shape(),
        ));
    }
    if weights.input_dim() != d {
        return Err(Error::shape(
            "inputs",
            format!("(B, T, {})", weights.input_dim()),
            x.shape(),
        ));
    }
    call_host_bytes(config, batch, steps, d)?.check()?;
    // The packed kernels (`cpu_kernels::lstm`, weights packed once, the recurrent product and
    // the cell fused per tile) run SimpleRNN and GRU, every activation (the slow ones through
    // exact scalar cells, lane by lane; a GRU with reset_after=False in two phases per step,
    // r before its candidate's product (r ⊙ h)·R_h).
    if packed {
        return crate::cpu_kernels::lstm::run_sequence(config, weights, x, mask, state.views());
    }
    let (input_bias, recurrent_bias) = biases(config, weights);
    let z = crate::cpu::input_projection(x, weights.kernel.view(), input_bias)?;
    state.hold.fill(0.0);
    let out_steps = if config.return_sequences { steps } else { 1 };
    let mut out = host_memory::zeros::<f32, _>("output (B, T·U)", (batch, out_steps * u))?;
    for k in 0..steps {
        cell_step(
            config,
            k,
            z.view(),
            weights.recurrent_kernel.view(),
            recurrent_bias,
            mask,
            state,
            out.view_mut(),
        )?;
    }
    Ok(out
        .into_shape_with_order((batch, out_steps, u))
        .expect("(B, steps·U) reshapes to (B, steps, U)"))
}

/// `describe` for a GRU or SimpleRNN layer (see [`crate::describe::describe_layer`], which
/// calls it for these cells): the per-step equations with shapes, every weight's shape,
/// Keras's parameter count, the call's shapes and what `stateful` keeps. `cfg` is validated
/// and `params` is its checked parameter count.
pub(crate) fn describe(cfg: &LstmConfig, d: usize, params: usize, b: &str, t: &str) -> String {
    use std::fmt::Write;
    let u = cfg.units;
    let g = cfg.cell.gates() * u; // validate() bounds it
    let mut s = String::new();
    let w = &mut s;
    let a = cfg.activation.formula();
    let ra = cfg.recurrent_activation.formula();
    match cfg.cell {
        CellKind::Gru { reset_after } => {
            let _ = writeln!(
                w,
                "GRU({u}) on {d} input features ({}), activation={}, recurrent_activation={}, \
                 reset_after={}",
                cfg.flavour.name(),
                cfg.activation,
                cfg.recurrent_activation,
                if reset_after { "True" } else { "False" }
            );
            let _ = writeln!(
                w,
                "  one layer of {u} units: the update gate z, the reset gate r, the candidate h~ \
                 and the state h are vectors of length {u} per batch row (no cell state)"
            );
            let _ = writeln!(
                w,
                "\nweights (Keras layout, gate blocks in order z | r | h, {u} columns each):"
            );
        }
        _ => {
            let _ = writeln!(
                w,
                "SimpleRNN({u}) on {d} input features ({}), activation={}",
                cfg.flavour.name(),
                cfg.activation
            );
            let _ = writeln!(
                w,
                "  one layer of {u} units: the state h is a vector of length {u} per batch row"
            );
            let _ = writeln!(w, "\nweights (Keras layout):");
        }
    }
    let _ = writeln!(w, "  kernel            ({d}, {g})   = {} params", d * g);
    let _ = writeln!(w, "  recurrent_kernel  ({u}, {g})   = {} params", u * g);
    match (cfg.use_bias, cfg.cell) {
        (false, _) => {
            let _ = writeln!(w, "  bias              none (use_bias=False)");
        }
        (true, CellKind::Gru { reset_after: true }) => {
            let _ = writeln!(
                w,
                "  bias              (2, {g})   = {} params (row 0: input bias b_x, row 1: \
                 recurrent bias b_h)",
                2 * g
            );
        }
        (true, _) => {
            let _ = writeln!(w, "  bias              ({g})      = {g} params");
        }
    }
    let _ = writeln!(w, "  parameters: {params}");

    let _ = writeln!(w, "\nper timestep t, for each of the {b} batch rows:");
    let _ = writeln!(w, "  x_t ({d})  h_(t-1) ({u})");
    let (z, r, h) = (
        format!("[0:{u}]"),
        format!("[{u}:{}]", 2 * u),
        format!("[{}:{g}]", 2 * u),
    );
    match (cfg.cell, cfg.use_bias) {
        (CellKind::Gru { reset_after: true }, bias) => {
            let (bx, bh) = if bias { (" + b_x", " + b_h") } else { ("", "") };
            let _ = writeln!(w, "  xg  = x_t·kernel{bx}                          ({g})");
            let _ = writeln!(w, "  hg  = h_(t-1)·recurrent_kernel{bh}            ({g})");
            let _ = writeln!(w, "  z   = ract(xg{z} + hg{z})        update gate  ({u})");
            let _ = writeln!(w, "  r   = ract(xg{r} + hg{r})        reset gate   ({u})");
            let _ = writeln!(
                w,
                "  h~  = act(xg{h} + r * hg{h})      candidate    ({u})  (reset after the matmul)"
            );
        }
        (CellKind::Gru { reset_after: false }, bias) => {
            let b = if bias { " + bias" } else { "" };
            let _ = writeln!(w, "  xg  = x_t·kernel{b}                           ({g})");
            let _ = writeln!(
                w,
                "  z   = ract(xg{z} + h_(t-1)·recurrent_kernel[:, {}])   update gate ({u})",
                &z[1..z.len() - 1]
            );
            let _ = writeln!(
                w,
                "  r   = ract(xg{r} + h_(t-1)·recurrent_kernel[:, {}])   reset gate  ({u})",
                &r[1..r.len() - 1]
            );
            let _ = writeln!(
                w,
                "  h~  = act(xg{h} + (r * h_(t-1))·recurrent_kernel[:, {}])   candidate ({u})  \
                 (reset before the matmul)",
                &h[1..h.len() - 1]
            );
        }
        (_, bias) => {
            let b = if bias { " + bias" } else { "" };
            let _ = writeln!(
                w,
                "  h_t = act(x_t·kernel + h_(t-1)·recurrent_kernel{b})   (the step's output)  ({u})"
            );
        }
    }
    if let CellKind::Gru { .. } = cfg.cell {
        let _ = writeln!(
            w,
            "  h_t = z * h_(t-1) + (1 - z) * h~   (the step's output)  ({u})"
        );
        let _ = writeln!(w, "  where ract(x) = {ra}, act(x) = {a}");
    } else {
        let _ = writeln!(w, "  where act(x) = {a}");
    }

    let _ = writeln!(
        w,
        "\ncall: inputs ({b}, {t}, {d}), optional mask ({b}, {t}), optional initial_state [h ({b}, {u})]"
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
        let _ = writeln!(w, "  return_state: also h_T ({b}, {u}) → [output, h]");
    }
    let _ = writeln!(
        w,
        "  masked steps: h carried unchanged; output = {}",
        if cfg.zero_output_for_mask {
            "0 (zero_output_for_mask)"
        } else {
            "the previous step's output (0 before the row's first valid step)"
        }
    );
    if cfg.stateful {
        let _ = writeln!(
            w,
            "\nstateful=True: h ({b}, {u}) is kept after each call and is the initial state of \
             the next call (calls may differ in T, not in batch size {b}); reset_states() sets it \
             to zeros; an initial_state passed to a call overrides it. The masked-output hold \
             does not carry: each call starts with a previous output of 0."
        );
    } else {
        let _ = writeln!(
            w,
            "\nstateful=False: every call starts from h = 0 (or the given initial_state); nothing is kept."
        );
    }
    s
}
