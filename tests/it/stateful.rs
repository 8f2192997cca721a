//! Stateful sequences of several calls with resets, state reads and writes: GPU equals CPU.

use rand::Rng;
use wgpu_lstm::{Device, Lstm, LstmConfig, LstmInput, LstmState, LstmWeights};

use crate::common::{assert_no_gpu_errors, gpu, max_abs, random, random_mask, random3, rng};

fn stateful_calls_with_resets_match_the_cpu() {
    let Some(ctx) = gpu() else { return };
    let mut r = rng(11);
    for case in 0..6 {
        let units = [1, 4, 13, 32, 65, 100][case];
        let dim = r.random_range(1..20);
        let batch = r.random_range(1..6);
        let cfg = LstmConfig {
            stateful: true,
            return_sequences: r.random_bool(0.5),
            return_state: r.random_bool(0.5),
            go_backwards: r.random_bool(0.3),
            ..LstmConfig::new(units)
        };
        let w = LstmWeights::keras_default(dim, &cfg, case as u64).unwrap();
        let mut cpu = Lstm::new(cfg.clone(), w.clone()).unwrap();
        let mut gpu_l = Lstm::on_device(cfg.clone(), w, &Device::Gpu(ctx.clone())).unwrap();
        for call in 0..8 {
            let steps = r.random_range(1..9);
            match r.random_range(0..6) {
                0 => {
                    cpu.reset_states().unwrap();
                    gpu_l.reset_states().unwrap();
                }
                1 => {
                    let s = LstmState {
                        h: random(&mut r, ndarray::Ix2(batch, units), 1.0),
                        c: random(&mut r, ndarray::Ix2(batch, units), 1.0),
                    };
                    cpu.set_states(&s).unwrap();
                    gpu_l.set_states(&s).unwrap();
                }
                _ => {}
            }
            let x = random3(&mut r, batch, steps, dim, 1.5);
            let mask = r
                .random_bool(0.4)
                .then(|| random_mask(&mut r, batch, steps));
            let mut input = LstmInput::new(x.view());
            if let Some(m) = &mask {
                input = input.mask(m.view());
            }
            let a = cpu.call(input.clone()).unwrap();
            let b = gpu_l.call(input).unwrap();
            let e = max_abs(&a.output, &b.output);
            assert!(e <= 1e-4, "case {case} call {call}: output error {e}");
            let (sa, sb) = (
                cpu.states().unwrap().unwrap(),
                gpu_l.states().unwrap().unwrap(),
            );
            assert!(
                max_abs(&sa.h.into_dyn(), &sb.h.into_dyn()) <= 1e-4,
                "case {case} call {call}: h"
            );
            assert!(
                max_abs(&sa.c.into_dyn(), &sb.c.into_dyn()) <= 1e-4,
                "case {case} call {call}: c"
            );
        }
    }
    assert_no_gpu_errors(&ctx);
}

/// Stateful on the GPU: one step per call equals one call over the whole sequence.
fn streaming_one_step_at_a_time_equals_the_whole_sequence() {
    let Some(ctx) = gpu() else { return };
    let cfg = LstmConfig {
        stateful: true,
        return_sequences: true,
        ..LstmConfig::new(16)
    };
    let w = LstmWeights::keras_default(3, &cfg, 9).unwrap();
    let dev = Device::Gpu(ctx.clone());
    let mut whole = Lstm::on_device(cfg.clone(), w.clone(), &dev).unwrap();
    let mut stream = Lstm::on_device(cfg, w, &dev).unwrap();
    let x = random3(&mut rng(3), 2, 12, 3, 1.0);
    let all = whole.forward(x.view()).unwrap().output;
    for t in 0..12 {
        let y = stream
            .forward(x.slice(ndarray::s![.., t..t + 1, ..]))
            .unwrap()
            .output;
        let want = all
            .slice(ndarray::s![.., t..t + 1, ..])
            .to_owned()
            .into_dyn();
        assert!(max_abs(&y, &want) <= 1e-5, "step {t}");
    }
    assert_no_gpu_errors(&ctx);
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    vec![
        crate::common::gpu_test(
            "stateful::stateful_calls_with_resets_match_the_cpu",
            stateful_calls_with_resets_match_the_cpu,
        ),
        crate::common::gpu_test(
            "stateful::streaming_one_step_at_a_time_equals_the_whole_sequence",
            streaming_one_step_at_a_time_equals_the_whole_sequence,
        ),
    ]
}
