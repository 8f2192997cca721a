//! The `wgpu-lstm` command line: demo, describe, conformance, adapters.
//!
//! Every write to stdout goes through [`out`]: when the reader has gone (`wgpu-lstm describe
//! MODEL | head -1`), the program ends quietly instead of panicking on the broken pipe.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use wgpu_lstm::model::Model;
use wgpu_lstm::{
    Activation, Device, Error, KerasFlavour, LstmConfig, Result, conformance, describe, gpu, keras,
};

/// The demo model: a small trained Keras 3 sine forecaster (demo/README.md).
const DEMO_MODEL: &[u8] = include_bytes!("../../demo/sine_forecaster.keras");

/// Keras's LSTM as WGSL compute shaders on wgpu, checked against a CPU reference.
#[derive(Parser)]
#[command(name = "wgpu-lstm", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum DeviceArg {
    Cpu,
    Gpu,
    All,
}

#[derive(Clone, Copy, ValueEnum)]
enum KerasArg {
    #[value(name = "3")]
    K3,
    #[value(name = "2")]
    K2,
}

#[derive(Subcommand)]
enum Command {
    /// Stream a noisy two-tone signal through the embedded trained Keras forecaster, one step
    /// per call on the GPU (stateful), showing predictions against the truth.
    Demo {
        /// Number of steps to stream.
        #[arg(long, default_value_t = 60)]
        steps: usize,
        /// Device to run on (the CPU reference always runs too).
        #[arg(long, value_enum, default_value = "gpu")]
        device: DeviceArg,
    },
    /// Explain what a Keras LSTM configuration is (equations, shapes, parameter count, state),
    /// or, given a model file, its layers, shapes and parameter counts.
    Describe {
        /// A `.keras` or legacy `.h5` model file (instead of --units/--input-dim).
        model: Option<PathBuf>,
        /// Keras `units` (N).
        #[arg(long, required_unless_present = "model")]
        units: Option<usize>,
        /// Input feature size D.
        #[arg(long, required_unless_present = "model")]
        input_dim: Option<usize>,
        /// Batch size B (shown as B if omitted).
        #[arg(long)]
        batch: Option<usize>,
        /// Timesteps T (shown as T if omitted).
        #[arg(long)]
        timesteps: Option<usize>,
        /// Keras `return_sequences=True`.
        #[arg(long)]
        return_sequences: bool,
        /// Keras `return_state=True`.
        #[arg(long)]
        return_state: bool,
        /// Keras `go_backwards=True`.
        #[arg(long)]
        go_backwards: bool,
        /// Keras `stateful=True`.
        #[arg(long)]
        stateful: bool,
        /// Keras `use_bias=False`.
        #[arg(long)]
        no_bias: bool,
        /// Keras `activation` name.
        #[arg(long, default_value = "tanh")]
        activation: String,
        /// Keras `recurrent_activation` name.
        #[arg(long, default_value = "sigmoid")]
        recurrent_activation: String,
        /// Keras major version (decides hard_sigmoid).
        #[arg(long, value_enum, default_value = "3")]
        keras: KerasArg,
        /// The layer: lstm (default), gru or simple_rnn.
        #[arg(long, default_value = "lstm")]
        cell: String,
        /// A GRU's `reset_after=False` (Keras's default is True).
        #[arg(long)]
        no_reset_after: bool,
    },
    /// Run every Keras fixture JSON in DIR and compare with the stored Keras outputs.
    Conformance {
        /// Directory of fixture JSON files.
        dir: PathBuf,
        /// Device(s) to check.
        #[arg(long, value_enum, default_value = "cpu")]
        device: DeviceArg,
    },
    /// List every GPU adapter wgpu can see, with backend, type, driver and key limits.
    Adapters,
    /// Time one LSTM over the benchmark grid (see BENCHMARKS.md).
    Bench {
        /// Grid name (stream_step, small_seq, long_seq, medium, large) or B,T,D,U; repeatable;
        /// default: the whole grid.
        #[arg(long)]
        config: Vec<String>,
        /// Device(s) to time.
        #[arg(long, value_enum, default_value = "gpu")]
        device: DeviceArg,
        /// Least number of timed calls per benchmark (default 10).
        #[arg(long)]
        reps: Option<usize>,
        /// Force the GPU's recurrent kernel: auto, per-step, per-step-subgroup or persistent.
        #[arg(long)]
        kernel: Option<String>,
        /// Projection-scratch budget in MiB for the benchmark (default: the context's 256 MiB).
        #[arg(long)]
        scratch_budget_mib: Option<u64>,
        /// Weight precision: f32 (exact, default) or f16 (opt-in f16 recurrent weights).
        #[arg(long, default_value = "f32")]
        precision: String,
        /// The recurrent cell: lstm (default), gru (reset_after=True) or simple_rnn.
        #[arg(long, default_value = "lstm")]
        cell: String,
        /// Write the results as JSON.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write the results as a Markdown table.
        #[arg(long)]
        markdown: Option<PathBuf>,
        /// Write an SVG chart of the results.
        #[arg(long)]
        svg: Option<PathBuf>,
    },
    /// Run a Keras model file (.keras or legacy .h5) on .npy inputs; one call of the model.
    ///
    /// A stateful model runs one call per invocation: --state-out writes the states after
    /// the call, --state-in starts the next invocation from them (without it, from zeros:
    /// Keras's reset_states()).
    Run {
        /// The model file.
        model: PathBuf,
        /// An input .npy, once per model input, in the model's input order: floats
        /// (float16/32/64, cast to float32) or, for an Embedding's input, integer token ids
        /// (int8..int64, uint8..uint64), batch first, e.g. (B, T, D) or tokens (B, T). A
        /// single .npz gives all inputs (members named like the model's inputs, else in
        /// archive order).
        #[arg(long = "input", required = true)]
        inputs: Vec<PathBuf>,
        /// A mask .npy (B, T) (bool, or numbers: nonzero = valid step) for the input in the
        /// same position; repeat in input order, `none` for an input without one.
        #[arg(long = "mask")]
        masks: Vec<PathBuf>,
        /// Write the outputs here: .npz holds output_0, output_1, ... in the model's output
        /// order; .npy is for single-output models. Without it: shapes and a preview.
        #[arg(long)]
        output: Option<PathBuf>,
        /// Device: cpu, gpu, or all (both: writes the CPU's outputs and prints the largest
        /// |gpu - cpu| of each output).
        #[arg(long, value_enum, default_value = "gpu")]
        device: DeviceArg,
        /// Stateful models: start from the states in this .npz (written by --state-out).
        #[arg(long)]
        state_in: Option<PathBuf>,
        /// Stateful models: write the states after the call to this .npz (state_<k>_h and
        /// state_<k>_c for the k-th stateful LSTM in model order).
        #[arg(long)]
        state_out: Option<PathBuf>,
    },
}

/// Writes to stdout. A closed pipe ends the program at once, quietly and successfully (the
/// reader has all it wanted); any other write error is an [`Error::Io`] on `<stdout>`.
fn out(args: std::fmt::Arguments<'_>) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_fmt(args) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(source) => Err(Error::Io {
            path: "<stdout>".into(),
            source,
        }),
    }
}

/// `print!` through [`out`]: `outp!(...)?`.
macro_rules! outp {
    ($($arg:tt)*) => { out(format_args!($($arg)*)) };
}

/// `println!` through [`out`]: `outln!(...)?`.
macro_rules! outln {
    () => { out(format_args!("\n")) };
    ($($arg:tt)*) => { out(format_args!("{}\n", format_args!($($arg)*))) };
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            // a closed stderr must not turn an error into a panic either
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::from(2)
        }
    };
    // flush here, so that a reader gone before the last line is handled like the rest
    if let Err(e) = std::io::stdout().flush()
        && e.kind() != std::io::ErrorKind::BrokenPipe
    {
        let _ = writeln!(std::io::stderr(), "error: <stdout>: {e}");
        return ExitCode::from(2);
    }
    code
}

fn devices(arg: DeviceArg) -> Result<Vec<Device>> {
    Ok(match arg {
        DeviceArg::Cpu => vec![Device::Cpu],
        DeviceArg::Gpu => vec![Device::gpu()?],
        DeviceArg::All => vec![Device::Cpu, Device::gpu()?],
    })
}

fn run(cmd: Command) -> Result<ExitCode> {
    match cmd {
        Command::Demo { steps, device } => demo(steps, device),
        Command::Describe {
            model: Some(path), ..
        } => {
            let file = keras::load_model_file(&path)?;
            let name = path.display().to_string();
            outp!("{}", describe::describe_model(&file, &name))?;
            let plan = match keras::plan_from_model_file(&file) {
                Ok(plan) => plan,
                // the table marks what cannot run; describing it is what was asked
                Err(Error::Unsupported(_)) => return Ok(ExitCode::SUCCESS),
                // a file that is wrong (not merely beyond this crate) is an error
                Err(e) => return Err(e),
            };
            for node in &plan.nodes {
                for r in node.layer.lstms() {
                    outln!("\n== {} ==", node.name)?;
                    outp!(
                        "{}",
                        describe::describe_layer(&r.config, r.input_dim(), None, None)?
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Describe {
            model: None,
            units,
            input_dim,
            batch,
            timesteps,
            return_sequences,
            return_state,
            go_backwards,
            stateful,
            no_bias,
            activation,
            recurrent_activation,
            keras,
            cell,
            no_reset_after,
        } => {
            let cell = match wgpu_lstm::bench::BenchCell::parse(&cell)?.kind() {
                wgpu_lstm::CellKind::Gru { .. } => wgpu_lstm::CellKind::Gru {
                    reset_after: !no_reset_after,
                },
                other => other,
            };
            let (Some(units), Some(input_dim)) = (units, input_dim) else {
                return Err(Error::config(
                    "units",
                    "describe needs --units and --input-dim, or a model file",
                ));
            };
            let flavour = match keras {
                KerasArg::K3 => KerasFlavour::Keras3,
                KerasArg::K2 => KerasFlavour::Keras2,
            };
            let cfg = LstmConfig {
                activation: Activation::from_keras_name(&activation, flavour)?,
                recurrent_activation: Activation::from_keras_name(&recurrent_activation, flavour)?,
                use_bias: !no_bias,
                return_sequences,
                return_state,
                go_backwards,
                stateful,
                flavour,
                cell,
                ..LstmConfig::new(units)
            };
            // validates units and input_dim, and every count it shows (checked arithmetic)
            let text = describe::describe_layer(&cfg, input_dim, batch, timesteps)?;
            outp!("{text}")?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Conformance { dir, device } => {
            let devs = devices(device)?;
            let mut write_err = None;
            let results = conformance::run_dir(&dir, &devs, |r| {
                if write_err.is_none()
                    && let Err(e) = outln!("{r}")
                {
                    write_err = Some(e);
                }
            })?;
            if let Some(e) = write_err {
                return Err(e);
            }
            let failed = results.iter().filter(|r| !r.passed).count();
            outln!("{} passed, {} failed", results.len() - failed, failed)?;
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Run {
            model,
            inputs,
            masks,
            output,
            device,
            state_in,
            state_out,
        } => run_model(&RunArgs {
            model,
            inputs,
            masks,
            output,
            device,
            state_in,
            state_out,
        }),
        Command::Bench {
            config,
            device,
            reps,
            kernel,
            scratch_budget_mib,
            precision,
            cell,
            json,
            markdown,
            svg,
        } => {
            let cell = wgpu_lstm::bench::BenchCell::parse(&cell)?;
            let configs: Vec<_> = wgpu_lstm::bench::BenchConfig::parse_list(&config)?
                .into_iter()
                .map(|c| c.with_cell(cell))
                .collect();
            let mut opts = wgpu_lstm::bench::BenchOptions::default();
            if let Some(n) = reps {
                opts.reps = n;
            }
            opts.kernel = kernel
                .as_deref()
                .map(wgpu_lstm::bench::parse_kernel_choice)
                .transpose()?;
            opts.scratch_budget = scratch_budget_mib
                .map(|m| {
                    m.checked_mul(1 << 20).ok_or_else(|| {
                        Error::config("scratch-budget-mib", format!("{m} MiB overflows 64 bits"))
                    })
                })
                .transpose()?;
            opts.precision = wgpu_lstm::bench::parse_precision(&precision)?;
            opts.validate()?;
            let devs = devices(device)?;
            // every shape's sizes and host memory, before any benchmark builds anything
            for cfg in &configs {
                for dev in &devs {
                    cfg.check_host_memory(dev)?;
                }
            }
            let report = wgpu_lstm::bench::run_suite(&configs, &devs, &opts);
            report.write_files(json.as_deref(), markdown.as_deref(), svg.as_deref())?;
            outp!("{}", report.markdown())?;
            Ok(if report.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Adapters => {
            let all = gpu::list_adapters(None);
            if all.is_empty() {
                outln!(
                    "no adapters found (install a Vulkan driver, e.g. apt-get install mesa-vulkan-drivers)"
                )?;
            }
            for a in all {
                outln!("{a}")?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What `run` was asked to do.
struct RunArgs {
    model: PathBuf,
    inputs: Vec<PathBuf>,
    masks: Vec<PathBuf>,
    output: Option<PathBuf>,
    device: DeviceArg,
    state_in: Option<PathBuf>,
    state_out: Option<PathBuf>,
}

/// The arrays of one call, as read from the files.
enum InputArray {
    F32(ndarray::ArrayD<f32>),
    Tokens(ndarray::ArrayD<i64>),
}

/// Where the outputs go, checked before anything runs.
enum OutputFile {
    Npy(PathBuf),
    Npz(PathBuf),
}

fn extension(p: &std::path::Path) -> String {
    p.extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// The model's inputs from the --input files, in the model's input order.
fn read_inputs(paths: &[PathBuf], names: &[String]) -> Result<Vec<InputArray>> {
    let one = |a: keras::NpyArray, what: &str| match a {
        keras::NpyArray::F32(a) => Ok(InputArray::F32(a)),
        keras::NpyArray::Int(a) => Ok(InputArray::Tokens(a)),
        keras::NpyArray::Bool(_) => Err(Error::config(
            "input",
            format!("{what} is a bool array: a mask goes with --mask, not --input"),
        )),
    };
    if let [p] = paths
        && extension(p) == "npz"
    {
        let mut members = keras::read_npz(p)?;
        let by_name = names.len() > 1 && names.iter().all(|n| members.iter().any(|(k, _)| k == n));
        if by_name {
            // the model's order, whatever the archive's
            members.sort_by_key(|(k, _)| names.iter().position(|n| n == k).unwrap_or(usize::MAX));
            members.retain(|(k, _)| names.contains(k));
        }
        return members
            .into_iter()
            .map(|(k, a)| one(a, &format!("{}:{k}.npy", p.display())))
            .collect();
    }
    paths
        .iter()
        .map(|p| one(keras::read_npy(p)?, &p.display().to_string()))
        .collect()
}

/// The --mask files, one per input position (`none`: no mask there).
fn read_masks(paths: &[PathBuf], n_inputs: usize) -> Result<Vec<Option<ndarray::Array2<bool>>>> {
    if paths.len() > n_inputs {
        return Err(Error::config(
            "mask",
            format!(
                "{} masks given for a model with {n_inputs} input(s): one --mask per input, in input order",
                paths.len()
            ),
        ));
    }
    paths
        .iter()
        .map(|p| {
            if p.as_os_str() == "none" {
                return Ok(None);
            }
            let m = keras::read_npy_mask(p)?;
            let shape = m.shape().to_vec();
            m.into_dimensionality::<ndarray::Ix2>()
                .map(Some)
                .map_err(|_| Error::shape(format!("mask {}", p.display()), "(B, T)", &shape))
        })
        .collect()
}

/// Reads the states of a --state-in file into every stateful layer of `model`.
fn load_states(model: &mut Model, path: &std::path::Path) -> Result<()> {
    let members = keras::read_npz(path)?;
    let slots = model.states()?.len();
    let get = |key: &str| -> Result<Option<ndarray::Array2<f32>>> {
        match members.iter().find(|(k, _)| k == key) {
            None => Ok(None),
            Some((_, keras::NpyArray::F32(a))) => {
                let shape = a.shape().to_vec();
                a.clone()
                    .into_dimensionality::<ndarray::Ix2>()
                    .map(Some)
                    .map_err(|_| {
                        Error::shape(format!("{}:{key}", path.display()), "(B, U)", &shape)
                    })
            }
            Some((_, other)) => Err(Error::shape(
                format!("{}:{key} (not float)", path.display()),
                "float32 (B, U)",
                other.shape(),
            )),
        }
    };
    let mut states = Vec::with_capacity(slots);
    for k in 0..slots {
        states.push(
            match (get(&format!("state_{k}_h"))?, get(&format!("state_{k}_c"))?) {
                (Some(h), Some(c)) => Some(wgpu_lstm::LstmState { h, c }),
                (None, None) => None,
                _ => {
                    return Err(Error::config(
                        "state-in",
                        format!(
                            "{}: state_{k}_h and state_{k}_c go together",
                            path.display()
                        ),
                    ));
                }
            },
        );
    }
    if let Some(extra) = members.iter().find(|(k, _)| {
        !(0..slots).any(|i| *k == format!("state_{i}_h") || *k == format!("state_{i}_c"))
    }) {
        return Err(Error::config(
            "state-in",
            format!(
                "{}: member `{}` is not a state of this model (state_0_h .. state_{}_c)",
                path.display(),
                extra.0,
                slots.saturating_sub(1)
            ),
        ));
    }
    let Some(batch) = states.iter().flatten().map(|s| s.h.nrows()).next() else {
        return Err(Error::config(
            "state-in",
            format!("{}: holds no state", path.display()),
        ));
    };
    model.init_states(batch)?;
    for row in 0..batch {
        let mut row_states = Vec::with_capacity(slots);
        for (k, s) in states.iter().enumerate() {
            row_states.push(match s {
                Some(s) => {
                    if s.h.nrows() != batch || s.c.nrows() != batch {
                        return Err(Error::shape(
                            format!("{}:state_{k}", path.display()),
                            format!("{batch} rows like state 0"),
                            s.h.shape(),
                        ));
                    }
                    wgpu_lstm::LstmState {
                        h: s.h.slice(ndarray::s![row..row + 1, ..]).to_owned(),
                        c: s.c.slice(ndarray::s![row..row + 1, ..]).to_owned(),
                    }
                }
                // a stateless layer's slot: zeros of its width, which row_states knows
                None => model.row_states(row)?.swap_remove(k),
            });
        }
        model.set_row_states(row, &row_states)?;
    }
    Ok(())
}

/// Writes the states the stateful layers hold after the call.
fn save_states(model: &Model, path: &std::path::Path) -> Result<()> {
    let states = model.states()?;
    let mut arrays = Vec::new();
    for (k, s) in states.iter().enumerate() {
        if let Some(s) = s {
            arrays.push((format!("state_{k}_h"), s.h.view().into_dyn()));
            arrays.push((format!("state_{k}_c"), s.c.view().into_dyn()));
        }
    }
    keras::write_npz(path, &arrays)
}

/// `run`: one call of a model file on .npy inputs.
fn run_model(args: &RunArgs) -> Result<ExitCode> {
    let devs = devices(args.device)?;
    let mut models = devs
        .iter()
        .map(|d| Model::load(&args.model, d))
        .collect::<Result<Vec<Model>>>()?;
    let plan = models[0].plan();
    let n_out = plan.outputs.len();
    let names: Vec<String> = plan.inputs.iter().map(|i| i.name.clone()).collect();
    let stateful = plan.is_stateful();
    // everything the files and flags can get wrong, before any work
    let out_file = match &args.output {
        None => None,
        Some(p) => match extension(p).as_str() {
            "npz" => Some(OutputFile::Npz(p.clone())),
            "npy" if n_out == 1 => Some(OutputFile::Npy(p.clone())),
            "npy" => {
                return Err(Error::config(
                    "output",
                    format!(
                        "model `{}` has {n_out} outputs; a .npy holds one array: write a .npz \
                         (output_0 .. output_{})",
                        plan.name,
                        n_out - 1
                    ),
                ));
            }
            _ => {
                return Err(Error::config(
                    "output",
                    format!("{}: write a .npz or a .npy file", p.display()),
                ));
            }
        },
    };
    if !stateful && (args.state_in.is_some() || args.state_out.is_some()) {
        return Err(Error::config(
            if args.state_in.is_some() {
                "state-in"
            } else {
                "state-out"
            },
            format!(
                "model `{}` has no stateful layer (stateful=True): it keeps no state between calls",
                plan.name
            ),
        ));
    }
    let arrays = read_inputs(&args.inputs, &names)?;
    let masks = read_masks(&args.masks, names.len())?;
    let mut inputs: Vec<wgpu_lstm::model::ModelInput<'_>> = arrays
        .iter()
        .map(|a| match a {
            InputArray::F32(a) => wgpu_lstm::model::ModelInput::f32(a.view()),
            InputArray::Tokens(a) => wgpu_lstm::model::ModelInput::tokens(a.view()),
        })
        .collect();
    for (input, mask) in inputs.iter_mut().zip(&masks) {
        if let Some(m) = mask {
            *input = input.clone().with_mask(m.view());
        }
    }
    let mut results = Vec::with_capacity(models.len());
    for m in &mut models {
        if let Some(p) = &args.state_in {
            load_states(m, p)?;
        }
        let opts = m.options();
        results.push(m.run(&inputs, &opts)?);
    }
    let y = &results[0];
    if let [cpu, gpu] = &results[..] {
        for (i, (a, b)) in cpu.iter().zip(gpu).enumerate() {
            let (abs, rel) = a.iter().zip(b).fold((0.0f32, 0.0f32), |(m, r), (x, y)| {
                let d = (x - y).abs();
                let d = if d.is_nan() && x.is_nan() != y.is_nan() {
                    f32::INFINITY
                } else if d.is_nan() {
                    0.0
                } else {
                    d
                };
                (m.max(d), r.max(d / x.abs().max(1.0)))
            });
            outln!(
                "output {i}: max |gpu - cpu| = {abs:.3e} (relative to max(1, |cpu|): {rel:.3e}) on {}",
                models[1].device_name()
            )?;
        }
    }
    if let Some(p) = &args.state_out {
        save_states(&models[0], p)?;
    }
    match out_file {
        Some(OutputFile::Npy(p)) => {
            keras::write_npy_f32(&p, &y[0].view())?;
            outln!("wrote output {:?} to {}", y[0].shape(), p.display())?;
        }
        Some(OutputFile::Npz(p)) => {
            let arrays: Vec<(String, ndarray::ArrayViewD<'_, f32>)> = y
                .iter()
                .enumerate()
                .map(|(i, a)| (format!("output_{i}"), a.view()))
                .collect();
            keras::write_npz(&p, &arrays)?;
            let shapes: Vec<String> = y.iter().map(|a| format!("{:?}", a.shape())).collect();
            outln!(
                "wrote {} output(s) {} to {}",
                y.len(),
                shapes.join(" "),
                p.display()
            )?;
        }
        None => {
            for (i, a) in y.iter().enumerate() {
                outln!(
                    "output {i} shape {:?} on {}",
                    a.shape(),
                    models[0].device_name()
                )?;
                let flat: Vec<String> = a.iter().take(12).map(|v| format!("{v:.6}")).collect();
                outln!(
                    "  first values: [{}{}]",
                    flat.join(", "),
                    if a.len() > 12 { ", ..." } else { "" }
                )?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The demo signal: x(t) = sin(0.07 t) + 0.5 sin(0.19 t + 1) + e(t), e ~ N(0, 0.05²).
fn signal(t: u64, noise: f32) -> f32 {
    let tf = t as f64;
    ((0.07 * tf).sin() + 0.5 * (0.19 * tf + 1.0).sin()) as f32 + noise
}

/// Streams the signal through the embedded trained forecaster, one step per call, on the
/// chosen device (stateful: h and c stay on the GPU between calls) and on the CPU reference.
fn demo(steps: usize, device: DeviceArg) -> Result<ExitCode> {
    use rand::{Rng, SeedableRng};
    let dev = match device {
        DeviceArg::Cpu => Device::Cpu,
        _ => Device::gpu()?,
    };
    let model = Model::from_keras_bytes(DEMO_MODEL, "demo/sine_forecaster.keras", &dev)?;
    outln!("{}", model.summary())?;
    let mut on_dev = model.into_stateful(&dev)?;
    let mut on_cpu =
        Model::from_keras_bytes(DEMO_MODEL, "demo/sine_forecaster.keras", &Device::Cpu)?
            .into_stateful(&Device::Cpu)?;
    outln!(
        "streaming x(t) = sin(0.07t) + 0.5 sin(0.19t + 1) + noise(0.05) one step per call on {}",
        dev.name()
    )?;
    outln!("the model predicts x(t+1) from x(0..t); the first steps warm up its state\n")?;
    outln!(
        "{:>5} {:>8} {:>10} {:>8} {:>9}  prediction (o) vs truth (x)",
        "t",
        "x(t)",
        "pred x(t+1)",
        "x(t+1)",
        "|dev-cpu|"
    )?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut noise = || {
        // Box-Muller
        let (u1, u2): (f64, f64) = (rng.random_range(f64::MIN_POSITIVE..1.0), rng.random());
        ((-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos() * 0.05) as f32
    };
    let t0 = 1000u64;
    let mut x = signal(t0, noise());
    let (mut se, mut se_naive, mut n, mut worst) = (0.0f64, 0.0f64, 0usize, 0.0f32);
    for k in 0..steps as u64 {
        let t = t0 + k;
        let xs = ndarray::Array3::from_elem((1, 1, 1), x);
        let pred = on_dev.predict(xs.view())?[0][[0, 0, 0]];
        let pred_cpu = on_cpu.predict(xs.view())?[0][[0, 0, 0]];
        let next = signal(t + 1, noise());
        worst = worst.max((pred - pred_cpu).abs());
        if k >= 8 {
            se += ((pred - next) as f64).powi(2);
            se_naive += ((x - next) as f64).powi(2);
            n += 1;
        }
        let col = |v: f32| ((v + 1.6) / 3.2 * 40.0).clamp(0.0, 40.0) as usize;
        let mut line = vec![b' '; 41];
        line[col(next)] = b'x';
        line[col(pred)] = if col(pred) == col(next) { b'*' } else { b'o' };
        outln!(
            "{t:>5} {x:>8.4} {pred:>10.4} {next:>8.4} {:>9.1e}  |{}|",
            (pred - pred_cpu).abs(),
            String::from_utf8_lossy(&line)
        )?;
        x = next;
    }
    if n > 0 {
        outln!(
            "\nafter 8 warm-up steps: model MSE {:.5}, naive \"x(t+1) = x(t)\" MSE {:.5} (noise floor 0.0025)",
            se / n as f64,
            se_naive / n as f64
        )?;
    }
    outln!("max |device - cpu reference| over {steps} streamed steps: {worst:.2e}")?;
    Ok(ExitCode::SUCCESS)
}
