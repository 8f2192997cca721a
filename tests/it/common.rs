//! Shared test helpers: the fixture folder and one GPU context per test binary.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

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
        Ok(ctx) => {
            ctx.set_debug_poison(true);
            Some(ctx)
        }
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
