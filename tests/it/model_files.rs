//! Whole model files through the library, against what Keras itself says about them:
//! `describe_model` (every layer, output shapes, `count_params()`) for every zoo model
//! (`tests/fixtures/describe/zoo_summaries.json`, made by
//! `scripts/gen_fixtures/gen_zoo_summaries.py` from the saved files), `Model::predict`
//! returning every output, the file's name in an unsupported model's error, and a stateful
//! model's fixed batch size.

use std::path::{Path, PathBuf};

use serde_json::Value;
use wgpu_lstm::describe::describe_model;
use wgpu_lstm::keras;
use wgpu_lstm::model::{Model, ModelInput};
use wgpu_lstm::{Device, Error};

fn zoo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zoo")
}

fn model_path(case: &str) -> PathBuf {
    let dir = zoo_dir().join(case);
    let meta: Value =
        serde_json::from_slice(&std::fs::read(dir.join("case.json")).unwrap()).unwrap();
    dir.join(meta["model"].as_str().unwrap())
}

/// Keras's `[2, null, 6]` as Keras prints it: `(2, None, 6)`.
fn keras_shape(v: &Value) -> String {
    let dims: Vec<String> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().map_or("None".to_string(), |d| d.to_string()))
        .collect();
    if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    }
}

/// For every zoo model Keras could reload: the rows `describe_model` gives (leaving out
/// input layers and Keras 3's graph operations, which Keras's `model.layers` does not list
/// for a Sequential / at all) are Keras's layers in Keras's order, each with Keras's
/// `count_params()` and — for every model this crate runs — Keras's output shapes; the
/// total is Keras's `model.count_params()`. A model it cannot run still gets every row,
/// with its unsupported layers marked.
fn describe_agrees_with_keras_on_every_zoo_model() {
    let summaries: Value = serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/describe/zoo_summaries.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut checked = 0;
    let mut shapes_checked = 0;
    for (case, want) in summaries.as_object().unwrap() {
        if want.get("error").is_some() {
            continue; // Keras cannot reload it (see the file)
        }
        let path = model_path(case);
        let file = keras::load_model_file(&path).unwrap();
        let d = describe_model(&file, &path.display().to_string());
        assert_eq!(
            d.total_params,
            want["count_params"].as_u64().unwrap() as usize,
            "{case}: total"
        );
        let ours: Vec<_> = d
            .rows
            .iter()
            .filter(|r| !r.op && r.class_name != "InputLayer")
            .collect();
        let theirs: Vec<&Value> = want["layers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["class"] != "InputLayer")
            .collect();
        let names = |v: &[&Value]| -> Vec<String> {
            v.iter()
                .map(|l| l["name"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(
            ours.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
            names(&theirs),
            "{case}: layers"
        );
        for (r, l) in ours.iter().zip(&theirs) {
            let class = l["class"].as_str().unwrap();
            // a registered custom class is `package>Class` in the file
            assert!(
                r.class_name == class
                    || r.class_name.ends_with(&format!(">{class}"))
                    || (["Functional", "Sequential", "Model"].contains(&r.class_name.as_str())
                        && ["Functional", "Sequential"].contains(&class)),
                "{case}: `{}` is {} here, {class} in Keras",
                r.name,
                r.class_name
            );
            assert_eq!(
                r.params,
                l["count_params"].as_u64().unwrap() as usize,
                "{case}: params of `{}`",
                r.name
            );
            if d.problem.is_none() {
                let Some(shapes) = l["output_shapes"].as_array() else {
                    continue;
                };
                let want: Vec<String> = shapes.iter().map(keras_shape).collect();
                assert_eq!(
                    r.output_shapes.as_ref(),
                    Some(&want),
                    "{case}: output shapes of `{}`",
                    r.name
                );
                shapes_checked += 1;
            }
        }
        if let Some(problem) = &d.problem {
            assert!(
                d.rows.iter().any(|r| !r.unsupported.is_empty()),
                "{case}: refused, but no row is marked: {problem}"
            );
            assert!(problem.contains(&path.display().to_string()), "{problem}");
        }
        checked += 1;
    }
    assert!(checked >= 200, "only {checked} cases checked");
    assert!(
        shapes_checked >= 500,
        "only {shapes_checked} layer shapes checked"
    );
}

/// A Sequential ending in a layer that returns several tensors returns them all, through
/// `predict` as through `run` (these two were silently cut to their first output once).
fn predict_returns_every_output() {
    for (case, n) in [
        ("seq_ends_return_state__k3_keras", 3),
        ("seq_ends_bidir_merge_none__k3_keras", 2),
        ("bidir_return_state__k3_h5", 5),
    ] {
        let dir = zoo_dir().join(case);
        let mut m = Model::load(&model_path(case), &Device::Cpu).unwrap();
        let x = keras::read_npy_f32(&dir.join("call0_input_0.npy")).unwrap();
        let y = m.predict(x.view()).unwrap();
        assert_eq!(y.len(), n, "{case}");
        for (i, got) in y.iter().enumerate() {
            let want = keras::read_npy_f32(&dir.join(format!("call0_output_{i}.npy"))).unwrap();
            assert!(
                crate::common::max_abs(got, &want) <= 1e-5,
                "{case} output {i}"
            );
        }
    }
}

/// One error for an unsupported model: the file's name, then every unsupported layer in
/// model order with its class and why.
fn an_unsupported_model_is_refused_naming_the_file_and_every_layer() {
    for case in [
        "custom_layer__k2_h5",
        "lambda_layer__k3_keras",
        "custom_layer__k3_keras",
    ] {
        let path = model_path(case);
        match Model::load(&path, &Device::Cpu) {
            Err(Error::Unsupported(msg)) => {
                assert!(msg.starts_with(&path.display().to_string()), "{msg}");
                assert!(msg.contains("1 layer(s)"), "{msg}");
            }
            other => panic!("{case}: {other:?}"),
        }
    }
    // several unsupported layers: all of them, in model order
    let path = model_path("stacked_simplernn_gru__k3_keras");
    let Err(Error::Unsupported(msg)) = Model::load(&path, &Device::Cpu) else {
        // GRU and SimpleRNN may land; then this model loads
        return;
    };
    assert!(msg.starts_with(&path.display().to_string()), "{msg}");
    let file = keras::load_model_file(&path).unwrap();
    let pos: Vec<usize> = file
        .layers
        .iter()
        .filter(|l| ["SimpleRNN", "GRU"].contains(&l.class_name.as_str()))
        .map(|l| {
            msg.find(&format!("`{}` (", l.name))
                .expect("every layer is named")
        })
        .collect();
    assert!(
        pos.len() >= 2 && pos.windows(2).all(|w| w[0] < w[1]),
        "{msg}"
    );
}

/// A stateful model saved with a fixed batch size (`batch_shape`) refuses another batch
/// size from the first call on, as Keras does ("If an RNN is stateful, the batch size of
/// the input sequences must be the same as the batch size of the initial state"), on every
/// device; the model stays usable.
fn a_fixed_batch_stateful_model_refuses_other_batch_sizes() {
    let mut devices = vec![Device::Cpu];
    if let Some(ctx) = crate::common::gpu() {
        devices.push(Device::Gpu(ctx));
    }
    for case in [
        "stateful_stream__k3_keras",
        "stateful_stream__k2_h5",
        "stateful_stacked_bidir__k2_h5",
    ] {
        for dev in &devices {
            let mut m = Model::load(&model_path(case), dev).unwrap();
            assert_eq!(m.plan().batch, Some(2), "{case}");
            for b in [1, 3] {
                let x = ndarray::ArrayD::<f32>::zeros(vec![b, 4, 3]);
                let e = m
                    .run(&[ModelInput::f32(x.view())], &Default::default())
                    .unwrap_err();
                assert!(
                    matches!(e, Error::StatefulBatch { expected: 2, got } if got == b),
                    "{case}: {e}"
                );
                let e = m.init_states(b).unwrap_err();
                assert!(matches!(e, Error::StatefulBatch { expected: 2, .. }), "{e}");
            }
            let x = ndarray::ArrayD::<f32>::zeros(vec![2, 4, 3]);
            assert!(
                m.run(&[ModelInput::f32(x.view())], &Default::default())
                    .is_ok()
            );
        }
    }
}

/// Integer arrays given to a float input are cast to float32, as Keras casts them.
fn integers_for_a_float_input_are_cast() {
    let case = "lstm_dense__k3_keras";
    let dir = zoo_dir().join(case);
    let mut m = Model::load(&model_path(case), &Device::Cpu).unwrap();
    let x = keras::read_npy_f32(&dir.join("call0_input_0.npy")).unwrap();
    let ints = x.mapv(|v| (v * 3.0).round() as i64);
    let floats = ints.mapv(|v| v as f32);
    let a = m
        .run(&[ModelInput::tokens(ints.view())], &Default::default())
        .unwrap();
    let b = m
        .run(&[ModelInput::f32(floats.view())], &Default::default())
        .unwrap();
    assert_eq!(a, b);
}

/// `describe` says what a layer run as a chain of recurrent nodes is: an
/// `RNN(StackedRNNCells)`'s cells in order, a Bidirectional's cells per direction and its
/// merge mode, with the flags that shape the outputs.
fn describe_spells_out_stacked_cells_and_their_bidirectional() {
    let detail = |case: &str, layer: &str| -> String {
        let path = model_path(case);
        let file = keras::load_model_file(&path).unwrap();
        let d = describe_model(&file, &path.display().to_string());
        d.rows
            .iter()
            .find(|r| r.name == layer)
            .unwrap_or_else(|| panic!("{case}: no row {layer}"))
            .detail
            .clone()
    };
    assert_eq!(
        detail("stacked_cells_backwards_masked__k2_h5", "rnn"),
        "cells GRU(3) → LSTM(2) → SimpleRNN(3) return_sequences go_backwards"
    );
    assert_eq!(
        detail("bidir_stacked_cells__k3_keras", "bidirectional"),
        "forward LSTM(3) → GRU(2), backward LSTM(3) → GRU(2), merge_mode=concat \
         return_sequences return_state"
    );
    assert_eq!(
        detail("bidir_stacked_cells_modes__k2_h5", "bidirectional_2"),
        "forward GRU(2) → GRU(2), backward SimpleRNN(3) → GRU(2), merge_mode=sum \
         return_sequences"
    );
    assert!(
        detail("bidir_stacked_cells_modes__k3_keras", "bidirectional").contains("merge_mode=None")
    );
}

/// An `RNN(StackedRNNCells)` or its Bidirectional fed a wrong number of initial states is
/// refused with an error naming the layer and `initial_state`, before anything runs.
fn stacked_cells_with_a_wrong_initial_state_count_are_refused_by_name() {
    for (case, layer) in [
        ("stacked_cells_initial_state__k3_keras", "rnn"),
        ("stacked_cells_initial_state__k2_h5", "rnn_1"),
        ("bidir_stacked_cells_modes__k3_keras", "bidirectional_3"),
    ] {
        let mut file = keras::load_model_file(&model_path(case)).unwrap();
        keras::plan_from_model_file(&file).unwrap();
        let spec = file.layers.iter_mut().find(|l| l.name == layer).unwrap();
        let popped = spec.calls[0].inputs.pop();
        assert!(
            popped.is_some() && spec.calls[0].inputs.len() >= 2,
            "{case}"
        );
        let e = keras::plan_from_model_file(&file).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains(&format!("`{layer}`")) && msg.contains("initial_state"),
            "{case}: {msg}"
        );
    }
}

/// A Bidirectional whose explicit backward `RNN(StackedRNNCells)` disagrees with the forward
/// one on `return_sequences` is refused naming the layer and `backward_layer`.
fn bidirectional_stacked_cells_halves_must_agree_on_return_sequences() {
    let case = "bidir_stacked_cells_modes__k3_keras";
    let mut file = keras::load_model_file(&model_path(case)).unwrap();
    let spec = file
        .layers
        .iter_mut()
        .find(|l| l.name == "bidirectional_2")
        .unwrap();
    let back = &mut spec.config["backward_layer"]["config"]["return_sequences"];
    assert_eq!(
        *back,
        Value::Bool(true),
        "{case}: the explicit backward layer"
    );
    *back = Value::Bool(false);
    let msg = keras::plan_from_model_file(&file).unwrap_err().to_string();
    assert!(
        msg.contains("`bidirectional_2`") && msg.contains("backward_layer"),
        "{msg}"
    );
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    vec![
        crate::common::test(
            "model_files::describe_agrees_with_keras_on_every_zoo_model",
            describe_agrees_with_keras_on_every_zoo_model,
        ),
        crate::common::test(
            "model_files::predict_returns_every_output",
            predict_returns_every_output,
        ),
        crate::common::test(
            "model_files::an_unsupported_model_is_refused_naming_the_file_and_every_layer",
            an_unsupported_model_is_refused_naming_the_file_and_every_layer,
        ),
        crate::common::test(
            "model_files::a_fixed_batch_stateful_model_refuses_other_batch_sizes",
            a_fixed_batch_stateful_model_refuses_other_batch_sizes,
        ),
        crate::common::test(
            "model_files::integers_for_a_float_input_are_cast",
            integers_for_a_float_input_are_cast,
        ),
        crate::common::test(
            "model_files::describe_spells_out_stacked_cells_and_their_bidirectional",
            describe_spells_out_stacked_cells_and_their_bidirectional,
        ),
        crate::common::test(
            "model_files::stacked_cells_with_a_wrong_initial_state_count_are_refused_by_name",
            stacked_cells_with_a_wrong_initial_state_count_are_refused_by_name,
        ),
        crate::common::test(
            "model_files::bidirectional_stacked_cells_halves_must_agree_on_return_sequences",
            bidirectional_stacked_cells_halves_must_agree_on_return_sequences,
        ),
    ]
}
