//! The "shape" layer group — Embedding, TimeDistributed, RepeatVector, Flatten, Reshape,
//! Permute, BatchNormalization, LayerNormalization — on every executor:
//! * against real Keras: every case of tests/fixtures/layers/ (made by
//!   scripts/gen_fixtures/gen_layer_cases_shape.py with Keras 3.15.1 and tf_keras 2.21), the
//!   layer built from its Keras config through the class table, outputs within 1e-5 on the
//!   CPU (1e-4 on the GPU), output masks as Keras computed them, Keras's refusals as typed
//!   errors;
//! * on random inputs of odd sizes against the formulas computed here, GPU = CPU (outputs
//!   poisoned first), sizes past the loop budget and the workgroup limit, and the typed
//!   errors.
//!
//! Masks are observed through a probe: an LSTM(1) with zero weights, a positive bias and
//! `zero_output_for_mask`, appended to the layer, outputs > 0 exactly at valid steps.

use std::path::PathBuf;

use ndarray::{Array1, Array2, ArrayD, Axis, IxDyn};
use rand::Rng;
use serde_json::Value as Json;
use wgpu_lstm::keras::{LayerSpec, ModelFile, WeightArray, plan_from_model_file, read_npy_f32};
use wgpu_lstm::layers::layer_normalization::LnOrder;
use wgpu_lstm::layers::{
    ActivationLayer, BatchNormalization, Dense, Embedding, Flatten, Layer, LayerNormalization,
    Masking, Permute, Recurrent, RepeatVector, Reshape, TimeDistributed, TimeReverse,
};
use wgpu_lstm::model::{Model, ModelInput};
use wgpu_lstm::plan::Plan;
use wgpu_lstm::tensor::{Dtype, TensorInfo};
use wgpu_lstm::{Activation, Error, KerasFlavour, LstmConfig, LstmWeights, Precision};

use crate::common::{Exec, random, random_mask, rng};
use crate::layers::check_plan;

const K3: KerasFlavour = KerasFlavour::Keras3;
const K2: KerasFlavour = KerasFlavour::Keras2;

// ------------------------------------------------------------------ helpers

/// An input of a test plan: float data or token ids, and a mask.
#[derive(Clone)]
struct Input {
    data: ArrayD<f32>,
    tokens: Option<ArrayD<i64>>,
    mask: Option<Array2<bool>>,
}

impl Input {
    fn f32(data: ArrayD<f32>) -> Self {
        Input {
            data,
            tokens: None,
            mask: None,
        }
    }

    fn tokens(t: ArrayD<i64>) -> Self {
        Input {
            data: t.mapv(|v| v as f32),
            tokens: Some(t),
            mask: None,
        }
    }

    fn masked(mut self, m: Option<Array2<bool>>) -> Self {
        self.mask = m;
        self
    }

    fn model_input(&self) -> ModelInput<'_> {
        let i = match &self.tokens {
            Some(t) => ModelInput::tokens(t.view()),
            None => ModelInput::f32(self.data.view()),
        };
        match &self.mask {
            Some(m) => i.with_mask(m.view()),
            None => i,
        }
    }

    /// The input's tensor info: all axes known, the ids as Int.
    fn info(&self) -> TensorInfo {
        TensorInfo {
            shape: self.data.shape()[1..].iter().map(|&d| Some(d)).collect(),
            dtype: if self.tokens.is_some() {
                Dtype::Int
            } else {
                Dtype::F32
            },
            masked: self.mask.is_some(),
        }
    }
}

/// A plan of `layers` (each on the previous output) on one input.
fn chain(flavour: KerasFlavour, input: TensorInfo, layers: Vec<Layer>) -> wgpu_lstm::Result<Plan> {
    let mut b = Plan::builder("shape", flavour);
    let mut cur = b.input("x", input);
    for (i, l) in layers.into_iter().enumerate() {
        cur = b.node(&format!("layer{i}"), l, &[cur])?[0];
    }
    b.finish(vec![cur])
}

/// Runs a plan on an executor (GPU checked against the CPU, outputs poisoned first).
fn run(ex: &Exec, plan: &Plan, x: &Input) -> ArrayD<f32> {
    check_plan(ex, plan, &[x.model_input()]).remove(0)
}

/// Runs a plan on an executor, returning its error.
fn run_err(ex: &Exec, plan: &Plan, x: &Input) -> Error {
    let mut m = Model::from_plan_with_precision(plan.clone(), &ex.device(), Precision::F32)
        .expect("the plan builds");
    m.run(&[x.model_input()], &ex.options())
        .expect_err("the call must be refused")
}

/// The LSTM(1) mask probe for `d` features: outputs > 0 exactly at valid steps.
fn probe(d: usize, flavour: KerasFlavour) -> Layer {
    let cfg = LstmConfig {
        return_sequences: true,
        zero_output_for_mask: true,
        flavour,
        ..LstmConfig::new(1)
    };
    let w = LstmWeights::new(
        Array2::zeros((d, 4)),
        Array2::zeros((1, 4)),
        Some(Array1::ones(4)),
    )
    .unwrap();
    Layer::Recurrent(Recurrent::lstm(cfg, w).unwrap())
}

/// The mask `layer`'s output carries on `x`, as the probe sees it on `ex` (`None` when the
/// plan says the output has no mask).
fn observed_mask(
    ex: &Exec,
    flavour: KerasFlavour,
    x: &Input,
    layer: &Layer,
) -> Option<Array2<bool>> {
    let plan = chain(
        flavour,
        x.info().with_mask(x.mask.is_some()),
        vec![layer.clone()],
    )
    .unwrap();
    let out = plan.output_info(0).clone();
    if !out.masked {
        return None;
    }
    assert!(out.rank() >= 3, "a masked output has a time axis");
    let mut layers = vec![layer.clone()];
    // rank > 3: flatten each step, keeping the mask (Keras 3 TimeDistributed passes it)
    let d = if out.rank() > 3 {
        layers.push(Layer::TimeDistributed(
            TimeDistributed::new(
                Layer::Flatten(Flatten {
                    channels_first: false,
                }),
                K3,
            )
            .unwrap(),
        ));
        out.shape[1..].iter().map(|d| d.unwrap()).product()
    } else {
        out.last().unwrap()
    };
    layers.push(probe(d, flavour));
    let plan = chain(flavour, x.info(), layers).unwrap();
    let y = run(ex, &plan, x);
    let (b, t) = (y.shape()[0], y.shape()[1]);
    Some(Array2::from_shape_fn((b, t), |(i, s)| y[[i, s, 0]] > 0.0))
}

/// Max |a - b| / max(1, |b|); NaN against a number counts as infinite.
fn rel_err(a: &ArrayD<f32>, b: &ArrayD<f32>) -> f64 {
    assert_eq!(a.shape(), b.shape(), "shapes differ");
    a.iter()
        .zip(b)
        .map(|(&x, &y)| {
            if x == y || (x.is_nan() && y.is_nan()) {
                0.0
            } else if x.is_nan() || y.is_nan() {
                f64::INFINITY
            } else {
                (x as f64 - y as f64).abs() / (y.abs() as f64).max(1.0)
            }
        })
        .fold(0.0, f64::max)
}

/// The feature vector at (b, s) of a (B, T, D) array.
fn at(y: &ArrayD<f32>, b: usize, s: usize) -> Vec<f32> {
    y.slice(ndarray::s![b, s, ..]).iter().copied().collect()
}

fn gpu_only(ex: &Exec) -> bool {
    matches!(ex, Exec::Gpu(..))
}

// ------------------------------------------------------- Keras fixtures

fn fixtures_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layers")
}

/// The case prefixes of this layer group (other groups keep their cases beside these).
const CASE_PREFIXES: &[&str] = &[
    "emb_",
    "bn_",
    "ln_",
    "td_",
    "flatten_",
    "reshape_",
    "permute_",
    "repeat_vector",
];

/// The zoo architectures gen_layer_cases_shape.py dumps (its `ZOO`).
const ZOO_ARCHS: &[&str] = &[
    "text_clf_maskzero",
    "text_clf_nomask",
    "text_clf_bilstm",
    "embedding_int64",
    "tagger_timedistributed",
    "timedistributed_dense_stack",
    "autoencoder_repeatvector",
    "mask_through_timedistributed",
    "reshape_lstm",
    "flatten_dense",
    "permute_lstm",
    "layernorm",
    "layernorm_plain",
    "layernorm_rms",
];

/// Whether a fixture directory belongs to this group.
fn ours(dir: &std::path::Path) -> bool {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
    match name.strip_prefix("zoo__") {
        Some(case) => ZOO_ARCHS.contains(&case.split("__").next().unwrap_or("")),
        None => CASE_PREFIXES.iter().any(|p| name.starts_with(p)),
    }
}

/// One case of tests/fixtures/layers.
struct Case {
    dir: PathBuf,
    meta: Json,
}

impl Case {
    fn all() -> Vec<Case> {
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures_root())
            .expect("tests/fixtures/layers exists")
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("case.json").is_file() && ours(p))
            .collect();
        dirs.sort();
        dirs.into_iter()
            .map(|dir| {
                let meta =
                    serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap())
                        .unwrap();
                Case { dir, meta }
            })
            .collect()
    }

    fn name(&self) -> &str {
        self.meta["case"].as_str().unwrap()
    }

    fn flavour(&self) -> KerasFlavour {
        KerasFlavour::from_keras_version(self.meta["keras_version"].as_str().unwrap()).unwrap()
    }

    fn npy(&self, file: &str) -> ArrayD<f32> {
        read_npy_f32(&self.dir.join(file)).unwrap()
    }

    fn input(&self) -> Input {
        let x = self.npy(self.meta["input"]["file"].as_str().unwrap());
        let dtype = self.meta["input"]["dtype"].as_str().unwrap();
        let input = if dtype.starts_with("int") {
            Input::tokens(x.mapv(|v| v as i64))
        } else {
            Input::f32(x)
        };
        let mask = self.meta["input_mask"].as_str().map(|f| {
            self.npy(f)
                .mapv(|v| v != 0.0)
                .into_dimensionality()
                .unwrap()
        });
        input.masked(mask)
    }

    /// The layer as the class table builds it from the Keras config and weights, inside the
    /// model file the case amounts to (an InputLayer declaring the input, then the layer).
    fn plan(&self) -> wgpu_lstm::Result<Plan> {
        let x = self.input();
        let mut batch_shape = vec![Json::Null];
        batch_shape.extend(x.data.shape()[1..].iter().map(|&d| Json::from(d)));
        let dtype = self.meta["input"]["dtype"].as_str().unwrap();
        let weights = self.meta["weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| {
                let a = self.npy(w["file"].as_str().unwrap());
                WeightArray {
                    name: w["name"].as_str().unwrap().to_string(),
                    shape: a.shape().to_vec(),
                    data: a.iter().copied().collect(),
                }
            })
            .collect();
        let file = ModelFile {
            keras_version: self.meta["keras_version"].as_str().unwrap().to_string(),
            model_name: self.name().to_string(),
            class_name: "Sequential".into(),
            layers: vec![
                LayerSpec {
                    class_name: "InputLayer".into(),
                    name: "input".into(),
                    config: serde_json::json!({"batch_shape": batch_shape, "dtype": dtype}),
                    weights: vec![],
                    ..Default::default()
                },
                LayerSpec {
                    class_name: self.meta["class_name"].as_str().unwrap().to_string(),
                    name: "layer".into(),
                    config: self.meta["config"].clone(),
                    weights,
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        plan_from_model_file(&file)
    }
}

/// What this crate must make of a case Keras refused, or of a Keras result it cannot
/// represent: the error's text must contain the fragment.
fn expected_refusal(case: &Case) -> Option<&'static str> {
    let err = case.meta["error"].as_str();
    let mask_rank = case.meta["output_mask_shape"].as_array().map(|s| s.len());
    match (err, mask_rank) {
        (Some(e), _) if e.contains("InvalidArgumentError") && case.name().starts_with("emb_") => {
            Some("outside the vocabulary")
        }
        (Some(e), _) if e.contains("does not support masking") => Some("does not support masking"),
        (Some(_), _) if case.name().starts_with("reshape_bad") => Some("cannot hold"),
        (Some(e), _) => panic!("{}: no expectation for the Keras error {e}", case.name()),
        (None, Some(r)) if r > 2 => Some("masks over (batch, time)"),
        _ => None,
    }
}

/// Every Keras case: the class table builds the layer from its config, the outputs equal
/// Keras's, the output mask is Keras's (present or absent, and its values), Keras's refusals
/// are typed errors. On the GPU the same against the CPU and Keras.
fn keras_fixtures(ex: &Exec) {
    let cases = Case::all();
    assert!(cases.len() >= 100, "only {} layer cases", cases.len());
    for case in &cases {
        let name = case.name();
        let x = case.input();
        if let Some(fragment) = expected_refusal(case) {
            let err = match case.plan() {
                Err(e) => e,
                Ok(plan) => run_err(ex, &plan, &x),
            };
            let text = err.to_string();
            assert!(
                text.contains(fragment),
                "{name}: refused with `{text}`, expected `{fragment}`"
            );
            if fragment == "outside the vocabulary" {
                assert!(
                    matches!(&err, Error::Layer { source, .. } if matches!(**source, Error::TokenOutOfRange { .. })),
                    "{name}: {err:?}"
                );
            }
            continue;
        }
        let plan = case.plan().unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            plan.param_count() as u64,
            case.meta["param_count"].as_u64().unwrap(),
            "{name}: param count"
        );
        let want = case.npy(case.meta["output"].as_str().unwrap());
        let got = run(ex, &plan, &x);
        let e = rel_err(&got, &want);
        assert!(
            e <= ex.tolerance() as f64,
            "{name} on {}: differs from Keras by {e:e}",
            ex.name()
        );
        // the mask
        let layer = plan.nodes[0].layer.clone();
        let keras_mask = case.meta["output_mask"]
            .as_str()
            .map(|f| case.npy(f).mapv(|v| v != 0.0));
        let ours = observed_mask(ex, case.flavour(), &x, &layer);
        match (&keras_mask, &ours) {
            (None, None) => {}
            (Some(k), Some(o)) => assert_eq!(
                &k.view().into_dimensionality().unwrap(),
                o,
                "{name}: output mask"
            ),
            _ => panic!("{name}: Keras's output mask {keras_mask:?}, ours {ours:?}"),
        }
    }
}

/// The zoo models that use these layers (tests/fixtures/layers/zoo__*/model.json: the layers
/// of a tests/fixtures/zoo model with their Keras configs and weights), built through the
/// class table as a Sequential chain and run on the zoo's inputs: the outputs equal Keras's
/// (float32 cases 1e-5 on the CPU, 1e-4 on the GPU).
fn zoo_models(ex: &Exec) {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(fixtures_root())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("model.json").is_file() && ours(p))
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 25, "only {} zoo models", dirs.len());
    for dir in dirs {
        let meta: Json =
            serde_json::from_str(&std::fs::read_to_string(dir.join("model.json")).unwrap())
                .unwrap();
        let name = meta["case"].as_str().unwrap();
        let npy = |f: &str| read_npy_f32(&dir.join(f)).unwrap();
        let input = &meta["inputs"][0];
        let dtype = input["dtype"].as_str().unwrap();
        let mut layers = vec![LayerSpec {
            class_name: "InputLayer".into(),
            name: input["name"].as_str().unwrap().into(),
            config: serde_json::json!({"batch_shape": input["shape"], "dtype": dtype}),
            weights: vec![],
            ..Default::default()
        }];
        for l in meta["layers"].as_array().unwrap() {
            layers.push(LayerSpec {
                class_name: l["class_name"].as_str().unwrap().into(),
                name: l["name"].as_str().unwrap().into(),
                config: l["config"].clone(),
                weights: l["weights"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|w| {
                        let a = npy(w["file"].as_str().unwrap());
                        WeightArray {
                            name: w["name"].as_str().unwrap().into(),
                            shape: a.shape().to_vec(),
                            data: a.iter().copied().collect(),
                        }
                    })
                    .collect(),
                ..Default::default()
            });
        }
        let file = ModelFile {
            keras_version: meta["keras_version"].as_str().unwrap().into(),
            model_name: name.into(),
            class_name: "Sequential".into(),
            layers,
            ..Default::default()
        };
        let plan = plan_from_model_file(&file).unwrap_or_else(|e| panic!("{name}: {e}"));
        for call in meta["calls"].as_array().unwrap() {
            let x = npy(call["inputs"][0].as_str().unwrap());
            let x = if dtype.starts_with("int") {
                Input::tokens(x.mapv(|v| v as i64))
            } else {
                Input::f32(x)
            };
            let x = x.masked(
                call["mask"]
                    .as_str()
                    .map(|f| npy(f).mapv(|v| v != 0.0).into_dimensionality().unwrap()),
            );
            let got = run(ex, &plan, &x);
            let want = npy(call["outputs"][0].as_str().unwrap());
            let e = rel_err(&got, &want);
            assert!(
                e <= ex.tolerance() as f64,
                "{name} on {}: differs from Keras by {e:e}",
                ex.name()
            );
        }
    }
}

// ------------------------------------------------------- random inputs

fn tokens_of(r: &mut impl Rng, shape: &[usize], lo: i64, hi: i64) -> ArrayD<i64> {
    let mut t = ArrayD::from_shape_simple_fn(IxDyn(shape), || r.random_range(lo..hi));
    for v in t.iter_mut().step_by(4) {
        *v = 0;
    }
    t
}

/// Embedding on odd sizes: rows of the table, mask_zero's mask, Keras 3's negative ids, float
/// ids, and out-of-range ids refused with their position on every executor.
fn embedding_random(ex: &Exec) {
    let mut r = rng(71);
    let (v, d) = (13, 7);
    let table = random(&mut r, ndarray::Ix2(v, d), 1.0);
    for (flavour, mask_zero, lo) in [(K3, true, -13), (K3, false, 0), (K2, true, 0)] {
        let e = Embedding::new(table.clone(), mask_zero, flavour).unwrap();
        let t = tokens_of(&mut r, &[3, 5], lo, 13);
        let x = Input::tokens(t.clone());
        let plan = chain(flavour, x.info(), vec![Layer::Embedding(e.clone())]).unwrap();
        let y = run(ex, &plan, &x);
        for ((b, s), &id) in t
            .clone()
            .into_dimensionality::<ndarray::Ix2>()
            .unwrap()
            .indexed_iter()
        {
            let row = if id < 0 { id + v as i64 } else { id } as usize;
            assert_eq!(at(&y, b, s), table.row(row).to_vec(), "id {id}");
        }
        let mask = observed_mask(ex, flavour, &x, &Layer::Embedding(e));
        assert_eq!(
            mask,
            mask_zero.then(|| t.mapv(|id| id != 0).into_dimensionality().unwrap())
        );
    }
    // float ids: truncated, the mask on the floats as given; rank-3 ids; rank-1 ids
    let e = Embedding::new(table.clone(), true, K3).unwrap();
    let f =
        ndarray::array![[0.7f32, 2.9, 0.0, -0.3, 12.99], [-0.0, 5.5, 1.0, -1.5, 3.0]].into_dyn();
    let x = Input::f32(f.clone());
    let plan = chain(K3, x.info(), vec![Layer::Embedding(e.clone())]).unwrap();
    let y = run(ex, &plan, &x);
    for ((b, s), &val) in f
        .clone()
        .into_dimensionality::<ndarray::Ix2>()
        .unwrap()
        .indexed_iter()
    {
        let id = val.trunc() as i64;
        let row = if id < 0 { id + v as i64 } else { id } as usize;
        assert_eq!(at(&y, b, s), table.row(row).to_vec());
    }
    let mask = observed_mask(ex, K3, &x, &Layer::Embedding(e)).unwrap();
    assert_eq!(mask, f.mapv(|v| v != 0.0).into_dimensionality().unwrap());
    for shape in [vec![2, 3, 4], vec![5]] {
        let e = Embedding::new(table.clone(), false, K2).unwrap();
        let t = tokens_of(&mut r, &shape, 0, 13);
        let x = Input::tokens(t.clone());
        let plan = chain(K2, x.info(), vec![Layer::Embedding(e)]).unwrap();
        let y = run(ex, &plan, &x);
        let mut want_shape = shape.clone();
        want_shape.push(d);
        assert_eq!(y.shape(), want_shape.as_slice());
        for (i, &id) in t.iter().enumerate() {
            let got: Vec<f32> = y.as_slice().unwrap()[i * d..(i + 1) * d].to_vec();
            assert_eq!(got, table.row(id as usize).to_vec());
        }
    }
    // refused ids: typed, with the id and its position, before any GPU work
    for (flavour, id, pos) in [(K2, -1i64, [1, 2]), (K3, 13, [0, 4]), (K3, -14, [2, 0])] {
        let e = Embedding::new(table.clone(), true, flavour).unwrap();
        let mut t = tokens_of(&mut r, &[3, 5], 0, 13);
        t[IxDyn(&pos)] = id;
        let x = Input::tokens(t);
        let plan = chain(flavour, x.info(), vec![Layer::Embedding(e)]).unwrap();
        match run_err(ex, &plan, &x) {
            Error::Layer { source, .. } => match *source {
                Error::TokenOutOfRange {
                    token,
                    position,
                    input_dim,
                    ..
                } => {
                    assert_eq!(
                        (token, position, input_dim),
                        (id.to_string(), pos.to_vec(), v)
                    );
                }
                e => panic!("{e:?}"),
            },
            e => panic!("{e:?}"),
        }
    }
    let e = Embedding::new(table.clone(), false, K3).unwrap();
    let x = Input::f32(ndarray::array![[1.0f32, f32::NAN]].into_dyn());
    let plan = chain(K3, x.info(), vec![Layer::Embedding(e)]).unwrap();
    assert!(
        run_err(ex, &plan, &x)
            .to_string()
            .contains("token id NaN at position [0, 1]")
    );
    // mask_zero on (B, T, K) ids cannot be carried: refused when the plan is built
    let e = Embedding::new(table, true, K3).unwrap();
    let info = TensorInfo {
        shape: vec![Some(2), Some(3)],
        dtype: Dtype::Int,
        masked: false,
    };
    assert!(matches!(
        chain(K3, info, vec![Layer::Embedding(e)]),
        Err(Error::Layer { .. })
    ));
}

fn dense(r: &mut rand::rngs::StdRng, d: usize, units: usize, act: Activation) -> Dense {
    Dense::new(
        random(r, ndarray::Ix2(d, units), 1.0),
        Some(random(r, ndarray::Ix1(units), 1.0)),
        act.into(),
    )
    .unwrap()
}

/// TimeDistributed over odd sizes: equals the inner layer on every step (the inner layer's
/// own plan on (B·T, ...)), masks per Keras version, nested wrappers, tokens inside.
fn time_distributed_random(ex: &Exec) {
    let mut r = rng(72);
    let bn = BatchNormalization::new(
        -1,
        1e-3,
        Some(random(&mut r, ndarray::Ix1(7), 1.0)),
        Some(random(&mut r, ndarray::Ix1(7), 1.0)),
        random(&mut r, ndarray::Ix1(7), 1.0),
        random(&mut r, ndarray::Ix1(7), 0.5).mapv(|v| v + 1.0),
    )
    .unwrap();
    let ln = LayerNormalization::new(
        vec![-1],
        1e-3,
        Some(random(&mut r, ndarray::IxDyn(&[7]), 1.0)),
        None,
        LnOrder::Affine,
    )
    .unwrap();
    let inners: Vec<(Layer, Vec<usize>)> = vec![
        (
            Layer::Dense(dense(&mut r, 7, 5, Activation::Tanh)),
            vec![3, 5, 7],
        ),
        (
            Layer::Dense(dense(&mut r, 7, 3, Activation::Relu)),
            vec![2, 3, 4, 7],
        ),
        (Layer::BatchNormalization(bn), vec![3, 5, 7]),
        (Layer::LayerNormalization(ln), vec![3, 5, 7]),
        (
            Layer::Activation(ActivationLayer {
                activation: wgpu_lstm::layers::activation_layer::LayerActivation::Softmax,
            }),
            vec![3, 5, 7],
        ),
        (
            Layer::Flatten(Flatten {
                channels_first: true,
            }),
            vec![2, 3, 5, 7],
        ),
        (
            Layer::Reshape(Reshape::new(vec![-1, 5]).unwrap()),
            vec![2, 3, 5, 7],
        ),
        (
            Layer::Permute(Permute::new(vec![2, 1]).unwrap()),
            vec![2, 3, 5, 7],
        ),
        (Layer::RepeatVector(RepeatVector { n: 3 }), vec![3, 5, 7]),
        (
            Layer::TimeDistributed(
                TimeDistributed::new(Layer::Dense(dense(&mut r, 7, 2, Activation::Linear)), K3)
                    .unwrap(),
            ),
            vec![2, 3, 5, 7],
        ),
    ];
    for (inner, shape) in inners {
        for flavour in [K3, K2] {
            let x = Input::f32(random(&mut r, IxDyn(&shape), 2.0));
            let td = Layer::TimeDistributed(TimeDistributed::new(inner.clone(), flavour).unwrap());
            let plan = chain(flavour, x.info(), vec![td.clone()]).unwrap();
            let y = run(ex, &plan, &x);
            // the inner layer on (B·T, ...) by itself, on the CPU
            let mut flat = vec![shape[0] * shape[1]];
            flat.extend_from_slice(&shape[2..]);
            let xf = Input::f32(x.data.clone().into_shape_with_order(IxDyn(&flat)).unwrap());
            let inner_plan = chain(flavour, xf.info(), vec![inner.clone()]).unwrap();
            let yf = run(&Exec::Cpu, &inner_plan, &xf);
            let mut back = vec![shape[0], shape[1]];
            back.extend_from_slice(&yf.shape()[1..]);
            let e = rel_err(&y, &yf.into_shape_with_order(IxDyn(&back)).unwrap());
            assert!(
                e <= ex.tolerance() as f64,
                "TimeDistributed({}): {e:e}",
                inner.class_name()
            );
            // masks: Keras 3 passes the input's; tf_keras passes it for mask-supporting inner
            // layers and refuses a masked input for the others
            let m = random_mask(&mut r, shape[0], shape[1]);
            let xm = x.clone().masked(Some(m.clone()));
            let passes = matches!(
                inner,
                Layer::Dense(_)
                    | Layer::BatchNormalization(_)
                    | Layer::LayerNormalization(_)
                    | Layer::Activation(_)
            );
            if flavour == K3 || passes {
                assert_eq!(
                    observed_mask(ex, flavour, &xm, &td),
                    Some(m),
                    "{}",
                    inner.class_name()
                );
            } else {
                let e = chain(flavour, xm.info().with_mask(true), vec![td]).unwrap_err();
                assert!(e.to_string().contains("does not support masking"), "{e}");
            }
        }
    }
    // Masking inside: values zeroed; tf_keras's mask is Masking's, Keras 3 keeps the input's
    let mut data = random(&mut r, IxDyn(&[3, 5, 4]), 1.0);
    data.slice_mut(ndarray::s![0, 1, ..]).fill(0.0);
    data.slice_mut(ndarray::s![1, 3.., ..]).fill(0.0);
    let own: Array2<bool> =
        Array2::from_shape_fn((3, 5), |(b, t)| !((b == 0 && t == 1) || (b == 1 && t >= 3)));
    let m = random_mask(&mut r, 3, 5);
    for (flavour, input_mask, want) in [
        (K2, None, Some(own.clone())),
        (K2, Some(m.clone()), Some(own.clone())),
        (K3, None, None),
        (K3, Some(m.clone()), Some(m.clone())),
    ] {
        let x = Input::f32(data.clone()).masked(input_mask);
        let td = Layer::TimeDistributed(
            TimeDistributed::new(Layer::Masking(Masking { mask_value: 0.0 }), flavour).unwrap(),
        );
        let plan = chain(
            flavour,
            x.info().with_mask(x.mask.is_some()),
            vec![td.clone()],
        )
        .unwrap();
        assert_eq!(run(ex, &plan, &x), data);
        assert_eq!(observed_mask(ex, flavour, &x, &td), want);
    }
    // tokens inside: TimeDistributed(Embedding) on (B, T, K) ids
    let table = random(&mut r, ndarray::Ix2(11, 3), 1.0);
    let t = tokens_of(&mut r, &[2, 3, 5], 0, 11);
    let x = Input::tokens(t.clone());
    for flavour in [K3, K2] {
        let td = TimeDistributed::new(
            Layer::Embedding(Embedding::new(table.clone(), false, flavour).unwrap()),
            flavour,
        )
        .unwrap();
        let plan = chain(flavour, x.info(), vec![Layer::TimeDistributed(td)]).unwrap();
        let y = run(ex, &plan, &x);
        for (i, &id) in t.iter().enumerate() {
            assert_eq!(
                y.as_slice().unwrap()[i * 3..i * 3 + 3],
                table.row(id as usize).to_vec()[..]
            );
        }
    }
    // an id out of range inside the wrapper: named at its position in the wrapper's input
    let mut bad = t.clone();
    bad[[1, 2, 4]] = 11;
    let x = Input::tokens(bad);
    let td = TimeDistributed::new(
        Layer::Embedding(Embedding::new(table.clone(), true, K3).unwrap()),
        K3,
    )
    .unwrap();
    let plan = chain(K3, x.info(), vec![Layer::TimeDistributed(td)]).unwrap();
    assert!(
        run_err(ex, &plan, &x)
            .to_string()
            .contains("token id 11 at position [1, 2, 4]")
    );
    // tf_keras TimeDistributed(Embedding(mask_zero)) would make a (B, T, K) mask: refused
    let td = TimeDistributed::new(
        Layer::Embedding(Embedding::new(table, true, K2).unwrap()),
        K2,
    )
    .unwrap();
    assert!(chain(K2, x.info(), vec![Layer::TimeDistributed(td)]).is_err());
}

/// Flatten, Reshape, Permute, RepeatVector on odd sizes against ndarray; masks dropped.
fn layout_random(ex: &Exec) {
    let mut r = rng(73);
    let x3 = random(&mut r, IxDyn(&[3, 5, 7]), 1.0);
    let x4 = random(&mut r, IxDyn(&[2, 3, 5, 7]), 1.0);
    let cases: Vec<(Layer, &ArrayD<f32>, ArrayD<f32>)> = vec![
        (
            Layer::Flatten(Flatten {
                channels_first: false,
            }),
            &x3,
            x3.clone().into_shape_with_order(IxDyn(&[3, 35])).unwrap(),
        ),
        (
            Layer::Flatten(Flatten {
                channels_first: true,
            }),
            &x4,
            x4.view()
                .permuted_axes(IxDyn(&[0, 2, 3, 1]))
                .as_standard_layout()
                .into_owned()
                .into_shape_with_order(IxDyn(&[2, 105]))
                .unwrap(),
        ),
        (
            Layer::Reshape(Reshape::new(vec![7, -1]).unwrap()),
            &x3,
            x3.clone().into_shape_with_order(IxDyn(&[3, 7, 5])).unwrap(),
        ),
        (
            Layer::Permute(Permute::new(vec![3, 1, 2]).unwrap()),
            &x4,
            x4.view()
                .permuted_axes(IxDyn(&[0, 3, 1, 2]))
                .as_standard_layout()
                .into_owned(),
        ),
        (
            Layer::Permute(Permute::new(vec![2, 1]).unwrap()),
            &x3,
            x3.view()
                .permuted_axes(IxDyn(&[0, 2, 1]))
                .as_standard_layout()
                .into_owned(),
        ),
    ];
    for (layer, x, want) in cases {
        let input = Input::f32(x.clone());
        for flavour in [K3, K2] {
            let plan = chain(flavour, input.info(), vec![layer.clone()]).unwrap();
            assert_eq!(run(ex, &plan, &input), want, "{}", layer.class_name());
            // the mask is dropped
            let m =
                Input::f32(x.clone()).masked(Some(random_mask(&mut r, x.shape()[0], x.shape()[1])));
            assert_eq!(observed_mask(ex, flavour, &m, &layer), None);
        }
    }
    let v = random(&mut r, IxDyn(&[3, 7]), 1.0);
    let plan = chain(
        K3,
        Input::f32(v.clone()).info(),
        vec![Layer::RepeatVector(RepeatVector { n: 5 })],
    )
    .unwrap();
    let y = run(ex, &plan, &Input::f32(v.clone()));
    for s in 0..5 {
        assert_eq!(y.index_axis(Axis(1), s), v);
    }
    // flatten of (B,) and (B, D); channels_first on rank 2 is a copy
    for (shape, cf) in [(vec![5], false), (vec![3, 4], true)] {
        let x = Input::f32(random(&mut r, IxDyn(&shape), 1.0));
        let plan = chain(
            K3,
            x.info(),
            vec![Layer::Flatten(Flatten { channels_first: cf })],
        )
        .unwrap();
        let y = run(ex, &plan, &x);
        assert_eq!(y.as_slice().unwrap(), x.data.as_slice().unwrap());
        assert_eq!(y.ndim(), 2);
    }
}

/// The time flip of a recurrent chain (`RNN(StackedRNNCells)` with `go_backwards`) on ranks
/// 2 to 4, odd sizes and a single step, against ndarray; the mask is passed on unreversed.
fn time_reverse_random(ex: &Exec) {
    let mut r = rng(75);
    for shape in [
        vec![3, 9],
        vec![3, 5, 7],
        vec![2, 3, 5, 7],
        vec![4, 1, 3],
        vec![1, 11, 1],
    ] {
        let x = random(&mut r, IxDyn(&shape), 1.0);
        let mut want = x.clone();
        want.invert_axis(Axis(1));
        let want = want.as_standard_layout().into_owned();
        for flavour in [K3, K2] {
            let input = Input::f32(x.clone());
            let plan = chain(flavour, input.info(), vec![Layer::TimeReverse(TimeReverse)]).unwrap();
            assert_eq!(run(ex, &plan, &input), want, "{shape:?}");
            if shape.len() == 3 && shape[2] > 1 {
                let mask = random_mask(&mut r, shape[0], shape[1]);
                let m = Input::f32(x.clone()).masked(Some(mask.clone()));
                let layer = Layer::TimeReverse(TimeReverse);
                assert_eq!(observed_mask(ex, flavour, &m, &layer), Some(mask));
            }
        }
    }
    // a (B,) tensor has no time axis
    let e = chain(
        K3,
        TensorInfo::f32(vec![]),
        vec![Layer::TimeReverse(TimeReverse)],
    )
    .unwrap_err();
    assert!(e.to_string().contains("layer0"), "{e}");
}

/// BatchNormalization on odd sizes, every axis and rank, both float orders, against the
/// formula in f64.
fn batch_normalization_random(ex: &Exec) {
    let mut r = rng(74);
    for (shape, axis, fused, scale, center) in [
        (vec![3, 5, 7], -1i64, false, true, true),
        (vec![3, 5, 7], 1, false, true, false),
        (vec![2, 3, 5, 7], 1, true, false, true),
        (vec![2, 3, 5, 7], -1, true, true, true),
        (vec![2, 3, 5, 7], 2, true, false, false),
        (vec![4, 9], -1, false, true, true),
        (vec![2, 3, 2, 3, 5], 4, true, true, true),
    ] {
        let ax = if axis < 0 {
            shape.len() as i64 + axis
        } else {
            axis
        } as usize;
        let c = shape[ax];
        let gamma = scale.then(|| random(&mut r, ndarray::Ix1(c), 1.0));
        let beta = center.then(|| random(&mut r, ndarray::Ix1(c), 1.0));
        let mean = random(&mut r, ndarray::Ix1(c), 1.0);
        let var = random(&mut r, ndarray::Ix1(c), 0.5).mapv(|v| v + 1.0);
        let mut bn = BatchNormalization::new(
            axis,
            1e-3,
            gamma.clone(),
            beta.clone(),
            mean.clone(),
            var.clone(),
        )
        .unwrap();
        bn.fused = fused;
        let x = Input::f32(random(&mut r, IxDyn(&shape), 3.0))
            .masked((shape.len() >= 3).then(|| random_mask(&mut r, shape[0], shape[1])));
        let layer = Layer::BatchNormalization(bn);
        let plan = chain(
            K3,
            x.info().with_mask(x.mask.is_some()),
            vec![layer.clone()],
        )
        .unwrap();
        let y = run(ex, &plan, &x);
        let want = ArrayD::from_shape_fn(IxDyn(&shape), |i| {
            let ch = i[ax];
            let inv = 1.0 / (var[ch] as f64 + 1e-3f32 as f64).sqrt()
                * gamma.as_ref().map_or(1.0, |g| g[ch] as f64);
            ((x.data[i.clone()] as f64 - mean[ch] as f64) * inv
                + beta.as_ref().map_or(0.0, |b| b[ch] as f64)) as f32
        });
        let e = rel_err(&y, &want);
        assert!(e <= 1e-5, "BatchNormalization {shape:?} axis {axis}: {e:e}");
        // the mask passes through
        if x.mask.is_some() {
            assert_eq!(observed_mask(ex, K3, &x, &layer), x.mask.clone());
        }
    }
    assert_eq!(
        Layer::BatchNormalization(
            BatchNormalization::new(-1, 1e-3, None, None, Array1::zeros(3), Array1::ones(3))
                .unwrap()
        )
        .param_count(),
        6
    );
}

/// LayerNormalization on odd widths — and one row wider than the loop budget and a dispatch
/// dimension — in the three float orders, against the formula in f64.
fn layer_normalization_random(ex: &Exec) {
    let mut r = rng(75);
    for (shape, axes, order, scale, center, offset) in [
        (
            vec![3, 5, 7],
            vec![-1i64],
            LnOrder::Affine,
            true,
            true,
            0.0f32,
        ),
        (vec![3, 5, 7], vec![-1], LnOrder::TfFused, true, false, 0.0),
        (vec![2, 3, 33], vec![-1], LnOrder::Rms, true, false, 0.5),
        (
            vec![2, 3, 5, 7],
            vec![-2, -1],
            LnOrder::Affine,
            true,
            true,
            0.0,
        ),
        (vec![4, 9], vec![1], LnOrder::TfFused, false, false, 100.0),
        // 70 001 features in one row: 18 chunks, more than 65 535 invocations in one row
        (
            vec![1, 1, 70_001],
            vec![-1],
            LnOrder::Affine,
            true,
            true,
            0.0,
        ),
    ] {
        let first = shape.len() - axes.len();
        let norm_shape = shape[first..].to_vec();
        let n: usize = norm_shape.iter().product();
        let gamma =
            (scale || order == LnOrder::Rms).then(|| random(&mut r, IxDyn(&norm_shape), 1.0));
        let beta =
            (center && order != LnOrder::Rms).then(|| random(&mut r, IxDyn(&norm_shape), 1.0));
        let ln = LayerNormalization::new(axes.clone(), 1e-3, gamma.clone(), beta.clone(), order)
            .unwrap();
        let x = Input::f32(random(&mut r, IxDyn(&shape), 2.0).mapv(|v| v + offset))
            .masked((shape.len() >= 3).then(|| random_mask(&mut r, shape[0], shape[1])));
        let layer = Layer::LayerNormalization(ln);
        let plan = chain(
            K3,
            x.info().with_mask(x.mask.is_some()),
            vec![layer.clone()],
        )
        .unwrap();
        let y = run(ex, &plan, &x);
        let flat_g: Vec<f64> = gamma
            .as_ref()
            .map_or(vec![1.0; n], |g| g.iter().map(|&v| v as f64).collect());
        let flat_b: Vec<f64> = beta
            .as_ref()
            .map_or(vec![0.0; n], |b| b.iter().map(|&v| v as f64).collect());
        let mut want = Vec::with_capacity(x.data.len());
        for row in x.data.as_slice().unwrap().chunks(n) {
            let mean = row.iter().map(|&v| v as f64).sum::<f64>() / n as f64;
            let var = row.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n as f64;
            let rs = 1.0 / (var + 1e-3f32 as f64).sqrt();
            for (j, &v) in row.iter().enumerate() {
                want.push(match order {
                    LnOrder::Rms => v as f64 * rs * flat_g[j],
                    _ => (v as f64 - mean) * rs * flat_g[j] + flat_b[j],
                } as f32);
            }
        }
        let want = ArrayD::from_shape_vec(IxDyn(&shape), want).unwrap();
        let e = rel_err(&y, &want);
        assert!(
            e <= ex.tolerance() as f64,
            "LayerNormalization {shape:?} {order:?}: {e:e}"
        );
        if x.mask.is_some() {
            assert_eq!(observed_mask(ex, K3, &x, &layer), x.mask.clone());
        }
    }
}

/// Element-wise kernels past one dispatch dimension: 4 194 307 rows of one feature through
/// BatchNormalization, a layout copy and an Embedding (3-D dispatch grids).
fn many_rows(ex: &Exec) {
    if !gpu_only(ex) {
        return;
    }
    let mut r = rng(76);
    // more than 65 535 workgroups of 64 in one dispatch
    let rows = 65_536 * 64 + 3;
    let x = Input::f32(random(&mut r, IxDyn(&[rows, 1]), 1.0));
    let bn =
        BatchNormalization::new(-1, 1e-3, None, None, Array1::zeros(1), Array1::ones(1)).unwrap();
    let plan = chain(
        K3,
        x.info(),
        vec![
            Layer::BatchNormalization(bn),
            Layer::Permute(Permute::new(vec![1]).unwrap()),
        ],
    )
    .unwrap();
    run(ex, &plan, &x);
    let t = Input::tokens(tokens_of(&mut r, &[rows, 1], 0, 5));
    let e = Embedding::new(random(&mut r, ndarray::Ix2(5, 2), 1.0), false, K2).unwrap();
    let plan = chain(K2, t.info(), vec![Layer::Embedding(e)]).unwrap();
    run(ex, &plan, &t);
}

/// Shape and mask rules: what each layer refuses, and which outputs carry a mask per Keras
/// version.
fn rules() {
    let mut r = rng(77);
    let seq = TensorInfo::f32(vec![None, Some(6)]);
    let masked = seq.clone().with_mask(true);
    let ids = TensorInfo {
        shape: vec![None],
        dtype: Dtype::Int,
        masked: false,
    };
    let table = random(&mut r, ndarray::Ix2(9, 4), 1.0);
    let cfg = LstmConfig::new(2);
    let lstm =
        Recurrent::lstm(cfg.clone(), LstmWeights::keras_default(6, &cfg, 0).unwrap()).unwrap();
    // TimeDistributed refuses recurrent layers and inputs below rank 3
    assert!(matches!(
        TimeDistributed::new(Layer::Recurrent(lstm), K3),
        Err(Error::Unsupported(_))
    ));
    let td =
        TimeDistributed::new(Layer::Dense(dense(&mut r, 6, 2, Activation::Linear)), K3).unwrap();
    assert!(
        chain(
            K3,
            TensorInfo::f32(vec![Some(6)]),
            vec![Layer::TimeDistributed(td.clone())]
        )
        .is_err()
    );
    // which outputs are masked
    let mask_of = |flavour, input: &TensorInfo, layer: Layer| {
        chain(flavour, input.clone(), vec![layer]).map(|p| p.output_info(0).masked)
    };
    let emb = |mz, f| Layer::Embedding(Embedding::new(table.clone(), mz, f).unwrap());
    for f in [K3, K2] {
        let bn = BatchNormalization::new(-1, 1e-3, None, None, Array1::zeros(6), Array1::ones(6))
            .unwrap();
        let ln = LayerNormalization::new(vec![-1], 1e-3, None, None, LnOrder::Affine).unwrap();
        let cases: Vec<(&TensorInfo, Layer, bool)> = vec![
            (&ids, emb(true, f), true),
            (&ids, emb(false, f), false),
            (
                &masked,
                Layer::Flatten(Flatten {
                    channels_first: false,
                }),
                false,
            ),
            (
                &masked,
                Layer::Reshape(Reshape::new(vec![-1]).unwrap()),
                false,
            ),
            (
                &masked,
                Layer::Permute(Permute::new(vec![2, 1]).unwrap()),
                false,
            ),
            (
                &masked,
                Layer::TimeDistributed(TimeDistributed {
                    flavour: f,
                    ..td.clone()
                }),
                true,
            ),
            (&masked, Layer::BatchNormalization(bn), true),
            (&masked, Layer::LayerNormalization(ln), true),
        ];
        for (input, layer, want) in cases {
            let name = layer.class_name();
            assert_eq!(mask_of(f, input, layer).unwrap(), want, "{name} ({f:?})");
        }
    }
    // refusals with typed errors
    let refused: Vec<(TensorInfo, Layer)> = vec![
        (seq.clone(), Layer::RepeatVector(RepeatVector { n: 2 })),
        (seq.clone(), Layer::Permute(Permute::new(vec![1]).unwrap())),
        (
            TensorInfo::f32(vec![Some(4), Some(6)]),
            Layer::Reshape(Reshape::new(vec![5, -1]).unwrap()),
        ),
        (
            seq.clone(),
            Layer::LayerNormalization(
                LayerNormalization::new(vec![1], 1e-3, None, None, LnOrder::Affine).unwrap(),
            ),
        ),
        (
            seq.clone(),
            Layer::BatchNormalization(
                BatchNormalization::new(-1, 1e-3, None, None, Array1::zeros(5), Array1::ones(5))
                    .unwrap(),
            ),
        ),
        (
            seq.clone(),
            Layer::BatchNormalization(
                BatchNormalization::new(1, 1e-3, None, None, Array1::zeros(6), Array1::ones(6))
                    .unwrap(),
            ),
        ),
        (
            seq.clone(),
            Layer::BatchNormalization(
                BatchNormalization::new(0, 1e-3, None, None, Array1::zeros(6), Array1::ones(6))
                    .unwrap(),
            ),
        ),
    ];
    for (input, layer) in refused {
        let name = layer.class_name();
        let e = chain(K3, input, vec![layer]).unwrap_err();
        assert!(matches!(e, Error::Layer { .. }), "{name}: {e:?}");
    }
    assert!(Reshape::new(vec![-1, -1]).is_err());
    assert!(Permute::new(vec![2, 2]).is_err());
    assert!(Flatten::from_keras(&serde_json::json!({"data_format": "nchw"})).is_err());
}

/// A Keras `TimeDistributed` config nested in the class table: the inner config is built
/// through the table, an inner LSTM and an unknown inner class are refused with typed errors.
fn class_table() {
    let file = |inner: Json, weights: Vec<WeightArray>| ModelFile {
        keras_version: "3.15.1".into(),
        model_name: "m".into(),
        class_name: "Sequential".into(),
        layers: vec![
            LayerSpec {
                class_name: "InputLayer".into(),
                name: "in".into(),
                config: serde_json::json!({"batch_shape": [null, 4, 3], "dtype": "float32"}),
                weights: vec![],
                ..Default::default()
            },
            LayerSpec {
                class_name: "TimeDistributed".into(),
                name: "td".into(),
                config: serde_json::json!({"name": "td", "layer": inner}),
                weights,
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    let w = |name: &str, shape: Vec<usize>| WeightArray {
        name: name.into(),
        data: vec![0.5; shape.iter().product()],
        shape,
    };
    let dense = serde_json::json!({"class_name": "Dense", "config": {"name": "dense", "units": 2, "activation": "linear", "use_bias": true}});
    let plan = plan_from_model_file(&file(
        dense,
        vec![w("dense/kernel", vec![3, 2]), w("bias", vec![2])],
    ))
    .unwrap();
    assert_eq!(plan.output_info(0).shape, vec![Some(4), Some(2)]);
    assert_eq!(plan.param_count(), 8);
    let lstm = serde_json::json!({"class_name": "LSTM", "config": {"name": "lstm", "units": 2}});
    let e = plan_from_model_file(&file(
        lstm,
        vec![
            w("kernel", vec![3, 8]),
            w("recurrent_kernel", vec![2, 8]),
            w("bias", vec![8]),
        ],
    ))
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("recurrent layer inside TimeDistributed"),
        "{e}"
    );
    let conv = serde_json::json!({"class_name": "Frobnicate", "config": {"name": "f"}});
    let e = plan_from_model_file(&file(conv, vec![])).unwrap_err();
    assert!(e.to_string().contains("TimeDistributed(Frobnicate)"), "{e}");
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    let execs = [
        Exec::Cpu,
        Exec::Gpu(wgpu_lstm::gpu::KernelChoice::Auto, Precision::F32),
    ];
    let mut t = Vec::new();
    for (name, f) in [
        ("keras_fixtures", keras_fixtures as fn(&Exec)),
        ("zoo_models", zoo_models),
        ("embedding_random", embedding_random),
        ("time_distributed_random", time_distributed_random),
        ("layout_random", layout_random),
        ("time_reverse_random", time_reverse_random),
        ("batch_normalization_random", batch_normalization_random),
        ("layer_normalization_random", layer_normalization_random),
        ("many_rows", many_rows),
    ] {
        t.extend(crate::common::suite_of(
            &format!("layers_shape::{name}"),
            &execs,
            f,
        ));
    }
    t.push(crate::common::test("layers_shape::rules", rules));
    t.push(crate::common::test(
        "layers_shape::class_table",
        class_table,
    ));
    t
}
