//! The model zoo (`tests/fixtures/zoo/`, made by real Keras 3.15.1 and tf_keras 2.21 with
//! `scripts/gen_fixtures/gen_zoo.py`): every case's file is loaded as a user would
//! (`Model::load`), run on its stored inputs call by call (masks, stateful resets), and
//! each output compared with what Keras returned — on the CPU (1e-5) and on the GPU with
//! every recurrent kernel (1e-4). Low-precision cases (float16 / bfloat16 weights and
//! compute) are held to their float32 twin's outputs at the executor's tolerance and to
//! Keras's own outputs at the case's measured tolerance.
//!
//! A case whose model uses a class in [`PENDING`] (layers not built yet) must be refused
//! with [`Error::Unsupported`] naming the class — never run half-way or answer wrongly; the
//! list shrinks as layers land, and a case that starts to load while still listed fails, so
//! the list cannot go stale. The `refused` family (Lambda, custom classes) must always be
//! refused that way.

use std::path::{Path, PathBuf};

use libtest_mimic::Trial;
use ndarray::{ArrayD, Ix2};
use serde_json::Value;
use wgpu_lstm::keras::{self, ModelFile, NpyArray};
use wgpu_lstm::model::{Model, ModelInput};
use wgpu_lstm::{Error, Precision};

use crate::common::{Exec, gpu_runs};

/// Keras classes the zoo uses that this crate does not run yet.
const PENDING: &[&str] = &[];

/// The zoo: `tests/fixtures/zoo`, or the directory `WGPU_LSTM_ZOO_DIR` names (another set made
/// by the same generator, e.g. a held-out one: see `scripts/gen_fixtures/common.py`).
pub fn zoo_dir() -> PathBuf {
    std::env::var_os("WGPU_LSTM_ZOO_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zoo"))
}

/// Every case directory, sorted.
fn cases() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(zoo_dir())
        .expect("tests/fixtures/zoo exists")
        .map(|e| e.expect("a readable directory entry").path())
        .filter(|p| p.join("case.json").is_file())
        .collect();
    v.sort();
    v
}

/// The names of the cases this crate runs: not marked refused and using no [`PENDING`]
/// class (the CLI tests run them all through the binary).
pub fn runnable_case_names() -> Vec<String> {
    cases()
        .iter()
        .filter_map(|dir| {
            let case = read_json(&dir.join("case.json"));
            if case["family"] == "refused" {
                return None;
            }
            let file = keras::load_model_file(&dir.join(case["model"].as_str()?)).ok()?;
            let mut classes = Vec::new();
            classes_of(&file, &mut classes);
            if classes.iter().any(|c| PENDING.contains(&c.as_str())) {
                return None;
            }
            Some(dir.file_name()?.to_str()?.to_string())
        })
        .collect()
}

fn read_json(p: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
}

/// Every Keras class a model file names: layers, nested models, wrapped layers and cells.
fn classes_of(file: &ModelFile, out: &mut Vec<String>) {
    for l in &file.layers {
        out.push(l.class_name.clone());
        if let Some(m) = &l.model {
            classes_of(m, out);
        }
        classes_in_config(&l.config, out);
    }
}

fn classes_in_config(cfg: &Value, out: &mut Vec<String>) {
    for key in ["layer", "backward_layer", "cell"] {
        if let Some(inner) = cfg.get(key) {
            classes_in_layer(inner, out);
        }
    }
    if let Some(Value::Array(cells)) = cfg.get("cells") {
        cells.iter().for_each(|c| classes_in_layer(c, out));
    }
}

fn classes_in_layer(v: &Value, out: &mut Vec<String>) {
    if let Some(c) = v.get("class_name").and_then(Value::as_str) {
        out.push(c.to_string());
    }
    if let Some(cfg) = v.get("config") {
        classes_in_config(cfg, out);
    }
}

/// An input file as the model input it stands for.
enum Loaded {
    F32(ArrayD<f32>),
    Int(ArrayD<i64>),
}

fn load_input(path: &Path) -> Loaded {
    match keras::read_npy(path).unwrap() {
        NpyArray::F32(a) => Loaded::F32(a),
        NpyArray::Int(a) => Loaded::Int(a),
        NpyArray::Bool(_) => panic!("{}: a bool model input", path.display()),
    }
}

fn max_abs(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape(), "output shapes differ");
    a.iter().zip(b).fold(0.0f32, |m, (x, y)| {
        if x.is_nan() && y.is_nan() {
            m
        } else {
            m.max((x - y).abs()).max(if x.is_nan() != y.is_nan() {
                f32::INFINITY
            } else {
                0.0
            })
        }
    })
}

/// Runs one case on one executor.
fn run_case(dir: &Path, exec: Exec) {
    let case = read_json(&dir.join("case.json"));
    let name = case["case"].as_str().unwrap();
    let model_path = dir.join(case["model"].as_str().unwrap());
    let file = keras::load_model_file(&model_path)
        .unwrap_or_else(|e| panic!("{name}: the file does not load: {e}"));
    let mut classes = Vec::new();
    classes_of(&file, &mut classes);
    let pending: Vec<&String> = classes
        .iter()
        .filter(|c| PENDING.contains(&c.as_str()))
        .collect();
    let refused = case["family"] == "refused";
    let loaded = Model::load(&model_path, &exec.device());
    if refused || !pending.is_empty() {
        match loaded {
            Err(Error::Unsupported(msg)) => {
                assert!(
                    refused || pending.iter().any(|c| msg.contains(c.as_str())),
                    "{name}: refused, but the message names none of {pending:?}: {msg}"
                );
                return;
            }
            Err(e) => panic!("{name}: expected Error::Unsupported, got {e:?}"),
            Ok(_) if refused => panic!("{name}: a model Keras marks as refused loaded"),
            Ok(_) => {
                panic!("{name}: loads although it uses {pending:?}: take them off zoo.rs's PENDING")
            }
        }
    }
    let mut model = loaded.unwrap_or_else(|e| panic!("{name}: {e}"));
    if exec.precision() != Precision::F32 {
        unreachable!("the zoo runs float32 executors only");
    }
    let opts = exec.options();
    let case_tol = case["tolerance"].as_f64().map(|t| t as f32);
    for (k, call) in case["calls"].as_array().unwrap().iter().enumerate() {
        if call["reset_states_before"] == true {
            model.reset_states().unwrap();
        }
        let inputs: Vec<Loaded> = call["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| load_input(&dir.join(f.as_str().unwrap())))
            .collect();
        let mask = call["mask"]
            .as_str()
            .map(|f| match keras::read_npy(&dir.join(f)).unwrap() {
                NpyArray::Bool(m) => m.into_dimensionality::<Ix2>().unwrap(),
                other => panic!("{name}: mask of shape {:?} is not bool", other.shape()),
            });
        let mut model_inputs: Vec<ModelInput<'_>> = inputs
            .iter()
            .map(|x| match x {
                Loaded::F32(a) => ModelInput::f32(a.view()),
                Loaded::Int(a) => ModelInput::tokens(a.view()),
            })
            .collect();
        if let Some(m) = &mask {
            model_inputs[0] = model_inputs[0].clone().with_mask(m.view());
        }
        let got = model
            .run(&model_inputs, &opts)
            .unwrap_or_else(|e| panic!("{name}: call {k} on {}: {e}", exec.name()));
        let outs = call["outputs"].as_array().unwrap();
        assert_eq!(got.len(), outs.len(), "{name}: number of outputs");
        for (i, (g, f)) in got.iter().zip(outs).enumerate() {
            let want = keras::read_npy_f32(&dir.join(f.as_str().unwrap())).unwrap();
            let err = max_abs(g, &want);
            let tol = exec.tolerance();
            match case_tol {
                None => assert!(
                    err <= tol,
                    "{name}: call {k} output {i} on {}: max |Δ| = {err:e} > {tol:e}",
                    exec.name()
                ),
                Some(t) => {
                    // the float32 twin at our tolerance; Keras's low-precision run at its own
                    let f32ref = call["f32_reference_outputs"][i].as_str().unwrap();
                    let twin = keras::read_npy_f32(&dir.join(f32ref)).unwrap();
                    let e32 = max_abs(g, &twin);
                    assert!(
                        e32 <= tol,
                        "{name}: call {k} output {i} on {}: vs the float32 twin {e32:e} > {tol:e}",
                        exec.name()
                    );
                    assert!(
                        err <= t + tol,
                        "{name}: call {k} output {i} on {}: vs Keras {err:e} > {t:e}",
                        exec.name()
                    );
                }
            }
        }
    }
}

/// The executors the zoo runs on: the CPU and the GPU with each float32 recurrent kernel.
fn execs() -> Vec<Exec> {
    Exec::all()
        .into_iter()
        .filter(|e| e.precision() == Precision::F32)
        .collect()
}

pub fn tests() -> Vec<Trial> {
    let mut v = Vec::new();
    for dir in cases() {
        let case = dir.file_name().unwrap().to_string_lossy().to_string();
        for exec in execs() {
            let d = dir.clone();
            let ignored = exec != Exec::Cpu && !(gpu_runs() && exec.available());
            v.push(
                Trial::test(format!("zoo::{case}[{}]", exec.name()), move || {
                    run_case(&d, exec);
                    Ok(())
                })
                .with_ignored_flag(ignored),
            );
        }
    }
    v
}
