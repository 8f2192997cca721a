//! The one table of Keras class names: which layer kind each class becomes (for both Keras
//! versions), the roles of its weights, and the [`Plan`] of a whole model file — Sequential,
//! Functional (several inputs and outputs, `initial_state` and `mask` fed from other
//! tensors) and nested models (a model used as a layer), all flattened into one graph.
//!
//! A class not in the table is refused — all of a model's unsupported layers in one error,
//! in model order, each with its name, class and why (a `Lambda` or a custom class is code,
//! not data, and cannot be run from a file).

use std::collections::HashMap;

use ndarray::{Array1, Array2, ArrayD, Ix2};
use serde_json::Value;

use super::{LayerSpec, ModelFile, TensorRef, WeightArray};
use crate::activation::KerasFlavour;
use crate::config::{CellKind, LstmConfig};
use crate::error::{Error, Result};
use crate::layers::activation_layer::LayerActivation;
use crate::layers::advanced_activation::{ADVANCED_CLASSES, activation_is_prelu};
use crate::layers::bidirectional::MergeMode;
use crate::layers::identity::IDENTITY_CLASSES;
use crate::layers::mask_ops::OP_CLASSES;
use crate::layers::merge::MERGE_CLASSES;
use crate::layers::merge::MergeKind;
use crate::layers::pooling::PoolMode;
use crate::layers::{
    ActivationLayer, AdvancedActivation, BatchNormalization, Bidirectional, Conv1D, Cropping1D,
    Dense, Dot, Embedding, Flatten, GlobalPooling1D, Identity, Layer, LayerNormalization, MaskOp,
    Masking, Merge, Permute, Pooling1D, Recurrent, RepeatVector, Reshape, RmsNormalization,
    TimeDistributed, TimeReverse, ZeroPadding1D,
};
use crate::plan::{Plan, PlanBuilder, TensorId};
use crate::tensor::{Dtype, TensorInfo};
use crate::weights::LstmWeights;

/// What one class becomes.
enum Kind {
    /// The model's input (no layer).
    Input,
    /// A layer built from its config and weights.
    Layer(fn(&LayerSpec, KerasFlavour) -> Result<Layer>),
}

/// The class table: Keras class name (and, for Keras 3's graph operations, module) → kind.
/// Both Keras versions use these names.
fn class(spec_class: &str, module: Option<&str>) -> Option<Kind> {
    if is_op_module(module) {
        return OP_CLASSES
            .contains(&spec_class)
            .then_some(Kind::Layer(mask_op));
    }
    Some(match spec_class {
        "InputLayer" => Kind::Input,
        "Masking" => Kind::Layer(|s, _| Ok(Layer::Masking(Masking::from_keras(&s.config)?))),
        "LSTM" | "GRU" | "SimpleRNN" | "RNN" => Kind::Layer(recurrent_layer),
        "Bidirectional" => Kind::Layer(bidirectional),
        "Dense" => Kind::Layer(dense),
        "Activation" => Kind::Layer(|s, f| {
            // tf_keras's Activation("PReLU") holds the PReLU's alpha: it is that PReLU
            if activation_is_prelu(&s.config) && !s.weights.is_empty() {
                let a = AdvancedActivation::from_keras("PReLU", &s.config, &named(s)?, f)?;
                return Ok(Layer::AdvancedActivation(a));
            }
            Ok(Layer::Activation(ActivationLayer {
                activation: LayerActivation::from_config(&s.config, f)?,
            }))
        }),
        "Conv1D" | "Convolution1D" => Kind::Layer(conv1d),
        "MaxPooling1D" | "MaxPool1D" => Kind::Layer(|s, _| {
            Ok(Layer::Pooling1D(Pooling1D::from_keras(
                PoolMode::Max,
                &s.config,
            )?))
        }),
        "AveragePooling1D" | "AvgPool1D" => Kind::Layer(|s, _| {
            Ok(Layer::Pooling1D(Pooling1D::from_keras(
                PoolMode::Average,
                &s.config,
            )?))
        }),
        "GlobalMaxPooling1D" | "GlobalMaxPool1D" => Kind::Layer(|s, f| {
            let g = GlobalPooling1D::from_keras(PoolMode::Max, &s.config, f)?;
            Ok(Layer::GlobalPooling1D(g))
        }),
        "GlobalAveragePooling1D" | "GlobalAvgPool1D" => Kind::Layer(|s, f| {
            let g = GlobalPooling1D::from_keras(PoolMode::Average, &s.config, f)?;
            Ok(Layer::GlobalPooling1D(g))
        }),
        "ZeroPadding1D" => {
            Kind::Layer(|s, _| Ok(Layer::ZeroPadding1D(ZeroPadding1D::from_keras(&s.config)?)))
        }
        "Cropping1D" => {
            Kind::Layer(|s, _| Ok(Layer::Cropping1D(Cropping1D::from_keras(&s.config)?)))
        }
        // the layers; a Keras 3 op node `Concatenate` (module keras.src.ops.numpy) is routed
        // by the reader to `MaskOp::from_keras` (see `layers::mask_ops::is_op`)
        c if MERGE_CLASSES.contains(&c) => Kind::Layer(|s, f| {
            Ok(Layer::Merge(Merge::from_keras(
                &s.class_name,
                &s.config,
                f,
            )?))
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
        c if ADVANCED_CLASSES.contains(&c) => Kind::Layer(|s, f| {
            Ok(Layer::AdvancedActivation(AdvancedActivation::from_keras(
                &s.class_name,
                &s.config,
                &named(s)?,
                f,
            )?))
        }),
        "Dot" => Kind::Layer(|s, f| Ok(Layer::Dot(Dot::from_keras(&s.config, f)?))),
        "RMSNormalization" => Kind::Layer(|s, f| {
            Ok(Layer::RmsNormalization(RmsNormalization::from_keras(
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

/// Whether a `module` names Keras 3's graph operations (`keras.src.ops.numpy`, ...) rather
/// than a layer.
///
/// ```
/// assert!(wgpu_lstm::keras::is_op_module(Some("keras.src.ops.numpy")));
/// assert!(!wgpu_lstm::keras::is_op_module(Some("keras.layers")));
/// ```
pub fn is_op_module(module: Option<&str>) -> bool {
    module.is_some_and(|m| m.starts_with("keras.src.ops") || m.starts_with("keras.ops"))
}

/// The roles of a class's weights in Keras order (`kernel`, `recurrent_kernel`, `bias`, …;
/// a wrapper's halves prefixed `forward/`, `backward/`), when the class is known.
pub(crate) fn weight_roles(class: &str, config: &Value) -> Option<Vec<String>> {
    let bias = |cfg: &Value| cfg.get("use_bias").and_then(Value::as_bool).unwrap_or(true);
    let rnn = |cfg: &Value, prefix: &str| {
        let mut v = vec![
            format!("{prefix}kernel"),
            format!("{prefix}recurrent_kernel"),
        ];
        if bias(cfg) {
            v.push(format!("{prefix}bias"));
        }
        v
    };
    Some(match class {
        "LSTM" | "GRU" | "SimpleRNN" => rnn(config, ""),
        "RNN" => match cell_of(config)? {
            (c, cfg) if c.ends_with("Cell") && c != "StackedRNNCells" => rnn(cfg, ""),
            ("StackedRNNCells", cfg) => {
                let cells = cfg.get("cells")?.as_array()?;
                let mut v = Vec::new();
                for (i, c) in cells.iter().enumerate() {
                    v.extend(rnn(c.get("config").unwrap_or(c), &format!("cells/{i}/")));
                }
                v
            }
            _ => return None,
        },
        "Bidirectional" => {
            let fwd = config.get("layer").filter(|v| !v.is_null())?;
            let bwd = config
                .get("backward_layer")
                .filter(|v| !v.is_null())
                .unwrap_or(fwd);
            let half = |l: &Value, prefix: &str| -> Option<Vec<String>> {
                let class = l.get("class_name")?.as_str()?;
                let cfg = l.get("config").unwrap_or(l);
                Some(
                    weight_roles(class, cfg)?
                        .into_iter()
                        .map(|r| format!("{prefix}{r}"))
                        .collect(),
                )
            };
            let mut v = half(fwd, "forward/")?;
            v.extend(half(bwd, "backward/")?);
            v
        }
        "Dense" | "Conv1D" | "Convolution1D" => {
            let mut v = vec!["kernel".to_string()];
            if bias(config) {
                v.push("bias".into());
            }
            if activation_is_prelu(config) {
                // a PReLU activation's own weights (the builders refuse it by name)
                v.push("alpha".into());
            }
            v
        }
        "Activation" if activation_is_prelu(config) => vec!["alpha".into()],
        "Embedding" => vec!["embeddings".into()],
        "PReLU" => vec!["alpha".into()],
        "RMSNormalization" => vec!["scale".into()],
        "BatchNormalization" => {
            let mut v = Vec::new();
            if flag(config, "scale") {
                v.push("gamma".to_string());
            }
            if flag(config, "center") {
                v.push("beta".into());
            }
            v.extend(["moving_mean".into(), "moving_variance".into()]);
            if config.get("renorm").and_then(Value::as_bool) == Some(true) {
                // counted by Keras, unused at inference
                v.extend([
                    "renorm_mean".into(),
                    "renorm_stddev".into(),
                    "moving_stddev".into(),
                ]);
            }
            v
        }
        "LayerNormalization" => {
            let rms = config.get("rms_scaling").and_then(Value::as_bool) == Some(true);
            let mut v = Vec::new();
            if flag(config, "scale") || rms {
                v.push("gamma".to_string());
            }
            if flag(config, "center") && !rms {
                v.push("beta".into());
            }
            v
        }
        "TimeDistributed" => {
            let inner = config.get("layer")?;
            let class = inner.get("class_name")?.as_str()?;
            weight_roles(class, inner.get("config").unwrap_or(inner))?
        }
        _ => return None,
    })
}

/// A boolean config entry that defaults to `true` when absent (`scale`, `center`).
fn flag(config: &Value, key: &str) -> bool {
    config.get(key).and_then(Value::as_bool) != Some(false)
}

/// A Keras 3 graph operation (`keras.src.ops.*`): its tensors and scalar arguments come
/// from its one call.
fn mask_op(spec: &LayerSpec, _: KerasFlavour) -> Result<Layer> {
    let call = spec
        .calls
        .first()
        .ok_or_else(|| Error::config("inbound_nodes", "an operation node that is never called"))?;
    Ok(Layer::Op(MaskOp::from_call(
        &spec.class_name,
        &spec.config,
        call.inputs.len(),
        &call.scalars,
    )?))
}

/// Why a class is not in the table, in words.
fn why_unsupported(spec: &LayerSpec) -> String {
    match spec.class_name.as_str() {
        "Lambda" => "a Lambda layer is Python code, not data: a model file does not hold \
                     what it computes"
            .into(),
        c if is_op_module(spec.module.as_deref()) => format!(
            "the Keras 3 graph operation {c} (module `{}`) is not supported",
            spec.module.as_deref().unwrap_or("")
        ),
        c => {
            let module = spec
                .module
                .as_deref()
                .or_else(|| spec.config.get("module").and_then(Value::as_str))
                .unwrap_or("");
            if !module.is_empty() && !module.starts_with("keras") {
                format!("{c} is a custom layer (module `{module}`): its code is not in the file")
            } else {
                format!("no {c} layer in this crate")
            }
        }
    }
}

/// The weight of a given role, or an error that lists what the file holds.
fn weight<'a>(ws: &'a [WeightArray], name: &str) -> Result<&'a WeightArray> {
    ws.iter().find(|w| w.name == name).ok_or_else(|| {
        let found: Vec<&str> = ws.iter().map(|w| w.name.as_str()).collect();
        Error::config(
            "weights",
            format!(
                "no `{name}` among the {} arrays the file holds for it [{}] (check use_bias)",
                ws.len(),
                found.join(", ")
            ),
        )
    })
}

fn array(w: &WeightArray) -> Result<ArrayD<f32>> {
    w.to_array()
}

fn matrix(w: &WeightArray) -> Result<Array2<f32>> {
    let a = array(w)?;
    let shape = a.shape().to_vec();
    a.into_dimensionality::<Ix2>()
        .map_err(|_| Error::shape(format!("weight `{}`", w.name), "a matrix", &shape))
}

fn vector(w: &WeightArray) -> Result<Array1<f32>> {
    let a = array(w)?;
    let shape = a.shape().to_vec();
    a.into_dimensionality()
        .map_err(|_| Error::shape(format!("weight `{}`", w.name), "a vector", &shape))
}

/// Checks that a layer got exactly the arrays its config calls for.
fn expect_count(ws: &[WeightArray], roles: &[String]) -> Result<()> {
    if ws.len() != roles.len() || ws.iter().zip(roles).any(|(w, r)| &w.name != r) {
        let found: Vec<&str> = ws.iter().map(|w| w.name.as_str()).collect();
        return Err(Error::config(
            "weights",
            format!(
                "the file holds {} arrays [{}], the config calls for {} [{}] (check use_bias)",
                ws.len(),
                found.join(", "),
                roles.len(),
                roles.join(", ")
            ),
        ));
    }
    Ok(())
}

/// An `RNN` layer's cell: its class name and config (`config.cell`).
fn cell_of(config: &Value) -> Option<(&str, &Value)> {
    let cell = config.get("cell").filter(|v| !v.is_null())?;
    let class = cell.get("class_name")?.as_str()?;
    Some((class, cell.get("config").unwrap_or(cell)))
}

/// The RNN wrapper's arguments that a merged single-cell config takes from the layer.
const RNN_FLAGS: &[&str] = &[
    "return_sequences",
    "return_state",
    "go_backwards",
    "stateful",
    "zero_output_for_mask",
    "time_major",
];

/// The cell and the config of a single-cell recurrent layer: `LSTM`, `GRU`, `SimpleRNN` as
/// they are; `RNN(LSTMCell | GRUCell | SimpleRNNCell)` as the cell's config with the
/// wrapper's flags (`return_sequences`, …) merged in. An `RNN` of another cell is refused.
fn single_cell(class: &str, config: &Value) -> Result<(CellKind, Value)> {
    if class != "RNN" {
        let cell = CellKind::from_class(class).ok_or_else(|| {
            Error::Unsupported(format!("{class} is not a recurrent layer this crate runs"))
        })?;
        return Ok((cell, config.clone()));
    }
    let (cell_class, cell_cfg) = cell_of(config)
        .ok_or_else(|| Error::config("cell", "an RNN layer without a `cell` config"))?;
    let cell = match cell_class {
        "LSTMCell" | "GRUCell" | "SimpleRNNCell" => CellKind::from_class(cell_class),
        _ => None,
    }
    .ok_or_else(|| {
        Error::Unsupported(format!(
            "RNN({cell_class}): the cells this crate runs are LSTMCell, GRUCell, \
             SimpleRNNCell and StackedRNNCells of them"
        ))
    })?;
    let mut merged = cell_cfg.clone();
    if let (Some(m), Some(layer)) = (merged.as_object_mut(), config.as_object()) {
        for k in RNN_FLAGS {
            if let Some(v) = layer.get(*k) {
                m.insert((*k).to_string(), v.clone());
            }
        }
    }
    Ok((cell, merged))
}

/// `LSTM`, `GRU`, `SimpleRNN` or `RNN(cell)` as a layer.
fn recurrent_layer(spec: &LayerSpec, flavour: KerasFlavour) -> Result<Layer> {
    if is_stacked_cells(spec) {
        return Err(Error::Unsupported(format!(
            "`{}`: RNN(StackedRNNCells) is a chain of layers, built by the model's graph",
            spec.name
        )));
    }
    expect_count(
        &spec.weights,
        &weight_roles(&spec.class_name, &spec.config).unwrap_or_default(),
    )?;
    Ok(Layer::Recurrent(recurrent_half(
        &spec.class_name,
        &spec.config,
        &spec.weights,
        "",
        flavour,
    )?))
}

/// Whether a layer is `RNN(StackedRNNCells([...]))`.
fn is_stacked_cells(spec: &LayerSpec) -> bool {
    is_stacked_config("RNN", &spec.config)
}

/// Whether a class and config are `RNN(StackedRNNCells([...]))`.
fn is_stacked_config(class: &str, config: &Value) -> bool {
    class == "RNN" && cell_of(config).is_some_and(|(c, _)| c == "StackedRNNCells")
}

/// The cells of `RNN(StackedRNNCells([c0, c1, …]))` (`config`, the RNN's) as recurrent
/// layers: at every step Keras runs c0 on the input, c1 on c0's output, …, and the layer's
/// output is the last cell's. That is the chain of layers c0 → c1 → … (see
/// [`chain_nodes`]) with `return_sequences` on all but the last (which takes the wrapper's),
/// the wrapper's `go_backwards`, `stateful`, `return_state` and `zero_output_for_mask` on
/// each. Masked steps are carried by every cell alike, so the chain's output equals the
/// stacked cell's. Weights `{prefix}cells/{i}/kernel`, ….
fn stacked_cell_layers(
    config: &Value,
    ws: &[WeightArray],
    prefix: &str,
    flavour: KerasFlavour,
) -> Result<Vec<Recurrent>> {
    let cells = cell_of(config)
        .and_then(|(_, c)| c.get("cells"))
        .and_then(Value::as_array)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| Error::config("cells", "StackedRNNCells without a list of cells"))?;
    let layer = config.as_object();
    let flag = |k: &str| {
        layer
            .and_then(|l| l.get(k))
            .and_then(Value::as_bool)
            .unwrap_or(false)
    };
    let n = cells.len();
    let mut out = Vec::with_capacity(n);
    for (i, c) in cells.iter().enumerate() {
        let class = c.get("class_name").and_then(Value::as_str).unwrap_or("");
        if !["LSTMCell", "GRUCell", "SimpleRNNCell"].contains(&class) {
            return Err(Error::Unsupported(format!(
                "StackedRNNCells of {class}: the cells this crate stacks are LSTMCell, \
                 GRUCell and SimpleRNNCell"
            )));
        }
        let mut merged = c.get("config").unwrap_or(c).clone();
        if let Some(m) = merged.as_object_mut() {
            let last = i + 1 == n;
            m.insert(
                "return_sequences".into(),
                Value::Bool(!last || flag("return_sequences")),
            );
            for k in [
                "go_backwards",
                "stateful",
                "zero_output_for_mask",
                "time_major",
                "return_state",
            ] {
                m.insert(k.into(), Value::Bool(flag(k)));
            }
        }
        out.push(recurrent_half(
            class,
            &merged,
            ws,
            &format!("{prefix}cells/{i}/"),
            flavour,
        )?);
    }
    Ok(out)
}

/// A chain of recurrent layers that stands for one Keras layer (the cells of
/// `RNN(StackedRNNCells)`, or one plain recurrent layer) on `x`: node `i` is named
/// `name(i)`; `init` holds every layer's initial states in layer order (empty for none);
/// `mask` is the first node's `mask=`. Returns the last layer's output and every layer's
/// final states in layer order (those the layers return).
///
/// With `go_backwards` every layer reads its input from the last step on and writes its
/// output in that processing order, so a [`TimeReverse`] node after each layer but the last
/// puts the sequence back in the input's time order, where the input's mask (which the
/// outputs carry unreversed, as Keras's `compute_mask` does) fits it; the last layer's
/// output stays in processing order, as Keras returns it.
fn chain_nodes(
    b: &mut PlanBuilder,
    name: &dyn Fn(usize) -> String,
    layers: Vec<Recurrent>,
    x: TensorId,
    init: &[TensorId],
    mask: Option<TensorId>,
) -> Result<(TensorId, Vec<TensorId>)> {
    let want: usize = layers.iter().map(Recurrent::state_tensors).sum();
    if !init.is_empty() && init.len() != want {
        let per: Vec<String> = layers
            .iter()
            .map(|l| l.state_tensors().to_string())
            .collect();
        return Err(Error::config(
            "initial_state",
            format!(
                "{} state tensors given, the cells take {want} ({} in cell order)",
                init.len(),
                per.join(" + ")
            ),
        ));
    }
    let n = layers.len();
    let mut cur = x;
    let mut states = Vec::new();
    let mut k = 0;
    for (i, layer) in layers.into_iter().enumerate() {
        let s = layer.state_tensors();
        let back = layer.config.go_backwards;
        let mut ins = vec![cur];
        if !init.is_empty() {
            ins.extend_from_slice(&init[k..k + s]);
        }
        k += s;
        let m = if i == 0 { mask } else { None };
        let outs = b.node_masked(&name(i), Layer::Recurrent(layer), &ins, m)?;
        cur = outs[0];
        states.extend(outs.iter().skip(1).copied());
        if back && i + 1 < n {
            cur = b.node(
                &format!("{}/reversed", name(i)),
                Layer::TimeReverse(TimeReverse),
                &[cur],
            )?[0];
        }
    }
    Ok((cur, states))
}

/// Keras 3 passes no mask to a layer called with several tensor arguments (a sequence and
/// its initial_state) unless `mask=` is given: its recurrent layers then ignore the mask.
fn keras3_ignores_mask(
    flavour: KerasFlavour,
    ins: &[TensorId],
    mask: Option<TensorId>,
    layers: &mut [Recurrent],
) {
    if flavour == KerasFlavour::Keras3 && ins.len() > 1 && mask.is_none() {
        layers.iter_mut().for_each(|r| r.config.ignores_mask = true);
    }
}

/// The nodes of a layer that is a chain of recurrent nodes, on inputs `ins` (the sequence,
/// then any initial states) with `mask=` `mask`; `None` when `spec` is another layer:
///
/// - `RNN(StackedRNNCells(...))` (see [`stacked_cell_layers`], [`chain_nodes`]): nodes
///   `{name}/cells/{i}` for all cells but the last, which takes the layer's name; with
///   `return_state` the outputs are the last cell's output then every cell's states in cell
///   order (Keras nests them per cell; flattened, that order is what a graph indexes).
/// - `Bidirectional` whose forward or backward layer is one ([`bidirectional_chain_nodes`]).
fn recurrent_chain_nodes(
    b: &mut PlanBuilder,
    spec: &LayerSpec,
    flavour: KerasFlavour,
    ins: &[TensorId],
    mask: Option<TensorId>,
) -> Result<Option<Vec<TensorId>>> {
    let named = |e: Error| e.in_layer(&spec.name, &spec.class_name);
    if spec.class_name == "Bidirectional" {
        return bidirectional_chain_nodes(b, spec, flavour, ins, mask).map_err(named);
    }
    if !is_stacked_cells(spec) {
        return Ok(None);
    }
    expect_count(
        &spec.weights,
        &weight_roles("RNN", &spec.config).unwrap_or_default(),
    )
    .map_err(named)?;
    let mut layers =
        stacked_cell_layers(&spec.config, &spec.weights, "", flavour).map_err(named)?;
    keras3_ignores_mask(flavour, ins, mask, &mut layers);
    let n = layers.len();
    let name = |i: usize| {
        if i + 1 == n {
            spec.name.clone()
        } else {
            format!("{}/cells/{i}", spec.name)
        }
    };
    let (y, states) = chain_nodes(b, &name, layers, ins[0], &ins[1..], mask).map_err(named)?;
    let mut outs = vec![y];
    outs.extend(states);
    b.chain(&spec.name, outs.clone());
    Ok(Some(outs))
}

/// `Bidirectional(RNN(StackedRNNCells(...)))` (either half) as nodes; `None` when neither
/// half is a `StackedRNNCells` (the fused [`Bidirectional`] layer runs those).
///
/// Keras's `Bidirectional.call`: the forward layer and the backward one (`backward_layer`,
/// or the forward config with `go_backwards` flipped) run on the same input and mask, each
/// half's `zero_output_for_mask` forced to `return_sequences`; an `initial_state` list is cut
/// in two halves (forward first); with `return_sequences` the backward output is flipped
/// back to time order ([`TimeReverse`]); then `merge_mode` (`concat` on the last axis, `sum`,
/// `mul`, `ave`, or none: both outputs). The merge is a [`Merge`] node named after the layer.
/// Both halves carry the input's mask, so a merge layer's mask (the AND or OR of the two) is
/// that mask; Keras 3's `Multiply` lets masks change values (zero where no input is valid)
/// where the Bidirectional's own product does not, but both halves are zero at those steps
/// (`zero_output_for_mask`), so the values agree too. Outputs: the merged output (or forward
/// then backward), then the forward layer's states, then the backward's, each in cell order.
fn bidirectional_chain_nodes(
    b: &mut PlanBuilder,
    spec: &LayerSpec,
    flavour: KerasFlavour,
    ins: &[TensorId],
    mask: Option<TensorId>,
) -> Result<Option<Vec<TensorId>>> {
    let cfg = &spec.config;
    let (Some(fwd_class), Some(fwd)) = (inner_class(cfg, "layer"), inner_config(cfg.get("layer")))
    else {
        return Ok(None);
    };
    let (bwd_class, bwd) = bidirectional_backward(cfg, fwd_class, fwd);
    if !is_stacked_config(fwd_class, fwd) && !is_stacked_config(bwd_class, &bwd) {
        return Ok(None);
    }
    let merge = merge_mode(cfg)?;
    expect_count(
        &spec.weights,
        &weight_roles("Bidirectional", cfg).unwrap_or_default(),
    )?;
    let half = |class: &str, config: &Value, prefix: &str| -> Result<Vec<Recurrent>> {
        let mut layers = if is_stacked_config(class, config) {
            stacked_cell_layers(config, &spec.weights, prefix, flavour)?
        } else {
            vec![recurrent_half(
                class,
                config,
                &spec.weights,
                prefix,
                flavour,
            )?]
        };
        keras3_ignores_mask(flavour, ins, mask, &mut layers);
        Ok(layers)
    };
    let mut fwd_layers = half(fwd_class, fwd, "forward/")?;
    let mut bwd_layers = half(bwd_class, &bwd, "backward/")?;
    let rseq = |l: &[Recurrent]| l.last().is_some_and(|r| r.config.return_sequences);
    if rseq(&fwd_layers) != rseq(&bwd_layers) {
        return Err(Error::config(
            "backward_layer",
            "the forward and backward layers must agree on return_sequences",
        ));
    }
    let return_sequences = rseq(&fwd_layers);
    for r in fwd_layers.iter_mut().chain(bwd_layers.iter_mut()) {
        r.config.zero_output_for_mask = return_sequences;
    }
    let nf: usize = fwd_layers.iter().map(Recurrent::state_tensors).sum();
    let nb: usize = bwd_layers.iter().map(Recurrent::state_tensors).sum();
    let init = &ins[1..];
    if !init.is_empty() && init.len() != nf + nb {
        return Err(Error::config(
            "initial_state",
            format!(
                "{} state tensors given, the forward layer takes {nf} and the backward {nb}",
                init.len()
            ),
        ));
    }
    let (init_f, init_b) = init.split_at(init.len().min(nf));
    let chain = |b: &mut PlanBuilder,
                 layers: Vec<Recurrent>,
                 dir: &str,
                 init: &[TensorId]|
     -> Result<(TensorId, Vec<TensorId>)> {
        let n = layers.len();
        let name = |i: usize| {
            if n == 1 {
                format!("{}/{dir}", spec.name)
            } else {
                format!("{}/{dir}/cells/{i}", spec.name)
            }
        };
        chain_nodes(b, &name, layers, ins[0], init, mask)
    };
    let (yf, sf) = chain(b, fwd_layers, "forward", init_f)?;
    let (mut yb, sb) = chain(b, bwd_layers, "backward", init_b)?;
    if return_sequences {
        yb = b.node(
            &format!("{}/backward/reversed", spec.name),
            Layer::TimeReverse(TimeReverse),
            &[yb],
        )?[0];
    }
    let kind = match merge {
        MergeMode::Concat => Some(MergeKind::Concatenate { axis: -1 }),
        MergeMode::Sum => Some(MergeKind::Add),
        MergeMode::Mul => Some(MergeKind::Multiply),
        MergeMode::Ave => Some(MergeKind::Average),
        MergeMode::None => None,
    };
    let mut outs = match kind {
        Some(k) => b.node(&spec.name, Layer::Merge(Merge::new(k, flavour)), &[yf, yb])?,
        None => vec![yf, yb],
    };
    outs.extend(sf);
    outs.extend(sb);
    b.chain(&spec.name, outs.clone());
    Ok(Some(outs))
}

/// One recurrent layer (a Bidirectional's half with `prefix`) from its class, config and
/// the arrays named `{prefix}kernel`, `{prefix}recurrent_kernel`, `{prefix}bias` (a GRU's
/// (2, 3U) `reset_after` bias is taken row by row).
fn recurrent_half(
    class: &str,
    config: &Value,
    ws: &[WeightArray],
    prefix: &str,
    flavour: KerasFlavour,
) -> Result<Recurrent> {
    let (cell, merged) = single_cell(class, config)?;
    let cfg = LstmConfig::from_keras_cell_json(cell, &merged, flavour)?;
    let k = matrix(weight(ws, &format!("{prefix}kernel"))?)?;
    let r = matrix(weight(ws, &format!("{prefix}recurrent_kernel"))?)?;
    let b = if cfg.use_bias {
        let w = weight(ws, &format!("{prefix}bias"))?;
        let a = array(w)?;
        let n = a.len();
        let ok = match cfg.cell {
            CellKind::Gru { reset_after: true } => a.ndim() == 2 && a.shape()[0] == 2,
            _ => a.ndim() == 1,
        };
        if !ok {
            let want = match cfg.cell {
                CellKind::Gru { reset_after: true } => "(2, 3U) for reset_after=True",
                _ => "a vector",
            };
            return Err(Error::shape(
                format!("weight `{}`", w.name),
                want,
                a.shape(),
            ));
        }
        let flat: Vec<f32> = a.iter().copied().collect();
        Some(Array1::from_shape_vec(n, flat).expect("n elements"))
    } else {
        None
    };
    Recurrent::new(cfg.clone(), LstmWeights::new_for(cfg.cell, k, r, b)?)
}

fn inner_config(v: Option<&Value>) -> Option<&Value> {
    v.filter(|v| !v.is_null())
        .map(|l| l.get("config").unwrap_or(l))
}

/// The class of a wrapper's inner layer `key` (`layer`, `backward_layer`), when given.
fn inner_class<'a>(cfg: &'a Value, key: &str) -> Option<&'a str> {
    cfg.get(key)
        .filter(|v| !v.is_null())
        .and_then(|l| l.get("class_name"))
        .and_then(Value::as_str)
}

/// A `Bidirectional`'s `merge_mode`.
fn merge_mode(cfg: &Value) -> Result<MergeMode> {
    match cfg.get("merge_mode") {
        None | Some(Value::Null) => MergeMode::from_keras(None),
        Some(Value::String(m)) => MergeMode::from_keras(Some(m)),
        Some(other) => Err(Error::config(
            "merge_mode",
            format!("expected one of \"concat\", \"sum\", \"mul\", \"ave\" or null, got {other}"),
        )),
    }
}

/// A `Bidirectional`'s backward layer: its `backward_layer` (class and config), or the
/// forward layer's config with `go_backwards` flipped.
fn bidirectional_backward<'a>(cfg: &'a Value, fwd_class: &'a str, fwd: &Value) -> (&'a str, Value) {
    match inner_config(cfg.get("backward_layer")) {
        Some(b) => (
            inner_class(cfg, "backward_layer").unwrap_or(fwd_class),
            b.clone(),
        ),
        None => {
            let mut b = fwd.clone();
            let gb = fwd
                .get("go_backwards")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            b["go_backwards"] = Value::Bool(!gb);
            (fwd_class, b)
        }
    }
}

fn bidirectional(spec: &LayerSpec, flavour: KerasFlavour) -> Result<Layer> {
    let cfg = &spec.config;
    let merge = merge_mode(cfg)?;
    for k in ["layer", "backward_layer"] {
        if let Some(c) = inner_class(cfg, k)
            && !BIDIRECTIONAL_INNER.contains(&c)
        {
            return Err(Error::Unsupported(format!(
                "Bidirectional({c}): the layers Bidirectional runs here are LSTM, GRU, \
                 SimpleRNN and RNN(cell)"
            )));
        }
    }
    let fwd_class = inner_class(cfg, "layer")
        .ok_or_else(|| Error::config("layer", "Bidirectional without an inner `layer` config"))?;
    let fwd = inner_config(cfg.get("layer"))
        .ok_or_else(|| Error::config("layer", "Bidirectional without an inner `layer` config"))?;
    let (bwd_class, bwd) = bidirectional_backward(cfg, fwd_class, fwd);
    if is_stacked_config(fwd_class, fwd) || is_stacked_config(bwd_class, &bwd) {
        return Err(Error::Unsupported(format!(
            "`{}`: Bidirectional(RNN(StackedRNNCells)) is a chain of layers, built by the \
             model's graph",
            spec.name
        )));
    }
    expect_count(
        &spec.weights,
        &weight_roles("Bidirectional", cfg).unwrap_or_default(),
    )?;
    Ok(Layer::Bidirectional(Bidirectional::new(
        recurrent_half(fwd_class, fwd, &spec.weights, "forward/", flavour)?,
        recurrent_half(bwd_class, &bwd, &spec.weights, "backward/", flavour)?,
        merge,
    )?))
}

fn dense(spec: &LayerSpec, flavour: KerasFlavour) -> Result<Layer> {
    let act = LayerActivation::from_config(&spec.config, flavour)?;
    expect_count(
        &spec.weights,
        &weight_roles("Dense", &spec.config).unwrap_or_default(),
    )?;
    let kernel = matrix(weight(&spec.weights, "kernel")?)?;
    let units = spec.config.get("units").and_then(Value::as_u64);
    if units.is_none_or(|u| u as usize != kernel.ncols()) {
        return Err(Error::shape(
            "kernel",
            match units {
                Some(u) => format!("(input, {u}) for units = {u}"),
                None => "a config with an integer `units`".to_string(),
            },
            kernel.shape(),
        ));
    }
    let bias = match spec.weights.iter().find(|w| w.name == "bias") {
        Some(b) => Some(vector(b)?),
        None => None,
    };
    Ok(Layer::Dense(Dense::new(kernel, bias, act)?))
}

fn conv1d(spec: &LayerSpec, flavour: KerasFlavour) -> Result<Layer> {
    // an activation this crate refuses (a PReLU holding weights, ...) before the weights
    LayerActivation::from_config(&spec.config, flavour)?;
    let roles = weight_roles("Conv1D", &spec.config).unwrap_or_default();
    expect_count(&spec.weights, &roles)?;
    let kernel = weight(&spec.weights, "kernel")?.to_array()?;
    let bias = match spec.weights.iter().find(|w| w.name == "bias") {
        Some(b) => Some(b.to_array()?),
        None => None,
    };
    let c = Conv1D::from_keras(&spec.config, kernel, bias, flavour)?;
    Ok(Layer::Conv1D(c))
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
        ..Default::default()
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
    let layer = match class(&class_name, None) {
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
        Layer::Conv1D(c) => {
            let (a1, a2) = c.data_format.axes(None, Some(c.in_channels()));
            return Some(TensorInfo::f32(vec![a1, a2]));
        }
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

/// The classes `Bidirectional` wraps here.
const BIDIRECTIONAL_INNER: &[&str] = &["LSTM", "GRU", "SimpleRNN", "RNN"];

/// The cell classes `RNN` runs here.
const CELL_CLASSES: &[&str] = &["LSTMCell", "GRUCell", "SimpleRNNCell", "StackedRNNCells"];

/// The cells of a recurrent config (an `RNN`'s `cell`, a `StackedRNNCells`' `cells`, and
/// those of a wrapped `RNN`) that this crate does not run, as messages.
fn unsupported_cells(name: &str, config: &Value, out: &mut Vec<String>) {
    let mut cells = Vec::new();
    if let Some(cell) = config.get("cell").filter(|v| !v.is_null()) {
        cells.push(cell);
    }
    if let Some(Value::Array(cs)) = config.get("cells") {
        cells.extend(cs.iter());
    }
    for key in ["layer", "backward_layer"] {
        if let Some(inner) = config.get(key).filter(|v| !v.is_null()) {
            unsupported_cells(name, inner.get("config").unwrap_or(inner), out);
        }
    }
    for cell in cells {
        let Some(c) = cell.get("class_name").and_then(Value::as_str) else {
            continue;
        };
        if !CELL_CLASSES.contains(&c) {
            out.push(format!("`{name}` (RNN({c})): no {c} cell in this crate"));
        }
        unsupported_cells(name, cell.get("config").unwrap_or(cell), out);
    }
}

/// Every layer of the model (nested ones included) whose class the table lacks, in order.
fn unsupported(file: &ModelFile, out: &mut Vec<String>) {
    for spec in &file.layers {
        match &spec.model {
            Some(m) => unsupported(m, out),
            None => {
                if class(&spec.class_name, spec.module.as_deref()).is_none() {
                    out.push(format!(
                        "`{}` ({}): {}",
                        spec.name,
                        spec.class_name,
                        why_unsupported(spec)
                    ));
                }
                unsupported_cells(&spec.name, &spec.config, out);
                // a wrapper's inner layers (Bidirectional, TimeDistributed)
                for key in ["layer", "backward_layer"] {
                    let Some(inner) = spec.config.get(key).filter(|v| !v.is_null()) else {
                        continue;
                    };
                    let Some(c) = inner.get("class_name").and_then(Value::as_str) else {
                        continue;
                    };
                    let module = inner.get("module").and_then(Value::as_str);
                    let supported = match spec.class_name.as_str() {
                        "Bidirectional" => BIDIRECTIONAL_INNER.contains(&c),
                        _ => class(c, module).is_some(),
                    };
                    if !supported {
                        out.push(format!(
                            "`{}` ({}({c})): no {c} inside {} in this crate",
                            spec.name, spec.class_name, spec.class_name
                        ));
                    }
                }
            }
        }
    }
}

/// Builds one layer through the class table (the class is known: checked before).
fn build_layer(spec: &LayerSpec, flavour: KerasFlavour) -> Result<Layer> {
    match class(&spec.class_name, spec.module.as_deref()) {
        Some(Kind::Layer(build)) => {
            build(spec, flavour).map_err(|e| e.in_layer(&spec.name, &spec.class_name))
        }
        _ => Err(Error::Unsupported(format!(
            "`{}` ({}): {}",
            spec.name,
            spec.class_name,
            why_unsupported(spec)
        ))),
    }
}

/// Builds the [`Plan`] of a loaded model file: every layer through the class table, the
/// saving Keras version deciding `hard_sigmoid` and the mask rules; Sequential, Functional
/// and nested models flattened into one graph. Every unsupported layer is listed in one
/// [`Error::Unsupported`].
///
/// ```
/// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
/// let file = wgpu_lstm::keras::load_keras_bytes(bytes, "sine_forecaster.keras").unwrap();
/// let plan = wgpu_lstm::keras::plan_from_model_file(&file).unwrap();
/// assert_eq!(plan.nodes.len(), 2);
/// ```
pub fn plan_from_model_file(file: &ModelFile) -> Result<Plan> {
    let flavour = KerasFlavour::from_keras_version(&file.keras_version)?;
    let mut refused = Vec::new();
    unsupported(file, &mut refused);
    if !refused.is_empty() {
        return Err(Error::Unsupported(format!(
            "model `{}` has {} layer(s) this crate cannot run: {}",
            file.model_name,
            refused.len(),
            refused.join("; ")
        )));
    }
    let mut b = Plan::builder(&file.model_name, flavour);
    let mut fixed_batch = None;
    let outputs = build_model(&mut b, file, None, flavour, &mut fixed_batch)?;
    let stateful = file_is_stateful(file);
    b.fixed_batch(if stateful { fixed_batch } else { None });
    b.finish(outputs)
}

fn file_is_stateful(file: &ModelFile) -> bool {
    file.layers.iter().any(|l| match &l.model {
        Some(m) => file_is_stateful(m),
        None => {
            l.config.get("stateful").and_then(Value::as_bool) == Some(true)
                || ["layer", "backward_layer"].iter().any(|k| {
                    inner_config(l.config.get(*k))
                        .and_then(|c| c.get("stateful"))
                        .and_then(Value::as_bool)
                        == Some(true)
                })
        }
    })
}

/// Adds a model's layers to the plan. `bound`: the tensors a nested model's inputs are
/// (none for the top model, whose inputs become the plan's). Returns its outputs.
fn build_model(
    b: &mut PlanBuilder,
    file: &ModelFile,
    bound: Option<Vec<TensorId>>,
    flavour: KerasFlavour,
    fixed_batch: &mut Option<usize>,
) -> Result<Vec<TensorId>> {
    if file.class_name == "Sequential" {
        build_sequential(b, file, bound, flavour, fixed_batch)
    } else {
        build_functional(b, file, bound, flavour, fixed_batch)
    }
}

fn build_sequential(
    b: &mut PlanBuilder,
    file: &ModelFile,
    bound: Option<Vec<TensorId>>,
    flavour: KerasFlavour,
    fixed_batch: &mut Option<usize>,
) -> Result<Vec<TensorId>> {
    let mut cur = match bound {
        Some(t) => t,
        None => {
            let declared = file
                .layers
                .iter()
                .find(|l| l.class_name == "InputLayer")
                .and_then(|l| declared_input(&l.config))
                .or_else(|| {
                    file.layers
                        .iter()
                        .find(|l| l.class_name != "InputLayer")
                        .and_then(|l| declared_input(&l.config))
                })
                .or_else(|| {
                    let shape = file.build_input_shape.as_ref()?;
                    declared_input(&serde_json::json!({ "batch_shape": shape }))
                });
            let (batch, info) = match declared {
                Some(d) => d,
                None => {
                    let first = file
                        .layers
                        .iter()
                        .find(|l| l.class_name != "InputLayer" && l.model.is_none())
                        .ok_or_else(|| {
                            Error::Unsupported(format!(
                                "model `{}` declares no input and has no layers",
                                file.model_name
                            ))
                        })?;
                    let layer = build_layer(first, flavour)?;
                    let info = implied_input(&layer).ok_or_else(|| {
                        Error::Unsupported(format!(
                            "model `{}` declares no input shape (no InputLayer)",
                            file.model_name
                        ))
                    })?;
                    (None, info)
                }
            };
            fixed_batch.get_or_insert_with(|| batch.unwrap_or(0));
            if *fixed_batch == Some(0) {
                *fixed_batch = batch;
            }
            let name = file
                .layers
                .iter()
                .find(|l| l.class_name == "InputLayer")
                .map_or("input", |l| l.name.as_str());
            vec![b.input(name, info)]
        }
    };
    let layers: Vec<&LayerSpec> = file
        .layers
        .iter()
        .filter(|l| l.class_name != "InputLayer")
        .collect();
    for (i, spec) in layers.iter().enumerate() {
        if i > 0 && cur.len() > 1 {
            return Err(Error::Unsupported(format!(
                "model `{}`: layer `{}` returns {} tensors, so it must be the last layer of a \
                 Sequential model",
                file.model_name,
                layers[i - 1].name,
                cur.len()
            )));
        }
        cur = match &spec.model {
            Some(m) => build_model(b, m, Some(vec![cur[0]]), flavour, fixed_batch)?,
            None => match recurrent_chain_nodes(b, spec, flavour, &cur[..1], None)? {
                Some(outs) => outs,
                None => b.node(&spec.name, build_layer(spec, flavour)?, &cur[..1])?,
            },
        };
    }
    Ok(cur)
}

fn build_functional(
    b: &mut PlanBuilder,
    file: &ModelFile,
    bound: Option<Vec<TensorId>>,
    flavour: KerasFlavour,
    fixed_batch: &mut Option<usize>,
) -> Result<Vec<TensorId>> {
    let mut tensors: HashMap<(String, usize, usize), TensorId> = HashMap::new();
    let key = |t: &TensorRef| (t.layer.clone(), t.node, t.tensor);
    // the model's inputs: its input layers, in its input order
    for (i, r) in file.inputs.iter().enumerate() {
        let spec = file
            .layers
            .iter()
            .find(|l| l.name == r.layer)
            .ok_or_else(|| {
                Error::config(
                    "input_layers",
                    format!(
                        "model `{}` names an input `{}` it does not have",
                        file.model_name, r.layer
                    ),
                )
            })?;
        let id = match &bound {
            Some(t) => *t.get(i).ok_or_else(|| {
                Error::config(
                    "inputs",
                    format!(
                        "nested model `{}` takes {} inputs, it is called with {}",
                        file.model_name,
                        file.inputs.len(),
                        t.len()
                    ),
                )
            })?,
            None => {
                let (batch, info) = declared_input(&spec.config).ok_or_else(|| {
                    Error::config(
                        "batch_shape",
                        format!("input layer `{}` declares no shape", spec.name),
                    )
                })?;
                if fixed_batch.is_none() {
                    *fixed_batch = batch;
                }
                b.input(&spec.name, info)
            }
        };
        tensors.insert(key(r), id);
    }
    let mut pending: Vec<&LayerSpec> = file
        .layers
        .iter()
        .filter(|l| l.class_name != "InputLayer" || !file.inputs.iter().any(|r| r.layer == l.name))
        .filter(|l| !l.calls.is_empty())
        .collect();
    while !pending.is_empty() {
        let before = pending.len();
        let mut rest = Vec::new();
        for spec in pending {
            let call = &spec.calls[0];
            let resolve = |t: &TensorRef| tensors.get(&key(t)).copied();
            let ins: Option<Vec<TensorId>> = call.inputs.iter().map(resolve).collect();
            let mask = match &call.mask {
                Some(m) => resolve(m).map(Some),
                None => Some(None),
            };
            let (Some(ins), Some(mask)) = (ins, mask) else {
                rest.push(spec);
                continue;
            };
            let outs = match &spec.model {
                Some(m) => build_model(b, m, Some(ins), flavour, fixed_batch)?,
                None => match recurrent_chain_nodes(b, spec, flavour, &ins, mask)? {
                    Some(outs) => outs,
                    None => {
                        let mut layer = build_layer(spec, flavour)?;
                        // Keras 3 passes no mask to a layer called with several tensor
                        // arguments (a sequence and its initial_state) unless `mask=` is given
                        if flavour == KerasFlavour::Keras3 && ins.len() > 1 && mask.is_none() {
                            layer
                                .lstms_mut()
                                .into_iter()
                                .for_each(|r| r.config.ignores_mask = true);
                        }
                        b.node_masked(&spec.name, layer, &ins, mask)?
                    }
                },
            };
            // tf_keras numbers a nested model's calls after the node that built it from its
            // Input (its config leaves that node out: `_should_skip_first_node`), so the
            // one call is node 1 there
            let node = match (&spec.model, flavour) {
                (Some(m), KerasFlavour::Keras2)
                    if m.layers
                        .first()
                        .is_some_and(|l| l.class_name == "InputLayer") =>
                {
                    1
                }
                _ => 0,
            };
            for (i, t) in outs.into_iter().enumerate() {
                tensors.insert((spec.name.clone(), node, i), t);
            }
        }
        if rest.len() == before {
            let names: Vec<&str> = rest.iter().map(|l| l.name.as_str()).collect();
            return Err(Error::config(
                "inbound_nodes",
                format!(
                    "model `{}`: the inputs of layers [{}] are never produced",
                    file.model_name,
                    names.join(", ")
                ),
            ));
        }
        pending = rest;
    }
    file.outputs
        .iter()
        .map(|r| {
            tensors.get(&key(r)).copied().ok_or_else(|| {
                Error::config(
                    "output_layers",
                    format!(
                        "model `{}` outputs tensor {} of `{}`, which no layer produces",
                        file.model_name, r.tensor, r.layer
                    ),
                )
            })
        })
        .collect()
}

/// Why a layer of a model file (a nested model with all its layers) cannot be run: the
/// entries [`plan_from_model_file`]'s error would list for it, in order; empty when every
/// class in it is known. (`describe` marks the rows of its table with these.)
pub(crate) fn unsupported_layer(spec: &LayerSpec) -> Vec<String> {
    let file = ModelFile {
        layers: vec![spec.clone()],
        ..ModelFile::default()
    };
    let mut out = Vec::new();
    unsupported(&file, &mut out);
    out
}
