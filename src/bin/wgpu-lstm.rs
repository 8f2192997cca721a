//! The `wgpu-lstm` command line: demo, describe, conformance, adapters.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use wgpu_lstm::{
    Activation, Device, Error, KerasFlavour, Lstm, LstmConfig, LstmInput, LstmWeights, Result,
    conformance, describe, gpu,
};

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
    /// Stream a signal through a stateful LSTM on the GPU, step by step, checked against the CPU.
    Demo {
        /// Number of steps to stream.
        #[arg(long, default_value_t = 40)]
        steps: usize,
        /// Device to run on (the CPU reference always runs too).
        #[arg(long, value_enum, default_value = "gpu")]
        device: DeviceArg,
    },
    /// Explain what a Keras LSTM configuration is: equations, shapes, parameter count, state.
    Describe {
        /// Keras `units` (N).
        #[arg(long)]
        units: usize,
        /// Input feature size D.
        #[arg(long)]
        input_dim: usize,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
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
            cfg.validate()?;
            if input_dim == 0 {
                return Err(Error::config("input_dim", "must be at least 1, got 0"));
            }
            print!(
                "{}",
                describe::describe_layer(&cfg, input_dim, batch, timesteps)
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Conformance { dir, device } => {
            let devs = devices(device)?;
            let results = conformance::run_dir(&dir, &devs, |r| println!("{r}"))?;
            let failed = results.iter().filter(|r| !r.passed).count();
            println!("{} passed, {} failed", results.len() - failed, failed);
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Adapters => {
            let all = gpu::list_adapters(None);
            if all.is_empty() {
                println!(
                    "no adapters found (install a Vulkan driver, e.g. apt-get install mesa-vulkan-drivers)"
                );
            }
            for a in all {
                println!("{a}");
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Streams a two-tone signal through a seeded stateful LSTM one step per call, on the chosen
/// device and on the CPU reference, printing both.
fn demo(steps: usize, device: DeviceArg) -> Result<ExitCode> {
    let dev = match device {
        DeviceArg::Cpu => Device::Cpu,
        _ => Device::gpu()?,
    };
    let cfg = LstmConfig {
        stateful: true,
        return_sequences: true,
        ..LstmConfig::new(32)
    };
    let weights = LstmWeights::keras_default(1, &cfg, 2024);
    let mut on_dev = Lstm::on_device(cfg.clone(), weights.clone(), &dev)?;
    let mut on_cpu = Lstm::new(cfg, weights)?;
    println!(
        "stateful LSTM(32) with seeded Keras-default weights, one step per call on {}",
        dev.name()
    );
    println!(
        "{:>5} {:>9} {:>12} {:>12} {:>9}",
        "t", "x(t)", "h[0] device", "h[0] cpu", "|diff|"
    );
    let mut worst = 0.0f32;
    for t in 0..steps {
        let tf = t as f32;
        let x = (0.07 * tf).sin() + 0.5 * (0.19 * tf + 1.0).sin();
        let xs = ndarray::Array3::from_elem((1, 1, 1), x);
        let a = on_dev.call(LstmInput::new(xs.view()))?;
        let b = on_cpu.call(LstmInput::new(xs.view()))?;
        let diff = conformance::max_abs_diff(&a.output, &b.output).unwrap_or(f32::INFINITY);
        worst = worst.max(diff);
        println!(
            "{t:>5} {x:>9.4} {:>12.6} {:>12.6} {diff:>9.1e}",
            a.output[[0, 0, 0]],
            b.output[[0, 0, 0]]
        );
    }
    println!("max |device - cpu| over {steps} streamed steps: {worst:.2e}");
    Ok(ExitCode::SUCCESS)
}
