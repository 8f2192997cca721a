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
    /// Run a Keras model file (.keras or legacy .h5) on a float32 .npy input (B, T, D).
    Run {
        /// The model file.
        model: PathBuf,
        /// Input .npy, float32, (B, T, D).
        #[arg(long)]
        input: PathBuf,
        /// Optional mask .npy (B, T): bool (true = valid step) or float32 (nonzero = valid).
        #[arg(long)]
        mask: Option<PathBuf>,
        /// Write the output here as float32 .npy (else print its shape and a preview).
        #[arg(long)]
        output: Option<PathBuf>,
        /// Device to run on.
        #[arg(long, value_enum, default_value = "gpu")]
        device: DeviceArg,
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
            let model = Model::load(&path, &Device::Cpu)?;
            outp!("{}", model.summary())?;
            for node in &model.plan().nodes {
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
        } => {
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
            input,
            mask,
            output,
            device,
        } => {
            let dev = match device {
                DeviceArg::Cpu => Device::Cpu,
                _ => Device::gpu()?,
            };
            let mut m = Model::load(&model, &dev)?;
            let x = keras::read_npy_f32(&input)?;
            let mask = match mask {
                Some(p) => Some(keras::read_npy_mask(&p)?),
                None => None,
            };
            let out = m.call(x.view(), mask.as_ref().map(|m| m.view()))?;
            match output {
                Some(path) => {
                    keras::write_npy_f32(&path, &out.output().view())?;
                    outln!(
                        "wrote output {:?} to {}",
                        out.output().shape(),
                        path.display()
                    )?;
                }
                None => {
                    let y = out.output();
                    outln!("output shape {:?} on {}", y.shape(), dev.name())?;
                    let flat: Vec<String> = y.iter().take(12).map(|v| format!("{v:.6}")).collect();
                    outln!(
                        "first values: [{}{}]",
                        flat.join(", "),
                        if y.len() > 12 { ", ..." } else { "" }
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
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
