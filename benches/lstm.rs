//! Criterion benchmarks over the shared grid (see BENCHMARKS.md): groups `cpu/<config>` and
//! `gpu/<config>`, each timing one forward call of `wgpu_lstm::bench::BenchCase` (the same
//! case `wgpu-lstm bench` times). Throughput is reported in elements = floating-point
//! operations (2·B·T·4U·(D+U)), so "Gelem/s" reads as GFLOP/s.
//!
//! Which configurations run:
//! * `WGPU_LSTM_BENCH_CONFIGS=small_seq,medium` (names, `all`, or shapes `B,T,D,U`) selects
//!   for both groups;
//! * otherwise the CPU runs `stream_step`, `small_seq` and `medium` (under ~1 s per call on a
//!   2-core machine), a hardware GPU the whole grid, and a software adapter (lavapipe) only
//!   `stream_step` and `small_seq`.
//!
//! The GPU group runs only when an adapter exists (`WGPU_BACKEND` / `WGPU_ADAPTER_NAME` pick
//! it); otherwise it is skipped with a message. `WGPU_LSTM_BENCH_DEVICES=cpu` or `=gpu`
//! runs one group only.
//!
//! ```text
//! cargo bench --bench lstm                                  # default selection
//! WGPU_LSTM_BENCH_CONFIGS=medium cargo bench --bench lstm -- gpu/
//! ```

use std::time::Duration;

use criterion::{Criterion, Throughput};
use wgpu_lstm::Device;
use wgpu_lstm::bench::{BenchCase, BenchConfig};
use wgpu_lstm::gpu::GpuContext;

const CONFIGS_ENV: &str = "WGPU_LSTM_BENCH_CONFIGS";
const DEVICES_ENV: &str = "WGPU_LSTM_BENCH_DEVICES";
const CPU_DEFAULT: &[&str] = &["stream_step", "small_seq", "medium"];
const SOFTWARE_GPU_DEFAULT: &[&str] = &["stream_step", "small_seq"];

/// The configurations from `WGPU_LSTM_BENCH_CONFIGS`, or the given defaults.
fn selected(default: &[&str]) -> Vec<BenchConfig> {
    match std::env::var(CONFIGS_ENV) {
        Ok(s) if !s.trim().is_empty() => BenchConfig::parse_list(&[s]).unwrap_or_else(|e| {
            eprintln!("{CONFIGS_ENV}: {e}");
            std::process::exit(2)
        }),
        _ => default
            .iter()
            .map(|n| BenchConfig::named(n).expect("a grid name"))
            .collect(),
    }
}

fn wants(group: &str) -> bool {
    std::env::var(DEVICES_ENV)
        .map(|v| v.trim().is_empty() || v.split(',').any(|d| d.trim() == group))
        .unwrap_or(true)
}

fn bench_device(c: &mut Criterion, group: &str, device: &Device, configs: &[BenchConfig]) {
    let mut g = c.benchmark_group(group);
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for cfg in configs {
        // Build and call once outside criterion, so that a configuration this device cannot
        // run (e.g. too large for its storage bindings) is skipped with the reason.
        let mut case = match BenchCase::new(cfg, device, 0).and_then(|mut case| {
            case.forward()?;
            Ok(case)
        }) {
            Ok(case) => case,
            Err(e) => {
                eprintln!("skipping {group}/{} ({}): {e}", cfg.name, cfg.shape());
                continue;
            }
        };
        g.throughput(Throughput::Elements(cfg.flop()));
        g.bench_function(cfg.name.clone(), |b| {
            b.iter(|| {
                case.forward()
                    .expect("a forward call that ran once already")
            })
        });
    }
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    if wants("cpu") {
        bench_device(&mut c, "cpu", &Device::Cpu, &selected(CPU_DEFAULT));
    }
    if wants("gpu") {
        match GpuContext::new() {
            Ok(ctx) => {
                let software = ctx.adapter_info().device_type == wgpu::DeviceType::Cpu;
                let all: Vec<&str> = wgpu_lstm::bench::GRID.iter().map(|g| g.0).collect();
                let configs = selected(if software { SOFTWARE_GPU_DEFAULT } else { &all });
                eprintln!("gpu group on {}", ctx.adapter_name());
                bench_device(&mut c, "gpu", &Device::Gpu(ctx), &configs);
            }
            Err(e) => eprintln!("skipping the gpu group: {e}"),
        }
    }
    c.final_summary();
}
