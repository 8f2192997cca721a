//! The one table of Keras class names: which layer kind each class becomes, for both Keras
//! versions, and the [`Plan`] of a whole model file.
//!
//! A class not in the table is refused — all of a model's unsupported layers in one error,
//! in model order, each with its name, class and why (a `Lambda` or a custom class is code,
//! not data, and cannot be run from a file).

use ndarray::{Array1, Array2, ArrayD, Ix2};
use serde_json::Value;

use super::{LayerSpec, ModelFile, WeightArray};
use crate::activation::KerasFlavour;
use crate::config::LstmConfig;
use crate::error::{Error, Result};
use crate::layers::activation_layer::LayerActivation;
use crate::layers::bidirectional::MergeMode;
use crate::layers::identity::IDENTITY_CLASSES;
use crate::layers::{
    ActivationLayer, BatchNormalization, Bidirectional, Dense, Embedding, Flatten, Identity, Layer,
    LayerNormalization, Masking, Permute, Recurrent, RepeatVector, Reshape, TimeDistributed,
};
use crate::plan::Plan;
use crate::tensor::{Dtype, TensorInfo};
use crate::weights::LstmWeights;

/// What one class becomes.
enum Kind {
    /// The model's input (no layer).
    Input,
    /// A layer built from its config and weights.
    Layer(fn(&LayerSpec, KerasFlavour) -> Result<Layer>),
}

/// The class table: Keras class name → kind. Both Keras versions use these names.
fn class(name: &str) -> Option<Kind> {
    Some(match name {
        "InputLayer" => Kind::Input,
        "Masking" => Kind::Layer(|s, _| Ok(Layer::Masking(Masking::from_keras(&s.config)?))),
        "LSTM" => Kind::Layer(|s, f| Ok(Layer::Recurrent(lstm(&s.config, s, "", f)?))),
        "Bidirectional" => Kind::Layer(bidirectional),
        "Dense" => Kind::Layer(dense),
        "Activation" => Kind::Layer(|s, f| {
            Ok(Layer::Activation(ActivationLayer {
                activation: LayerActivation::from_config(&s.config, f)?,
            }))
        }),
        "Embedding" => Kind::Layer(|s, f| {
            Ok(Layer::Embedding(Embedding::from_keras(
                &s.config,
                &named(s)?,
                f,
            )?))
        }),
        "TimeDistributed" => Kind::Layer(time_distributed),
        "RepeatVector" => {
            Kind::Layer(|s, _| Ok(Layer::RepeatVector(RepeatVector::from_keras(&s.config)?)))
        }
        "Flatten" => Kind::Layer(|s, _| Ok(Layer::Flatten(Flatten::from_keras(&s.config)?))),
        "Reshape" => Kind::Layer(|s, _| Ok(Layer::Reshape(Reshape::from_keras(&s.config)?))),
        "Permute" => Kind::Layer(|s, _| Ok(Layer::Permute(Permute::from_keras(&s.config)?))),
        "BatchNormalization" => Kind::Layer(|s, f| {
            Ok(Layer::BatchNormalization(BatchNormalization::from_keras(
                &s.config,
                &named(s)?,
                f,
            )?))
        }),
        "LayerNormalization" => Kind::Layer(|s, f| {
            Ok(Layer::LayerNormalization(LayerNormalization::from_keras(
                &s.config,
                &named(s)?,
                f,
            )?))
        }),
        c if IDENTITY_CLASSES.contains(&c) => {
            Kind::Layer(|s, _| Ok(Layer::Identity(Identity::new(&s.class_name))))
        }
        _ => return None,
    })
}

/// Why a class is not in the table, in words.
fn why_unsupported(spec: &LayerSpec) -> String {
    match spec.class_name.as_str() {
        "Lambda" => "a Lambda layer is Python code, not data: a model file does not hold \
                     what it computes"
            .into(),
        c => {
            let module = spec
                .config
                .get("module")
                .and_then(Value::as_str)
                .unwrap_or("");
            if !module.is_empty() && !module.starts_with("keras") {
                format!("{c} is a custom layer (module `{module}`): its code is not in the file")
            } else {
                format!("no {c} layer in this crate")
            }
        }
    }
}

fn weight(spec: &LayerSpec, name: &str) -> Result<ArrayD<f32>> {
    spec.weight(name)
        .ok_or_else(|| {
            Error::model_file(
                format!("layer `{}`", spec.name),
                format!("has no weight `{name}`"),
            )
        })?
        .to_array()
}

fn matrix(a: ArrayD<f32>, what: &str) -> Result<Array2<f32>> {
    let shape = a.shape().to_vec();
    a.into_dimensionality::<Ix2>()
        .map_err(|_| Error::shape(what, "a matrix", &shape))
}

fn vector(a: ArrayD<f32>, what: &str) -> Result<Array1<f32>> {
    let shape = a.shape().to_vec();
    a.into_dimensionality()
        .map_err(|_| Error::shape(what, "a vector", &shape))
}

fn lstm(
    config: &Value,
    spec: &LayerSpec,
    prefix: &str,
    flavour: KerasFlavour,
) -> Result<Recurrent> {
    let cfg = LstmConfig::from_keras_json(config, flavour)?;
    let w = |n: &str| weight(spec, &format!("{prefix}{n}"));
    let k = matrix(w("kernel")?, &format!("{prefix}kernel"))?;
    let r = matrix(w("recurrent_kernel")?, &format!("{prefix}recurrent_kernel"))?;
    let b = if cfg.use_bias {
        Some(vector(w("bias")?, &format!("{prefix}bias"))?)
    } else {
        None
    };
    Recurrent::lstm(cfg, LstmWeights::new(k, r, b)?)
}

fn inner_config(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
        .map(|l| l.get("config").unwrap_or(l))
}

fn bidirectional(spec: &LayerSpec, flavour: KerasFlavour) -> Result<Layer> {
    let cfg = &spec.config;
    let merge = MergeMode::from_keras(cfg.get("merge_mode").and_then(Value::as_str))?;
    let fwd = inner_config(cfg.get("layer"))
        .ok_or_else(|| Error::config("layer", "Bidirectional without an inner `layer` config"))?;
    let bwd = match inner_config(cfg.get("backward_layer")) {
        Some(b) => b.clone(),
        None => {
            let mut b = fwd.clone();
            let gb = fwd
                .get("go_backwards")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            b["go_backwards"] = Value::Bool(!gb);
            b
        }
    };
    Ok(Layer::Bidirectional(Bidirectional::new(
        lstm(fwd, spec, "forward/", flavour)?,
        lstm(&bwd, spec, "backward/", flavour)?,
        merge,
    )?))
}

fn dense(spec: &LayerSpec, flavour: KerasFlavour) -> Result<Layer> {
    let act = LayerActivation::from_config(&spec.config, flavour)?;
    let kernel = matrix(weight(spec, "kernel")?, "kernel")?;
    let bias = match spec.weight("bias") {
        Some(_) => Some(vector(weight(spec, "bias")?, "bias")?),
        None => None,
    };
    Ok(Layer::Dense(Dense::new(kernel, bias, act)?))
}

/// A layer's weights by name, as the layers' `from_keras` take them.
fn named(spec: &LayerSpec) -> Result<Vec<(String, ArrayD<f32>)>> {
    spec.weights
        .iter()
        .map(|w| Ok((w.name.clone(), w.to_array()?)))
        .collect()
}

/// `TimeDistributed`: the inner layer (`config.layer`) built through this table with the
/// wrapper's weights (a `<inner name>/` prefix on their names is dropped).
fn time_distributed(spec: &LayerSpec, flavour: KerasFlavour) -> Result<Layer> {
    let inner = spec
        .config
        .get("layer")
        .filter(|v| !v.is_null())
        .ok_or_else(|| Error::config("layer", "TimeDistributed without an inner `layer` config"))?;
    let class_name = inner
        .get("class_name")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::config("layer", "the inner layer has no class_name"))?
        .to_string();
    let config = inner.get("config").unwrap_or(inner).clone();
    let name = config
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or(&spec.name)
        .to_string();
    let prefix = format!("{name}/");
    let inner_spec = LayerSpec {
        class_name: class_name.clone(),
        name,
        config,
        weights: spec
            .weights
            .iter()
            .map(|w| WeightArray {
                name: w.name.strip_prefix(&prefix).unwrap_or(&w.name).to_string(),
                ..w.clone()
            })
            .collect(),
    };
    const RECURRENT: &[&str] = &[
        "LSTM",
        "GRU",
        "SimpleRNN",
        "RNN",
        "Bidirectional",
        "ConvLSTM1D",
        "ConvLSTM2D",
        "ConvLSTM3D",
    ];
    if RECURRENT.contains(&class_name.as_str()) {
        return Err(Error::Unsupported(format!(
            "TimeDistributed({class_name}): a recurrent layer inside TimeDistributed is not \
             supported"
        )));
    }
    let layer = match class(&class_name) {
        Some(Kind::Layer(build)) => {
            build(&inner_spec, flavour).map_err(|e| e.in_layer(&inner_spec.name, &class_name))?
        }
        _ => {
            return Err(Error::Unsupported(format!(
                "TimeDistributed({class_name}): {}",
                why_unsupported(&inner_spec)
            )));
        }
    };
    Ok(Layer::TimeDistributed(TimeDistributed::new(
        layer, flavour,
    )?))
}

/// A shape list from a config (`[null, 6, 3]`): the batch entry and the rest.
fn shape_of(v: Option<&Value>) -> Option<(Option<usize>, Vec<Option<usize>>)> {
    let arr = v?.as_array()?;
    let dim = |x: &Value| x.as_u64().and_then(|d| usize::try_from(d).ok());
    let (first, rest) = arr.split_first()?;
    Some((dim(first), rest.iter().map(dim).collect()))
}

/// The input an `InputLayer` (or a first layer's `batch_input_shape`) declares.
fn declared_input(cfg: &Value) -> Option<(Option<usize>, TensorInfo)> {
    let (batch, shape) = shape_of(
        cfg.get("batch_shape")
            .or_else(|| cfg.get("batch_input_shape")),
    )?;
    let dtype = match cfg.get("dtype").and_then(Value::as_str) {
        Some(d) if d.starts_with("int") || d.starts_with("uint") => Dtype::Int,
        _ => Dtype::F32,
    };
    Some((
        batch,
        TensorInfo {
            shape,
            dtype,
            masked: false,
        },
    ))
}

/// The input a layer with weights takes, when nothing declares it: a sequence (B, T, D).
fn implied_input(layer: &Layer) -> Option<TensorInfo> {
    let d = match layer {
        Layer::Recurrent(r) => r.input_dim(),
        Layer::Bidirectional(b) => b.forward.input_dim(),
        Layer::Dense(d) => d.kernel.nrows(),
        Layer::Embedding(_) => {
            return Some(TensorInfo {
                shape: vec![None],
                dtype: Dtype::Int,
                masked: false,
            });
        }
        Layer::TimeDistributed(t) => {
            let mut inner = implied_input(&t.layer)?;
            inner.shape.insert(0, None);
            return Some(inner);
        }
        _ => return None,
    };
    Some(TensorInfo::f32(vec![None, Some(d)]))
}

/// Builds the [`Plan`] of a loaded model file: every layer through the class table, the
/// saving Keras version deciding `hard_sigmoid` and the mask rules. Every unsupported layer
/// is listed in one [`Error::Unsupported`].
///
/// ```
/// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
/// let file = wgpu_lstm::keras::load_keras_bytes(bytes, "sine_forecaster.keras").unwrap();
/// let plan = wgpu_lstm::keras::plan_from_model_file(&file).unwrap();
/// assert_eq!(plan.nodes.len(), 2);
/// ```
pub fn plan_from_model_file(file: &ModelFile) -> Result<Plan> {
    let flavour = KerasFlavour::from_keras_version(&file.keras_version)?;
    let mut input = None;
    let mut layers = Vec::new();
    let mut refused = Vec::new();
    for spec in &file.layers {
        match class(&spec.class_name) {
            Some(Kind::Input) => input = declared_input(&spec.config),
            Some(Kind::Layer(build)) => {
                if input.is_none() && layers.is_empty() {
                    input = declared_input(&spec.config);
                }
                let layer =
                    build(spec, flavour).map_err(|e| e.in_layer(&spec.name, &spec.class_name))?;
                layers.push((spec.name.clone(), layer));
            }
            None => refused.push(format!(
                "`{}` ({}): {}",
                spec.name,
                spec.class_name,
                why_unsupported(spec)
            )),
        }
    }
    if !refused.is_empty() {
        return Err(Error::Unsupported(format!(
            "model `{}` has {} layer(s) this crate cannot run: {}",
            file.model_name,
            refused.len(),
            refused.join("; ")
        )));
    }
    let (batch, info) = match input {
        Some(i) => i,
        None => (
            None,
            layers
                .iter()
                .find_map(|(_, l)| implied_input(l))
                .ok_or_else(|| {
                    Error::Unsupported(format!(
                        "model `{}` declares no input and has no layer with weights",
                        file.model_name
                    ))
                })?,
        ),
    };
    let mut b = Plan::builder(&file.model_name, flavour);
    let stateful = layers.iter().any(|(_, l)| l.ops().stateful());
    b.fixed_batch(if stateful { batch } else { None });
    let mut cur = vec![b.input("input", info)];
    let n = layers.len();
    for (i, (name, layer)) in layers.into_iter().enumerate() {
        if cur.len() > 1 && i < n {
            return Err(Error::Unsupported(format!(
                "a layer returning {} tensors must be the last layer of a Sequential model \
                 (before `{name}`)",
                cur.len()
            )));
        }
        cur = b.node(&name, layer, &cur[..1])?;
    }
    b.finish(cur)
}
