//! The merge layers (`Concatenate`, `Add`, `Subtract`, `Multiply`, `Average`, `Maximum`,
//! `Minimum`) and Keras 3's mask ops (`NotEqual`, `Any`, `LogicalOr`, …), on every executor:
//!
//! * the CPU code reproduces real Keras's outputs **and output masks**, case by case
//!   (`tests/fixtures/layers/merge_*` for both Keras versions, `op_*` for Keras 3; made by
//!   `scripts/gen_fixtures/gen_layer_cases_merge.py`), including the cases Keras refuses;
//! * the GPU equals the CPU on the same cases, with the output mask made visible by an LSTM
//!   reading it, and on random odd-sized inputs against the formulas;
//! * whole zoo models with merges (`merge_*`, `multi_input_concat`, `mask_*`) built by hand
//!   from their files' weights equal Keras's outputs in both versions, and Keras 3's op
//!   nodes, read from the `.keras` config, compute the mask the merge layer computes;
//! * the mask rules per version, the typed refusals, a reduction wider than one loop budget
//!   and calls on a device with a 3-workgroup dispatch limit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayD, IxDyn};
use rand::Rng;
use serde_json::Value as Json;
use wgpu_lstm::keras::{LayerSpec, read_npy_f32};
use wgpu_lstm::layers::activation_layer::LayerActivation;
use wgpu_lstm::layers::mask_ops::{MaskOp, OpArg, OpKind, is_op};
use wgpu_lstm::layers::merge::{Merge, MergeKind};
use wgpu_lstm::layers::{Dense, Layer, Masking, Recurrent};
use wgpu_lstm::model::{Model, ModelInput};
use wgpu_lstm::plan::{Plan, PlanBuilder, TensorId};
use wgpu_lstm::tensor::{Dtype, TensorInfo, Value};
use wgpu_lstm::{Device, Error, KerasFlavour, LstmConfig, LstmWeights, Precision};

use crate::common::{Exec, max_abs, random, random_mask, rng};
use crate::layers::check_plan;

fn layer_fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layers")
}

fn zoo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zoo")
}

/// One per-layer fixture case.
struct Case {
    name: String,
    dir: PathBuf,
    json: Json,
}

impl Case {
    fn flavour(&self) -> KerasFlavour {
        KerasFlavour::from_keras_api(self.json["keras_api"].as_str().unwrap()).unwrap()
    }

    fn npy(&self, file: &str) -> ArrayD<f32> {
        read_npy_f32(&self.dir.join(file)).unwrap()
    }

    fn mask(&self, file: &Json) -> Option<Array2<bool>> {
        file.as_str().map(|f| {
            let m = self.npy(f);
            let (b, t) = (m.shape()[0], m.shape()[1]);
            Array2::from_shape_vec((b, t), m.iter().map(|&v| v != 0.0).collect()).unwrap()
        })
    }

    /// The inputs as values (token inputs with their ids), with their masks.
    fn inputs(&self) -> Vec<Value> {
        self.json["inputs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                let data = self.npy(i["file"].as_str().unwrap());
                let v = if i["dtype"].as_str().unwrap().starts_with("int") {
                    Value::from_tokens(data.mapv(|x| x as i64))
                } else {
                    Value::new(data)
                };
                v.masked(self.mask(&i["mask"]))
            })
            .collect()
    }

    /// The node's tensor operands in call order (indexes into the inputs).
    fn tensor_order(&self) -> Vec<usize> {
        match self.json.get("args").and_then(Json::as_array) {
            None => (0..self.json["inputs"].as_array().unwrap().len()).collect(),
            Some(args) => args
                .iter()
                .flat_map(|a| {
                    if let Some(i) = a.get("tensor") {
                        vec![i.as_u64().unwrap() as usize]
                    } else if let Some(l) = a.get("list") {
                        l.as_array()
                            .unwrap()
                            .iter()
                            .map(|i| i.as_u64().unwrap() as usize)
                            .collect()
                    } else {
                        vec![]
                    }
                })
                .collect(),
        }
    }

    fn layer(&self) -> Layer {
        let class = self.json["class_name"].as_str().unwrap();
        let config = &self.json["config"];
        if self.json["kind"] == "op" {
            assert!(is_op(self.json["module"].as_str()), "{}", self.name);
            let args: Vec<OpArg> = self.json["args"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|a| match a.get("scalar") {
                    Some(v) => vec![OpArg::Scalar(v.as_f64().unwrap())],
                    None => match a.get("list") {
                        Some(l) => vec![OpArg::Tensor; l.as_array().unwrap().len()],
                        None => vec![OpArg::Tensor],
                    },
                })
                .collect();
            Layer::Op(MaskOp::from_keras(class, config, &args).unwrap())
        } else {
            assert!(!is_op(self.json["module"].as_str()));
            Layer::Merge(Merge::from_keras(class, config, self.flavour()).unwrap())
        }
    }
}

fn cases() -> Vec<Case> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(layer_fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.starts_with("merge_") || n.starts_with("op_")
        })
        .collect();
    dirs.sort();
    dirs.into_iter()
        .map(|dir| {
            let json: Json =
                serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap())
                    .unwrap();
            Case {
                name: dir.file_name().unwrap().to_string_lossy().to_string(),
                dir,
                json,
            }
        })
        .collect()
}

/// Runs one layer on the CPU (the layer's public CPU code).
fn run_cpu(layer: &Layer, inputs: &[&Value]) -> wgpu_lstm::Result<Value> {
    match layer {
        Layer::Merge(m) => m.run(inputs),
        Layer::Op(o) => o.run(inputs),
        _ => unreachable!(),
    }
}

fn info_of(v: &Value) -> TensorInfo {
    TensorInfo {
        shape: v.data.shape()[1..].iter().map(|&d| Some(d)).collect(),
        dtype: if v.tokens.is_some() {
            Dtype::Int
        } else {
            Dtype::F32
        },
        masked: v.mask.is_some(),
    }
}

/// Every fixture: the CPU output and output mask equal Keras's (or the call is refused
/// where Keras refused it), and the shape and mask rules (`infer`) say the same.
fn keras_fixtures_cpu() {
    let cases = cases();
    assert!(cases.len() >= 190, "only {} fixture cases", cases.len());
    let mut masked_outputs = 0;
    for case in &cases {
        let layer = case.layer();
        let values = case.inputs();
        let order = case.tensor_order();
        let refs: Vec<&Value> = order.iter().map(|&i| &values[i]).collect();
        let infos: Vec<TensorInfo> = refs.iter().map(|v| info_of(v)).collect();
        let got = run_cpu(&layer, &refs);
        if let Some(err) = case.json["error"].as_str() {
            assert!(
                got.is_err() && layer.infer(&infos, case.flavour()).is_err(),
                "{}: Keras refused ({err}) but this crate ran it",
                case.name
            );
            continue;
        }
        let got = got.unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let out = &case.json["outputs"][0];
        let want = case.npy(out["file"].as_str().unwrap());
        assert_eq!(got.data.shape(), want.shape(), "{}", case.name);
        let scale = want.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let e = max_abs(&got.data, &want);
        assert!(e <= 1e-6 * scale, "{}: output differs by {e}", case.name);
        let want_mask = case.mask(&out["mask"]);
        assert_eq!(got.mask, want_mask, "{}: output mask", case.name);
        masked_outputs += want_mask.is_some() as usize;
        let inferred = layer.infer(&infos, case.flavour()).unwrap();
        assert_eq!(
            inferred[0].masked,
            want_mask.is_some(),
            "{}: infer",
            case.name
        );
        let shape: Vec<Option<usize>> = want.shape()[1..].iter().map(|&d| Some(d)).collect();
        assert_eq!(inferred[0].shape, shape, "{}: inferred shape", case.name);
    }
    assert!(masked_outputs >= 80, "only {masked_outputs} masked outputs");
}

/// A small LSTM that reads a (B, T, D) tensor's mask (returning sequences): added after a
/// masked output so that the GPU's mask words show in an output.
fn mask_reader(d: usize) -> Layer {
    let cfg = LstmConfig {
        return_sequences: true,
        ..LstmConfig::new(3)
    };
    let w = LstmWeights::keras_default(d, &cfg, 7).unwrap();
    Layer::Recurrent(Recurrent::lstm(cfg, w).unwrap())
}

/// Model inputs over values (token ids as tokens, masks attached).
fn model_inputs(values: &[Value]) -> Vec<ModelInput<'_>> {
    values
        .iter()
        .map(|v| {
            let i = match &v.tokens {
                Some(t) => ModelInput::tokens(t.view()),
                None => ModelInput::f32(v.data.view()),
            };
            match &v.mask {
                Some(m) => i.with_mask(m.view()),
                None => i,
            }
        })
        .collect()
}

/// A plan of one node over `values` (one plan input per value), plus a layer that reads the
/// output's mask when it has one (rank 3): an LSTM returning sequences, or — where the
/// output has more steps than the plan's inputs, which the executor's recurrent layers do not
/// follow yet — Keras 3's `Multiply([y, y])`, whose values are zero at masked steps.
fn one_node_plan(name: &str, flavour: KerasFlavour, layer: Layer, values: &[&Value]) -> Plan {
    let mut b = Plan::builder(name, flavour);
    let ids: Vec<TensorId> = values
        .iter()
        .enumerate()
        .map(|(i, v)| b.input(&format!("in{i}"), info_of(v)))
        .collect();
    let out = b.node(name, layer, &ids).unwrap();
    let mut outs = out.clone();
    let o = b.info(out[0]).clone();
    let steps = values
        .iter()
        .filter(|v| v.data.ndim() >= 3)
        .map(|v| v.data.shape()[1])
        .max();
    if o.masked && o.rank() == 3 {
        if o.shape[0] == steps {
            let r = b
                .node("mask_reader", mask_reader(o.last().unwrap()), &out)
                .unwrap();
            outs.extend(r);
        } else if flavour == KerasFlavour::Keras3 {
            let sq = Layer::Merge(Merge::new(MergeKind::Multiply, flavour));
            let r = b.node("mask_reader", sq, &[out[0], out[0]]).unwrap();
            outs.extend(r);
        }
    }
    b.finish(outs).unwrap()
}

/// Every fixture Keras ran, on the executor: equal to the CPU (outputs poisoned first), the
/// output mask included (read by an LSTM), and on the CPU equal to Keras.
fn keras_fixtures_exec(ex: &Exec) {
    for case in cases() {
        if !case.json["error"].is_null() {
            continue;
        }
        let values = case.inputs();
        let order = case.tensor_order();
        // an op's plan inputs are its tensor operands, in call order
        let vals: Vec<Value> = order.iter().map(|&i| values[i].clone()).collect();
        let refs: Vec<&Value> = vals.iter().collect();
        let plan = one_node_plan(&case.name, case.flavour(), case.layer(), &refs);
        let inputs = model_inputs(&vals);
        let got = check_plan(ex, &plan, &inputs);
        let want = case.npy(case.json["outputs"][0]["file"].as_str().unwrap());
        assert!(max_abs(&got[0], &want) <= 1e-6, "{}", case.name);
    }
}

/// Random masks, shapes and input counts, both versions, every merge kind: the executor
/// equals the CPU (masks read by an LSTM), and the CPU equals the plain formulas where the
/// masks do not change the values.
fn random_merges(ex: &Exec) {
    let mut r = rng(1234);
    let kinds = [
        MergeKind::Add,
        MergeKind::Subtract,
        MergeKind::Multiply,
        MergeKind::Average,
        MergeKind::Maximum,
        MergeKind::Minimum,
        MergeKind::Concatenate { axis: -1 },
        MergeKind::Concatenate { axis: 1 },
    ];
    for round in 0..3 {
        for kind in kinds {
            for flavour in [KerasFlavour::Keras3, KerasFlavour::Keras2] {
                let n = if kind == MergeKind::Subtract {
                    2
                } else {
                    r.random_range(1..=4)
                };
                let (b, t, d) = (
                    r.random_range(1..6) | 1,
                    r.random_range(1..8) | 1,
                    r.random_range(1..10) | 1,
                );
                let mut vals = Vec::new();
                for i in 0..n {
                    // feature broadcasting (d or 1) for the element-wise kinds, other
                    // sizes on the concatenation axis
                    let shape = match kind {
                        MergeKind::Concatenate { axis: 1 } => vec![b, t + i, d],
                        MergeKind::Concatenate { .. } => vec![b, t, d + 2 * i],
                        _ if r.random_bool(0.3) => vec![b, t, 1],
                        _ => vec![b, t, d],
                    };
                    let x = random(&mut r, IxDyn(&shape), 2.0);
                    let masked = r.random_bool(0.6)
                        // tf-keras cannot concatenate along time with an unmasked input
                        || (flavour == KerasFlavour::Keras2
                            && kind == MergeKind::Concatenate { axis: 1 }
                            && round < 2);
                    let m = masked.then(|| random_mask(&mut r, b, shape[1]));
                    vals.push(Value::new(x).masked(m));
                }
                let refs: Vec<&Value> = vals.iter().collect();
                let merge = Merge::new(kind, flavour);
                let cpu = match merge.run(&refs) {
                    Ok(v) => v,
                    Err(e) => {
                        // only tf-keras's time concatenation with an unmasked input
                        assert!(
                            matches!(e, Error::Unsupported(_)),
                            "{kind:?} {flavour:?}: {e}"
                        );
                        continue;
                    }
                };
                let name = format!("{}_{round}", kind.class_name().to_lowercase());
                let plan = one_node_plan(&name, flavour, Layer::Merge(merge), &refs);
                let got = check_plan(ex, &plan, &model_inputs(&vals));
                assert!(max_abs(&got[0], &cpu.data) == 0.0);
                // the plain formulas, where no mask changes a value
                let values_plain = flavour == KerasFlavour::Keras2
                    || !matches!(
                        kind,
                        MergeKind::Multiply | MergeKind::Maximum | MergeKind::Minimum
                    )
                    || vals.iter().all(|v| v.mask.is_none());
                if values_plain && kind.is_elementwise() {
                    let shape = cpu.data.shape().to_vec();
                    let bc: Vec<ArrayD<f32>> = vals
                        .iter()
                        .map(|v| v.data.broadcast(IxDyn(&shape)).unwrap().to_owned())
                        .collect();
                    let mut want = bc[0].clone();
                    for x in &bc[1..] {
                        ndarray::Zip::from(&mut want).and(x).for_each(|a, &x| {
                            *a = match kind {
                                MergeKind::Add | MergeKind::Average => *a + x,
                                MergeKind::Subtract => *a - x,
                                MergeKind::Multiply => *a * x,
                                MergeKind::Maximum => a.max(x),
                                _ => a.min(x),
                            }
                        });
                    }
                    if kind == MergeKind::Average {
                        want.mapv_inplace(|v| v / n as f32);
                    }
                    assert!(max_abs(&cpu.data, &want) <= 1e-6, "{kind:?} {flavour:?}");
                }
            }
        }
    }
}

/// Random ops on odd shapes: the executor equals the CPU, the CPU equals numpy's rules
/// written out here.
fn random_ops(ex: &Exec) {
    let mut r = rng(99);
    for _ in 0..2 {
        let (b, t, d) = (
            r.random_range(1..5) | 1,
            r.random_range(1..9) | 1,
            r.random_range(1..8) | 1,
        );
        let mut x = random(&mut r, IxDyn(&[b, t, d]), 1.0);
        x.mapv_inplace(|v| if v.abs() < 0.4 { 0.0 } else { v });
        let y = random(&mut r, IxDyn(&[b, t, 1]), 1.0).mapv(|v| (v > 0.0) as u8 as f32);
        let xv = Value::new(x.clone());
        let yv = Value::new(y.clone());
        let ops: Vec<(MaskOp, Vec<&Value>, ArrayD<f32>)> = vec![
            (
                MaskOp::from_keras(
                    "NotEqual",
                    &Json::Null,
                    &[OpArg::Tensor, OpArg::Scalar(0.0)],
                )
                .unwrap(),
                vec![&xv],
                x.mapv(|v| (v != 0.0) as u8 as f32),
            ),
            (
                MaskOp::new(OpKind::LogicalOr),
                vec![&yv, &xv],
                ndarray::Zip::from(&x)
                    .and(&y.broadcast(x.raw_dim()).unwrap())
                    .map_collect(|&a, &b| (a != 0.0 || b != 0.0) as u8 as f32),
            ),
            (
                MaskOp::new(OpKind::Any {
                    axes: Some(vec![-1]),
                    keepdims: false,
                }),
                vec![&xv],
                x.map_axis(ndarray::Axis(2), |l| {
                    l.iter().any(|&v| v != 0.0) as u8 as f32
                }),
            ),
            (
                MaskOp::new(OpKind::All {
                    axes: Some(vec![1, 2]),
                    keepdims: true,
                }),
                vec![&xv],
                x.map_axis(ndarray::Axis(2), |l| {
                    l.iter().all(|&v| v != 0.0) as u8 as f32
                })
                .map_axis(ndarray::Axis(1), |l| {
                    l.iter().all(|&v| v != 0.0) as u8 as f32
                })
                .into_shape_with_order(IxDyn(&[b, 1, 1]))
                .unwrap(),
            ),
            (
                MaskOp::new(OpKind::Concatenate { axis: 2 }),
                vec![&xv, &yv, &xv],
                ndarray::concatenate(ndarray::Axis(2), &[x.view(), y.view(), x.view()]).unwrap(),
            ),
            (
                MaskOp::new(OpKind::Cast(wgpu_lstm::layers::mask_ops::CastTo::Int32)),
                vec![&xv],
                x.mapv(|v| (v * 1.0).trunc()),
            ),
        ];
        for (op, ins, want) in ops {
            let got = op.run(&ins).unwrap();
            assert_eq!(got.data, want, "{:?}", op.kind);
            let owned: Vec<Value> = ins.iter().map(|v| (*v).clone()).collect();
            let refs: Vec<&Value> = owned.iter().collect();
            let name = op.kind.class_name();
            let plan = one_node_plan(name, KerasFlavour::Keras3, Layer::Op(op), &refs);
            check_plan(ex, &plan, &model_inputs(&owned));
        }
    }
}

/// The mask rules of both versions, read off `infer`, and the typed refusals.
fn mask_rules_and_refusals() {
    use KerasFlavour::{Keras2, Keras3};
    let t = |d: usize, m: bool| TensorInfo::f32(vec![None, Some(d)]).with_mask(m);
    let masked_out = |kind, flavour, ins: &[TensorInfo]| -> bool {
        Layer::Merge(Merge::new(kind, flavour))
            .infer(ins, flavour)
            .unwrap()[0]
            .masked
    };
    let cat = MergeKind::Concatenate { axis: -1 };
    for kind in [MergeKind::Add, MergeKind::Maximum, MergeKind::Multiply] {
        // Keras 3: no mask unless every input has one; tf-keras: any mask survives
        assert!(!masked_out(kind, Keras3, &[t(3, true), t(3, false)]));
        assert!(masked_out(kind, Keras3, &[t(3, true), t(3, true)]));
        assert!(masked_out(kind, Keras2, &[t(3, true), t(3, false)]));
        assert!(masked_out(kind, Keras2, &[t(3, false), t(3, true)]));
        assert!(!masked_out(kind, Keras2, &[t(3, false), t(3, false)]));
    }
    // Concatenate: a mask with one masked input in both versions (Keras 3's is all valid)
    assert!(masked_out(cat, Keras3, &[t(3, true), t(2, false)]));
    assert!(masked_out(cat, Keras2, &[t(3, false), t(2, true)]));
    assert!(!masked_out(cat, Keras3, &[t(3, false), t(2, false)]));
    let one_masked = [
        Value::new(ArrayD::ones(IxDyn(&[2, 3, 2]))).masked(Some(
            Array2::from_shape_vec((2, 3), vec![true, false, true, false, false, true]).unwrap(),
        )),
        Value::new(ArrayD::ones(IxDyn(&[2, 3, 1]))),
    ];
    let refs: Vec<&Value> = one_masked.iter().collect();
    let k3 = Merge::new(cat, Keras3).run(&refs).unwrap();
    assert!(k3.mask.unwrap().iter().all(|&v| v), "Keras 3: all valid");
    let k2 = Merge::new(cat, Keras2).run(&refs).unwrap();
    assert_eq!(k2.mask, one_masked[0].mask, "tf-keras: a's mask");
    // the output shapes, with broadcasting and an open time axis
    let out = Layer::Merge(Merge::new(MergeKind::Add, Keras3))
        .infer(
            &[
                TensorInfo::f32(vec![Some(4)]),
                TensorInfo::f32(vec![None, Some(1)]),
            ],
            Keras3,
        )
        .unwrap();
    assert_eq!(out[0].shape, vec![None, Some(4)]);

    // typed refusals
    let err = |l: Layer, ins: &[TensorInfo], f: KerasFlavour| l.infer(ins, f).unwrap_err();
    let sub3 = err(
        Layer::Merge(Merge::new(MergeKind::Subtract, Keras3)),
        &[t(3, false), t(3, false), t(3, false)],
        Keras3,
    );
    assert!(sub3.to_string().contains("exactly 2"), "{sub3}");
    let mismatch = err(
        Layer::Merge(Merge::new(MergeKind::Add, Keras3)),
        &[t(3, false), t(4, false)],
        Keras3,
    );
    assert!(matches!(mismatch, Error::Config { .. }), "{mismatch}");
    let cat_bad = err(
        Layer::Merge(Merge::new(MergeKind::Concatenate { axis: 1 }, Keras3)),
        &[t(3, false), t(4, false)],
        Keras3,
    );
    assert!(matches!(cat_bad, Error::Config { .. }), "{cat_bad}");
    let batch_axis = err(
        Layer::Merge(Merge::new(MergeKind::Concatenate { axis: 0 }, Keras3)),
        &[t(3, false), t(3, false)],
        Keras3,
    );
    assert!(matches!(batch_axis, Error::Unsupported(_)), "{batch_axis}");
    let r4 = TensorInfo::f32(vec![None, Some(2), Some(3)]).with_mask(true);
    let k3_r4 = err(
        Layer::Merge(Merge::new(MergeKind::Multiply, Keras3)),
        &[r4.clone(), r4.clone()],
        Keras3,
    );
    assert!(matches!(k3_r4, Error::Unsupported(_)), "{k3_r4}");
    let k2_time = err(
        Layer::Merge(Merge::new(MergeKind::Concatenate { axis: 1 }, Keras2)),
        &[t(3, true), t(3, false)],
        Keras2,
    );
    assert!(matches!(k2_time, Error::Unsupported(_)), "{k2_time}");
    let flavour = err(
        Layer::Merge(Merge::new(MergeKind::Add, Keras2)),
        &[t(3, false), t(3, false)],
        Keras3,
    );
    assert!(flavour.to_string().contains("flavour"), "{flavour}");
    let any_batch = err(
        Layer::Op(MaskOp::new(OpKind::Any {
            axes: Some(vec![0]),
            keepdims: false,
        })),
        &[t(3, false)],
        Keras3,
    );
    assert!(matches!(any_batch, Error::Unsupported(_)), "{any_batch}");
    let any_all = err(
        Layer::Op(MaskOp::new(OpKind::Any {
            axes: None,
            keepdims: false,
        })),
        &[t(3, false)],
        Keras3,
    );
    assert!(matches!(any_all, Error::Unsupported(_)), "{any_all}");
    let squeeze = err(
        Layer::Op(MaskOp::new(OpKind::Squeeze {
            axes: Some(vec![-1]),
        })),
        &[t(3, false)],
        Keras3,
    );
    assert!(matches!(squeeze, Error::Config { .. }), "{squeeze}");
    let ranks = err(
        Layer::Op(MaskOp::new(OpKind::LogicalOr)),
        &[t(3, false), TensorInfo::f32(vec![Some(3)])],
        Keras3,
    );
    assert!(matches!(ranks, Error::Unsupported(_)), "{ranks}");
    let two_numbers = MaskOp::from_keras(
        "Equal",
        &Json::Null,
        &[OpArg::Scalar(1.0), OpArg::Scalar(1.0)],
    )
    .unwrap_err();
    assert!(
        matches!(two_numbers, Error::Unsupported(_)),
        "{two_numbers}"
    );
    // a plan refuses the wrong input count with the layer's name
    let mut b = Plan::builder("m", Keras3);
    let x = b.input("x", t(3, false));
    let e = b
        .node(
            "sub",
            Layer::Merge(Merge::new(MergeKind::Subtract, Keras3)),
            &[x],
        )
        .unwrap_err();
    assert!(e.to_string().starts_with("layer `sub` (Subtract)"), "{e}");
    // bad configs
    assert!(Merge::from_keras("Concatenate", &serde_json::json!({"axis": 1.5}), Keras3).is_err());
    assert!(MaskOp::from_keras("ExpandDims", &serde_json::json!({}), &[]).is_err());
    assert!(MaskOp::from_keras("Any", &serde_json::json!({"axis": "x"}), &[]).is_err());
}

/// Any / All over an axis wider than one loop budget (70 001 values: 35 chunks) and a
/// merge and ops whose calls a 3-workgroup dispatch limit splits into row groups.
fn wide_and_split(ex: &Exec) {
    // a row with its only nonzero value last, one all zeros, one all ones
    let w = 70_001;
    let mut x = ArrayD::<f32>::zeros(IxDyn(&[3, 1, w]));
    x[[0, 0, w - 1]] = 2.0;
    x.slice_mut(ndarray::s![2, .., ..]).fill(1.0);
    let xv = Value::new(x);
    for (kind, want) in [
        (
            OpKind::Any {
                axes: Some(vec![-1]),
                keepdims: false,
            },
            [1.0, 0.0, 1.0],
        ),
        (
            OpKind::All {
                axes: Some(vec![-1]),
                keepdims: false,
            },
            [0.0, 0.0, 1.0],
        ),
    ] {
        let plan = one_node_plan(
            "wide",
            KerasFlavour::Keras3,
            Layer::Op(MaskOp::new(kind)),
            &[&xv],
        );
        let got = check_plan(ex, &plan, &model_inputs(std::slice::from_ref(&xv)));
        assert_eq!(got[0].as_slice().unwrap(), &want);
    }
}

fn small_dispatch_limit() {
    let Some(ctx) = crate::common::small_dispatch_limit_gpu() else {
        return;
    };
    let mut r = rng(5);
    let (b, t, d) = (7, 9, 5);
    for flavour in [KerasFlavour::Keras3, KerasFlavour::Keras2] {
        // Maximum of three masked inputs, then NotEqual → Any on the result
        let vals: Vec<Value> = (0..3)
            .map(|_| {
                Value::new(random(&mut r, IxDyn(&[b, t, d]), 1.0))
                    .masked(Some(random_mask(&mut r, b, t)))
            })
            .collect();
        let mut pb = Plan::builder("split", flavour);
        let ids: Vec<TensorId> = (0..3)
            .map(|i| pb.input(&format!("in{i}"), info_of(&vals[i])))
            .collect();
        let m = pb
            .node(
                "max",
                Layer::Merge(Merge::new(MergeKind::Maximum, flavour)),
                &ids,
            )
            .unwrap();
        let reader = pb.node("reader", mask_reader(d), &m).unwrap();
        let ne = pb
            .node(
                "ne",
                Layer::Op(
                    MaskOp::from_keras(
                        "NotEqual",
                        &Json::Null,
                        &[OpArg::Tensor, OpArg::Scalar(0.0)],
                    )
                    .unwrap(),
                ),
                &m,
            )
            .unwrap();
        let any = pb
            .node(
                "any",
                Layer::Op(MaskOp::new(OpKind::Any {
                    axes: Some(vec![-1]),
                    keepdims: false,
                })),
                &ne,
            )
            .unwrap();
        let plan = pb.finish(vec![m[0], reader[0], any[0]]).unwrap();
        let inputs = model_inputs(&vals);
        let want = Model::from_plan(plan.clone(), &Device::Cpu)
            .unwrap()
            .run(&inputs, &Default::default())
            .unwrap();
        let mut g =
            Model::from_plan_with_precision(plan, &Device::Gpu(ctx.clone()), Precision::F32)
                .unwrap();
        let opts = wgpu_lstm::gpu::CallOptions {
            poison: true,
            ..Default::default()
        };
        for _ in 0..2 {
            let got = g.run(&inputs, &opts).unwrap();
            for (a, w) in got.iter().zip(&want) {
                assert!(max_abs(a, w) <= 1e-5, "{flavour:?}: {}", max_abs(a, w));
            }
        }
        assert!(g.last_report().parts > 1, "the call was split");
    }
}

// ------------------------------------------------------------------ zoo models

/// A layer of a zoo model built from its file's config and weights.
fn zoo_layer(spec: &LayerSpec, flavour: KerasFlavour) -> Layer {
    let w = |n: &str| spec.weight(n).map(|w| w.to_array().unwrap());
    let m2 = |a: ArrayD<f32>| a.into_dimensionality::<ndarray::Ix2>().unwrap();
    let v1 = |a: ArrayD<f32>| a.into_dimensionality::<ndarray::Ix1>().unwrap();
    match spec.class_name.as_str() {
        "LSTM" => {
            let cfg = LstmConfig::from_keras_json(&spec.config, flavour).unwrap();
            let wts = LstmWeights::new(
                m2(w("kernel").unwrap()),
                m2(w("recurrent_kernel").unwrap()),
                w("bias").map(v1),
            )
            .unwrap();
            Layer::Recurrent(Recurrent::lstm(cfg, wts).unwrap())
        }
        "Dense" => Layer::Dense(
            Dense::new(
                m2(w("kernel").unwrap()),
                w("bias").map(v1),
                LayerActivation::from_config(&spec.config, flavour).unwrap(),
            )
            .unwrap(),
        ),
        "Masking" => Layer::Masking(Masking::from_keras(&spec.config).unwrap()),
        c => Layer::Merge(Merge::from_keras(c, &spec.config, flavour).unwrap()),
    }
}

/// The weights of a zoo model's LSTM and Dense layers: the file's weights read through
/// `load_weights_h5_bytes` with a Sequential architecture of just those layers (the model
/// readers do not load Functional graphs with branches yet).
fn zoo_weights(config: &Json, file: &Path) -> wgpu_lstm::keras::ModelFile {
    // each weighted layer after a weightless layer of unknown output size, with its own
    // build_config (the readers check a Sequential's layers as a chain)
    let layers: Vec<Json> = config["config"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|l| matches!(l["class_name"].as_str(), Some("LSTM" | "Dense")))
        .flat_map(|l| {
            let name = l["name"].as_str().unwrap();
            [
                serde_json::json!({
                    "class_name": "Flatten",
                    "config": {"name": format!("{name}_chain_break")},
                }),
                serde_json::json!({
                    "class_name": l["class_name"],
                    "config": l["config"],
                    "name": name,
                    "build_config": l["build_config"],
                }),
            ]
        })
        .collect();
    let arch =
        serde_json::json!({"class_name": "Sequential", "config": {"name": "w", "layers": layers}});
    let bytes = std::fs::read(file).unwrap();
    let (weights, version) = if file.extension().unwrap() == "keras" {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut w = Vec::new();
        std::io::Read::read_to_end(&mut zip.by_name("model.weights.h5").unwrap(), &mut w).unwrap();
        (w, "3.15.1")
    } else {
        (bytes, "2.21.0")
    };
    wgpu_lstm::keras::load_weights_h5_bytes(&weights, &file.display().to_string(), &arch, version)
        .unwrap()
}

/// A Keras tensor reference in a Keras 3 config: the producing node's name.
fn history(v: &Json) -> Option<String> {
    (v.get("class_name")? == "__keras_tensor__").then(|| {
        v["config"]["keras_history"][0]
            .as_str()
            .unwrap()
            .to_string()
    })
}

/// Builds a Keras 3 Functional config into a plan: layers from `file`'s weights (the same
/// model saved in any format: names match), op nodes through `MaskOp::from_keras` when
/// `with_ops` (else skipped). Returns the plan and, per layer that got a `mask=` tensor, the
/// name of that tensor's node.
fn functional_plan(
    config: &Json,
    file: &Path,
    flavour: KerasFlavour,
    with_ops: bool,
) -> (Plan, Vec<TensorId>) {
    let mf = zoo_weights(config, file);
    let cfg = &config["config"];
    let mut b: PlanBuilder = Plan::builder("zoo", flavour);
    let mut t: HashMap<String, TensorId> = HashMap::new();
    let mut mask_args = Vec::new();
    for l in cfg["layers"].as_array().unwrap() {
        let name = l["name"].as_str().unwrap().to_string();
        let class = l["class_name"].as_str().unwrap();
        if class == "InputLayer" {
            let shape = l["config"]["batch_shape"].as_array().unwrap();
            let dtype = if l["config"]["dtype"].as_str().unwrap().starts_with("int") {
                Dtype::Int
            } else {
                Dtype::F32
            };
            let info = TensorInfo {
                shape: shape[1..]
                    .iter()
                    .map(|d| d.as_u64().map(|d| d as usize))
                    .collect(),
                dtype,
                masked: false,
            };
            t.insert(name.clone(), b.input(&name, info));
            continue;
        }
        if is_op(l["module"].as_str()) && !with_ops {
            continue;
        }
        let node = &l["inbound_nodes"][0];
        let mut args = Vec::new();
        let mut ids = Vec::new();
        for a in node["args"].as_array().unwrap() {
            let items = a.as_array().cloned().unwrap_or_else(|| vec![a.clone()]);
            for it in items {
                match history(&it) {
                    Some(h) => {
                        args.push(OpArg::Tensor);
                        ids.push(t[&h]);
                    }
                    None => args.push(OpArg::Scalar(it.as_f64().unwrap())),
                }
            }
        }
        let layer = if is_op(l["module"].as_str()) {
            Layer::Op(MaskOp::from_keras(class, &l["config"], &args).unwrap())
        } else {
            if let Some(h) = node["kwargs"].get("mask").and_then(history)
                && with_ops
            {
                mask_args.push(t[&h]);
            }
            // weightless layers (Masking, the merges) from the config alone
            let spec = mf.layer(&name).cloned().unwrap_or_else(|| LayerSpec {
                class_name: class.to_string(),
                name: name.clone(),
                config: l["config"].clone(),
                weights: Vec::new(),
                ..Default::default()
            });
            zoo_layer(&spec, flavour)
        };
        let out = b.node(&name, layer, &ids).unwrap();
        t.insert(name, out[0]);
    }
    // `output_layers` is [name, 0, 0] for one output, a list of those for several
    let ol = &cfg["output_layers"];
    let names: Vec<&str> = if ol[0].is_string() {
        vec![ol[0].as_str().unwrap()]
    } else {
        ol.as_array()
            .unwrap()
            .iter()
            .map(|o| o[0].as_str().unwrap())
            .collect()
    };
    let outs: Vec<TensorId> = names.iter().map(|n| t[*n]).collect();
    (b.finish(outs).unwrap(), mask_args)
}

const ZOO_CASES: &[&str] = &[
    "merge_add",
    "merge_subtract",
    "merge_multiply",
    "merge_average",
    "merge_maximum",
    "merge_minimum",
    "multi_input_concat",
    "mask_add_one_masked",
    "mask_add_two_masks",
    "mask_concat_one_masked",
    "mask_concat_two_masks",
];

/// Zoo models with merges, both Keras versions: built from the Keras 3 config's graph and
/// each file's weights, the outputs equal Keras's; on the Keras 3 files the op nodes also
/// run, and the mask they compute for the LSTM equals the mask the merge layer gave it
/// (Masking's mask of each input, merged by [`Merge::run`]).
fn zoo_models(ex: &Exec) {
    let mut op_masks_checked = 0;
    for arch in ZOO_CASES {
        let k3 = zoo().join(format!("{arch}__k3_keras"));
        let bytes = std::fs::read(k3.join("model.keras")).unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        let mut s = String::new();
        std::io::Read::read_to_string(&mut zip.by_name("config.json").unwrap(), &mut s).unwrap();
        let config: Json = serde_json::from_str(&s).unwrap();
        for (fmt, flavour, with_ops) in [
            ("k3_keras", KerasFlavour::Keras3, false),
            ("k3_keras", KerasFlavour::Keras3, true),
            ("k2_h5", KerasFlavour::Keras2, false),
        ] {
            let dir = zoo().join(format!("{arch}__{fmt}"));
            let case: Json =
                serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap())
                    .unwrap();
            let model = dir.join(case["model"].as_str().unwrap());
            let (plan, mask_args) = functional_plan(&config, &model, flavour, with_ops);
            let call = &case["calls"][0];
            let xs: Vec<ArrayD<f32>> = call["inputs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| read_npy_f32(&dir.join(f.as_str().unwrap())).unwrap())
                .collect();
            let inputs: Vec<ModelInput<'_>> =
                xs.iter().map(|x| ModelInput::f32(x.view())).collect();
            let mut plan = plan;
            if with_ops && !mask_args.is_empty() {
                // also return the op-computed masks
                let mut outs = plan.outputs.clone();
                outs.extend(&mask_args);
                plan.outputs = outs;
            }
            let got = check_plan(ex, &plan, &inputs);
            let want = read_npy_f32(&dir.join(call["outputs"][0].as_str().unwrap())).unwrap();
            let tol = if *ex == Exec::Cpu { 1e-5 } else { 1e-4 };
            assert!(
                max_abs(&got[0], &want) <= tol,
                "{arch} {fmt}: {}",
                max_abs(&got[0], &want)
            );
            if with_ops && !mask_args.is_empty() {
                // the merge layer's own mask on the Masking-masked inputs
                let merge_name = ["add", "concatenate"]
                    .into_iter()
                    .find(|n| plan.nodes.iter().any(|x| x.name == *n))
                    .unwrap();
                let node = plan.nodes.iter().find(|x| x.name == merge_name).unwrap();
                let Layer::Merge(merge) = &node.layer else {
                    unreachable!()
                };
                // each merge input's mask: any(x != 0) of its model input (Masking), or none
                // (the values do not matter: zeros of the merge inputs' shapes)
                let vals: Vec<Value> = xs
                    .iter()
                    .zip(&node.inputs)
                    .map(|(x, t)| {
                        let info = plan.tensor(*t);
                        let mask = x.map_axis(ndarray::Axis(2), |l| l.iter().any(|&v| v != 0.0));
                        let mask = mask.into_dimensionality::<ndarray::Ix2>().unwrap();
                        let mut shape = vec![x.shape()[0]];
                        shape.extend(info.shape.iter().map(|d| d.unwrap()));
                        Value::new(ArrayD::zeros(IxDyn(&shape))).masked(info.masked.then_some(mask))
                    })
                    .collect();
                let refs: Vec<&Value> = vals.iter().collect();
                let want_mask = merge.run(&refs).unwrap().mask.unwrap();
                let got_mask = &got[1];
                assert_eq!(
                    got_mask.iter().map(|&v| v != 0.0).collect::<Vec<_>>(),
                    want_mask.iter().copied().collect::<Vec<_>>(),
                    "{arch}: the op nodes' mask"
                );
                op_masks_checked += 1;
            }
        }
    }
    // mask_add_two_masks, mask_concat_one_masked, mask_concat_two_masks
    assert_eq!(op_masks_checked, 3);
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    let execs = [
        Exec::Cpu,
        Exec::Gpu(wgpu_lstm::gpu::KernelChoice::Auto, Precision::F32),
    ];
    let mut v = vec![
        crate::common::test("layers_merge::keras_fixtures_cpu", keras_fixtures_cpu),
        crate::common::test(
            "layers_merge::mask_rules_and_refusals",
            mask_rules_and_refusals,
        ),
        crate::common::gpu_test("layers_merge::small_dispatch_limit", small_dispatch_limit),
    ];
    for (name, f) in [
        (
            "layers_merge::keras_fixtures",
            keras_fixtures_exec as fn(&Exec),
        ),
        ("layers_merge::random_merges", random_merges),
        ("layers_merge::random_ops", random_ops),
        ("layers_merge::wide_and_split", wide_and_split),
        ("layers_merge::zoo_models", zoo_models),
    ] {
        v.extend(crate::common::suite_of(name, &execs, f));
    }
    v
}
