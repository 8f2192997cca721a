//! Activations wherever Keras takes one, on every executor: `Activation(name)`, a Dense's or
//! a Conv1D's `activation` (every name of both Keras versions, and layer objects saved as
//! dicts), the advanced-activation layers (ReLU, LeakyReLU, ELU, PReLU, Softmax, tf_keras's
//! ThresholdedReLU) and Keras 3's RMSNormalization:
//!
//! * `keras_cases`: every real-Keras layer case `tests/fixtures/layers/act_*` (made by
//!   `scripts/gen_fixtures/gen_activation_cases.py`, Keras 3.15.1 and tf_keras 2.21), the
//!   layer built through the class table from its config and weights: the CPU equals Keras
//!   within 1e-5 (NaN where Keras gives NaN), the GPU equals Keras within 1e-4 and the CPU
//!   (outputs poisoned first), the output carries a mask exactly when Keras's did (the
//!   input's), and a case Keras refuses is refused with a typed error;
//! * `keras_models`: the five small whole models (`act_model_*`, .keras and .h5) loaded with
//!   `Model::load` and run on their stored inputs;
//! * `random_rows`: odd and long rows (past one workgroup of 64), several axes, broadcast
//!   parameters: the GPU equals the CPU;
//! * `long_axes`: softmax / log-softmax / sparsemax / RMSNormalization over a last axis
//!   longer than lavapipe's 65 535-iteration loop limit either run within the loop budget
//!   (chunked per invocation) or are refused with a typed error;
//! * `typed_errors`: unsupported or invalid options are errors naming the layer and field.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::{ArrayD, Ix2, IxDyn};
use serde_json::{Value as Json, json};
use wgpu_lstm::gpu::KernelChoice;
use wgpu_lstm::keras::{self, LayerSpec, ModelFile, WeightArray, read_npy_f32};
use wgpu_lstm::layers::activation_layer::{LayerActivation, ReluParams};
use wgpu_lstm::layers::advanced_activation::{AdvancedActivation, AdvancedClass, AdvancedOp};
use wgpu_lstm::layers::{ActivationLayer, Dense, Layer, RmsNormalization};
use wgpu_lstm::model::{Model, ModelInput};
use wgpu_lstm::plan::Plan;
use wgpu_lstm::tensor::TensorInfo;
use wgpu_lstm::{Activation, Device, Error, KerasFlavour, Precision};

use crate::common::{Exec, assert_no_gpu_errors, random, rng};
use crate::layers::check_plan;

fn execs() -> [Exec; 2] {
    [Exec::Cpu, Exec::Gpu(KernelChoice::Auto, Precision::F32)]
}

fn layers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layers")
}

fn npy(dir: &Path, file: &str) -> ArrayD<f32> {
    read_npy_f32(&dir.join(file)).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

fn read_json(p: &Path) -> Json {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

/// The activation cases: (dir, case.json), layer cases or model cases.
fn act_cases(models: bool) -> Vec<(PathBuf, Json)> {
    let mut v: Vec<(PathBuf, Json)> = std::fs::read_dir(layers_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("act_"))
        })
        .map(|p| {
            let case = read_json(&p.join("case.json"));
            (p, case)
        })
        .filter(|(_, c)| (c["kind"] == "model") == models)
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// |got − want| / max(1, |want|) ≤ tol, NaN exactly where `want` is NaN, infinities equal.
fn assert_close(got: &ArrayD<f32>, want: &ArrayD<f32>, tol: f32, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shapes");
    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
        if w.is_nan() {
            assert!(g.is_nan(), "{what}: element {i}: {g} where Keras gives NaN");
            continue;
        }
        if g == w {
            continue;
        }
        let e = (g - w).abs() / w.abs().max(1.0);
        assert!(e <= tol, "{what}: element {i}: {g} vs {w} (error {e:e})");
    }
}

/// A one-layer model file (an InputLayer declaring the case's input shape, then the layer
/// with its weights) built into a plan through the class table; the layer node taken out
/// and put in a plan whose input carries a mask when the case has one.
fn plan_of_case(dir: &Path, case: &Json) -> wgpu_lstm::Result<(Plan, KerasFlavour)> {
    let version = case["keras_version"].as_str().unwrap().to_string();
    let flavour = KerasFlavour::from_keras_version(&version).unwrap();
    let l = &case["layer"];
    let name = l["config"]["name"].as_str().unwrap_or("layer").to_string();
    let weights = l["weights"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            let a = npy(dir, w["file"].as_str().unwrap());
            WeightArray {
                name: w["name"].as_str().unwrap().to_string(),
                shape: a.shape().to_vec(),
                data: a.iter().copied().collect(),
            }
        })
        .collect();
    let shape: Vec<usize> = case["input"]["shape"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_u64().unwrap() as usize)
        .collect();
    let mut batch_shape = vec![Json::Null];
    batch_shape.extend(shape[1..].iter().map(|&d| json!(d)));
    let file = ModelFile {
        keras_version: version,
        model_name: case["case"].as_str().unwrap().to_string(),
        class_name: "Sequential".into(),
        layers: vec![
            LayerSpec {
                class_name: "InputLayer".into(),
                name: "input".into(),
                config: json!({ "batch_shape": batch_shape }),
                ..LayerSpec::default()
            },
            LayerSpec {
                class_name: l["class_name"].as_str().unwrap().to_string(),
                name: name.clone(),
                config: l["config"].clone(),
                weights,
                module: Some("keras.layers".into()),
                ..LayerSpec::default()
            },
        ],
        ..ModelFile::default()
    };
    let plan = keras::plan_from_model_file(&file)?;
    let node = plan
        .nodes
        .iter()
        .find(|n| n.name == name)
        .unwrap_or_else(|| panic!("{name}: no node in {:?}", plan.nodes));
    let info = TensorInfo::f32(shape[1..].iter().map(|&d| Some(d)).collect())
        .with_mask(!case["input_mask"].is_null());
    let plan = Plan::sequential(&plan.name, flavour, info, vec![(name, node.layer.clone())])?;
    Ok((plan, flavour))
}

/// Cases Keras runs that this crate refuses on purpose, with a typed error naming the
/// reason (the case name's part, a word the error must contain):
/// * tf_keras's activation string `"PReLU"` and a PReLU object as a Dense's or Conv1D's
///   activation make a PReLU layer with weights of its own inside the layer (use a PReLU
///   layer; an `Activation("PReLU")` is loaded as that PReLU);
/// * a custom Python function: its code is not in the file (Keras ran it in-process);
/// * a Softmax object over a non-last axis as a Dense's activation (use a Softmax layer);
/// * a Softmax layer over non-adjacent axes, or over the batch axis (each row's result
///   would depend on the other rows of the call, and on how a call is split).
const DELIBERATE_REFUSALS: &[(&str, &str)] = &[
    ("act_dense_PReLU__k2", "PReLU"),
    ("act_conv_PReLU__k2", "PReLU"),
    ("act_obj_dense_prelu_", "PReLU"),
    ("act_obj_custom_function_", "myact"),
    ("act_obj_dense_softmax_axis_", "axis"),
    ("act_softmax_axes_noncontig_", "not adjacent"),
    ("act_softmax_axis0_", "batch axis"),
];

/// Runs a plan on one executor (GPU outputs poisoned first).
fn run_on(ex: &Exec, plan: &Plan, input: ModelInput<'_>) -> wgpu_lstm::Result<ArrayD<f32>> {
    let mut m = Model::from_plan_with_precision(plan.clone(), &ex.device(), Precision::F32)?;
    Ok(m.run(&[input], &ex.options())?.remove(0))
}

/// What one case came to.
enum Outcome {
    Ran(String, String),
    Refused,
    Deliberate,
}

/// One real-Keras activation layer case on one executor (panics on a mismatch).
fn one_case(ex: &Exec, dir: &Path, case: &Json) -> Outcome {
    let name = case["case"].as_str().unwrap();
    let class = case["layer"]["class_name"].as_str().unwrap().to_string();
    let version = case["keras_version"].as_str().unwrap().to_string();
    let x = npy(dir, case["input"]["file"].as_str().unwrap());
    let mask = case["input_mask"].as_str().map(|f| {
        npy(dir, f)
            .into_dimensionality::<Ix2>()
            .unwrap()
            .mapv(|v| v != 0.0)
    });
    let mut input = ModelInput::f32(x.view());
    if let Some(m) = &mask {
        input = input.with_mask(m.view());
    }
    let built = plan_of_case(dir, case);
    if let Some((_, needle)) = DELIBERATE_REFUSALS.iter().find(|(n, _)| name.contains(n)) {
        // Keras runs it; this crate refuses it on purpose, with a typed error naming it
        let e = built
            .and_then(|(plan, _)| run_on(ex, &plan, input.clone()))
            .err()
            .unwrap_or_else(|| panic!("{name}: runs, but is on the refusal list"));
        assert!(e.to_string().contains(needle), "{name}: {e}");
        assert!(case["error"].is_null(), "{name}: Keras refuses it too");
        return Outcome::Deliberate;
    }
    if let Some(err) = case["error"].as_str() {
        // Keras refuses it: so does this crate, with a typed error (at load or call)
        let result = built.and_then(|(plan, _)| run_on(ex, &plan, input.clone()));
        match result {
            Err(e) => {
                assert!(
                    matches!(
                        e,
                        Error::Unsupported(_)
                            | Error::UnknownActivation { .. }
                            | Error::Layer { .. }
                            | Error::Config { .. }
                            | Error::Shape { .. }
                    ),
                    "{name}: {e:?}"
                );
            }
            Ok(_) => panic!("{name}: runs, but Keras refuses it: {err}"),
        }
        return Outcome::Refused;
    }
    let (plan, flavour) = built.unwrap_or_else(|e| panic!("{name}: {e}"));
    let want = npy(dir, case["output"].as_str().unwrap());
    let got = run_on(ex, &plan, input.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_close(
        &got,
        &want,
        ex.tolerance(),
        &format!("{name} [{}]", ex.name()),
    );
    if let Exec::Gpu(..) = ex {
        let cpu = run_on(&Exec::Cpu, &plan, input.clone()).unwrap();
        assert_close(&got, &cpu, ex.tolerance(), &format!("{name}: GPU vs CPU"));
        if let Device::Gpu(ctx) = ex.device() {
            assert_no_gpu_errors(&ctx);
        }
    }
    // the mask: kept (the input's) exactly where Keras kept it
    let out = plan.output_info(0);
    match case["output_mask"].as_str() {
        Some(f) => {
            assert!(out.masked, "{name}: Keras keeps the mask");
            let km = npy(dir, f).mapv(|v| v != 0.0);
            let m = mask
                .as_ref()
                .expect("an output mask comes from an input mask");
            assert_eq!(
                km,
                m.clone().into_dyn(),
                "{name}: Keras's mask is the input's"
            );
        }
        None => assert!(!out.masked, "{name}: Keras drops the mask"),
    }
    assert_eq!(plan.flavour, flavour);
    Outcome::Ran(class, version)
}

/// Every real-Keras activation layer case (see the module docs).
fn keras_cases(ex: &Exec) {
    let cases = act_cases(false);
    assert!(cases.len() >= 370, "only {} activation cases", cases.len());
    let mut per_class = BTreeMap::<(String, String), usize>::new();
    let mut refused = 0;
    let mut deliberate = 0;
    let mut failures = Vec::new();
    for (dir, case) in &cases {
        let name = case["case"].as_str().unwrap();
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| one_case(ex, dir, case))) {
            Ok(Outcome::Ran(class, version)) => {
                *per_class.entry((class, version)).or_default() += 1
            }
            Ok(Outcome::Refused) => refused += 1,
            Ok(Outcome::Deliberate) => deliberate += 1,
            Err(p) => failures.push(format!(
                "{name}: {}",
                p.downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases fail:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    assert!(refused >= 25, "{refused} refused cases");
    assert_eq!(deliberate, 12, "the deliberate refusals");
    for class in [
        "Activation",
        "Dense",
        "Conv1D",
        "ReLU",
        "LeakyReLU",
        "ELU",
        "PReLU",
        "Softmax",
    ] {
        for v in ["3.15.1", "2.21.0"] {
            let n = per_class
                .get(&(class.to_string(), v.to_string()))
                .copied()
                .unwrap_or(0);
            assert!(n >= 4, "{class} {v}: {per_class:?}");
        }
    }
    for (class, v) in [
        ("ThresholdedReLU", "2.21.0"),
        ("RMSNormalization", "3.15.1"),
    ] {
        assert!(
            per_class
                .get(&(class.to_string(), v.to_string()))
                .is_some_and(|&n| n >= 3),
            "{class} {v}: {per_class:?}"
        );
    }
}

/// The whole models, loaded as a user would and run on their stored inputs.
fn keras_models(ex: &Exec) {
    let cases = act_cases(true);
    assert_eq!(cases.len(), 16, "act_model_* cases");
    for (dir, case) in &cases {
        let name = case["case"].as_str().unwrap();
        let path = dir.join(case["model"].as_str().unwrap());
        let mut model = Model::load(&path, &ex.device()).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (k, call) in case["calls"].as_array().unwrap().iter().enumerate() {
            let xs: Vec<ArrayD<f32>> = call["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| npy(dir, f.as_str().unwrap()))
                .collect();
            let inputs: Vec<ModelInput<'_>> =
                xs.iter().map(|x| ModelInput::f32(x.view())).collect();
            let got = model
                .run(&inputs, &ex.options())
                .unwrap_or_else(|e| panic!("{name}: call {k}: {e}"));
            let outs = call["outputs"].as_array().unwrap();
            assert_eq!(got.len(), outs.len(), "{name}: outputs");
            for (i, (g, f)) in got.iter().zip(outs).enumerate() {
                let want = npy(dir, f.as_str().unwrap());
                assert_close(
                    g,
                    &want,
                    ex.tolerance(),
                    &format!("{name} call {k} output {i} [{}]", ex.name()),
                );
            }
        }
    }
}

fn plan1(name: &str, flavour: KerasFlavour, input: TensorInfo, layer: Layer) -> Plan {
    Plan::sequential(name, flavour, input, vec![(name.into(), layer)]).unwrap()
}

fn known(shape: &[usize]) -> TensorInfo {
    TensorInfo::f32(shape[1..].iter().map(|&d| Some(d)).collect())
}

fn advanced(class: AdvancedClass, op: AdvancedOp) -> Layer {
    Layer::AdvancedActivation(AdvancedActivation { class, op })
}

/// Odd and long rows, inner axes, broadcast parameters: GPU == CPU (with NaN, ±inf mixed
/// in), and the CPU's softmax rows sum to 1.
fn random_rows(ex: &Exec) {
    let mut r = rng(77);
    let relu = ReluParams {
        negative_slope: 0.2,
        max_value: Some(1.5),
        threshold: 0.3,
        flavour: KerasFlavour::Keras2,
    };
    let acts = [
        LayerActivation::Softmax,
        LayerActivation::LogSoftmax,
        LayerActivation::Sparsemax,
        LayerActivation::Glu,
        LayerActivation::Relu(relu),
        LayerActivation::Relu(ReluParams {
            flavour: KerasFlavour::Keras3,
            ..relu
        }),
        LayerActivation::LeakyRelu(0.05),
        LayerActivation::Elu(0.7),
        LayerActivation::ThresholdedRelu(0.4),
        Activation::HardSilu.into(),
    ];
    for shape in [vec![3, 5, 130], vec![2, 1000], vec![1, 1, 2], vec![70, 66]] {
        let mut x = random(&mut r, IxDyn(&shape), 3.0);
        // a few non-finite values in the last row
        let n = x.len();
        if n > 8 {
            let s = x.as_slice_mut().unwrap();
            s[n - 1] = f32::NEG_INFINITY;
            s[n - 3] = f32::NEG_INFINITY;
        }
        for act in acts {
            let layer = Layer::Activation(ActivationLayer { activation: act });
            let plan = plan1("act", KerasFlavour::Keras3, known(&shape), layer);
            let y = check_plan(ex, &plan, &[ModelInput::f32(x.view())]);
            if act == LayerActivation::Softmax {
                let c = *shape.last().unwrap();
                for row in y[0].as_slice().unwrap().chunks(c) {
                    let s: f32 = row.iter().sum();
                    assert!((s - 1.0).abs() < 1e-4, "softmax row sums to {s}");
                }
            }
        }
        // Dense with each activation the GEMM cannot fuse
        let d = shape[shape.len() - 1];
        for act in [
            LayerActivation::Glu,
            LayerActivation::Sparsemax,
            LayerActivation::Elu(0.3),
        ] {
            let dense = Dense::new(
                random(&mut r, ndarray::Ix2(d, 6), 0.5),
                Some(random(&mut r, ndarray::Ix1(6), 0.5)),
                act,
            )
            .unwrap();
            let xf = x.mapv(|v| if v.is_finite() { v } else { 0.0 });
            let plan = plan1(
                "dense",
                KerasFlavour::Keras3,
                known(&shape),
                Layer::Dense(dense),
            );
            check_plan(ex, &plan, &[ModelInput::f32(xf.view())]);
        }
    }
    // Softmax layers over an inner axis and over two axes; RMSNormalization; PReLU shared
    let x = random(&mut r, IxDyn(&[3, 70, 5, 4]), 2.0);
    for axes in [
        vec![1],
        vec![2],
        vec![-1],
        vec![1, 2],
        vec![-2, -1],
        vec![1, 2, 3],
    ] {
        let l = advanced(AdvancedClass::Softmax, AdvancedOp::Softmax { axes });
        let plan = plan1("softmax", KerasFlavour::Keras3, known(x.shape()), l);
        check_plan(ex, &plan, &[ModelInput::f32(x.view())]);
    }
    for (axes, scale) in [
        (vec![-1], vec![4]),
        (vec![-2, -1], vec![5, 4]),
        (vec![2, 3], vec![1, 4]),
        (vec![1, 2, 3], vec![70, 5, 4]),
    ] {
        let l = Layer::RmsNormalization(RmsNormalization {
            axes,
            epsilon: 1e-3,
            scale: random(&mut r, IxDyn(&scale), 1.0),
        });
        let plan = plan1("rms", KerasFlavour::Keras3, known(x.shape()), l);
        check_plan(ex, &plan, &[ModelInput::f32(x.view())]);
    }
    for alpha in [vec![70, 5, 4], vec![1, 5, 1], vec![70, 1, 4], vec![1, 1, 1]] {
        let l = advanced(
            AdvancedClass::PRelu,
            AdvancedOp::PRelu {
                alpha: random(&mut r, IxDyn(&alpha), 0.5),
            },
        );
        let plan = plan1("prelu", KerasFlavour::Keras3, known(x.shape()), l);
        check_plan(ex, &plan, &[ModelInput::f32(x.view())]);
    }
}

/// Rows longer than 65 535 (lavapipe's loop limit) run within the loop budget, chunked per
/// invocation; sparsemax, whose rank pass loops over the whole row, is refused past the
/// budget on the GPU with a typed error (the CPU runs it).
fn long_axes(ex: &Exec) {
    let mut r = rng(5);
    let cols = 70_000;
    let x = random(&mut r, IxDyn(&[2, cols]), 4.0);
    for act in [LayerActivation::Softmax, LayerActivation::LogSoftmax] {
        let layer = Layer::Activation(ActivationLayer { activation: act });
        let plan = plan1("long", KerasFlavour::Keras3, known(&[2, cols]), layer);
        let y = check_plan(ex, &plan, &[ModelInput::f32(x.view())]);
        if act == LayerActivation::Softmax {
            for row in y[0].rows() {
                let s: f64 = row.iter().map(|&v| v as f64).sum();
                assert!((s - 1.0).abs() < 1e-3, "a long softmax row sums to {s}");
            }
        }
    }
    let l = Layer::RmsNormalization(RmsNormalization {
        axes: vec![-1],
        epsilon: 1e-6,
        scale: random(&mut r, IxDyn(&[cols]), 1.0),
    });
    let plan = plan1("long_rms", KerasFlavour::Keras3, known(&[2, cols]), l);
    check_plan(ex, &plan, &[ModelInput::f32(x.view())]);
    let l = advanced(
        AdvancedClass::Softmax,
        AdvancedOp::Softmax { axes: vec![1] },
    );
    let x3 = random(&mut r, IxDyn(&[1, cols, 2]), 2.0);
    let plan = plan1(
        "long_softmax_axis1",
        KerasFlavour::Keras3,
        known(&[1, cols, 2]),
        l,
    );
    check_plan(ex, &plan, &[ModelInput::f32(x3.view())]);

    let layer = Layer::Activation(ActivationLayer {
        activation: LayerActivation::Sparsemax,
    });
    let plan = plan1(
        "long_sparsemax",
        KerasFlavour::Keras3,
        known(&[2, cols]),
        layer,
    );
    let got = run_on(ex, &plan, ModelInput::f32(x.view()));
    match ex {
        Exec::Cpu => {
            let y = got.unwrap();
            assert!(y.iter().all(|v| v.is_finite() && *v >= 0.0));
        }
        Exec::Gpu(..) => {
            let e = got.unwrap_err();
            let Error::Layer { source, .. } = &e else {
                panic!("{e:?}")
            };
            assert!(
                matches!(**source, Error::Unsupported(_)) && e.to_string().contains("loop budget"),
                "{e}"
            );
        }
    }
    // a softmax row past the budget even when chunked (64 · 20 000 elements): refused
    if let Exec::Gpu(..) = ex {
        let cols = 64 * 20_001;
        let x = ArrayD::<f32>::zeros(IxDyn(&[1, cols]));
        let layer = Layer::Activation(ActivationLayer {
            activation: LayerActivation::Softmax,
        });
        let plan = plan1("too_long", KerasFlavour::Keras3, known(&[1, cols]), layer);
        let e = run_on(ex, &plan, ModelInput::f32(x.view())).unwrap_err();
        assert!(e.to_string().contains("loop budget"), "{e}");
    }
}

/// On a device allowing 3 workgroups per dimension, every activation kernel spreads its
/// rows and elements over a 3-D grid and equals the CPU (GPU outputs poisoned first).
fn small_dispatch_limit() {
    let Some(ctx) = crate::common::small_dispatch_limit_gpu() else {
        return;
    };
    let mut r = rng(109);
    let shape = [5, 7, 8];
    let x = random(&mut r, IxDyn(&shape), 2.0);
    let mut layers: Vec<Layer> = [
        LayerActivation::Softmax,
        LayerActivation::LogSoftmax,
        LayerActivation::Sparsemax,
        LayerActivation::Glu,
        LayerActivation::Elu(0.5),
        Activation::Gelu.into(),
    ]
    .into_iter()
    .map(|a| Layer::Activation(ActivationLayer { activation: a }))
    .collect();
    layers.push(advanced(
        AdvancedClass::Softmax,
        AdvancedOp::Softmax { axes: vec![1] },
    ));
    layers.push(advanced(
        AdvancedClass::PRelu,
        AdvancedOp::PRelu {
            alpha: random(&mut r, IxDyn(&[1, 8]), 0.5),
        },
    ));
    layers.push(Layer::RmsNormalization(RmsNormalization {
        axes: vec![-1],
        epsilon: 1e-6,
        scale: random(&mut r, IxDyn(&[8]), 1.0),
    }));
    for layer in layers {
        let what = layer.detail();
        let plan = plan1("small", KerasFlavour::Keras3, known(&shape), layer);
        let input = [ModelInput::f32(x.view())];
        let want = Model::from_plan(plan.clone(), &Device::Cpu)
            .unwrap()
            .run(&input, &Default::default())
            .unwrap();
        let got = Model::from_plan(plan, &Device::Gpu(ctx.clone()))
            .unwrap()
            .run(
                &input,
                &wgpu_lstm::gpu::CallOptions {
                    poison: true,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_close(&got[0], &want[0], 1e-4, &what);
    }
    // a softmax over the time axis of 3 rows × 14 channels needs 42 workgroups (one per
    // lane), past 3³ = 27: refused with a typed error
    let shape = [3, 7, 14];
    let x = random(&mut r, IxDyn(&shape), 2.0);
    let l = advanced(
        AdvancedClass::Softmax,
        AdvancedOp::Softmax { axes: vec![1] },
    );
    let plan = plan1("too_many_lanes", KerasFlavour::Keras3, known(&shape), l);
    let err = Model::from_plan(plan, &Device::Gpu(ctx.clone()))
        .unwrap()
        .run(&[ModelInput::f32(x.view())], &Default::default())
        .unwrap_err();
    assert!(
        matches!(&err, Error::Layer { source, .. } if matches!(**source, Error::TooLarge { .. })),
        "{err}"
    );
    assert_no_gpu_errors(&ctx);
}

/// A one-layer model file of `class` with `config` (and weights), loaded through the
/// class table.
fn load_one(
    version: &str,
    class: &str,
    config: Json,
    weights: Vec<(&str, Vec<usize>)>,
    input: &[usize],
) -> wgpu_lstm::Result<Plan> {
    let mut batch_shape = vec![Json::Null];
    batch_shape.extend(input.iter().map(|&d| json!(d)));
    let mut config = config;
    config["name"] = json!("the_layer");
    let file = ModelFile {
        keras_version: version.into(),
        model_name: "m".into(),
        class_name: "Sequential".into(),
        layers: vec![
            LayerSpec {
                class_name: "InputLayer".into(),
                name: "input".into(),
                config: json!({ "batch_shape": batch_shape }),
                ..LayerSpec::default()
            },
            LayerSpec {
                class_name: class.into(),
                name: "the_layer".into(),
                config,
                weights: weights
                    .into_iter()
                    .map(|(n, s)| WeightArray {
                        name: n.into(),
                        data: vec![0.5; s.iter().product()],
                        shape: s,
                    })
                    .collect(),
                module: Some("keras.layers".into()),
                ..LayerSpec::default()
            },
        ],
        ..ModelFile::default()
    };
    keras::plan_from_model_file(&file)
}

/// (Keras version, class, config, weights (name, shape), input shape, a word the error
/// names).
type ErrorCase = (
    &'static str,
    &'static str,
    Json,
    Vec<(&'static str, Vec<usize>)>,
    Vec<usize>,
    &'static str,
);

/// Invalid or unsupported options: typed errors naming the layer and the field.
fn typed_errors() {
    let k3 = "3.15.1";
    let k2 = "2.21.0";
    let cases: Vec<ErrorCase> = vec![
        (
            k3,
            "ReLU",
            json!({"max_value": -1.0}),
            vec![],
            vec![4],
            "max_value",
        ),
        (
            k3,
            "ReLU",
            json!({"negative_slope": -0.5}),
            vec![],
            vec![4],
            "negative_slope",
        ),
        (
            k3,
            "ReLU",
            json!({"threshold": "a"}),
            vec![],
            vec![4],
            "threshold",
        ),
        (
            k3,
            "LeakyReLU",
            json!({"negative_slope": -0.1}),
            vec![],
            vec![4],
            "negative_slope",
        ),
        (k3, "ELU", json!({"alpha": null}), vec![], vec![4], "alpha"),
        (
            k3,
            "ThresholdedReLU",
            json!({"theta": 1.0}),
            vec![],
            vec![4],
            "ThresholdedReLU",
        ),
        (
            k2,
            "ThresholdedReLU",
            json!({"theta": -1.0}),
            vec![],
            vec![4],
            "theta",
        ),
        (
            k3,
            "Softmax",
            json!({"axis": [1, 3]}),
            vec![],
            vec![2, 3, 4],
            "not adjacent",
        ),
        (
            k3,
            "Softmax",
            json!({"axis": 0}),
            vec![],
            vec![2, 3],
            "batch axis",
        ),
        (
            k3,
            "Softmax",
            json!({"axis": 5}),
            vec![],
            vec![2, 3],
            "axis",
        ),
        (
            k3,
            "Softmax",
            json!({"axis": [1, 1]}),
            vec![],
            vec![2, 3],
            "repeated",
        ),
        (
            k3,
            "PReLU",
            json!({}),
            vec![("alpha", vec![3, 5])],
            vec![3, 4],
            "alpha",
        ),
        (k3, "PReLU", json!({}), vec![], vec![3, 4], "alpha"),
        (
            k2,
            "RMSNormalization",
            json!({}),
            vec![("scale", vec![4])],
            vec![4],
            "RMSNormalization",
        ),
        (
            k3,
            "RMSNormalization",
            json!({"axis": [1, 3]}),
            vec![("scale", vec![2, 4])],
            vec![2, 3, 4],
            "adjacent",
        ),
        (
            k3,
            "RMSNormalization",
            json!({"axis": 1}),
            vec![("scale", vec![3])],
            vec![3, 4],
            "scale",
        ),
        (
            k3,
            "Activation",
            json!({"activation": "glu"}),
            vec![],
            vec![5],
            "glu",
        ),
        (
            k3,
            "Activation",
            json!({"activation": "threshold"}),
            vec![],
            vec![4],
            "threshold",
        ),
        (
            k2,
            "Activation",
            json!({"activation": "sparsemax"}),
            vec![],
            vec![4],
            "sparsemax",
        ),
        (
            k2,
            "Activation",
            json!({"activation": "PReLU"}),
            vec![],
            vec![4],
            "PReLU",
        ),
        (
            k3,
            "Activation",
            json!({"activation": {"module": "builtins", "class_name": "function", "config": "my_act"}}),
            vec![],
            vec![4],
            "my_act",
        ),
        (
            k3,
            "Dense",
            json!({"units": 5, "activation": "glu", "use_bias": false}),
            vec![("kernel", vec![4, 5])],
            vec![4],
            "glu",
        ),
    ];
    for (version, class, config, weights, input, needle) in cases {
        let what = format!("{class} {config} on {input:?} ({version})");
        let e = load_one(version, class, config, weights, &input)
            .err()
            .unwrap_or_else(|| panic!("{what}: loads"));
        let msg = e.to_string();
        assert!(
            msg.contains(needle),
            "{what}: `{msg}` does not name `{needle}`"
        );
        assert!(
            msg.contains("the_layer"),
            "{what}: `{msg}` does not name the layer"
        );
    }
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    let e = execs();
    let mut v = Vec::new();
    v.extend(crate::common::suite_of(
        "layers_act::keras_cases",
        &e,
        keras_cases,
    ));
    v.extend(crate::common::suite_of(
        "layers_act::keras_models",
        &e,
        keras_models,
    ));
    v.extend(crate::common::suite_of(
        "layers_act::random_rows",
        &e,
        random_rows,
    ));
    v.extend(crate::common::suite_of(
        "layers_act::long_axes",
        &e,
        long_axes,
    ));
    v.push(crate::common::test(
        "layers_act::typed_errors",
        typed_errors,
    ));
    v.push(crate::common::gpu_test(
        "layers_act::small_dispatch_limit",
        small_dispatch_limit,
    ));
    v
}
