//! Opt-in f16 weights: the GPU equals its CPU twin (R rounded to f16), and the error against
//! exact f32 is measured and bounded.

use wgpu_lstm::{Device, Error, Lstm, LstmConfig, LstmInput, LstmWeights, Precision};

use wgpu_lstm::gpu::KernelChoice;

use crate::common::{assert_no_gpu_errors, gpu, max_abs, random3, rng};

fn f16_weights_on_the_gpu_equal_the_cpu_twin() {
    let Some(ctx) = gpu() else { return };
    if !ctx.device().features().contains(wgpu::Features::SHADER_F16) {
        eprintln!(
            "{} has no SHADER_F16: checking the typed error only",
            ctx.adapter_name()
        );
        let cfg = LstmConfig::new(4);
        let e = Lstm::on_device_with_precision(
            cfg.clone(),
            LstmWeights::keras_default(2, &cfg, 0).unwrap(),
            &Device::Gpu(ctx),
            Precision::F16Weights,
        )
        .unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)));
        return;
    }
    // every recurrent kernel: by shape, persistent, and both per-step ones
    let mut r = rng(16);
    for choice in [
        KernelChoice::Auto,
        KernelChoice::Persistent,
        KernelChoice::PerStep,
        KernelChoice::PerStepSubgroup,
    ] {
        for (u, d, b, t) in [(5, 3, 2, 7), (64, 8, 3, 6), (130, 4, 1, 4)] {
            let cfg = LstmConfig {
                return_sequences: true,
                return_state: true,
                ..LstmConfig::new(u)
            };
            let w = LstmWeights::keras_default(d, &cfg, u as u64).unwrap();
            let mut gpu_l = Lstm::on_device_with_precision(
                cfg.clone(),
                w.clone(),
                &Device::Gpu(ctx.clone()),
                Precision::F16Weights,
            )
            .unwrap();
            gpu_l.set_options(wgpu_lstm::gpu::CallOptions {
                kernel: choice,
                poison: true,
                ..Default::default()
            });
            let mut cpu_l =
                Lstm::on_device_with_precision(cfg, w, &Device::Cpu, Precision::F16Weights)
                    .unwrap();
            let x = random3(&mut r, b, t, d, 1.0);
            let a = gpu_l.call(LstmInput::new(x.view())).unwrap();
            let c = cpu_l.call(LstmInput::new(x.view())).unwrap();
            assert!(
                max_abs(&a.output, &c.output) <= 1e-5,
                "{choice:?} U={u}: {}",
                max_abs(&a.output, &c.output)
            );
        }
        assert_no_gpu_errors(&ctx);
    }
}

/// The error f16 storage of R costs against exact f32, on the CPU twin (a property of the
/// rounding, not of the device): T = 100 steps of random inputs.
fn f16_weights_error_against_f32_is_bounded() {
    let mut r = rng(5);
    let mut report = Vec::new();
    for u in [32usize, 128, 256] {
        let cfg = LstmConfig {
            return_sequences: true,
            ..LstmConfig::new(u)
        };
        let w = LstmWeights::keras_default(16, &cfg, 1).unwrap();
        let x = random3(&mut r, 2, 100, 16, 1.0);
        let mut exact = Lstm::new(cfg.clone(), w.clone()).unwrap();
        let mut half =
            Lstm::on_device_with_precision(cfg, w, &Device::Cpu, Precision::F16Weights).unwrap();
        let e = max_abs(
            &exact.forward(x.view()).unwrap().output,
            &half.forward(x.view()).unwrap().output,
        );
        report.push(format!("U={u}: {e:.2e}"));
        assert!(e > 0.0, "f16 rounding must change something at U={u}");
        assert!(e < 2e-3, "f16 weights cost {e} at U={u}");
    }
    eprintln!(
        "f16-weight error vs f32 over 100 steps: {}",
        report.join(", ")
    );
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    vec![
        crate::common::gpu_test(
            "precision::f16_weights_on_the_gpu_equal_the_cpu_twin",
            f16_weights_on_the_gpu_equal_the_cpu_twin,
        ),
        crate::common::test(
            "precision::f16_weights_error_against_f32_is_bounded",
            f16_weights_error_against_f32_is_bounded,
        ),
    ]
}
