//! Shared test helpers: the harness's trial makers ([`test`], [`gpu_test`], [`suite`] over
//! every [`Exec`]), the fixture folder, one GPU context per test binary, random data.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use libtest_mimic::Trial;
use wgpu_lstm::gpu::{CallOptions, KernelChoice};
use wgpu_lstm::{Device, Precision};

use ndarray::{Array, Array2, Array3, ArrayD};
use rand::{Rng, SeedableRng, rngs::StdRng};
use wgpu_lstm::gpu::{GpuContext, list_adapters};
use wgpu_lstm::{Activation, LstmConfig};

/// The Keras fixtures: `KERAS_FIXTURES_DIR` if set, else the vendored copy.
pub fn fixtures_dir() -> PathBuf {
    match std::env::var_os("KERAS_FIXTURES_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras"),
    }
}

/// The shared GPU context, or `None` when there is no adapter and `CI` is not set.
///
/// With `CI` set and no adapter this panics with the adapters found and the fix: GPU tests
/// never skip silently in CI.
pub fn gpu() -> Option<Arc<GpuContext>> {
    static CTX: OnceLock<Option<Arc<GpuContext>>> = OnceLock::new();
    CTX.get_or_init(|| match GpuContext::new() {
        Ok(ctx) => Some(ctx),
        Err(e) => {
            let found: Vec<String> = list_adapters(None).iter().map(|a| a.to_string()).collect();
            let msg = format!(
                "no GPU adapter: {e}\nadapters found: {found:#?}\nfix: apt-get install -y mesa-vulkan-drivers \
                 (lavapipe) and run with WGPU_BACKEND=vulkan"
            );
            if std::env::var_os("CI").is_some() {
                panic!("{msg}");
            }
            eprintln!("skipping GPU checks outside CI: {msg}");
            None
        }
    })
    .clone()
}

/// A second context on the shared context's adapter that allows only 3 workgroups per
/// dimension of a dispatch (default limits otherwise), so that calls must spread their grids
/// over three dimensions and split; `None` without a GPU (as [`gpu`]).
pub fn small_dispatch_limit_gpu() -> Option<Arc<GpuContext>> {
    let shared = gpu()?;
    let inst = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    let adapters = pollster::block_on(inst.enumerate_adapters(wgpu::Backends::all()));
    let adapter = adapters
        .into_iter()
        .find(|a| a.get_info().name == shared.adapter_name())
        .expect("the shared context's adapter");
    let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
        label: Some("small dispatch limit"),
        required_limits: wgpu::Limits {
            max_compute_workgroups_per_dimension: 3,
            ..wgpu::Limits::default()
        },
        ..Default::default()
    }))
    .unwrap();
    Some(GpuContext::from_device(adapter.get_info(), device, queue))
}

/// Whether GPU tests run: an adapter exists, or `CI` is set (then a missing adapter fails
/// the tests that need one).
pub fn gpu_runs() -> bool {
    static RUNS: OnceLock<bool> = OnceLock::new();
    *RUNS.get_or_init(|| std::env::var_os("CI").is_some() || !list_adapters(None).is_empty())
}

/// A plain test.
pub fn test(name: &str, f: fn()) -> Trial {
    Trial::test(name, move || {
        f();
        Ok(())
    })
}

/// A test that needs a GPU: ignored (never passed) without an adapter outside CI.
pub fn gpu_test(name: &str, f: fn()) -> Trial {
    test(name, f).with_ignored_flag(!gpu_runs())
}

/// One executor of the suite: the CPU, or the GPU with a recurrent kernel and a precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exec {
    Cpu,
    Gpu(KernelChoice, Precision),
}

impl Exec {
    /// Every executor and kernel variant: CPU; GPU with the kernel chosen by shape, each
    /// recurrent kernel forced, and f16 recurrent weights.
    pub fn all() -> Vec<Exec> {
        vec![
            Exec::Cpu,
            Exec::Gpu(KernelChoice::Auto, Precision::F32),
            Exec::Gpu(KernelChoice::PerStep, Precision::F32),
            Exec::Gpu(KernelChoice::PerStepSubgroup, Precision::F32),
            Exec::Gpu(KernelChoice::Persistent, Precision::F32),
            Exec::Gpu(KernelChoice::Auto, Precision::F16Weights),
        ]
    }

    /// The GPU executors with f32 weights (every recurrent kernel).
    pub fn gpu_f32() -> Vec<Exec> {
        Exec::all()
            .into_iter()
            .filter(|e| matches!(e, Exec::Gpu(_, Precision::F32)))
            .collect()
    }

    /// A short name for test names: `cpu`, `gpu-auto`, `gpu-per-step`, …, `gpu-f16`.
    pub fn name(&self) -> &'static str {
        match self {
            Exec::Cpu => "cpu",
            Exec::Gpu(_, Precision::F16Weights) => "gpu-f16",
            Exec::Gpu(KernelChoice::Auto, _) => "gpu-auto",
            Exec::Gpu(KernelChoice::PerStep, _) => "gpu-per-step",
            Exec::Gpu(KernelChoice::PerStepSubgroup, _) => "gpu-subgroup",
            Exec::Gpu(KernelChoice::Persistent, _) => "gpu-persistent",
        }
    }

    /// The device (the shared GPU context).
    pub fn device(&self) -> Device {
        match self {
            Exec::Cpu => Device::Cpu,
            Exec::Gpu(..) => Device::Gpu(gpu().expect("GPU trials run only with a GPU")),
        }
    }

    /// The call options: the kernel, and every output and scratch buffer poisoned with NaN.
    pub fn options(&self) -> CallOptions {
        match self {
            Exec::Cpu => CallOptions::default(),
            Exec::Gpu(k, _) => CallOptions {
                kernel: *k,
                poison: true,
                ..CallOptions::default()
            },
        }
    }

    /// The weight precision.
    pub fn precision(&self) -> Precision {
        match self {
            Exec::Cpu => Precision::F32,
            Exec::Gpu(_, p) => *p,
        }
    }

    /// The tolerance against Keras: 1e-5 on the CPU, 1e-4 on the GPU (its exp may be a few
    /// ULP off); with f16 recurrent weights the comparison is against the CPU with the same
    /// rounding, not Keras (see README "Precision").
    pub fn tolerance(&self) -> f32 {
        match self {
            Exec::Cpu => 1e-5,
            Exec::Gpu(..) => 1e-4,
        }
    }

    /// Whether this executor's variant exists on the shared device (the subgroup kernel
    /// needs SUBGROUP, f16 weights SHADER_F16). In CI a missing variant fails (panics here,
    /// while the trials are listed).
    pub fn available(&self) -> bool {
        let Exec::Gpu(k, p) = self else { return true };
        if !gpu_runs() {
            return false;
        }
        let Some(ctx) = gpu() else { return false };
        let f = ctx.device().features();
        let ok = (*k != KernelChoice::PerStepSubgroup || ctx.subgroup_lanes().is_some())
            && (*p != Precision::F16Weights || f.contains(wgpu::Features::SHADER_F16));
        assert!(
            ok || std::env::var_os("CI").is_none(),
            "{} is not available on {}: it would go untested in CI",
            self.name(),
            ctx.adapter_name()
        );
        ok
    }
}

/// One trial per executor, named `name[executor]`; GPU trials are ignored without an adapter
/// outside CI, and so is a variant the adapter lacks (in CI that fails).
pub fn suite(name: &str, f: fn(&Exec)) -> Vec<Trial> {
    suite_of(name, &Exec::all(), f)
}

/// [`suite`] over the given executors.
pub fn suite_of(name: &str, execs: &[Exec], f: fn(&Exec)) -> Vec<Trial> {
    execs
        .iter()
        .copied()
        .map(|ex| {
            let trial = Trial::test(format!("{name}[{}]", ex.name()), move || {
                f(&ex);
                Ok(())
            });
            let gpu = matches!(ex, Exec::Gpu(..));
            trial.with_ignored_flag(gpu && (!gpu_runs() || !ex.available()))
        })
        .collect()
}

/// Fails the test if wgpu reported any error since the last check.
pub fn assert_no_gpu_errors(ctx: &GpuContext) {
    if let Err(e) = ctx.check_errors() {
        panic!("uncaptured wgpu error: {e}");
    }
}

pub fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Uniform random array in [-scale, scale).
pub fn random<D: ndarray::Dimension>(rng: &mut StdRng, shape: D, scale: f32) -> Array<f32, D> {
    Array::from_shape_simple_fn(shape, || rng.random_range(-scale..scale))
}

pub fn random3(rng: &mut StdRng, b: usize, t: usize, d: usize, scale: f32) -> Array3<f32> {
    random(rng, ndarray::Ix3(b, t, d), scale)
}

/// A random mask with some fully masked and some leading-masked rows.
pub fn random_mask(rng: &mut StdRng, b: usize, t: usize) -> Array2<bool> {
    let mut m = Array2::from_shape_simple_fn((b, t), || rng.random_bool(0.7));
    for row in 0..b {
        match rng.random_range(0..4) {
            0 => m.row_mut(row).fill(false),
            1 => {
                let lead = rng.random_range(0..=t);
                m.row_mut(row)
                    .iter_mut()
                    .take(lead)
                    .for_each(|v| *v = false);
            }
            _ => {}
        }
    }
    m
}

/// Max abs difference; equal values (inf included) and NaN against NaN count as 0, so NaN
/// propagation must agree in place.
pub fn max_abs(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape(), "shapes differ");
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| {
            if x == y || (x.is_nan() && y.is_nan()) {
                0.0
            } else {
                (x - y).abs()
            }
        })
        .fold(
            0.0,
            |m, d| if d.is_nan() { f32::INFINITY } else { m.max(d) },
        )
}

/// A random configuration of the given units.
pub fn random_config(rng: &mut StdRng, units: usize) -> LstmConfig {
    LstmConfig {
        activation: Activation::ALL[rng.random_range(0..Activation::ALL.len())],
        recurrent_activation: Activation::ALL[rng.random_range(0..Activation::ALL.len())],
        use_bias: rng.random_bool(0.8),
        return_sequences: rng.random_bool(0.5),
        return_state: rng.random_bool(0.5),
        go_backwards: rng.random_bool(0.3),
        zero_output_for_mask: rng.random_bool(0.3),
        ..LstmConfig::new(units)
    }
}

/// A Bidirectional from (config, weights) halves, built as Keras builds it.
pub struct BidirDef {
    pub forward: (LstmConfig, wgpu_lstm::LstmWeights),
    pub backward: (LstmConfig, wgpu_lstm::LstmWeights),
    pub merge: wgpu_lstm::layers::bidirectional::MergeMode,
}

impl BidirDef {
    /// As Keras's `Bidirectional(layer)`: the backward half processes the other way.
    pub fn build(mut self) -> wgpu_lstm::layers::Layer {
        use wgpu_lstm::layers::{Bidirectional, Layer, Recurrent};
        self.backward.0.go_backwards = !self.forward.0.go_backwards;
        Layer::Bidirectional(
            Bidirectional::new(
                Recurrent::lstm(self.forward.0, self.forward.1).unwrap(),
                Recurrent::lstm(self.backward.0, self.backward.1).unwrap(),
                self.merge,
            )
            .unwrap(),
        )
    }
}

/// The CPU kernel paths this machine has (`cpu_kernels`): every ISA on the default team
/// size, the widest also with forced teams of 2 and 3 threads (the barrier and the stealing
/// on small shapes) and with 3-step projection chunks.
pub fn cpu_paths() -> Vec<wgpu_lstm::cpu_kernels::KernelOptions> {
    use wgpu_lstm::cpu_kernels::{Isa, KernelOptions};
    let mut v: Vec<KernelOptions> = Isa::available()
        .into_iter()
        .map(|isa| KernelOptions {
            isa: Some(isa),
            ..Default::default()
        })
        .collect();
    let widest = Isa::available()[0];
    v.push(KernelOptions {
        isa: Some(widest),
        threads: Some(2),
        chunk_steps: Some(3),
    });
    v.push(KernelOptions {
        isa: Some(Isa::Portable),
        threads: Some(3),
        chunk_steps: None,
    });
    v
}

/// Runs `f` on the CPU path `i` of [`cpu_paths`] (modulo their number): a test that makes
/// many CPU calls spreads them over every path without running each one on all.
pub fn on_cpu_path<R>(i: usize, f: impl FnOnce() -> R) -> R {
    let paths = cpu_paths();
    wgpu_lstm::cpu_kernels::with_options(paths[i % paths.len()], f).expect("an available path")
}
