//! Tests of the Keras file readers against the real fixture files, synthetic layouts and
//! damaged inputs.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::hdf5::H5;
use super::hdf5::testfile::{Data, Spec, build};
use super::*;

const MODELS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keras/models/");
const DEMO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras");

fn fixture(name: &str) -> PathBuf {
    Path::new(MODELS).join(name)
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Flattens a nested JSON list of numbers into (shape, f32 data).
fn flatten(v: &Value) -> (Vec<usize>, Vec<f32>) {
    fn rec(v: &Value, depth: usize, shape: &mut Vec<usize>, out: &mut Vec<f32>) {
        match v {
            Value::Array(a) => {
                if shape.len() == depth {
                    shape.push(a.len());
                }
                assert_eq!(shape[depth], a.len(), "ragged JSON array");
                for x in a {
                    rec(x, depth + 1, shape, out);
                }
            }
            Value::Number(n) => out.push(n.as_f64().unwrap() as f32),
            other => panic!("not a number: {other}"),
        }
    }
    let (mut shape, mut out) = (Vec::new(), Vec::new());
    rec(v, 0, &mut shape, &mut out);
    (shape, out)
}

/// Compares every LSTM layer's weights with the companion JSON, bit for bit.
fn assert_matches_companion(m: &ModelFile, companion: &str) {
    let j: Value = serde_json::from_slice(&read(&fixture(companion))).unwrap();
    let layers = j["layers"].as_array().unwrap();
    let lstms: Vec<&LayerSpec> = m.layers.iter().filter(|l| l.class_name == "LSTM").collect();
    assert_eq!(lstms.len(), layers.len());
    assert_eq!(m.keras_version, j["keras_version"].as_str().unwrap());
    for (l, e) in lstms.iter().zip(layers) {
        assert_eq!(l.name, e["name"].as_str().unwrap());
        assert_eq!(l.config["units"], e["units"]);
        let names: Vec<&str> = l.weights.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(names, ["kernel", "recurrent_kernel", "bias"]);
        for w in &l.weights {
            let (shape, data) = flatten(&e["weights"][&w.name]);
            assert_eq!(w.shape, shape, "{} {}", l.name, w.name);
            assert_eq!(w.data.len(), data.len());
            for (a, b) in w.data.iter().zip(&data) {
                assert_eq!(a.to_bits(), b.to_bits(), "{} {}", l.name, w.name);
            }
        }
    }
}

fn classes_and_names(m: &ModelFile) -> Vec<(&str, &str)> {
    m.layers
        .iter()
        .map(|l| (l.class_name.as_str(), l.name.as_str()))
        .collect()
}

/// The members of a `.keras` archive, in archive order.
fn members(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut v = Vec::new();
            f.read_to_end(&mut v).unwrap();
            (f.name().unwrap().into_owned(), v)
        })
        .collect()
}

/// A stored (uncompressed) zip of the given members.
fn zip_of(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in members {
        w.start_file(name.as_str(), opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn keras3_config() -> Value {
    let bytes = read(&fixture("keras3_seq_lstm.keras"));
    let m = members(&bytes);
    let c = &m.iter().find(|(n, _)| n == "config.json").unwrap().1;
    serde_json::from_slice(c).unwrap()
}

fn tfkeras2_config() -> Value {
    let h5 = H5::from_bytes(read(&fixture("tfkeras2_seq_lstm.h5")), "t").unwrap();
    serde_json::from_str(&h5.string_attr("/", "model_config").unwrap().unwrap()).unwrap()
}

// ---------------------------------------------------------------- the real files

#[test]
fn keras3_archive_loads_bit_exact() {
    let m = load_model_file(&fixture("keras3_seq_lstm.keras")).unwrap();
    assert_eq!(m.keras_version, "3.15.1");
    assert_eq!(m.model_name, "seq_lstm_k3");
    assert_eq!(m.class_name, "Sequential");
    assert_eq!(
        classes_and_names(&m),
        [
            ("InputLayer", "input_layer"),
            ("LSTM", "lstm"),
            ("LSTM", "lstm_1")
        ]
    );
    assert!(m.layers[0].weights.is_empty());
    assert_eq!(m.layers[1].config["return_sequences"], true);
    assert_matches_companion(&m, "keras3_seq_lstm.json");
}

#[test]
fn keras3_weights_file_with_config_equals_archive() {
    let from_archive = load_model_file(&fixture("keras3_seq_lstm.keras")).unwrap();
    let m = load_weights_h5(
        &fixture("keras3_seq_lstm.weights.h5"),
        &keras3_config(),
        "3.15.1",
    )
    .unwrap();
    assert_eq!(m, from_archive);
    assert_matches_companion(&m, "keras3_seq_lstm.json");
}

#[test]
fn tfkeras2_legacy_h5_loads_bit_exact() {
    let m = load_model_file(&fixture("tfkeras2_seq_lstm.h5")).unwrap();
    assert_eq!(m.keras_version, "2.21.0");
    assert_eq!(m.model_name, "seq_lstm_k2");
    assert_eq!(m.class_name, "Sequential");
    assert_eq!(m.layers.len(), 3);
    assert_eq!(m.layers[0].class_name, "InputLayer");
    assert_eq!(
        &classes_and_names(&m)[1..],
        [("LSTM", "lstm"), ("LSTM", "lstm_1")]
    );
    assert_matches_companion(&m, "tfkeras2_seq_lstm.json");
    // The same bytes through the in-memory entry point.
    let b = load_legacy_h5_bytes(&read(&fixture("tfkeras2_seq_lstm.h5")), "x.h5").unwrap();
    assert_eq!(b, m);
    // And the full legacy file as a weights file with its own architecture.
    let w = load_weights_h5(
        &fixture("tfkeras2_seq_lstm.h5"),
        &tfkeras2_config(),
        "2.21.0",
    )
    .unwrap();
    assert_eq!(w, m);
}

#[test]
fn demo_model_loads() {
    let m = load_keras_bytes(&read(Path::new(DEMO)), "sine_forecaster.keras").unwrap();
    assert_eq!(m.keras_version, "3.15.1");
    assert_eq!(m.model_name, "sine_forecaster");
    assert_eq!(
        classes_and_names(&m),
        [
            ("InputLayer", "input_layer"),
            ("LSTM", "lstm"),
            ("Dense", "dense")
        ]
    );
    let shapes = |l: &LayerSpec| -> Vec<(String, Vec<usize>)> {
        l.weights
            .iter()
            .map(|w| (w.name.clone(), w.shape.clone()))
            .collect()
    };
    assert_eq!(
        shapes(&m.layers[1]),
        [
            ("kernel".to_string(), vec![1, 128]),
            ("recurrent_kernel".to_string(), vec![32, 128]),
            ("bias".to_string(), vec![128])
        ]
    );
    assert_eq!(
        shapes(&m.layers[2]),
        [
            ("kernel".to_string(), vec![32, 1]),
            ("bias".to_string(), vec![1])
        ]
    );
    assert_eq!(m.layers[1].config["units"], 32);
    for l in &m.layers {
        for w in &l.weights {
            assert_eq!(w.data.len(), w.shape.iter().product::<usize>());
            assert!(w.data.iter().all(|x| x.is_finite()));
        }
    }
    assert_eq!(load_model_file(Path::new(DEMO)).unwrap(), m);
}

// ---------------------------------------------------------------- typed errors

fn model_file_err(r: Result<ModelFile>) -> String {
    match r {
        Err(e @ Error::ModelFile { .. }) => e.to_string(),
        Err(e) => panic!("expected Error::ModelFile, got {e:?}"),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn weights_only_file_needs_an_architecture() {
    let msg = model_file_err(load_model_file(&fixture("keras3_seq_lstm.weights.h5")));
    assert!(msg.contains("keras3_seq_lstm.weights.h5"), "{msg}");
    assert!(msg.contains("load_weights_h5"), "{msg}");
}

#[test]
fn missing_zip_members_are_named() {
    let all = members(&read(&fixture("keras3_seq_lstm.keras")));
    assert_eq!(all.len(), 3);
    for missing in ["config.json", "metadata.json", "model.weights.h5"] {
        let rest: Vec<_> = all.iter().filter(|(n, _)| n != missing).cloned().collect();
        let msg = model_file_err(load_keras_bytes(&zip_of(&rest), "cut.keras"));
        assert!(msg.contains("cut.keras"), "{msg}");
        assert!(msg.contains(missing), "{msg}");
    }
    // The rebuilt archive with all members still loads.
    let m = load_keras_bytes(&zip_of(&all), "whole.keras").unwrap();
    assert_matches_companion(&m, "keras3_seq_lstm.json");
    // Weights stored as .npz: Unsupported.
    let npz: Vec<_> = all
        .iter()
        .map(|(n, d)| {
            let n = if n == "model.weights.h5" {
                "model.weights.npz".to_string()
            } else {
                n.clone()
            };
            (n, d.clone())
        })
        .collect();
    let e = load_keras_bytes(&zip_of(&npz), "npz.keras").unwrap_err();
    assert!(matches!(e, Error::Unsupported(_)), "{e:?}");
}

#[test]
fn bad_json_members_are_json_errors() {
    let all = members(&read(&fixture("keras3_seq_lstm.keras")));
    for (member, text) in [
        ("config.json", "{not json"),
        ("metadata.json", "[1, 2]"),
        ("metadata.json", "{\"keras_version\": 3}"),
    ] {
        let edited: Vec<_> = all
            .iter()
            .map(|(n, d)| {
                (
                    n.clone(),
                    if n == member {
                        text.as_bytes().to_vec()
                    } else {
                        d.clone()
                    },
                )
            })
            .collect();
        let e = load_keras_bytes(&zip_of(&edited), "j.keras").unwrap_err();
        assert!(matches!(e, Error::Json { .. }), "{e:?}");
        assert!(e.to_string().contains(&format!("j.keras:{member}")), "{e}");
    }
}

/// Finds every occurrence of `needle` in `hay`.
fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    (0..hay.len().saturating_sub(needle.len()))
        .filter(|&i| &hay[i..i + needle.len()] == needle)
        .collect()
}

#[test]
fn lying_zip_sizes_and_methods_are_refused() {
    let bytes = read(&fixture("keras3_seq_lstm.keras"));
    // Central directory headers: PK\x01\x02; compressed size at +20, uncompressed at +24,
    // method at +10. Local headers: PK\x03\x04; sizes at +18 / +22, method at +8.
    let central = find_all(&bytes, b"PK\x01\x02");
    let local = find_all(&bytes, b"PK\x03\x04");
    assert_eq!(central.len(), 3);
    for (&c, &l) in central.iter().zip(&local) {
        // A member claiming 3 GiB (a zip bomb's header) in both headers.
        let mut b = bytes.clone();
        for off in [c + 20, c + 24, l + 18, l + 22] {
            b[off..off + 4].copy_from_slice(&(3u32 << 30).to_le_bytes());
        }
        assert!(load_keras_bytes(&b, "bomb.keras").is_err());
        // Only the uncompressed size lies.
        let mut b = bytes.clone();
        for off in [c + 24, l + 22] {
            b[off..off + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        }
        assert!(load_keras_bytes(&b, "bomb.keras").is_err());
        // Deflate (not read here) in both headers.
        let mut b = bytes.clone();
        b[c + 10] = 8;
        b[l + 8] = 8;
        let e = load_keras_bytes(&b, "deflate.keras").unwrap_err();
        assert!(matches!(e, Error::ModelFile { .. }), "{e:?}");
    }
}

#[test]
fn config_layer_missing_from_weights_is_named() {
    // Keras 3: a third LSTM (key lstm_2) that the weights file lacks.
    let mut config = keras3_config();
    let layers = config["config"]["layers"].as_array_mut().unwrap();
    let mut extra = layers[2].clone();
    extra["config"]["name"] = json!("encoder_extra");
    extra["build_config"]["input_shape"] = json!([null, 4]);
    layers.push(extra);
    let msg = model_file_err(load_weights_h5(
        &fixture("keras3_seq_lstm.weights.h5"),
        &config,
        "3.15.1",
    ));
    assert!(msg.contains("encoder_extra"), "{msg}");
    assert!(msg.contains("weights are missing"), "{msg}");
    assert!(msg.contains("keras3_seq_lstm.weights.h5"), "{msg}");

    // Legacy: a layer renamed in the architecture is not in `layer_names`.
    let mut config = tfkeras2_config();
    let layers = config["config"]["layers"].as_array_mut().unwrap();
    let last = layers.len() - 1;
    layers[last]["config"]["name"] = json!("renamed_lstm");
    let msg = model_file_err(load_weights_h5(
        &fixture("tfkeras2_seq_lstm.h5"),
        &config,
        "2.21.0",
    ));
    assert!(msg.contains("/model_weights/lstm_1"), "{msg}");
    assert!(msg.contains("architecture does not have"), "{msg}");
}

#[test]
fn extra_weights_in_file_are_refused() {
    let mut config = keras3_config();
    config["config"]["layers"].as_array_mut().unwrap().pop();
    let msg = model_file_err(load_weights_h5(
        &fixture("keras3_seq_lstm.weights.h5"),
        &config,
        "3.15.1",
    ));
    assert!(msg.contains("/layers/lstm_1"), "{msg}");

    let mut config = tfkeras2_config();
    config["config"]["layers"].as_array_mut().unwrap().pop();
    let msg = model_file_err(load_weights_h5(
        &fixture("tfkeras2_seq_lstm.h5"),
        &config,
        "2.21.0",
    ));
    assert!(msg.contains("lstm_1"), "{msg}");
}

#[test]
fn wrong_shapes_name_layer_and_weight() {
    // units 8 -> 9 on the first LSTM: its kernel (3, 32) no longer matches (3, 36).
    let mut config = keras3_config();
    config["config"]["layers"][1]["config"]["units"] = json!(9);
    // The file loads (arrays are found by position); building the plan checks shapes.
    let m = load_weights_h5(&fixture("keras3_seq_lstm.weights.h5"), &config, "3.15.1").unwrap();
    let e = plan_from_model_file(&m).unwrap_err();
    match &e {
        Error::Layer { layer, source, .. } => {
            assert_eq!(layer, "lstm");
            match &**source {
                Error::Shape {
                    what,
                    expected,
                    got,
                } => {
                    assert!(what.contains("kernel"), "{what}");
                    assert!(expected.contains("36)"), "{expected}");
                    assert!(got.contains(&32), "{got:?}");
                }
                other => panic!("expected Error::Shape, got {other:?}"),
            }
        }
        other => panic!("expected Error::Layer, got {other:?}"),
    }
    // units 4 -> 5 on the second LSTM of the legacy file.
    let mut config = tfkeras2_config();
    let layers = config["config"]["layers"].as_array_mut().unwrap();
    let last = layers.len() - 1;
    layers[last]["config"]["units"] = json!(5);
    let m = load_weights_h5(&fixture("tfkeras2_seq_lstm.h5"), &config, "2.21.0").unwrap();
    let e = plan_from_model_file(&m).unwrap_err();
    assert!(
        matches!(&e, Error::Layer { layer, source, .. } if layer == "lstm_1" && matches!(**source, Error::Shape { .. })),
        "{e:?}"
    );
    // Dense units 1 -> 2 in the demo.
    let all = members(&read(Path::new(DEMO)));
    let edited: Vec<_> = all
        .iter()
        .map(|(n, d)| {
            if n == "config.json" {
                let mut c: Value = serde_json::from_slice(d).unwrap();
                c["config"]["layers"][2]["config"]["units"] = json!(2);
                (n.clone(), serde_json::to_vec(&c).unwrap())
            } else {
                (n.clone(), d.clone())
            }
        })
        .collect();
    let m = load_keras_bytes(&zip_of(&edited), "demo.keras").unwrap();
    let e = plan_from_model_file(&m).unwrap_err();
    assert!(
        matches!(&e, Error::Layer { layer, source, .. } if layer == "dense"
            && matches!(&**source, Error::Shape { what, got, .. } if what.contains("kernel") && got == &vec![32, 1])),
        "{e:?}"
    );
    // use_bias false while the file has a bias: a count mismatch naming use_bias.
    let mut config = keras3_config();
    config["config"]["layers"][2]["config"]["use_bias"] = json!(false);
    let msg = model_file_err(load_weights_h5(
        &fixture("keras3_seq_lstm.weights.h5"),
        &config,
        "3.15.1",
    ));
    assert!(msg.contains("lstm_1") && msg.contains("use_bias"), "{msg}");
    // A missing `units` is a typed error naming the layer.
    let mut config = keras3_config();
    config["config"]["layers"][1]["config"]
        .as_object_mut()
        .unwrap()
        .remove("units");
    let m = load_weights_h5(&fixture("keras3_seq_lstm.weights.h5"), &config, "3.15.1").unwrap();
    let msg = plan_from_model_file(&m).unwrap_err().to_string();
    assert!(msg.contains("`lstm`") && msg.contains("units"), "{msg}");
}

#[test]
fn unreadable_and_foreign_files() {
    let e = load_model_file(Path::new("/nonexistent/model.keras")).unwrap_err();
    assert!(matches!(e, Error::Io { .. }));
    let dir = std::env::temp_dir().join(format!("wgpu_lstm_keras_{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("notes.txt");
    std::fs::write(&p, b"hello").unwrap();
    let msg = model_file_err(load_model_file(&p));
    assert!(msg.contains("notes.txt"), "{msg}");
    let p = dir.join("a.npy");
    write_npy_f32(
        &p,
        &ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[2])).view(),
    )
    .unwrap();
    let msg = model_file_err(load_model_file(&p));
    assert!(msg.contains(".npy"), "{msg}");
    std::fs::remove_dir_all(&dir).ok();
    // An HDF5 file that is not a Keras file.
    let bytes = build(&Spec {
        datasets: vec![("x".into(), vec![2], Data::F32(vec![1.0, 2.0]))],
        ..Spec::default()
    });
    let msg = model_file_err(load_legacy_h5_bytes(&bytes, "plain.h5"));
    assert!(
        msg.contains("plain.h5") && msg.contains("model_config"),
        "{msg}"
    );
}

// ---------------------------------------------------------------- damaged files

#[test]
fn truncated_files_give_errors() {
    for name in [
        "tfkeras2_seq_lstm.h5",
        "keras3_seq_lstm.keras",
        "keras3_seq_lstm.weights.h5",
    ] {
        let bytes = read(&fixture(name));
        let config = if name.starts_with("tf") {
            tfkeras2_config()
        } else {
            keras3_config()
        };
        let mut cuts: Vec<usize> = (0..bytes.len()).step_by(97).collect();
        cuts.extend([0, 1, 7, 8, 100, 511, 512, 1024, 2048, bytes.len() - 1]);
        for cut in cuts {
            let b = &bytes[..cut];
            let r = if name.ends_with(".keras") {
                load_keras_bytes(b, name)
            } else if name.ends_with(".weights.h5") {
                load_weights_h5_bytes(b, name, &config, "3.15.1")
            } else {
                load_legacy_h5_bytes(b, name)
            };
            assert!(r.is_err(), "{name} cut at {cut} loaded");
        }
    }
}

#[test]
fn bit_flips_never_panic() {
    for name in [
        "tfkeras2_seq_lstm.h5",
        "keras3_seq_lstm.keras",
        "keras3_seq_lstm.weights.h5",
    ] {
        let bytes = read(&fixture(name));
        let config = if name.starts_with("tf") {
            tfkeras2_config()
        } else {
            keras3_config()
        };
        let mut ok = 0;
        for pos in (0..bytes.len()).step_by(13) {
            for mask in [0x01u8, 0x10, 0xff] {
                let mut b = bytes.clone();
                b[pos] ^= mask;
                let r = if name.ends_with(".keras") {
                    load_keras_bytes(&b, name)
                } else if name.ends_with(".weights.h5") {
                    load_weights_h5_bytes(&b, name, &config, "3.15.1")
                } else {
                    load_legacy_h5_bytes(&b, name)
                };
                if let Ok(m) = r {
                    ok += 1;
                    for l in &m.layers {
                        for w in &l.weights {
                            assert_eq!(w.data.len(), w.shape.iter().product::<usize>());
                        }
                    }
                }
            }
        }
        // Flips inside weight data load fine (no checksum can catch them).
        assert!(ok > 0, "{name}: no flipped file loaded at all");
    }
}

// ---------------------------------------------------------------- synthetic layouts

fn f32s(n: usize, seed: f32) -> Vec<f32> {
    (0..n).map(|i| seed + i as f32 * 0.001).collect()
}

fn lstm_entry(name: &str, units: usize, input_dim: Option<usize>) -> Value {
    let mut e =
        json!({"class_name": "LSTM", "config": {"name": name, "units": units, "use_bias": true}});
    if let Some(d) = input_dim {
        e["build_config"] = json!({"input_shape": [null, 5, d]});
    }
    e
}

#[test]
fn keras3_keys_sort_numerically_and_bidirectional_dense_masking_load() {
    // Input(3) -> Masking -> 11 x LSTM(2) -> Bidirectional(LSTM(3)) -> Dense(1) ... the
    // keys go lstm, lstm_1, ..., lstm_10: lstm_10 lists before lstm_2 as text.
    let mut layers = vec![
        json!({"class_name": "InputLayer", "config": {"name": "in", "batch_shape": [null, 5, 3]}}),
        json!({"class_name": "Masking", "config": {"name": "masking", "mask_value": 0.0}}),
    ];
    let mut spec = Spec::default();
    let mut dim = 3;
    for k in 0..11 {
        let mut e = lstm_entry(&format!("enc{k}"), 2, None);
        e["config"]["return_sequences"] = json!(true);
        layers.push(e);
        let key = if k == 0 {
            "lstm".to_string()
        } else {
            format!("lstm_{k}")
        };
        let base = format!("/layers/{key}/cell/vars");
        let seed = k as f32;
        spec.datasets.push((
            format!("{base}/0"),
            vec![dim as u64, 8],
            Data::F32(f32s(dim * 8, seed)),
        ));
        spec.datasets.push((
            format!("{base}/1"),
            vec![2, 8],
            Data::F32(f32s(16, seed + 0.5)),
        ));
        spec.datasets.push((
            format!("{base}/2"),
            vec![8],
            Data::F32(f32s(8, seed + 0.25)),
        ));
        spec.attrs.push((
            format!("/layers/{key}/vars"),
            "name".into(),
            vec![format!("enc{k}")],
        ));
        dim = 2;
    }
    layers.push(json!({"class_name": "Bidirectional", "config": {
        "name": "bidi", "merge_mode": "concat",
        "layer": {"class_name": "LSTM", "config": {"name": "forward_l", "units": 3}},
        "backward_layer": {"class_name": "LSTM", "config": {"name": "backward_l", "units": 3, "go_backwards": true}}}}));
    for (dir, seed) in [("forward_layer", 100.0), ("backward_layer", 200.0)] {
        let base = format!("/layers/bidirectional/{dir}/cell/vars");
        spec.datasets
            .push((format!("{base}/0"), vec![2, 12], Data::F32(f32s(24, seed))));
        spec.datasets.push((
            format!("{base}/1"),
            vec![3, 12],
            Data::F32(f32s(36, seed + 1.0)),
        ));
        spec.datasets.push((
            format!("{base}/2"),
            vec![12],
            Data::F32(f32s(12, seed + 2.0)),
        ));
    }
    layers.push(json!({"class_name": "Dense", "config": {"name": "head", "units": 1}}));
    spec.datasets.push((
        "/layers/dense/vars/0".into(),
        vec![6, 1],
        Data::F32(f32s(6, 300.0)),
    ));
    spec.datasets
        .push(("/layers/dense/vars/1".into(), vec![1], Data::F32(vec![0.5])));
    // Optimizer state is ignored.
    spec.datasets
        .push(("/optimizer/vars/0".into(), vec![1], Data::F64(vec![3.0])));
    spec.attrs
        .push(("/vars".into(), "name".into(), vec!["synthetic".into()]));
    let arch =
        json!({"class_name": "Sequential", "config": {"name": "synthetic", "layers": layers}});

    let bytes = build(&spec);
    let m = load_weights_h5_bytes(&bytes, "synthetic.weights.h5", &arch, "3.15.1").unwrap();
    assert_eq!(m.layers.len(), 2 + 11 + 2);
    for k in 0..11 {
        let l = &m.layers[2 + k];
        assert_eq!(l.name, format!("enc{k}"));
        assert_eq!(
            l.weights[0].data[0], k as f32,
            "layer enc{k} got another layer's kernel"
        );
        assert_eq!(l.weights[1].data[0], k as f32 + 0.5);
    }
    let bidi = &m.layers[13];
    let names: Vec<&str> = bidi.weights.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "forward/kernel",
            "forward/recurrent_kernel",
            "forward/bias",
            "backward/kernel",
            "backward/recurrent_kernel",
            "backward/bias"
        ]
    );
    assert_eq!(bidi.weights[0].data[0], 100.0);
    assert_eq!(bidi.weights[3].data[0], 200.0);
    assert_eq!(bidi.config["layer"]["config"]["units"], 3);
    let head = &m.layers[14];
    assert_eq!(head.weights[0].shape, vec![6, 1]);
    assert_eq!(head.weights[1].data, vec![0.5]);

    // Bidirectional concat doubles the width: a Dense kernel of (3, 1) is refused.
    let mut spec2 = Spec {
        datasets: Vec::new(),
        attrs: Vec::new(),
    };
    for (p, s, d) in spec.datasets.iter() {
        let d2 = match d {
            Data::F32(x) => Data::F32(x.clone()),
            Data::F64(x) => Data::F64(x.clone()),
            Data::I32(x) => Data::I32(x.clone()),
        };
        if p == "/layers/dense/vars/0" {
            spec2
                .datasets
                .push((p.clone(), vec![3, 1], Data::F32(f32s(3, 0.0))));
        } else {
            spec2.datasets.push((p.clone(), s.clone(), d2));
        }
    }
    let m2 = load_weights_h5_bytes(&build(&spec2), "s2.weights.h5", &arch, "3.15.1").unwrap();
    let e = plan_from_model_file(&m2).unwrap_err();
    assert!(
        matches!(&e, Error::Layer { layer, source, .. } if layer == "head"
            && source.to_string().contains("6")),
        "{e:?}"
    );
}

#[test]
fn non_float32_datasets_are_refused_by_dtype() {
    let arch = json!({"class_name": "Sequential", "config": {"name": "m", "layers": [
        {"class_name": "InputLayer", "config": {"name": "in", "batch_shape": [null, 4, 1]}},
        lstm_entry("lstm", 1, Some(1)),
    ]}});
    for (data, needle) in [
        (Data::F64(vec![0.0; 4]), "<f8"),
        (Data::I32(vec![0; 4]), "<i4"),
    ] {
        let spec = Spec {
            datasets: vec![
                ("/layers/lstm/cell/vars/0".into(), vec![1, 4], data),
                (
                    "/layers/lstm/cell/vars/1".into(),
                    vec![1, 4],
                    Data::F32(vec![0.0; 4]),
                ),
                (
                    "/layers/lstm/cell/vars/2".into(),
                    vec![4],
                    Data::F32(vec![0.0; 4]),
                ),
            ],
            attrs: Vec::new(),
        };
        let msg = model_file_err(load_weights_h5_bytes(
            &build(&spec),
            "d.weights.h5",
            &arch,
            "3",
        ));
        assert!(
            msg.contains(needle) && msg.contains("/layers/lstm/cell/vars/0"),
            "{msg}"
        );
        assert!(msg.contains("d.weights.h5"), "{msg}");
    }
}

#[test]
fn unknown_class_with_weights_is_unsupported() {
    let arch = json!({"class_name": "Sequential", "config": {"name": "m", "layers": [
        {"class_name": "Fancy", "config": {"name": "gru", "units": 1}},
    ]}});
    let spec = Spec {
        datasets: vec![(
            "/layers/fancy/vars/0".into(),
            vec![1, 3],
            Data::F32(vec![0.0; 3]),
        )],
        attrs: Vec::new(),
    };
    // An unknown class loads with its arrays named by where they were found; building a
    // plan refuses it by name.
    let m = load_weights_h5_bytes(&build(&spec), "g.weights.h5", &arch, "3").unwrap();
    assert_eq!(m.layers[0].weights.len(), 1);
    let e = plan_from_model_file(&m).unwrap_err();
    assert!(
        matches!(&e, Error::Unsupported(m) if m.contains("gru") && m.contains("Fancy")),
        "{e:?}"
    );
    // Without weights (e.g. a Dropout-like layer) it loads, with no weights.
    let arch = json!({"class_name": "Sequential", "config": {"name": "m", "layers": [
        {"class_name": "Dropout", "config": {"name": "dropout", "rate": 0.5}},
        {"class_name": "Flatten", "config": {"name": "flatten"}},
    ]}});
    let spec = Spec {
        datasets: Vec::new(),
        attrs: vec![(
            "/layers/dropout/vars".into(),
            "name".into(),
            vec!["dropout".into()],
        )],
    };
    let m = load_weights_h5_bytes(&build(&spec), "d.weights.h5", &arch, "3").unwrap();
    assert!(m.layers.iter().all(|l| l.weights.is_empty()));
}

#[test]
fn legacy_bidirectional_and_dense_follow_weight_names() {
    let wn = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let mut spec = Spec::default();
    spec.attrs
        .push(("/".into(), "keras_version".into(), vec!["2.21.0".into()]));
    spec.attrs.push((
        "/model_weights".into(),
        "layer_names".into(),
        wn(&["bidirectional", "dense"]),
    ));
    let bidi_names = wn(&[
        "bidirectional/forward_lstm/lstm_cell/kernel:0",
        "bidirectional/forward_lstm/lstm_cell/recurrent_kernel:0",
        "bidirectional/forward_lstm/lstm_cell/bias:0",
        "bidirectional/backward_lstm/lstm_cell/kernel:0",
        "bidirectional/backward_lstm/lstm_cell/recurrent_kernel:0",
        "bidirectional/backward_lstm/lstm_cell/bias:0",
    ]);
    spec.attrs.push((
        "/model_weights/bidirectional".into(),
        "weight_names".into(),
        bidi_names.clone(),
    ));
    for (i, n) in bidi_names.iter().enumerate() {
        let shape = match i % 3 {
            0 => vec![3, 8],
            1 => vec![2, 8],
            _ => vec![8],
        };
        let len = shape.iter().product::<u64>() as usize;
        spec.datasets.push((
            format!("/model_weights/bidirectional/{n}"),
            shape,
            Data::F32(f32s(len, i as f32)),
        ));
    }
    spec.attrs.push((
        "/model_weights/dense".into(),
        "weight_names".into(),
        wn(&["dense/kernel:0", "dense/bias:0"]),
    ));
    spec.datasets.push((
        "/model_weights/dense/dense/kernel:0".into(),
        vec![4, 2],
        Data::F32(f32s(8, 50.0)),
    ));
    spec.datasets.push((
        "/model_weights/dense/dense/bias:0".into(),
        vec![2],
        Data::F32(vec![1.0, 2.0]),
    ));
    let config = json!({"class_name": "Sequential", "config": {"name": "bi", "layers": [
        {"class_name": "InputLayer", "config": {"name": "input_1", "batch_input_shape": [null, 7, 3]}},
        {"class_name": "Bidirectional", "config": {"name": "bidirectional", "merge_mode": "concat",
            "layer": {"class_name": "LSTM", "config": {"name": "lstm", "units": 2}}}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 2}}
    ]}});
    spec.attrs
        .push(("/".into(), "model_config".into(), vec![config.to_string()]));
    let m = load_legacy_h5_bytes(&build(&spec), "bi.h5").unwrap();
    assert_eq!(m.keras_version, "2.21.0");
    let b = &m.layers[1];
    assert_eq!(b.weights.len(), 6);
    for (i, w) in b.weights.iter().enumerate() {
        assert_eq!(w.data[0], i as f32, "{}", w.name);
    }
    assert_eq!(b.weights[3].name, "backward/kernel");
    assert_eq!(m.layers[2].weights[1].data, vec![1.0, 2.0]);

    // weight_names in the wrong order are refused, naming the weight.
    let mut swapped = bidi_names.clone();
    swapped.swap(0, 3);
    let mut spec2 = Spec {
        datasets: Vec::new(),
        attrs: Vec::new(),
    };
    for (p, n, v) in &spec.attrs {
        let v = if n == "weight_names" && p.ends_with("bidirectional") {
            swapped.clone()
        } else {
            v.clone()
        };
        spec2.attrs.push((p.clone(), n.clone(), v));
    }
    for (p, s, d) in &spec.datasets {
        let Data::F32(x) = d else { unreachable!() };
        spec2
            .datasets
            .push((p.clone(), s.clone(), Data::F32(x.clone())));
    }
    let msg = model_file_err(load_legacy_h5_bytes(&build(&spec2), "bi.h5"));
    assert!(
        msg.contains("backward_lstm") && msg.contains("forward/kernel"),
        "{msg}"
    );
}

/// Every single-bit flip of every byte of the model files (about 0.8 million loads), and
/// every truncation; run with `cargo test --release -- --ignored exhaustive`. Each flipped
/// load must return (Ok or Err) without panicking, each truncated one must be an Err; the
/// slowest load is reported.
#[test]
#[ignore = "slow: exhaustive single-bit flips"]
fn exhaustive_bit_flips() {
    let files: Vec<(String, Vec<u8>)> = [
        "tfkeras2_seq_lstm.h5",
        "keras3_seq_lstm.weights.h5",
        "keras3_seq_lstm.keras",
    ]
    .iter()
    .map(|n| (n.to_string(), read(&fixture(n))))
    .chain(std::iter::once((
        "demo.keras".to_string(),
        read(Path::new(DEMO)),
    )))
    .collect();
    for (name, bytes) in &files {
        let config = if name.starts_with("tf") {
            tfkeras2_config()
        } else {
            keras3_config()
        };
        let (mut ok, mut slowest) = (0usize, (std::time::Duration::ZERO, 0usize, 0u8));
        for pos in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[pos] ^= 1 << bit;
                let t = std::time::Instant::now();
                let r = if name.ends_with(".keras") {
                    load_keras_bytes(&b, name)
                } else if name.ends_with(".weights.h5") {
                    load_weights_h5_bytes(&b, name, &config, "3.15.1")
                } else {
                    load_legacy_h5_bytes(&b, name)
                };
                let dt = t.elapsed();
                if dt > slowest.0 {
                    slowest = (dt, pos, bit);
                }
                ok += usize::from(r.is_ok());
            }
        }
        for cut in 0..bytes.len() {
            let b = &bytes[..cut];
            let r = if name.ends_with(".keras") {
                load_keras_bytes(b, name)
            } else if name.ends_with(".weights.h5") {
                load_weights_h5_bytes(b, name, &config, "3.15.1")
            } else {
                load_legacy_h5_bytes(b, name)
            };
            assert!(r.is_err(), "{name} cut at {cut} loaded");
        }
        eprintln!(
            "{name}: {} flips, {ok} loaded, slowest {:?} at byte {} bit {}",
            bytes.len() * 8,
            slowest.0,
            slowest.1,
            slowest.2
        );
    }
}

#[test]
fn legacy_weights_only_file_loads_with_architecture() {
    // tf-keras `save_weights("w.h5")`: layer_names and the layer groups on the root.
    let wn = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let spec = Spec {
        datasets: vec![
            (
                "/lstm/lstm/lstm_cell/kernel:0".into(),
                vec![2, 4],
                Data::F32(f32s(8, 1.0)),
            ),
            (
                "/lstm/lstm/lstm_cell/recurrent_kernel:0".into(),
                vec![1, 4],
                Data::F32(f32s(4, 2.0)),
            ),
        ],
        attrs: vec![
            ("/".into(), "layer_names".into(), wn(&["lstm"])),
            ("/".into(), "keras_version".into(), wn(&["2.21.0"])),
            (
                "/lstm".into(),
                "weight_names".into(),
                wn(&[
                    "lstm/lstm_cell/kernel:0",
                    "lstm/lstm_cell/recurrent_kernel:0",
                ]),
            ),
        ],
    };
    let bytes = build(&spec);
    let arch = json!({"class_name": "Sequential", "config": {"name": "w", "layers": [
        {"class_name": "InputLayer", "config": {"name": "input_1", "batch_input_shape": [null, 3, 2]}},
        {"class_name": "LSTM", "config": {"name": "lstm", "units": 1, "use_bias": false}}
    ]}});
    let m = load_weights_h5_bytes(&bytes, "w.h5", &arch, "2.21.0").unwrap();
    assert_eq!(m.layers[1].weights.len(), 2);
    assert_eq!(m.layers[1].weights[1].data, f32s(4, 2.0));
    // Without the architecture it is refused, saying why.
    let msg = model_file_err(load_legacy_h5_bytes(&bytes, "w.h5"));
    assert!(
        msg.contains("weights-only") && msg.contains("load_weights_h5"),
        "{msg}"
    );
}
