//! Keras `Dot` on every executor: every real-Keras case `tests/fixtures/layers/dot_*` (made
//! by `scripts/gen_fixtures/gen_dot_cases.py`, Keras 3.15.1 and tf_keras 2.21), the layer
//! built through the class table in a two-input Functional model file: the CPU equals Keras
//! within 1e-5, the GPU Keras within 1e-4 and the CPU (outputs poisoned first); a case Keras
//! refuses is refused with a typed error; the mask is dropped; a contracted axis past the
//! loop budget is refused on the GPU with a typed error.

use std::path::{Path, PathBuf};

use ndarray::{ArrayD, IxDyn};
use serde_json::{Value as Json, json};
use wgpu_lstm::gpu::KernelChoice;
use wgpu_lstm::keras::{self, CallSpec, LayerSpec, ModelFile, TensorRef, read_npy_f32};
use wgpu_lstm::layers::{Dot, Layer};
use wgpu_lstm::model::{Model, ModelInput};
use wgpu_lstm::plan::Plan;
use wgpu_lstm::tensor::TensorInfo;
use wgpu_lstm::{Error, KerasFlavour, Precision};

use crate::common::{Exec, random, rng};

fn execs() -> [Exec; 2] {
    [Exec::Cpu, Exec::Gpu(KernelChoice::Auto, Precision::F32)]
}

fn layers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layers")
}

fn npy(dir: &Path, file: &str) -> ArrayD<f32> {
    read_npy_f32(&dir.join(file)).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

/// |got − want| / max(1, |want|) ≤ tol.
fn assert_close(got: &ArrayD<f32>, want: &ArrayD<f32>, tol: f32, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shapes");
    for (g, w) in got.iter().zip(want.iter()) {
        let e = (g - w).abs() / w.abs().max(1.0);
        assert!(e <= tol, "{what}: {g} vs {w} (error {e:e})");
    }
}

/// A Functional model file: two InputLayers and the Dot reading both.
fn model_file(case: &Json) -> ModelFile {
    let input = |name: &str, shape: &Json| {
        let mut batch_shape = vec![Json::Null];
        batch_shape.extend(shape.as_array().unwrap()[1..].iter().cloned());
        LayerSpec {
            class_name: "InputLayer".into(),
            name: name.into(),
            config: json!({ "batch_shape": batch_shape, "name": name }),
            ..LayerSpec::default()
        }
    };
    let tref = |layer: &str| TensorRef {
        layer: layer.into(),
        node: 0,
        tensor: 0,
    };
    let ins = case["inputs"].as_array().unwrap();
    let mut cfg = case["dot"]["config"].clone();
    cfg["name"] = json!("dot");
    ModelFile {
        keras_version: case["keras_version"].as_str().unwrap().into(),
        model_name: case["case"].as_str().unwrap().into(),
        class_name: "Functional".into(),
        layers: vec![
            input("in0", &ins[0]["shape"]),
            input("in1", &ins[1]["shape"]),
            LayerSpec {
                class_name: "Dot".into(),
                name: "dot".into(),
                config: cfg,
                module: Some("keras.layers".into()),
                calls: vec![CallSpec {
                    inputs: vec![tref("in0"), tref("in1")],
                    ..CallSpec::default()
                }],
                ..LayerSpec::default()
            },
        ],
        inputs: vec![tref("in0"), tref("in1")],
        outputs: vec![tref("dot")],
        ..ModelFile::default()
    }
}

fn keras_cases(ex: &Exec) {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(layers_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("dot_"))
        })
        .collect();
    dirs.sort();
    assert_eq!(dirs.len(), 30, "dot cases");
    let (mut ran, mut refused) = (0, 0);
    for dir in &dirs {
        let case: Json =
            serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
        let name = case["case"].as_str().unwrap();
        let xs: Vec<ArrayD<f32>> = case["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| npy(dir, i["file"].as_str().unwrap()))
            .collect();
        let inputs: Vec<ModelInput<'_>> = xs.iter().map(|x| ModelInput::f32(x.view())).collect();
        let run = || -> wgpu_lstm::Result<(Plan, ArrayD<f32>)> {
            let plan = keras::plan_from_model_file(&model_file(&case))?;
            let mut m =
                Model::from_plan_with_precision(plan.clone(), &ex.device(), Precision::F32)?;
            let y = m.run(&inputs, &ex.options())?.remove(0);
            Ok((plan, y))
        };
        if let Some(err) = case["error"].as_str() {
            let e = run()
                .err()
                .unwrap_or_else(|| panic!("{name}: runs; Keras: {err}"));
            assert!(e.to_string().contains("axes"), "{name}: {e}");
            refused += 1;
            continue;
        }
        let (plan, got) = run().unwrap_or_else(|e| panic!("{name}: {e}"));
        let want = npy(dir, case["output"].as_str().unwrap());
        assert_close(
            &got,
            &want,
            ex.tolerance(),
            &format!("{name} [{}]", ex.name()),
        );
        assert!(!plan.output_info(0).masked, "{name}: Dot drops the mask");
        if matches!(ex, Exec::Gpu(..)) {
            let mut cpu = Model::from_plan(plan.clone(), &wgpu_lstm::Device::Cpu).unwrap();
            let c = cpu.run(&inputs, &Default::default()).unwrap().remove(0);
            assert_close(&got, &c, ex.tolerance(), &format!("{name}: GPU vs CPU"));
        }
        ran += 1;
    }
    assert_eq!((ran, refused), (26, 4));
}

/// A masked input: the output carries no mask; a contracted axis past the loop budget is
/// refused on the GPU (the CPU runs it).
fn masks_and_long_axes(ex: &Exec) {
    let dot = Dot {
        axes: (2, 2),
        normalize: true,
        flavour: KerasFlavour::Keras3,
    };
    let mut b = Plan::builder("dot", KerasFlavour::Keras3);
    let x = b.input("x", TensorInfo::f32(vec![None, Some(3)]).with_mask(true));
    let y = b.input("y", TensorInfo::f32(vec![Some(4), Some(3)]));
    let out = b.node("dot", Layer::Dot(dot.clone()), &[x, y]).unwrap();
    assert!(!b.info(out[0]).masked);
    let k = 40_000;
    let mut r = rng(3);
    let xs = random(&mut r, IxDyn(&[1, 2, k]), 1.0);
    let ys = random(&mut r, IxDyn(&[1, 3, k]), 1.0);
    let mut b = Plan::builder("long", KerasFlavour::Keras3);
    let x = b.input("x", TensorInfo::f32(vec![Some(2), Some(k)]));
    let y = b.input("y", TensorInfo::f32(vec![Some(3), Some(k)]));
    let out = b.node("dot", Layer::Dot(dot), &[x, y]).unwrap();
    let plan = b.finish(out).unwrap();
    let mut m = Model::from_plan_with_precision(plan, &ex.device(), Precision::F32).unwrap();
    let got = m.run(
        &[ModelInput::f32(xs.view()), ModelInput::f32(ys.view())],
        &ex.options(),
    );
    match ex {
        Exec::Cpu => assert!(got.unwrap()[0].iter().all(|v| v.abs() <= 1.0 + 1e-5)),
        Exec::Gpu(..) => {
            let e = got.unwrap_err();
            assert!(e.to_string().contains("loop budget"), "{e}");
            assert!(matches!(e, Error::Layer { .. }), "{e:?}");
        }
    }
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    let e = execs();
    let mut v = Vec::new();
    v.extend(crate::common::suite_of(
        "layers_dot::keras_cases",
        &e,
        keras_cases,
    ));
    v.extend(crate::common::suite_of(
        "layers_dot::masks_and_long_axes",
        &e,
        masks_and_long_axes,
    ));
    v
}
