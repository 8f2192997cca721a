//! Typed errors on bad input: each names the offending shape, field or file.

use ndarray::{Array1, Array2, Array3, Array4};
use wgpu_lstm::{
    Activation, Device, Error, KerasFlavour, Lstm, LstmConfig, LstmInput, LstmState, LstmWeights,
};

use crate::common::gpu;

fn layer(dev: &Device, stateful: bool) -> Lstm {
    let cfg = LstmConfig {
        stateful,
        ..LstmConfig::new(4)
    };
    Lstm::on_device(
        cfg.clone(),
        LstmWeights::keras_default(3, &cfg, 0).unwrap(),
        dev,
    )
    .unwrap()
}

fn devices() -> Vec<Device> {
    let mut v = vec![Device::Cpu];
    if let Some(ctx) = gpu() {
        v.push(Device::Gpu(ctx));
    }
    v
}

fn wrong_weight_shapes() {
    let e = LstmWeights::new(Array2::zeros((3, 16)), Array2::zeros((4, 12)), None).unwrap_err();
    assert!(
        matches!(&e, Error::Shape { what, got, .. } if what == "recurrent_kernel" && got == &[4, 12]),
        "{e}"
    );
    let e = LstmWeights::new(Array2::zeros((3, 12)), Array2::zeros((4, 16)), None).unwrap_err();
    assert!(
        matches!(&e, Error::Shape { what, .. } if what == "kernel"),
        "{e}"
    );
    let e = LstmWeights::new(
        Array2::zeros((3, 16)),
        Array2::zeros((4, 16)),
        Some(Array1::zeros(15)),
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::Shape { what, .. } if what == "bias"),
        "{e}"
    );
    let w = LstmWeights::keras_default(3, &LstmConfig::new(4), 0).unwrap();
    let e = Lstm::new(LstmConfig::new(5), w.clone()).unwrap_err();
    assert!(e.to_string().contains("units = 5"), "{e}");
    let e = Lstm::new(
        LstmConfig {
            use_bias: false,
            ..LstmConfig::new(4)
        },
        w,
    )
    .unwrap_err();
    assert!(
        matches!(&e, Error::Config { field, .. } if field == "use_bias"),
        "{e}"
    );
}

fn zero_units_is_a_config_error() {
    let e = Lstm::with_default_weights(LstmConfig::new(0), 3, 0).unwrap_err();
    assert!(
        matches!(&e, Error::Config { field, .. } if field == "units"),
        "{e}"
    );
}

fn wrong_input_rank_or_feature_size() {
    for dev in devices() {
        let mut l = layer(&dev, false);
        let e = l.forward(Array2::<f32>::zeros((2, 3)).view()).unwrap_err();
        assert!(
            matches!(&e, Error::Shape { what, got, .. } if what == "inputs" && got == &[2, 3]),
            "{e}"
        );
        let e = l
            .forward(Array4::<f32>::zeros((1, 2, 3, 1)).view())
            .unwrap_err();
        assert!(matches!(&e, Error::Shape { .. }), "{e}");
        let e = l
            .forward(Array3::<f32>::zeros((2, 5, 4)).view())
            .unwrap_err();
        assert!(
            e.to_string().contains("(B, T, 3)") && e.to_string().contains("[2, 5, 4]"),
            "{e}"
        );
        for empty in [(0, 5, 3), (2, 0, 3)] {
            let e = l.forward(Array3::<f32>::zeros(empty).view()).unwrap_err();
            assert!(matches!(&e, Error::Shape { .. }), "{e}");
        }
    }
}

fn mask_shape_mismatch() {
    for dev in devices() {
        let mut l = layer(&dev, false);
        let x = Array3::<f32>::zeros((2, 5, 3));
        for bad in [
            Array2::from_elem((2, 4), true),
            Array2::from_elem((1, 5), true),
        ] {
            let e = l
                .call(LstmInput::new(x.view()).mask(bad.view()))
                .unwrap_err();
            assert!(
                matches!(&e, Error::Shape { what, .. } if what == "mask"),
                "{e}"
            );
            assert!(e.to_string().contains("(2, 5)"), "{e}");
        }
    }
}

fn initial_state_shape_mismatch() {
    for dev in devices() {
        let mut l = layer(&dev, false);
        let x = Array3::<f32>::zeros((2, 5, 3));
        let good = Array2::<f32>::zeros((2, 4));
        let bad = Array2::<f32>::zeros((2, 3));
        let e = l
            .call(LstmInput::new(x.view()).initial_state(good.view(), bad.view()))
            .unwrap_err();
        assert!(
            matches!(&e, Error::Shape { what, .. } if what == "initial_state c"),
            "{e}"
        );
        let e = l
            .call(LstmInput::new(x.view()).initial_state(bad.view(), good.view()))
            .unwrap_err();
        assert!(
            matches!(&e, Error::Shape { what, .. } if what == "initial_state h"),
            "{e}"
        );
    }
}

fn stateful_batch_size_change() {
    for dev in devices() {
        let mut l = layer(&dev, true);
        l.forward(Array3::<f32>::ones((2, 5, 3)).view()).unwrap();
        let before = l.states().unwrap().unwrap();
        let e = l
            .forward(Array3::<f32>::ones((3, 5, 3)).view())
            .unwrap_err();
        assert!(
            matches!(
                e,
                Error::StatefulBatch {
                    expected: 2,
                    got: 3
                }
            ),
            "{e}"
        );
        // the state is neither lost nor changed by the rejected call
        assert_eq!(l.states().unwrap().unwrap(), before);
        let e = l.set_states(&LstmState::zeros(2, 5).unwrap()).unwrap_err();
        assert!(matches!(e, Error::Shape { .. }), "{e}");
    }
}

fn unknown_activation() {
    let e = Activation::from_keras_name("tanhh", KerasFlavour::Keras3).unwrap_err();
    assert!(matches!(&e, Error::UnknownActivation { name, .. } if name == "tanhh"));
    assert!(e.to_string().contains("hard_sigmoid"));
    let json = serde_json::json!({"units": 2, "activation": "softmax"});
    let e = LstmConfig::from_keras_json(&json, KerasFlavour::Keras2).unwrap_err();
    assert!(matches!(e, Error::UnknownActivation { .. }));
}

fn config_json_errors_name_the_field() {
    for (json, field) in [
        (serde_json::json!({"activation": "tanh"}), "units"),
        (serde_json::json!({"units": "4"}), "units"),
        (
            serde_json::json!({"units": 4, "return_sequences": 1}),
            "return_sequences",
        ),
        (
            serde_json::json!({"units": 4, "activation": 3}),
            "activation",
        ),
    ] {
        let e = LstmConfig::from_keras_json(&json, KerasFlavour::Keras3).unwrap_err();
        assert!(
            matches!(&e, Error::Config { field: f, .. } if f == field),
            "{e}"
        );
    }
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    vec![
        crate::common::test("errors::wrong_weight_shapes", wrong_weight_shapes),
        crate::common::test(
            "errors::zero_units_is_a_config_error",
            zero_units_is_a_config_error,
        ),
        crate::common::gpu_test(
            "errors::wrong_input_rank_or_feature_size",
            wrong_input_rank_or_feature_size,
        ),
        crate::common::gpu_test("errors::mask_shape_mismatch", mask_shape_mismatch),
        crate::common::gpu_test(
            "errors::initial_state_shape_mismatch",
            initial_state_shape_mismatch,
        ),
        crate::common::gpu_test(
            "errors::stateful_batch_size_change",
            stateful_batch_size_change,
        ),
        crate::common::test("errors::unknown_activation", unknown_activation),
        crate::common::test(
            "errors::config_json_errors_name_the_field",
            config_json_errors_name_the_field,
        ),
    ]
}
