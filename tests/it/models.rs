//! Keras model files: each file in tests/fixtures/keras/models/ loads and reproduces the
//! output Keras stored (≤ 1e-5 on the CPU, ≤ 1e-4 on the GPU); the demo model reproduces its
//! expected outputs as a whole sequence and one step at a time through the stateful path.

use std::path::{Path, PathBuf};

use ndarray::{ArrayD, s};
use serde_json::Value;
use wgpu_lstm::conformance::json_array;
use wgpu_lstm::keras::{self, LayerSpec, ModelFile};
use wgpu_lstm::model::{Model, ModelDef};
use wgpu_lstm::plan::Plan;
use wgpu_lstm::{Device, Error};

use crate::common::{assert_no_gpu_errors, fixtures_dir, gpu, max_abs};

fn devices() -> Vec<(Device, f32)> {
    let mut v = vec![(Device::Cpu, 1e-5)];
    if let Some(ctx) = gpu() {
        v.push((Device::Gpu(ctx), 1e-4));
    }
    v
}

fn models_dir() -> PathBuf {
    fixtures_dir().join("models")
}

fn companion(name: &str) -> Value {
    let text = std::fs::read_to_string(models_dir().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn check(plan: Plan, expected: &Value, what: &str) {
    let x = json_array(&expected["input"], "input").unwrap();
    let want = json_array(&expected["predict_output"], "predict_output").unwrap();
    for (dev, tol) in devices() {
        let mut m = Model::from_plan(plan.clone(), &dev).unwrap();
        let got = m.predict(x.view()).unwrap().swap_remove(0);
        let e = max_abs(&got, &want);
        assert!(e <= tol, "{what} on {}: error {e}", dev.name());
        if let Device::Gpu(ctx) = &dev {
            assert_no_gpu_errors(ctx);
        }
    }
}

fn keras3_keras_file_reproduces_predict_output() {
    let file = keras::load_model_file(&models_dir().join("keras3_seq_lstm.keras")).unwrap();
    assert_eq!(file.keras_version, "3.15.1");
    check(
        keras::plan_from_model_file(&file).unwrap(),
        &companion("keras3_seq_lstm.json"),
        "keras3 .keras",
    );
}

fn keras3_weights_h5_with_architecture_reproduces_predict_output() {
    // The architecture from the .keras archive's config.json, the weights from .weights.h5.
    let archive = std::fs::read(models_dir().join("keras3_seq_lstm.keras")).unwrap();
    let arch = config_json_of(&archive);
    let file = keras::load_weights_h5(
        &models_dir().join("keras3_seq_lstm.weights.h5"),
        &arch,
        "3.15.1",
    )
    .unwrap();
    check(
        keras::plan_from_model_file(&file).unwrap(),
        &companion("keras3_seq_lstm.json"),
        "keras3 .weights.h5",
    );
}

fn tf_keras_legacy_h5_reproduces_predict_output() {
    let file = keras::load_model_file(&models_dir().join("tfkeras2_seq_lstm.h5")).unwrap();
    assert_eq!(file.keras_version, "2.21.0");
    let def = keras::plan_from_model_file(&file).unwrap();
    assert_eq!(def.flavour, wgpu_lstm::KerasFlavour::Keras2);
    check(def, &companion("tfkeras2_seq_lstm.json"), "tf_keras .h5");
}

/// config.json out of a stored (uncompressed) zip: found by its local header.
fn config_json_of(zip: &[u8]) -> Value {
    let name = b"config.json";
    let at = zip
        .windows(name.len())
        .position(|w| w == name)
        .expect("config.json member");
    let start = zip[at..].iter().position(|&b| b == b'{').unwrap() + at;
    let mut de = serde_json::Deserializer::from_slice(&zip[start..]).into_iter::<Value>();
    de.next().unwrap().unwrap()
}

fn demo() -> (Value, Vec<u8>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo");
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("sine_forecaster.expected.json")).unwrap(),
    )
    .unwrap();
    (
        expected,
        std::fs::read(dir.join("sine_forecaster.keras")).unwrap(),
    )
}

fn demo_model_reproduces_its_whole_sequence_output() {
    let (expected, bytes) = demo();
    let x = json_array(&expected["input"], "input").unwrap();
    let want = json_array(&expected["predict_output"], "predict_output").unwrap();
    for (dev, tol) in devices() {
        let mut m = Model::from_keras_bytes(&bytes, "sine_forecaster.keras", &dev).unwrap();
        assert_eq!(m.param_count(), 4385);
        let got = m.predict(x.view()).unwrap().swap_remove(0);
        let e = max_abs(&got, &want);
        assert!(e <= tol, "demo on {}: error {e}", dev.name());
    }
}

fn demo_model_streamed_one_step_at_a_time_reproduces_the_stateful_output() {
    let (expected, bytes) = demo();
    let x = json_array(&expected["input"], "input").unwrap();
    let want = json_array(&expected["stateful_step_output"], "stateful_step_output").unwrap();
    let steps = x.shape()[1];
    for (dev, tol) in devices() {
        let m = Model::from_keras_bytes(&bytes, "sine_forecaster.keras", &dev).unwrap();
        let mut m = m.into_stateful(&dev).unwrap();
        let mut got = ArrayD::<f32>::zeros(want.shape());
        for t in 0..steps {
            let y = m
                .predict(x.slice(s![.., t..t + 1, ..]))
                .unwrap()
                .swap_remove(0);
            got.slice_mut(s![.., t..t + 1, ..]).assign(&y);
        }
        let e = max_abs(&got, &want);
        assert!(e <= tol, "stateful demo on {}: error {e}", dev.name());
        // reset: the next step starts from zero state again
        m.reset_states().unwrap();
        let first = m.predict(x.slice(s![.., 0..1, ..])).unwrap().swap_remove(0);
        assert!(max_abs(&first, &want.slice(s![.., 0..1, ..]).to_owned().into_dyn()) <= tol);
    }
}

fn lstm_spec(name: &str) -> LayerSpec {
    LayerSpec {
        class_name: "ConvLSTM1D".into(),
        name: name.into(),
        config: serde_json::json!({"units": 4}),
        ..LayerSpec::default()
    }
}

fn an_unsupported_layer_is_a_typed_error_naming_class_and_position() {
    let file = ModelFile {
        keras_version: "3.15.1".into(),
        model_name: "m".into(),
        class_name: "Sequential".into(),
        layers: vec![lstm_spec("my_conv_lstm")],
        ..ModelFile::default()
    };
    let e = keras::plan_from_model_file(&file).unwrap_err();
    assert!(
        matches!(&e, Error::Unsupported(m) if m.contains("`my_conv_lstm` (ConvLSTM1D)")),
        "{e}"
    );
}

fn layers_that_do_not_chain_are_a_typed_error() {
    let mut file = keras::load_model_file(&models_dir().join("keras3_seq_lstm.keras")).unwrap();
    // LSTM(4) after an LSTM without return_sequences cannot take a sequence.
    let first = file
        .layers
        .iter_mut()
        .find(|l| l.class_name == "LSTM")
        .unwrap();
    first.config["return_sequences"] = Value::Bool(false);
    let e = keras::plan_from_model_file(&file).unwrap_err();
    assert!(
        matches!(&e, Error::Layer { layer, .. } if layer == "lstm_1"),
        "{e}"
    );
    assert!(e.to_string().contains("a sequence (B, T, 8)"), "{e}");
}

fn model_inputs_of_the_wrong_rank_or_size_are_typed_errors() {
    let (_, bytes) = demo();
    let mut m = Model::from_keras_bytes(&bytes, "demo", &Device::Cpu).unwrap();
    let e = m
        .predict(ndarray::Array2::<f32>::zeros((3, 1)).view())
        .unwrap_err();
    assert!(
        matches!(&e, Error::Shape { what, .. } if what == "inputs"),
        "{e}"
    );
    let e = m
        .predict(ndarray::Array3::<f32>::zeros((1, 3, 2)).view())
        .unwrap_err();
    assert!(e.to_string().contains("(B, T, 1)"), "{e}");
    let x = ndarray::Array3::<f32>::zeros((1, 3, 1));
    let bad = ndarray::Array2::from_elem((1, 2), true);
    let e = m
        .call(x.view().into_dyn(), Some(bad.view().into_dyn()))
        .unwrap_err();
    assert!(
        matches!(&e, Error::Shape { what, .. } if what == "mask"),
        "{e}"
    );
}

use rand::Rng;
use wgpu_lstm::layers::bidirectional::MergeMode;
use wgpu_lstm::layers::{Dense, Layer, Masking, Recurrent};
use wgpu_lstm::{Activation, KerasFlavour, Lstm, LstmConfig, LstmInput, LstmWeights};

fn lstm_def(
    r: &mut rand::rngs::StdRng,
    d: usize,
    u: usize,
    rseq: bool,
) -> (LstmConfig, LstmWeights) {
    let cfg = LstmConfig {
        return_sequences: rseq,
        ..LstmConfig::new(u)
    };
    let w = LstmWeights::keras_default(d, &cfg, r.random()).unwrap();
    (cfg, w)
}

/// Bidirectional with every merge mode equals its definition built from two plain layers
/// (forward, and backward with go_backwards flipped back to time order), on the CPU.
fn bidirectional_merge_modes_follow_keras_definition() {
    let mut r = crate::common::rng(42);
    let (b, t, d, u) = (3, 6, 4, 5);
    let x = crate::common::random3(&mut r, b, t, d, 1.0);
    let mask = crate::common::random_mask(&mut r, b, t);
    for rseq in [true, false] {
        let fwd = lstm_def(&mut r, d, u, rseq);
        let bwd = lstm_def(&mut r, d, u, rseq);
        // the definition, from single layers
        let zero = rseq; // Keras forces zero_output_for_mask = return_sequences
        let mut f = Lstm::new(
            LstmConfig {
                zero_output_for_mask: zero,
                ..fwd.0.clone()
            },
            fwd.1.clone(),
        )
        .unwrap();
        let mut g = Lstm::new(
            LstmConfig {
                zero_output_for_mask: zero,
                go_backwards: true,
                ..bwd.0.clone()
            },
            bwd.1.clone(),
        )
        .unwrap();
        let yf = f
            .call(LstmInput::new(x.view()).mask(mask.view()))
            .unwrap()
            .output;
        let mut yb = g
            .call(LstmInput::new(x.view()).mask(mask.view()))
            .unwrap()
            .output;
        if rseq {
            yb = yb.slice(s![.., ..;-1, ..]).to_owned().into_dyn();
        }
        for merge in [
            MergeMode::Concat,
            MergeMode::Sum,
            MergeMode::Mul,
            MergeMode::Ave,
            MergeMode::None,
        ] {
            let def = ModelDef {
                name: "bidir".into(),
                flavour: KerasFlavour::Keras3,
                layers: vec![(
                    "bidirectional".into(),
                    crate::common::BidirDef {
                        forward: fwd.clone(),
                        backward: bwd.clone(),
                        merge,
                    }
                    .build(),
                )],
            };
            let mut m = Model::new(def, &Device::Cpu).unwrap();
            let out = m
                .call(x.view().into_dyn(), Some(mask.view().into_dyn()))
                .unwrap();
            let want: Vec<ArrayD<f32>> = match merge {
                MergeMode::Concat => vec![
                    ndarray::concatenate(ndarray::Axis(yf.ndim() - 1), &[yf.view(), yb.view()])
                        .unwrap(),
                ],
                MergeMode::Sum => vec![&yf + &yb],
                MergeMode::Mul => vec![&yf * &yb],
                MergeMode::Ave => vec![(&yf + &yb) / 2.0],
                MergeMode::None => vec![yf.clone(), yb.clone()],
            };
            assert_eq!(out.outputs.len(), want.len());
            for (o, w) in out.outputs.iter().zip(&want) {
                assert!(max_abs(o, w) <= 1e-6, "{merge:?} rseq={rseq}");
            }
        }
    }
}

/// A Masking layer gives the same result as passing the mask it derives.
fn masking_layer_equals_the_explicit_mask() {
    let mut r = crate::common::rng(7);
    let (b, t, d, u) = (4, 7, 3, 6);
    let mut x = crate::common::random3(&mut r, b, t, d, 1.0);
    let mask = crate::common::random_mask(&mut r, b, t);
    for ((bi, ti), &m) in mask.indexed_iter() {
        if !m {
            x.slice_mut(s![bi, ti, ..]).fill(0.0);
        }
    }
    let l = lstm_def(&mut r, d, u, true);
    let with_masking = ModelDef {
        name: "m".into(),
        flavour: KerasFlavour::Keras3,
        layers: vec![
            (
                "masking".into(),
                Layer::Masking(Masking { mask_value: 0.0 }),
            ),
            (
                "lstm".into(),
                Layer::Recurrent(Recurrent {
                    config: l.0.clone(),
                    weights: l.1.clone(),
                }),
            ),
        ],
    };
    let plain = ModelDef {
        layers: vec![(
            "lstm".into(),
            Layer::Recurrent(Recurrent {
                config: l.0,
                weights: l.1,
            }),
        )],
        ..with_masking.clone()
    };
    let want = Model::new(plain, &Device::Cpu)
        .unwrap()
        .call(x.view().into_dyn(), Some(mask.view().into_dyn()))
        .unwrap();
    for (dev, tol) in devices() {
        let got = Model::new(with_masking.clone(), &dev)
            .unwrap()
            .predict(x.view())
            .unwrap()
            .swap_remove(0);
        assert!(max_abs(&got, want.output()) <= tol, "{}", dev.name());
    }
}

/// Random models (Masking, stacked LSTMs, Bidirectional with every merge mode, Dense heads
/// with random activations): the GPU, chaining layers on the GPU, equals the CPU.
fn random_models_match_on_gpu_and_cpu() {
    let Some(ctx) = gpu() else { return };
    let mut r = crate::common::rng(2024);
    for case in 0..12 {
        let (b, t, d) = (
            r.random_range(1..5),
            r.random_range(1..9),
            r.random_range(1..6),
        );
        let mut layers = Vec::new();
        if r.random_bool(0.5) {
            layers.push((
                "masking".to_string(),
                Layer::Masking(Masking { mask_value: 0.0 }),
            ));
        }
        let mut width = d;
        let n_rec = r.random_range(1..4);
        for i in 0..n_rec {
            let rseq = i + 1 < n_rec || r.random_bool(0.5);
            let u = r.random_range(1..9);
            if r.random_bool(0.5) {
                let merge = [
                    MergeMode::Concat,
                    MergeMode::Sum,
                    MergeMode::Mul,
                    MergeMode::Ave,
                ][r.random_range(0..4)];
                let f = lstm_def(&mut r, width, u, rseq);
                let g = lstm_def(&mut r, width, u, rseq);
                layers.push((
                    format!("bidirectional_{i}"),
                    crate::common::BidirDef {
                        forward: f,
                        backward: g,
                        merge,
                    }
                    .build(),
                ));
                width = if merge == MergeMode::Concat { 2 * u } else { u };
            } else {
                let l = lstm_def(&mut r, width, u, rseq);
                layers.push((
                    format!("lstm_{i}"),
                    Layer::Recurrent(Recurrent {
                        config: l.0,
                        weights: l.1,
                    }),
                ));
                width = u;
            }
            if !rseq {
                break;
            }
        }
        if r.random_bool(0.7) {
            let units = r.random_range(1..5);
            let activation = Activation::ALL[r.random_range(0..Activation::ALL.len())];
            let activation = if activation == Activation::Exponential {
                Activation::Elu
            } else {
                activation
            };
            layers.push((
                "dense".into(),
                Layer::Dense(Dense {
                    kernel: crate::common::random(&mut r, ndarray::Ix2(width, units), 0.5),
                    bias: r
                        .random_bool(0.8)
                        .then(|| crate::common::random(&mut r, ndarray::Ix1(units), 0.5)),
                    activation: activation.into(),
                }),
            ));
        }
        let def = ModelDef {
            name: format!("case{case}"),
            flavour: KerasFlavour::Keras3,
            layers,
        };
        let mut x = crate::common::random3(&mut r, b, t, d, 1.0);
        let mask = crate::common::random_mask(&mut r, b, t);
        for ((bi, ti), &m) in mask.indexed_iter() {
            if !m {
                x.slice_mut(s![bi, ti, ..]).fill(0.0);
            }
        }
        let pass_mask = r.random_bool(0.5);
        let m = pass_mask.then(|| mask.view().into_dyn());
        let want = Model::new(def.clone(), &Device::Cpu)
            .unwrap()
            .call(x.view().into_dyn(), m.clone())
            .unwrap();
        let got = Model::new(def.clone(), &Device::Gpu(ctx.clone()))
            .unwrap()
            .call(x.view().into_dyn(), m)
            .unwrap();
        for (a, w) in got.outputs.iter().zip(&want.outputs) {
            assert!(max_abs(a, w) <= 1e-4, "case {case}: {def:?}");
        }
        assert_no_gpu_errors(&ctx);
    }
}

/// A stateful model on the GPU: one submit per call for the whole model.
fn a_model_call_is_one_submit() {
    if gpu().is_none() {
        return;
    }
    let ctx = wgpu_lstm::gpu::GpuContext::new().unwrap();
    let (_, bytes) = demo();
    let mut m = Model::from_keras_bytes(&bytes, "demo", &Device::Gpu(ctx.clone())).unwrap();
    m.set_options(wgpu_lstm::gpu::CallOptions {
        kernel: wgpu_lstm::gpu::KernelChoice::PerStep,
        ..Default::default()
    });
    let x = ndarray::Array3::<f32>::zeros((2, 9, 1));
    m.predict(x.view()).unwrap().swap_remove(0);
    let before = ctx.stats();
    m.predict(x.view()).unwrap().swap_remove(0);
    let after = ctx.stats();
    assert_eq!(after.submits - before.submits, 1);
    // LSTM: projection + 9 steps; Dense: 1
    assert_eq!(after.dispatches - before.dispatches, 11);
    assert_eq!(after.bytes_read - before.bytes_read, 4 * 2 * 9);
}

/// A model call over the scratch budget runs per group of batch rows (forced here with a
/// tiny budget) and equals the CPU: masking, stacked and bidirectional LSTMs, a Dense head,
/// stateful carry across calls.
fn split_model_calls_equal_unsplit_ones() {
    if gpu().is_none() {
        return;
    }
    let ctx = wgpu_lstm::gpu::GpuContext::new().unwrap();
    let mut r = crate::common::rng(77);
    let (b, t, d) = (7, 5, 3);
    let stateful = |(mut c, w): (LstmConfig, LstmWeights)| {
        c.stateful = true;
        (c, w)
    };
    let l0 = stateful(lstm_def(&mut r, d, 4, true));
    let f = stateful(lstm_def(&mut r, 4, 3, true));
    let g = stateful(lstm_def(&mut r, 4, 3, true));
    let def = ModelDef {
        name: "split".into(),
        flavour: KerasFlavour::Keras3,
        layers: vec![
            (
                "masking".into(),
                Layer::Masking(Masking { mask_value: 0.0 }),
            ),
            (
                "lstm".into(),
                Layer::Recurrent(Recurrent {
                    config: l0.0,
                    weights: l0.1,
                }),
            ),
            (
                "bidirectional".into(),
                crate::common::BidirDef {
                    forward: f,
                    backward: g,
                    merge: MergeMode::Concat,
                }
                .build(),
            ),
            (
                "dense".into(),
                Layer::Dense(Dense {
                    kernel: crate::common::random(&mut r, ndarray::Ix2(6, 2), 0.5),
                    bias: None,
                    activation: Activation::Tanh.into(),
                }),
            ),
        ],
    };
    let mut cpu = Model::new(def.clone(), &Device::Cpu).unwrap();
    let mut split = Model::new(def, &Device::Gpu(ctx.clone())).unwrap();
    // per row and step: the tensors (input 3 + masked 3 + lstm 4 + bidirectional 6 +
    // dense 2 floats, and a mask word for each of the five sequences) and the LSTMs'
    // projection scratch (16·(4 + 3 + 3) bytes) plus the Bidirectional halves (4·6): 5 steps
    // × (4·18 + 4·5 + 160 + 24) = 1380 bytes a row; 2 rows per group
    split.set_options(wgpu_lstm::gpu::CallOptions {
        scratch_budget: 2 * 1380,
        poison: true,
        ..Default::default()
    });
    let before = ctx.stats().submits;
    for _ in 0..2 {
        let mut x = crate::common::random3(&mut r, b, t, d, 1.0);
        x.slice_mut(s![2, 3.., ..]).fill(0.0);
        let want = cpu.predict(x.view()).unwrap().swap_remove(0);
        let got = split.predict(x.view()).unwrap().swap_remove(0);
        assert!(max_abs(&got, &want) <= 1e-4, "{}", max_abs(&got, &want));
    }
    assert_eq!(ctx.stats().submits - before, 2 * 4, "4 row groups per call");
    assert_eq!(split.last_report().parts, 4);
    for (a, c) in split
        .states()
        .unwrap()
        .into_iter()
        .zip(cpu.states().unwrap())
    {
        assert!(max_abs(&a.unwrap().h.into_dyn(), &c.unwrap().h.into_dyn()) <= 1e-4);
    }
    assert_no_gpu_errors(&ctx);
}

/// A repeated model call of the same shape creates no buffers and no bind groups and uploads
/// only its input: masking, a Bidirectional layer with an element-wise merge, a stacked LSTM
/// and a Dense head all reuse their bind groups and parameter records. Outputs stay equal to
/// the CPU's on every call, with both recurrent kernels.
fn repeated_model_calls_reuse_everything_and_upload_only_the_input() {
    use wgpu_lstm::gpu::{GpuContext, KernelChoice};
    if gpu().is_none() {
        return;
    }
    let mut r = crate::common::rng(77);
    let (b, t, d) = (3, 5, 4);
    let f = lstm_def(&mut r, d, 6, true);
    let g = lstm_def(&mut r, d, 6, true);
    let l = lstm_def(&mut r, 6, 5, true);
    let def = ModelDef {
        name: "reuse".into(),
        flavour: KerasFlavour::Keras3,
        layers: vec![
            (
                "masking".into(),
                Layer::Masking(Masking { mask_value: 0.0 }),
            ),
            (
                "bidirectional".into(),
                crate::common::BidirDef {
                    forward: f,
                    backward: g,
                    merge: MergeMode::Ave,
                }
                .build(),
            ),
            (
                "lstm".into(),
                Layer::Recurrent(Recurrent {
                    config: l.0,
                    weights: l.1,
                }),
            ),
            (
                "dense".into(),
                Layer::Dense(Dense {
                    kernel: crate::common::random(&mut r, ndarray::Ix2(5, 2), 0.5),
                    bias: Some(crate::common::random(&mut r, ndarray::Ix1(2), 0.5)),
                    activation: Activation::Tanh.into(),
                }),
            ),
        ],
    };
    let mut cpu = Model::new(def.clone(), &Device::Cpu).unwrap();
    // the subgroup step kernel where the adapter has subgroups (lavapipe does)
    let mut choices = vec![KernelChoice::PerStep, KernelChoice::Persistent];
    if GpuContext::new().unwrap().subgroup_lanes().is_some() {
        choices.push(KernelChoice::PerStepSubgroup);
    }
    for choice in choices {
        let ctx = GpuContext::new().unwrap();
        let mut m = Model::new(def.clone(), &Device::Gpu(ctx.clone())).unwrap();
        m.set_options(wgpu_lstm::gpu::CallOptions {
            kernel: choice,
            poison: true,
            ..Default::default()
        });
        for call in 0..5 {
            let mut x = crate::common::random3(&mut r, b, t, d, 1.0);
            x.slice_mut(s![1, 2, ..]).fill(0.0); // a masked step
            let before = ctx.stats();
            let got = m.call(x.view().into_dyn(), None).unwrap();
            let after = ctx.stats();
            let want = cpu.call(x.view().into_dyn(), None).unwrap();
            assert!(
                max_abs(&got.outputs[0], &want.outputs[0]) <= 1e-4,
                "{choice:?} call {call}"
            );
            if call >= 2 {
                assert_eq!(after.buffers_created, before.buffers_created, "{choice:?}");
                assert_eq!(
                    after.bind_groups_created, before.bind_groups_created,
                    "{choice:?} call {call}: bind groups were made again"
                );
                assert_eq!(
                    after.bytes_uploaded - before.bytes_uploaded,
                    (x.len() * 4) as u64,
                    "{choice:?} call {call}: uploaded more than the input"
                );
            }
        }
        assert_no_gpu_errors(&ctx);
    }
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    vec![
        crate::common::test(
            "models::keras3_keras_file_reproduces_predict_output",
            keras3_keras_file_reproduces_predict_output,
        ),
        crate::common::test(
            "models::keras3_weights_h5_with_architecture_reproduces_predict_output",
            keras3_weights_h5_with_architecture_reproduces_predict_output,
        ),
        crate::common::test(
            "models::tf_keras_legacy_h5_reproduces_predict_output",
            tf_keras_legacy_h5_reproduces_predict_output,
        ),
        crate::common::gpu_test(
            "models::demo_model_reproduces_its_whole_sequence_output",
            demo_model_reproduces_its_whole_sequence_output,
        ),
        crate::common::gpu_test(
            "models::demo_model_streamed_one_step_at_a_time_reproduces_the_stateful_output",
            demo_model_streamed_one_step_at_a_time_reproduces_the_stateful_output,
        ),
        crate::common::test(
            "models::an_unsupported_layer_is_a_typed_error_naming_class_and_position",
            an_unsupported_layer_is_a_typed_error_naming_class_and_position,
        ),
        crate::common::test(
            "models::layers_that_do_not_chain_are_a_typed_error",
            layers_that_do_not_chain_are_a_typed_error,
        ),
        crate::common::test(
            "models::model_inputs_of_the_wrong_rank_or_size_are_typed_errors",
            model_inputs_of_the_wrong_rank_or_size_are_typed_errors,
        ),
        crate::common::test(
            "models::bidirectional_merge_modes_follow_keras_definition",
            bidirectional_merge_modes_follow_keras_definition,
        ),
        crate::common::gpu_test(
            "models::masking_layer_equals_the_explicit_mask",
            masking_layer_equals_the_explicit_mask,
        ),
        crate::common::gpu_test(
            "models::random_models_match_on_gpu_and_cpu",
            random_models_match_on_gpu_and_cpu,
        ),
        crate::common::gpu_test(
            "models::a_model_call_is_one_submit",
            a_model_call_is_one_submit,
        ),
        crate::common::gpu_test(
            "models::split_model_calls_equal_unsplit_ones",
            split_model_calls_equal_unsplit_ones,
        ),
        crate::common::gpu_test(
            "models::repeated_model_calls_reuse_everything_and_upload_only_the_input",
            repeated_model_calls_reuse_everything_and_upload_only_the_input,
        ),
    ]
}
