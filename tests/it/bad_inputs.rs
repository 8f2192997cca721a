//! The bad-input table: every kind of bad input mapped to the typed error it must give,
//! on the CPU and the GPU — never a panic, a hang, or a silently wrong answer.

use std::path::Path;

use ndarray::{Array1, Array2, Array3, Array4, ArrayD, IxDyn};
use wgpu_lstm::{
    Activation, Device, Error, KerasFlavour, Lstm, LstmConfig, LstmInput, LstmState, LstmWeights,
    keras,
};

use crate::common::gpu;

type Case = (
    &'static str,
    Box<dyn Fn(&Device) -> Result<(), Error>>,
    fn(&Error) -> bool,
);

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

fn call(dev: &Device, x: ArrayD<f32>) -> Result<(), Error> {
    layer(dev, false).forward(x.view()).map(|_| ())
}

fn file(name: &str) -> Vec<u8> {
    std::fs::read(Path::new(env!("CARGO_MANIFEST_DIR")).join(name)).unwrap()
}

fn npy(descr: &str, shape: &str, payload: usize) -> Vec<u8> {
    let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let pad = 64 - (10 + header.len() + 1) % 64;
    let full = format!("{header}{}\n", " ".repeat(pad));
    let mut b = b"\x93NUMPY\x01\x00".to_vec();
    b.extend_from_slice(&(full.len() as u16).to_le_bytes());
    b.extend_from_slice(full.as_bytes());
    b.extend(std::iter::repeat_n(0u8, payload));
    b
}

fn shape_of(what: &'static str) -> fn(&Error) -> bool {
    match what {
        "inputs" => |e| matches!(e, Error::Shape { what, .. } if what == "inputs"),
        "mask" => |e| matches!(e, Error::Shape { what, .. } if what == "mask"),
        _ => |e| matches!(e, Error::Shape { .. }),
    }
}

fn table() -> Vec<Case> {
    let model_file = |e: &Error| matches!(e, Error::ModelFile { .. });
    vec![
        (
            "inputs of rank 2",
            Box::new(|d| call(d, ArrayD::zeros(IxDyn(&[2, 3])))),
            shape_of("inputs"),
        ),
        (
            "inputs of rank 4",
            Box::new(|d| call(d, Array4::zeros((1, 2, 3, 3)).into_dyn())),
            shape_of("inputs"),
        ),
        (
            "wrong feature size",
            Box::new(|d| call(d, Array3::zeros((2, 5, 4)).into_dyn())),
            shape_of("inputs"),
        ),
        (
            "empty sequence T = 0",
            Box::new(|d| call(d, Array3::zeros((2, 0, 3)).into_dyn())),
            shape_of("inputs"),
        ),
        (
            "empty batch B = 0",
            Box::new(|d| call(d, Array3::zeros((0, 5, 3)).into_dyn())),
            shape_of("inputs"),
        ),
        (
            "mask of the wrong length",
            Box::new(|d| {
                let x = Array3::<f32>::zeros((2, 5, 3));
                let m = Array2::from_elem((2, 4), true);
                layer(d, false)
                    .call(LstmInput::new(x.view()).mask(m.view()))
                    .map(|_| ())
            }),
            shape_of("mask"),
        ),
        (
            "mask of rank 1",
            Box::new(|d| {
                let x = Array3::<f32>::zeros((1, 5, 3));
                let m = Array1::from_elem(5, true);
                layer(d, false)
                    .call(LstmInput::new(x.view()).mask(m.view()))
                    .map(|_| ())
            }),
            shape_of("mask"),
        ),
        (
            "initial state of the wrong shape",
            Box::new(|d| {
                let x = Array3::<f32>::zeros((2, 5, 3));
                let h = Array2::<f32>::zeros((2, 5));
                layer(d, false)
                    .call(LstmInput::new(x.view()).initial_state(h.view(), h.view()))
                    .map(|_| ())
            }),
            |e| matches!(e, Error::Shape { what, .. } if what.starts_with("initial_state")),
        ),
        (
            "stateful batch size change",
            Box::new(|d| {
                let mut l = layer(d, true);
                l.forward(Array3::<f32>::zeros((2, 5, 3)).view())?;
                l.forward(Array3::<f32>::zeros((1, 5, 3)).view())
                    .map(|_| ())
            }),
            |e| {
                matches!(
                    e,
                    Error::StatefulBatch {
                        expected: 2,
                        got: 1
                    }
                )
            },
        ),
        (
            "set_states of the wrong shape",
            Box::new(|d| layer(d, true).set_states(&LstmState::zeros(2, 3).unwrap())),
            shape_of("any"),
        ),
        (
            "a row outside the batch",
            Box::new(|d| {
                let mut l = layer(d, true);
                l.init_states(2)?;
                l.reset_rows(&[2])
            }),
            |e| matches!(e, Error::RowOutOfRange { row: 2, batch: 2 }),
        ),
        (
            "units = 0",
            Box::new(|d| {
                Lstm::on_device(
                    LstmConfig::new(0),
                    LstmWeights::keras_default(3, &LstmConfig::new(1), 0).unwrap(),
                    d,
                )
                .map(|_| ())
            }),
            |e| matches!(e, Error::Config { field, .. } if field == "units"),
        ),
        (
            "weights that do not fit the config",
            Box::new(|d| {
                Lstm::on_device(
                    LstmConfig::new(5),
                    LstmWeights::keras_default(3, &LstmConfig::new(4), 0).unwrap(),
                    d,
                )
                .map(|_| ())
            }),
            shape_of("any"),
        ),
        (
            "an unknown activation",
            Box::new(|_| Activation::from_keras_name("swishh", KerasFlavour::Keras3).map(|_| ())),
            |e| matches!(e, Error::UnknownActivation { .. }),
        ),
        (
            "a Keras 3-only activation in a Keras 2 model",
            Box::new(|_| {
                Activation::from_keras_name("hard_silu", KerasFlavour::Keras2).map(|_| ())
            }),
            |e| matches!(e, Error::UnknownActivation { .. }),
        ),
        (
            "a truncated .keras file",
            Box::new(|_| {
                let b = file("demo/sine_forecaster.keras");
                keras::load_keras_bytes(&b[..b.len() / 2], "cut.keras").map(|_| ())
            }),
            model_file,
        ),
        (
            "random bytes as a .keras file",
            Box::new(|_| keras::load_keras_bytes(&[7u8; 300], "junk.keras").map(|_| ())),
            model_file,
        ),
        (
            "a truncated legacy .h5 file",
            Box::new(|_| {
                let b = file("tests/fixtures/keras/models/tfkeras2_seq_lstm.h5");
                keras::load_legacy_h5_bytes(&b[..b.len() * 2 / 3], "cut.h5").map(|_| ())
            }),
            model_file,
        ),
        (
            "a legacy .h5 with its superblock overwritten",
            Box::new(|_| {
                let mut b = file("tests/fixtures/keras/models/tfkeras2_seq_lstm.h5");
                b[8..40].fill(0xff);
                keras::load_legacy_h5_bytes(&b, "hostile.h5").map(|_| ())
            }),
            model_file,
        ),
        (
            "a big-endian .npy",
            Box::new(|_| {
                keras::read_npy_f32_bytes(&npy(">f4", "(1, 2, 1)", 8), "be.npy").map(|_| ())
            }),
            model_file,
        ),
        (
            "a float64 .npy",
            Box::new(|_| {
                keras::read_npy_f32_bytes(&npy("<f8", "(1, 2, 1)", 16), "f8.npy").map(|_| ())
            }),
            model_file,
        ),
        (
            "a .npy whose shape points past the end",
            Box::new(|_| {
                keras::read_npy_f32_bytes(&npy("<f4", "(1000000, 1000000)", 8), "huge.npy")
                    .map(|_| ())
            }),
            model_file,
        ),
        (
            "malformed fixture JSON",
            Box::new(|_| {
                wgpu_lstm::conformance::Fixture::parse("{\"kind\": 3}", "bad.json".as_ref())
                    .map(|_| ())
            }),
            |e| matches!(e, Error::Json { .. }),
        ),
    ]
}

fn every_bad_input_gives_its_typed_error() {
    let mut devices = vec![Device::Cpu];
    if let Some(ctx) = gpu() {
        devices.push(Device::Gpu(ctx));
    }
    for dev in &devices {
        for (what, run, expected) in table() {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(dev)));
            match result {
                Err(_) => panic!("{what} on {}: panicked", dev.name()),
                Ok(Ok(())) => panic!("{what} on {}: accepted", dev.name()),
                Ok(Err(e)) => {
                    assert!(expected(&e), "{what} on {}: wrong error {e:?}", dev.name());
                    assert!(!e.to_string().is_empty());
                }
            }
        }
        if let Device::Gpu(ctx) = dev {
            crate::common::assert_no_gpu_errors(ctx);
        }
    }
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    vec![crate::common::gpu_test(
        "bad_inputs::every_bad_input_gives_its_typed_error",
        every_bad_input_gives_its_typed_error,
    )]
}
