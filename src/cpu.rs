//! The CPU reference path: plain ndarray code, the twin of the WGSL kernels.
//!
//! | CPU (this file)        | GPU                             |
//! |------------------------|---------------------------------|
//! | [`input_projection`]   | `shaders/input_projection.wgsl` |
//! | [`lstm_step`]          | `shaders/lstm_step.wgsl`        |
//! | [`run_sequence`]       | `gpu::scheduler` (the host loop) |
//!
//! Same names, same loop shape: one (row, unit) pair per shader invocation is one iteration
//! of the `for b` / `for j` loops here. The only difference in arithmetic order is that the
//! CPU computes the recurrent product `h·R` for all rows with one matrix product before the
//! element-wise loop, where each GPU invocation computes its own four dot products.

use ndarray::{Array2, Array3, ArrayView1, ArrayView2, ArrayView3, ArrayViewMut2, s};

use crate::config::LstmConfig;
use crate::error::Result;
use crate::host_memory::{self, HostBytes};
use crate::weights::LstmWeights;

/// The host memory a CPU call of `config` ([`run_sequence`] through [`crate::Lstm::call`])
/// allocates on inputs (B, T, D), every array counted: the inputs copy, the input
/// projection (B, T, 4U), the output, the states (initial, carried h and c, the masked-output
/// hold, a stateful layer's stored copy), one step's gate pre-activations (B, 4U) and the
/// row mask. Overflow is an [`crate::Error::SizeOverflow`] naming the array.
///
/// ```
/// use wgpu_lstm::{cpu, Error, LstmConfig};
/// let need = cpu::call_host_bytes(&LstmConfig::new(4), 2, 5, 3).unwrap();
/// assert!(need.total() > 4 * 2 * 5 * 16);
/// need.check().unwrap();
/// let huge = cpu::call_host_bytes(&LstmConfig::new(4), 1 << 40, 1, 3).unwrap();
/// assert!(matches!(huge.check(), Err(Error::HostMemory { .. })));
/// ```
pub fn call_host_bytes(
    config: &LstmConfig,
    batch: usize,
    steps: usize,
    input_dim: usize,
) -> Result<HostBytes> {
    config.validate()?;
    let (b, t, d, u) = (batch, steps, input_dim, config.units);
    let g = 4 * u; // validate() bounds it
    let out_steps = if config.return_sequences { t } else { 1 };
    let mut need = HostBytes::new(format!("a CPU call of LSTM({u}) on inputs ({b}, {t}, {d})"));
    need.array::<f32>("inputs copy (B, T, D)", &[b, t, d])?
        .array::<f32>("input projection (B, T, 4U)", &[b, t, g])?
        .array::<f32>("output (B, T, U)", &[b, out_steps, u])?
        .array::<f32>("initial state h, c (2, B, U)", &[2, b, u])?
        .array::<f32>("state h, c, hold (3, B, U)", &[3, b, u])?
        .array::<f32>("gate pre-activations (B, 4U)", &[b, g])?
        .array::<bool>("row mask (B)", &[b])?;
    if config.stateful {
        need.array::<f32>("stored state h, c (2, B, U)", &[2, b, u])?;
    }
    Ok(need)
}

/// Input projection for all timesteps at once: `Z[b, t, :] = x[b, t, :]·kernel + bias`.
///
/// Twin of `shaders/input_projection.wgsl` (one tiled GEMM over the B·T rows).
///
/// ```
/// use ndarray::{array, Array3};
/// let x = Array3::from_shape_vec((1, 2, 1), vec![1.0, 2.0]).unwrap();
/// let k = array![[1.0, 2.0, 3.0, 4.0]];
/// let b = array![0.5, 0.5, 0.5, 0.5];
/// let z = wgpu_lstm::cpu::input_projection(x.view(), k.view(), Some(b.view())).unwrap();
/// assert_eq!(z[[0, 1, 3]], 8.5);
/// ```
///
/// The inputs copy and Z are checked against the host-memory budget first
/// ([`crate::host_memory`]); `kernel` must have D rows.
pub fn input_projection(
    x: ArrayView3<'_, f32>,
    kernel: ArrayView2<'_, f32>,
    bias: Option<ArrayView1<'_, f32>>,
) -> Result<Array3<f32>> {
    let (b, t, d) = x.dim();
    let g = kernel.ncols();
    if kernel.nrows() != d {
        return Err(crate::Error::shape(
            "kernel",
            format!("({d}, 4U) for inputs with D = {d}"),
            kernel.shape(),
        ));
    }
    let mut need = HostBytes::new(format!("input projection of inputs ({b}, {t}, {d})"));
    need.array::<f32>("inputs copy (B, T, D)", &[b, t, d])?
        .array::<f32>("Z (B, T, 4U)", &[b, t, g])?;
    need.check()?;
    let rows = host_memory::to_owned("inputs copy (B, T, D)", &x)?
        .into_shape_with_order((b * t, d))
        .expect("a standard-layout array of B·T·D elements reshapes");
    // the gemm crate: the reference stays independent of the packed kernels
    let mut z = crate::matmul::matmul_gemm(rows.view(), kernel);
    if let Some(bias) = bias {
        z += &bias;
    }
    Ok(z.into_shape_with_order((b, t, g))
        .expect("B·T rows of 4U reshape to (B, T, 4U)"))
}

/// The per-call state of one sequence: the carried h and c, and the "previous output" that a
/// masked step repeats (zeros at the start of every call, Keras's rule).
///
/// ```
/// let s = wgpu_lstm::cpu::StepState::zeros(2, 3).unwrap();
/// assert_eq!(s.h.dim(), (2, 3));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct StepState {
    /// Hidden state h, (B, U).
    pub h: Array2<f32>,
    /// Cell state c, (B, U).
    pub c: Array2<f32>,
    /// The output of the last valid step of this call, zeros before the first one, (B, U).
    pub hold: Array2<f32>,
}

impl StepState {
    /// The state as the packed kernels take it (`cpu_kernels::lstm::run_sequence`).
    pub(crate) fn views(&mut self) -> crate::cpu_kernels::lstm::StateViews<'_> {
        crate::cpu_kernels::lstm::StateViews {
            h: self.h.view_mut(),
            c: self.c.view_mut(),
            hold: self.hold.view_mut(),
        }
    }

    /// All-zero state for `batch` rows of `units`, checked against the host-memory budget
    /// ([`crate::host_memory`]).
    ///
    /// ```
    /// let s = wgpu_lstm::cpu::StepState::zeros(1, 4).unwrap();
    /// assert_eq!(s.c.sum(), 0.0);
    /// assert!(wgpu_lstm::cpu::StepState::zeros(1 << 40, 4).is_err());
    /// ```
    pub fn zeros(batch: usize, units: usize) -> Result<Self> {
        let mut need = HostBytes::new(format!("step state h, c, hold ({batch}, {units}) each"));
        need.array::<f32>("h, c, hold (3, B, U)", &[3, batch, units])?;
        need.check()?;
        Ok(StepState {
            h: host_memory::zeros("step state h (B, U)", (batch, units))?,
            c: host_memory::zeros("step state c (B, U)", (batch, units))?,
            hold: host_memory::zeros("step state hold (B, U)", (batch, units))?,
        })
    }
}

/// One timestep for all batch rows, in place: step `k` in processing order.
///
/// Twin of `shaders/lstm_step.wgsl`. `z` is the input projection (B, T, 4U); the input step
/// read is `T-1-k` with `go_backwards`, else `k`. For every row b and unit j:
///
/// ```text
/// z4 = Z[b, t_in, {j, U+j, 2U+j, 3U+j}] + h[b]·R[:, {j, U+j, 2U+j, 3U+j}]
/// i, f, o = ract(z_i), ract(z_f), ract(z_o);  g = act(z_c)
/// c' = f·c + i·g;  h' = o·act(c')
/// valid step:  c, h, hold = c', h', h';  y = h'
/// masked step: c, h unchanged;            y = 0 if zero_output_for_mask else hold
/// ```
/// `y` is written to `out[b, k, j]` (return_sequences, `out` is (B, T·U) flattened per row) or
/// to `out[b, j]` (the last write wins).
///
/// ```
/// use ndarray::{Array2, Array3};
/// use wgpu_lstm::{cpu, LstmConfig, LstmWeights};
/// let cfg = LstmConfig::new(2);
/// let w = LstmWeights::keras_default(1, &cfg, 0).unwrap();
/// let z = Array3::<f32>::zeros((1, 1, 8));
/// let mut st = cpu::StepState::zeros(1, 2).unwrap();
/// let mut out = Array2::<f32>::zeros((1, 2));
/// cpu::lstm_step(&cfg, 0, z.view(), w.recurrent_kernel.view(), None, &mut st, out.view_mut());
/// // zero input, zero state, zero bias on i/c/o: c' = 0.5·0 + 0.5·tanh(0) = 0
/// assert_eq!(out[[0, 0]], 0.0);
/// ```
pub fn lstm_step(
    config: &LstmConfig,
    k: usize,
    z: ArrayView3<'_, f32>,
    recurrent_kernel: ArrayView2<'_, f32>,
    mask: Option<ArrayView2<'_, bool>>,
    state: &mut StepState,
    mut out: ArrayViewMut2<'_, f32>,
) {
    let (batch, steps, _) = z.dim();
    let u = config.units;
    let t_in = if config.go_backwards {
        steps - 1 - k
    } else {
        k
    };
    // h·R for all rows at once (the GPU does this dot product per invocation).
    // pre = Z[:, t_in] + h·R, the gate pre-activations of every row
    let mut pre = z.index_axis(ndarray::Axis(1), t_in).to_owned();
    // computed transposed, preᵀ += Rᵀ·hᵀ: Rᵀ is then column-major, the layout gemm reads
    // without re-packing it every step, and the cores split R's columns between them
    crate::matmul::matmul_acc(
        recurrent_kernel.t(),
        state.h.t(),
        pre.view_mut().reversed_axes(),
    );
    let valid: Vec<bool> = (0..batch)
        .map(|b| mask.is_none_or(|m| m[[b, t_in]]))
        .collect();
    let cols = if config.return_sequences {
        k * u..(k + 1) * u
    } else {
        0..u
    };
    let rows = Rows {
        c: state.c.view_mut(),
        h: state.h.view_mut(),
        hold: state.hold.view_mut(),
        out: out.slice_mut(s![.., cols]),
    };
    step_rows(config, pre.view(), &valid, rows);
}

/// The rows of the state and the output that one thread updates.
struct Rows<'a> {
    c: ArrayViewMut2<'a, f32>,
    h: ArrayViewMut2<'a, f32>,
    hold: ArrayViewMut2<'a, f32>,
    out: ArrayViewMut2<'a, f32>,
}

impl<'a> Rows<'a> {
    fn split(self, at: usize) -> (Rows<'a>, Rows<'a>) {
        let ax = ndarray::Axis(0);
        let (c0, c1) = self.c.split_at(ax, at);
        let (h0, h1) = self.h.split_at(ax, at);
        let (d0, d1) = self.hold.split_at(ax, at);
        let (o0, o1) = self.out.split_at(ax, at);
        (
            Rows {
                c: c0,
                h: h0,
                hold: d0,
                out: o0,
            },
            Rows {
                c: c1,
                h: h1,
                hold: d1,
                out: o1,
            },
        )
    }
}

/// Below this many cells a step's element-wise loop runs on one thread.
const PARALLEL_MIN_CELLS: usize = 4096;

/// The element-wise part of [`lstm_step`] for a group of rows: `pre` is (rows, 4U),
/// `valid` says which rows take this step. Halves large groups across threads (rows are
/// independent).
fn step_rows(config: &LstmConfig, pre: ArrayView2<'_, f32>, valid: &[bool], mut rows: Rows<'_>) {
    let (batch, u) = rows.c.dim();
    if batch >= 2 && batch * u >= PARALLEL_MIN_CELLS {
        let mid = batch / 2;
        let (a, b) = rows.split(mid);
        let ax = ndarray::Axis(0);
        let (pa, pb) = pre.split_at(ax, mid);
        let (va, vb) = valid.split_at(mid);
        rayon::join(
            || step_rows(config, pa, va, a),
            || step_rows(config, pb, vb, b),
        );
        return;
    }
    let (act, ract) = (config.activation, config.recurrent_activation);
    let fast = act == crate::Activation::Tanh && ract == crate::Activation::Sigmoid;
    for b in 0..batch {
        if fast && valid[b] && cells_tanh_sigmoid(pre.row(b), &mut rows, b) {
            continue;
        }
        for j in 0..u {
            let y = if valid[b] {
                let zi = pre[[b, j]];
                let zf = pre[[b, u + j]];
                let zc = pre[[b, 2 * u + j]];
                let zo = pre[[b, 3 * u + j]];
                let (c_new, h_new) = lstm_cell([zi, zf, zc, zo], rows.c[[b, j]], act, ract);
                rows.c[[b, j]] = c_new;
                rows.h[[b, j]] = h_new;
                rows.hold[[b, j]] = h_new;
                h_new
            } else if config.zero_output_for_mask {
                0.0
            } else {
                rows.hold[[b, j]]
            };
            rows.out[[b, j]] = y;
        }
    }
}

/// Row `b`'s valid step with Keras's default activations (tanh, sigmoid) when every
/// pre-activation and c is finite, as one loop over slices that the compiler vectorises
/// (branch-free exp): the same arithmetic as [`lstm_cell`] per unit, within 2e-7 per
/// activation. Returns false, having written nothing, when the row is not eligible (NaN or
/// ±∞ anywhere: those take the exact per-unit path and propagate as in Keras).
fn cells_tanh_sigmoid(pre: ndarray::ArrayView1<'_, f32>, rows: &mut Rows<'_>, b: usize) -> bool {
    let Some(pre) = pre.as_slice() else {
        return false;
    };
    let Rows { c, h, hold, out } = rows;
    let (mut c, mut h, mut hold, mut out) =
        (c.row_mut(b), h.row_mut(b), hold.row_mut(b), out.row_mut(b));
    let (Some(c), Some(h), Some(hold), Some(out)) = (
        c.as_slice_mut(),
        h.as_slice_mut(),
        hold.as_slice_mut(),
        out.as_slice_mut(),
    ) else {
        return false;
    };
    if !pre.iter().chain(c.iter()).all(|v| v.is_finite()) {
        return false;
    }
    let u = c.len();
    let (zi, rest) = pre.split_at(u);
    let (zf, rest) = rest.split_at(u);
    let (zc, zo) = rest.split_at(u);
    let gates = [zi, zf, zc, zo];
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2 (checked just above).
        unsafe { cell_loop_avx2(gates, c, h, hold, out) };
        return true;
    }
    cell_loop(gates, c, h, hold, out);
    true
}

/// The cell update over one row's units: gate pre-activations `[z_i, z_f, z_c, z_o]`, each
/// U long. Plain slices, no branches: the compiler vectorises it.
#[inline(always)]
fn cell_loop(
    [zi, zf, zc, zo]: [&[f32]; 4],
    c: &mut [f32],
    h: &mut [f32],
    hold: &mut [f32],
    out: &mut [f32],
) {
    use crate::activation::{sigmoid_finite, tanh_finite};
    for j in 0..c.len() {
        let (i, f, g, o) = (
            sigmoid_finite(zi[j]),
            sigmoid_finite(zf[j]),
            tanh_finite(zc[j]),
            sigmoid_finite(zo[j]),
        );
        let c_new = f * c[j] + i * g;
        let h_new = o * tanh_finite(c_new);
        c[j] = c_new;
        h[j] = h_new;
        hold[j] = h_new;
        out[j] = h_new;
    }
}

/// [`cell_loop`] compiled for AVX2 (8 lanes instead of SSE2's 4; same arithmetic, no FMA
/// contraction, so the results are bit-identical).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn cell_loop_avx2(
    gates: [&[f32]; 4],
    c: &mut [f32],
    h: &mut [f32],
    hold: &mut [f32],
    out: &mut [f32],
) {
    cell_loop(gates, c, h, hold, out)
}

/// The LSTM cell update for one unit: z4 = (z_i, z_f, z_c, z_o) pre-activations and the
/// previous cell state c; returns (c', h'). Twin of `lstm_cell` in `shaders/activation.wgsl`,
/// which both GPU kernels call.
///
/// ```
/// use wgpu_lstm::{cpu, Activation};
/// let (c, h) = cpu::lstm_cell([0.0; 4], 1.0, Activation::Tanh, Activation::Sigmoid);
/// assert_eq!(c, 0.5); // f = sigmoid(0) = 0.5, i·g = 0.5·tanh(0) = 0
/// assert_eq!(h, 0.5 * 0.5f32.tanh());
/// ```
pub fn lstm_cell(
    z4: [f32; 4],
    c: f32,
    act: crate::Activation,
    ract: crate::Activation,
) -> (f32, f32) {
    let (i, f, g, o) = (
        ract.apply(z4[0]),
        ract.apply(z4[1]),
        act.apply(z4[2]),
        ract.apply(z4[3]),
    );
    let c_new = f * c + i * g;
    (c_new, o * act.apply(c_new))
}

/// The whole call on the CPU, through the packed kernels ([`crate::cpu_kernels`]): the
/// input projection, then the T steps with the recurrent product and the cell update fused
/// per tile. `state` holds h0, c0 on entry and h_T, c_T on return; its `hold` is reset to
/// zeros first (the masked-output hold does not carry across calls) and holds the last
/// valid output on return.
///
/// Returns the output as (B, T, U) with `return_sequences`, else (B, 1, U).
///
/// The weights are packed at their first CPU call (for the ISA in force,
/// [`crate::cpu_kernels::current_isa`]) and the packed form is kept with them, with the
/// call's work space: once warm, a call packs nothing and allocates no work space, only
/// its output ([`crate::cpu_kernels::thread_stats`] counts packings and work-space growth). The memory of the call
/// ([`call_host_bytes`]) is checked against the host-memory budget before any work; `state`
/// must be (B, U) and `mask` (B, T).
///
/// ```
/// use ndarray::Array3;
/// use wgpu_lstm::{cpu, LstmConfig, LstmWeights};
/// let cfg = LstmConfig { return_sequences: true, ..LstmConfig::new(3) };
/// let w = LstmWeights::keras_default(2, &cfg, 7).unwrap();
/// let x = Array3::<f32>::ones((4, 5, 2));
/// let mut st = cpu::StepState::zeros(4, 3).unwrap();
/// let y = cpu::run_sequence(&cfg, &w, x.view(), None, &mut st).unwrap();
/// assert_eq!(y.dim(), (4, 5, 3));
/// assert_eq!(y.slice(ndarray::s![.., 4, ..]), st.h);
/// let before = wgpu_lstm::cpu_kernels::thread_stats();
/// let mut st2 = cpu::StepState::zeros(4, 3).unwrap();
/// assert_eq!(cpu::run_sequence(&cfg, &w, x.view(), None, &mut st2).unwrap(), y);
/// assert_eq!(wgpu_lstm::cpu_kernels::thread_stats(), before); // nothing packed or allocated
/// ```
pub fn run_sequence(
    config: &LstmConfig,
    weights: &LstmWeights,
    x: ArrayView3<'_, f32>,
    mask: Option<ArrayView2<'_, bool>>,
    state: &mut StepState,
) -> Result<Array3<f32>> {
    check_call(config, weights, x, mask, state)?;
    crate::cpu_kernels::lstm::run_sequence(config, weights, x, mask, state.views())
}

/// The shape and memory checks of a call.
fn check_call(
    config: &LstmConfig,
    weights: &LstmWeights,
    x: ArrayView3<'_, f32>,
    mask: Option<ArrayView2<'_, bool>>,
    state: &StepState,
) -> Result<()> {
    let (batch, steps, d) = x.dim();
    let u = config.units;
    weights.check(config)?;
    if d != weights.input_dim() {
        return Err(crate::Error::shape(
            "LSTM input",
            format!("(B, T, {})", weights.input_dim()),
            x.shape(),
        ));
    }
    for (name, a) in [("h", &state.h), ("c", &state.c), ("hold", &state.hold)] {
        if a.dim() != (batch, u) {
            return Err(crate::Error::shape(
                format!("step state {name}"),
                format!("({batch}, {u})"),
                a.shape(),
            ));
        }
    }
    if let Some(m) = mask
        && m.dim() != (batch, steps)
    {
        return Err(crate::Error::shape(
            "mask",
            format!("({batch}, {steps})"),
            m.shape(),
        ));
    }
    call_host_bytes(config, batch, steps, d)?.check()
}

/// The reference form of [`run_sequence`]: one `gemm` input projection, then [`lstm_step`]
/// for k = 0 … T-1 (the recurrent product for all rows, then the element-wise loop), the
/// plain twin of the GPU scheduler. The tests hold the packed kernels to it.
///
/// ```
/// use ndarray::Array3;
/// use wgpu_lstm::{cpu, LstmConfig, LstmWeights};
/// let cfg = LstmConfig { return_sequences: true, ..LstmConfig::new(3) };
/// let w = LstmWeights::keras_default(2, &cfg, 7).unwrap();
/// let x = Array3::<f32>::ones((4, 5, 2));
/// let mut st = cpu::StepState::zeros(4, 3).unwrap();
/// let y = cpu::run_sequence_reference(&cfg, &w, x.view(), None, &mut st).unwrap();
/// let mut st2 = cpu::StepState::zeros(4, 3).unwrap();
/// let y2 = cpu::run_sequence(&cfg, &w, x.view(), None, &mut st2).unwrap();
/// assert!((&y - &y2).iter().all(|d| d.abs() < 1e-6));
/// ```
pub fn run_sequence_reference(
    config: &LstmConfig,
    weights: &LstmWeights,
    x: ArrayView3<'_, f32>,
    mask: Option<ArrayView2<'_, bool>>,
    state: &mut StepState,
) -> Result<Array3<f32>> {
    let (batch, steps, _) = x.dim();
    let u = config.units;
    check_call(config, weights, x, mask, state)?;
    let (kernel, recurrent_kernel, bias) = weights.views();
    let z = input_projection(x, kernel, bias)?;
    state.hold.fill(0.0);
    let out_steps = if config.return_sequences { steps } else { 1 };
    let mut out = host_memory::zeros::<f32, _>("output (B, T·U)", (batch, out_steps * u))?;
    for k in 0..steps {
        lstm_step(
            config,
            k,
            z.view(),
            recurrent_kernel,
            mask,
            state,
            out.view_mut(),
        );
    }
    Ok(out
        .into_shape_with_order((batch, out_steps, u))
        .expect("(B, steps·U) reshapes to (B, steps, U)"))
}

/// Reverses a (B, T, …) array along time, as Keras does for go_backwards inputs.
///
/// ```
/// let x = ndarray::Array3::from_shape_fn((1, 3, 1), |(_, t, _)| t as f32);
/// let r = wgpu_lstm::cpu::reverse_time(x.view()).unwrap();
/// assert_eq!(r[[0, 0, 0]], 2.0);
/// ```
///
/// The copy is checked against the host-memory budget ([`crate::host_memory`]).
pub fn reverse_time(x: ArrayView3<'_, f32>) -> Result<Array3<f32>> {
    host_memory::to_owned("time-reversed copy (B, T, D)", &x.slice(s![.., ..;-1, ..]))
}

/// Gate pre-activations for one row at one step, for debugging and `describe`:
/// `x·kernel + h·recurrent_kernel + bias` (4U).
///
/// ```
/// use ndarray::{array, Array1};
/// use wgpu_lstm::{cpu, LstmConfig, LstmWeights};
/// let w = LstmWeights::keras_default(1, &LstmConfig::new(1), 0).unwrap();
/// let z = cpu::gate_preactivations(&w, array![0.0].view(), Array1::zeros(1).view());
/// assert_eq!(z.to_vec(), vec![0.0, 1.0, 0.0, 0.0]);
/// ```
pub fn gate_preactivations(
    weights: &LstmWeights,
    x: ArrayView1<'_, f32>,
    h: ArrayView1<'_, f32>,
) -> ndarray::Array1<f32> {
    let mut z = x.dot(&weights.kernel) + h.dot(&weights.recurrent_kernel);
    if let Some(b) = &weights.bias {
        z += b;
    }
    z
}
