//! Keras's own unit-test vectors (keras/src/layers/rnn/lstm_test.py, Keras 3): constant
//! initializers kernel 0.01, recurrent 0.02, bias 0.03 (forget block 1.0 with
//! unit_forget_bias, Keras's default), float32, atol 1e-5. Run on the CPU and the GPU.

use ndarray::{Array, Array1, Array2, Array3, array};
use wgpu_lstm::{Device, Lstm, LstmConfig, LstmInput, LstmWeights};

use crate::common::{assert_no_gpu_errors, gpu};

fn constant_weights(d: usize, cfg: &LstmConfig) -> LstmWeights {
    let u = cfg.units;
    let bias = cfg.use_bias.then(|| {
        Array1::from_shape_fn(4 * u, |j| {
            if cfg.unit_forget_bias && (u..2 * u).contains(&j) {
                1.0
            } else {
                0.03
            }
        })
    });
    LstmWeights::new(
        Array2::from_elem((d, 4 * u), 0.01),
        Array2::from_elem((u, 4 * u), 0.02),
        bias,
    )
    .unwrap()
}

fn arange(b: usize, t: usize, d: usize) -> Array3<f32> {
    Array::from_iter((0..b * t * d).map(|v| v as f32))
        .into_shape_with_order((b, t, d))
        .unwrap()
}

fn devices() -> Vec<Device> {
    let mut v = vec![Device::Cpu];
    if let Some(ctx) = gpu() {
        v.push(Device::Gpu(ctx));
    }
    v
}

fn check(cfg: LstmConfig, input: LstmInput<'_>, want: ndarray::ArrayD<f32>) {
    let d = input.inputs().shape()[2];
    for dev in devices() {
        let mut l = Lstm::on_device(cfg.clone(), constant_weights(d, &cfg), &dev).unwrap();
        let got = l.call(input.clone()).unwrap().output;
        let err = crate::common::max_abs(&got, &want);
        assert!(
            err <= 1e-5,
            "{} on {}: got {got}, want {want}",
            err,
            dev.name()
        );
        if let Device::Gpu(ctx) = &dev {
            assert_no_gpu_errors(ctx);
        }
    }
}

fn rows(v: &[f32], width: usize) -> ndarray::ArrayD<f32> {
    Array2::from_shape_fn((v.len(), width), |(r, _)| v[r]).into_dyn()
}

fn test_correctness() {
    let x = arange(3, 6, 4);
    let want = rows(&[0.6288687, 0.86899155, 0.9460773], 3);
    check(LstmConfig::new(3), LstmInput::new(x.view()), want);
    let back = LstmConfig {
        go_backwards: true,
        ..LstmConfig::new(3)
    };
    check(
        back,
        LstmInput::new(x.view()),
        rows(&[0.35622165, 0.74789524, 0.8872726], 3),
    );
    let no_ufb = LstmConfig {
        unit_forget_bias: false,
        ..LstmConfig::new(3)
    };
    check(
        no_ufb,
        LstmInput::new(x.view()),
        rows(&[0.57019705, 0.8661914, 0.9459622], 3),
    );
    let no_bias = LstmConfig {
        use_bias: false,
        ..LstmConfig::new(3)
    };
    check(
        no_bias,
        LstmInput::new(x.view()),
        rows(&[0.54986924, 0.86226785, 0.9443936], 3),
    );
}

fn test_statefulness() {
    let x = arange(2, 3, 4);
    let cfg = LstmConfig {
        stateful: true,
        ..LstmConfig::new(4)
    };
    let want = rows(&[0.3124785, 0.6863672], 4);
    for dev in devices() {
        let mut l = Lstm::on_device(cfg.clone(), constant_weights(4, &cfg), &dev).unwrap();
        l.forward(x.view()).unwrap();
        let second = l.forward(x.view()).unwrap().output;
        assert!(crate::common::max_abs(&second, &want) <= 1e-5, "{second}");
        l.reset_states().unwrap();
        l.forward(x.view()).unwrap();
        let again = l.forward(x.view()).unwrap().output;
        assert!(crate::common::max_abs(&again, &want) <= 1e-5, "{again}");
    }
}

fn test_pass_initial_state() {
    let x = arange(2, 4, 3);
    let s = array![[0.0f32, 1.0], [2.0, 3.0]];
    let input = LstmInput::new(x.view()).initial_state(s.view(), s.view());
    let want = array![[0.20574439f32, 0.3558822], [0.64930826, 0.66276]].into_dyn();
    check(LstmConfig::new(2), input.clone(), want);
    let back = LstmConfig {
        go_backwards: true,
        ..LstmConfig::new(2)
    };
    check(
        back,
        input,
        array![[0.13281618f32, 0.2790356], [0.5839337, 0.5992567]].into_dyn(),
    );
}

fn test_masking() {
    let x = arange(2, 4, 3);
    let mask = array![[true, true, true, false], [true, true, false, false]];
    let input = LstmInput::new(x.view()).mask(mask.view());
    check(
        LstmConfig::new(2),
        input.clone(),
        rows(&[0.11755939, 0.28556206], 2),
    );

    let seq = LstmConfig {
        return_sequences: true,
        ..LstmConfig::new(2)
    };
    let want = Array3::from_shape_fn((2, 4, 2), |(b, t, _)| {
        [
            [0.0158891, 0.05552048, 0.11755939, 0.11755939],
            [0.14185596, 0.28556206, 0.28556206, 0.28556206],
        ][b][t]
    });
    check(seq.clone(), input.clone(), want.into_dyn());

    let zero = LstmConfig {
        zero_output_for_mask: true,
        ..seq
    };
    let want = Array3::from_shape_fn((2, 4, 2), |(b, t, _)| {
        [
            [0.0158891, 0.05552048, 0.11755939, 0.0],
            [0.14185596, 0.28556206, 0.0, 0.0],
        ][b][t]
    });
    check(zero, input, want.into_dyn());

    let back_mask = array![[false, true, true, true], [false, false, true, true]];
    let back = LstmConfig {
        go_backwards: true,
        ..LstmConfig::new(2)
    };
    check(
        back,
        LstmInput::new(x.view()).mask(back_mask.view()),
        rows(&[0.15341201, 0.3844719], 2),
    );
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    vec![
        crate::common::test("keras_vectors::test_correctness", test_correctness),
        crate::common::gpu_test("keras_vectors::test_statefulness", test_statefulness),
        crate::common::test(
            "keras_vectors::test_pass_initial_state",
            test_pass_initial_state,
        ),
        crate::common::test("keras_vectors::test_masking", test_masking),
    ]
}
