// The fuzz targets' bodies, shared by the cargo-fuzz targets (fuzz/fuzz_targets/*.rs) and
// the corpus replay test (tests/it/fuzz_corpus.rs), which both `include!` this file inside
// a module. Plain functions: no libfuzzer here. Each takes arbitrary bytes and must return
// without panicking, hanging or allocating much more than the input; errors are expected
// and ignored. (Plain `//` comments: an `include!`d file cannot carry inner doc comments.)

use std::sync::OnceLock;

use ndarray::{Array2, Array3};
use serde_json::Value;
use wgpu_lstm::keras::{self, ModelFile};
use wgpu_lstm::model::Model;
use wgpu_lstm::{Device, KerasFlavour, LstmConfig, Result};

// Paths are relative to this file (true both for the fuzz crate and the test).
const K3_WEIGHTS: &[u8] =
    include_bytes!("../tests/fixtures/keras/models/keras3_seq_lstm.weights.h5");
const K2_H5: &[u8] = include_bytes!("../tests/fixtures/keras/models/tfkeras2_seq_lstm.h5");
const K3_ARCH: &str = include_str!("arch/keras3_seq_lstm.config.json");
const K2_ARCH: &str = include_str!("arch/tfkeras2_seq_lstm.model_config.json");

/// `config.json` of tests/fixtures/keras/models/keras3_seq_lstm.keras.
fn k3_arch() -> &'static Value {
    static V: OnceLock<Value> = OnceLock::new();
    V.get_or_init(|| serde_json::from_str(K3_ARCH).expect("keras3 config.json"))
}

/// The `model_config` attribute of tests/fixtures/keras/models/tfkeras2_seq_lstm.h5.
fn k2_arch() -> &'static Value {
    static V: OnceLock<Value> = OnceLock::new();
    V.get_or_init(|| serde_json::from_str(K2_ARCH).expect("tf-keras model_config"))
}

/// Every LSTM-like config dict inside an architecture (each layer's `config`, and the
/// inner `layer` / `backward_layer` configs of a wrapper) through `LstmConfig::from_keras_json`
/// for both flavours; the top-level value too (a bare layer config).
fn lstm_configs(arch: &Value) {
    let mut dicts = vec![arch];
    if let Some(layers) = arch
        .get("config")
        .and_then(|c| c.get("layers"))
        .and_then(Value::as_array)
    {
        for l in layers.iter().take(64) {
            if let Some(c) = l.get("config") {
                dicts.push(c);
                for inner in ["layer", "backward_layer"] {
                    if let Some(i) = c.get(inner) {
                        dicts.push(i.get("config").unwrap_or(i));
                    }
                }
            }
        }
    }
    for d in dicts {
        for flavour in [KerasFlavour::Keras2, KerasFlavour::Keras3] {
            let _ = LstmConfig::from_keras_json(d, flavour);
        }
    }
}

/// What a caller does with a loaded file: build the definition and the CPU model, run it on
/// a tiny zero input (1, 2, input_dim), with a mask, and streamed (stateful).
fn exercise(file: Result<ModelFile>) {
    let Ok(file) = file else { return };
    for l in &file.layers {
        for w in &l.weights {
            let _ = w.to_array();
        }
    }
    let Ok(plan) = keras::plan_from_model_file(&file) else {
        return;
    };
    let Ok(mut model) = Model::from_plan(plan, &Device::Cpu) else {
        return;
    };
    let _ = model.summary();
    let _ = model.param_count();
    let d = model.input_dim();
    let x = Array3::<f32>::zeros((1, 2, d));
    let _ = model.call(x.view().into_dyn(), None);
    let mask = Array2::from_shape_vec((1, 2), vec![true, false]).expect("mask shape");
    let _ = model.call(x.view().into_dyn(), Some(mask.view().into_dyn()));
    let Ok(mut model) = model.into_stateful(&Device::Cpu) else {
        return;
    };
    let _ = model.call(x.view().into_dyn(), None);
    let _ = model.call(x.view().into_dyn(), None);
    let _ = model.states();
    let _ = model.reset_states();
}

/// `keras_archive`: the bytes as a Keras 3 `.keras` zip.
pub fn keras_archive(data: &[u8]) {
    exercise(keras::load_keras_bytes(data, "fuzz.keras"));
}

/// `legacy_h5`: the bytes as a tf-keras full-model `.h5`.
pub fn legacy_h5(data: &[u8]) {
    exercise(keras::load_legacy_h5_bytes(data, "fuzz.h5"));
}

/// `weights_h5`: the bytes as a weights-only HDF5 file, for the fixed architecture of
/// keras3_seq_lstm (Keras 3 `.weights.h5` layout) and of tfkeras2_seq_lstm (legacy layout,
/// layers matched by name); the layout is told from the content either way.
pub fn weights_h5(data: &[u8]) {
    exercise(keras::load_weights_h5_bytes(
        data,
        "fuzz.weights.h5",
        k3_arch(),
        "3.15.1",
    ));
    exercise(keras::load_weights_h5_bytes(
        data,
        "fuzz.weights.h5",
        k2_arch(),
        "2.21.0",
    ));
}

/// `npy`: the bytes as a `.npy` array; what reads must survive a write/read round trip.
pub fn npy(data: &[u8]) {
    let Ok(a) = keras::read_npy_f32_bytes(data, "fuzz.npy") else {
        return;
    };
    let again = keras::npy_f32_bytes(&a.view());
    let b = keras::read_npy_f32_bytes(&again, "round trip")
        .expect("npy_f32_bytes output must read back");
    assert_eq!(a.shape(), b.shape(), "npy round trip changed the shape");
    assert!(
        a.iter()
            .zip(b.iter())
            .all(|(x, y)| x.to_bits() == y.to_bits()),
        "npy round trip changed the data"
    );
}

/// `model_config`: the bytes as an architecture JSON, loaded against the real
/// keras3_seq_lstm.weights.h5 and tfkeras2_seq_lstm.h5 weights; every layer config also
/// goes through `LstmConfig::from_keras_json` for both flavours.
pub fn model_config(data: &[u8]) {
    let Ok(arch) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    lstm_configs(&arch);
    exercise(keras::load_weights_h5_bytes(
        K3_WEIGHTS,
        "keras3_seq_lstm.weights.h5",
        &arch,
        "3.15.1",
    ));
    exercise(keras::load_weights_h5_bytes(
        K2_H5,
        "tfkeras2_seq_lstm.h5",
        &arch,
        "2.21.0",
    ));
}

/// A target body.
pub type Body = fn(&[u8]);

/// The targets by name, as the corpus folders are named.
pub const TARGETS: &[(&str, Body)] = &[
    ("keras_archive", keras_archive),
    ("legacy_h5", legacy_h5),
    ("weights_h5", weights_h5),
    ("npy", npy),
    ("model_config", model_config),
];
