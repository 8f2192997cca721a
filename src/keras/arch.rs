//! The architecture JSON (Keras 3 `config.json`, tf-keras `model_config`) as a graph: the
//! model's layers in config order, each with the calls that built the graph (which tensors
//! each call read, with its `mask=` and `initial_state=`), the model's inputs and outputs,
//! and nested models (a `Sequential` or `Functional` used as a layer) parsed the same way.
//!
//! Both writers are read: Keras 3 nodes are `{"args": [...], "kwargs": {...}}` with tensors
//! as `{"class_name": "__keras_tensor__", "config": {"keras_history": [name, node, index]}}`;
//! tf-keras nodes are lists of `[name, node_index, tensor_index, kwargs]` (extra tensors —
//! an RNN's initial state — follow the first as further entries). Shared layers (called
//! more than once) are refused; everything else about the graph is checked when the plan
//! is built.

use serde_json::Value;

use crate::error::{Error, Result};

/// A tensor of the graph: output `tensor` of call `node` of layer `layer`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TensorRef {
    /// The layer (or nested model) that produced it.
    pub layer: String,
    /// Which call of that layer.
    pub node: usize,
    /// Which of that call's outputs.
    pub tensor: usize,
}

/// One call of a layer in a Functional graph.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallSpec {
    /// The tensors it reads, in order (a list argument — Concatenate's — flattened); for a
    /// recurrent layer the sequence, then its `initial_state` tensors.
    pub inputs: Vec<TensorRef>,
    /// The tensor passed as `mask=` (Keras 3 records the mask it computed), if any.
    pub mask: Option<TensorRef>,
    /// Scalar positional arguments (an op like `NotEqual(x, 0)`).
    pub scalars: Vec<f64>,
}

/// One layer entry of the architecture, in config order.
#[derive(Debug, Clone)]
pub(crate) struct ArchLayer {
    /// `class_name` as written (`LSTM`, `Dense`, `InputLayer`, ...).
    pub class_name: String,
    /// The layer's name (`config.name`).
    pub name: String,
    /// The entry's `module` (Keras 3), e.g. `keras.layers` or `keras.src.ops.numpy`.
    pub module: Option<String>,
    /// The layer's `config` object.
    pub config: Value,
    /// Its calls in the graph (empty in a Sequential model).
    pub calls: Vec<CallSpec>,
    /// A nested model's own architecture.
    pub model: Option<Box<Arch>>,
}

/// A model's architecture.
#[derive(Debug, Clone)]
pub(crate) struct Arch {
    /// `Sequential` or `Functional` (tf-keras's `Model` is reported as `Functional`).
    pub class_name: String,
    /// The model's name (`config.name`), `""` when the file has none.
    pub model_name: String,
    /// The layers in config order.
    pub layers: Vec<ArchLayer>,
    /// The Functional model's inputs and outputs (empty for a Sequential).
    pub inputs: Vec<TensorRef>,
    pub outputs: Vec<TensorRef>,
    /// A Sequential model's declared input shape (`build_input_shape` / `build_config`),
    /// when it has no InputLayer.
    pub build_input_shape: Option<Value>,
}

fn json_err(src: &str, reason: impl Into<String>) -> Error {
    Error::Json {
        path: src.to_string(),
        reason: reason.into(),
    }
}

/// Whether a class names a model (a nested one when it stands in a layer list).
pub(crate) fn is_model_class(class: &str) -> bool {
    matches!(class, "Sequential" | "Functional" | "Model")
}

/// Deepest nesting of models accepted (a hostile config could nest without end).
const MAX_NESTING: usize = 16;

/// Parses `{"class_name": ..., "config": {"name": ..., "layers": [...]}}`.
pub(crate) fn parse_architecture(v: &Value, src: &str) -> Result<Arch> {
    parse_model(v, src, 0)
}

fn parse_model(v: &Value, src: &str, depth: usize) -> Result<Arch> {
    if depth > MAX_NESTING {
        return Err(Error::Unsupported(format!(
            "{src}: models nested more than {MAX_NESTING} deep"
        )));
    }
    let class = v
        .get("class_name")
        .and_then(Value::as_str)
        .ok_or_else(|| json_err(src, "the architecture has no string field `class_name`"))?;
    let class_name = match class {
        "Sequential" => "Sequential",
        "Functional" | "Model" => "Functional",
        other => {
            return Err(Error::Unsupported(format!(
                "{src}: model class `{other}`; only Sequential and Functional models (saved with their config) can be loaded"
            )));
        }
    };
    let cfg = v
        .get("config")
        .filter(|c| c.is_object())
        .ok_or_else(|| json_err(src, "the architecture has no object field `config`"))?;
    let model_name = cfg
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let entries = cfg
        .get("layers")
        .and_then(Value::as_array)
        .ok_or_else(|| json_err(src, "the architecture has no list field `config.layers`"))?;

    let mut layers = Vec::with_capacity(entries.len().min(1 << 12));
    let mut seen = std::collections::HashSet::new();
    for (i, e) in entries.iter().enumerate() {
        let lclass = e.get("class_name").and_then(Value::as_str).ok_or_else(|| {
            json_err(
                src,
                format!("config.layers[{i}] has no string field `class_name`"),
            )
        })?;
        let lcfg = e.get("config").filter(|c| c.is_object()).ok_or_else(|| {
            json_err(
                src,
                format!("config.layers[{i}] ({lclass}) has no object field `config`"),
            )
        })?;
        let name = lcfg
            .get("name")
            .or_else(|| e.get("name"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                json_err(
                    src,
                    format!("config.layers[{i}] ({lclass}) has no string field `name`"),
                )
            })?
            .to_string();
        if !seen.insert(name.clone()) {
            return Err(json_err(src, format!("two layers are named `{name}`")));
        }
        let model = if is_model_class(lclass) {
            Some(Box::new(parse_model(e, src, depth + 1)?))
        } else {
            None
        };
        let nodes = e
            .get("inbound_nodes")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if nodes.len() > 1 {
            return Err(Error::Unsupported(format!(
                "{src}: layer `{name}` is called {} times (a shared layer); each layer may \
                 be called once",
                nodes.len()
            )));
        }
        let calls = nodes
            .iter()
            .map(|n| parse_call(n, src, &name))
            .collect::<Result<Vec<_>>>()?;
        layers.push(ArchLayer {
            class_name: lclass.to_string(),
            name,
            module: e
                .get("module")
                .and_then(Value::as_str)
                .map(str::to_string)
                .or_else(|| inferred_op_module(lclass, lcfg)),
            config: lcfg.clone(),
            calls,
            model,
        });
    }
    let (inputs, outputs) = if class_name == "Functional" {
        (
            io_refs(cfg.get("input_layers"), src, "input_layers")?,
            io_refs(cfg.get("output_layers"), src, "output_layers")?,
        )
    } else {
        (Vec::new(), Vec::new())
    };
    if class_name == "Functional" && (inputs.is_empty() || outputs.is_empty()) {
        return Err(json_err(
            src,
            format!("Functional model `{model_name}` lists no input_layers or output_layers"),
        ));
    }
    Ok(Arch {
        class_name: class_name.to_string(),
        model_name,
        layers,
        inputs,
        outputs,
        build_input_shape: cfg
            .get("build_input_shape")
            .or_else(|| v.get("build_config").and_then(|b| b.get("input_shape")))
            .cloned(),
    })
}

/// A tensor reference: Keras 3's `__keras_tensor__` object or a tf-keras / io list
/// `[name, node, index, ...]`.
fn tensor_ref(v: &Value) -> Option<TensorRef> {
    let list = match v {
        Value::Object(m)
            if m.get("class_name").and_then(Value::as_str) == Some("__keras_tensor__") =>
        {
            m.get("config")?.get("keras_history")?.as_array()?
        }
        Value::Array(a) => a,
        _ => return None,
    };
    let layer = list.first()?.as_str()?.to_string();
    let node = usize::try_from(list.get(1)?.as_u64()?).ok()?;
    let tensor = usize::try_from(list.get(2)?.as_u64()?).ok()?;
    Some(TensorRef {
        layer,
        node,
        tensor,
    })
}

/// Every tensor reference in a (possibly nested) argument, in order; scalars apart.
fn collect(v: &Value, refs: &mut Vec<TensorRef>, scalars: &mut Vec<f64>, depth: usize) {
    if depth > 8 {
        return;
    }
    if let Some(t) = tensor_ref(v) {
        refs.push(t);
        return;
    }
    match v {
        Value::Array(a) => a.iter().for_each(|x| collect(x, refs, scalars, depth + 1)),
        Value::Number(n) => scalars.extend(n.as_f64()),
        Value::Bool(b) => scalars.push(*b as u8 as f64),
        _ => {}
    }
}

/// One inbound node, either writer's form.
fn parse_call(node: &Value, src: &str, layer: &str) -> Result<CallSpec> {
    let bad = || {
        json_err(
            src,
            format!("layer `{layer}`: an inbound node is malformed"),
        )
    };
    let mut call = CallSpec::default();
    match node {
        // Keras 3: {"args": [...], "kwargs": {...}}
        Value::Object(m) => {
            let args = m.get("args").and_then(Value::as_array).ok_or_else(bad)?;
            for a in args {
                collect(a, &mut call.inputs, &mut call.scalars, 0);
            }
            if let Some(kw) = m.get("kwargs").and_then(Value::as_object) {
                if let Some(s) = kw.get("initial_state") {
                    let mut ignore = Vec::new();
                    collect(s, &mut call.inputs, &mut ignore, 0);
                }
                if let Some(mask) = kw.get("mask") {
                    let mut refs = Vec::new();
                    collect(mask, &mut refs, &mut Vec::new(), 0);
                    // a list of masks (one per input of a merge) keeps the first's role
                    call.mask = refs.into_iter().next();
                }
            }
        }
        // tf-keras: [[name, node, index, kwargs], ...]; an entry may be a nested list of
        // them (an RNN(StackedRNNCells) called on [x, [h0, c0], h1] lists its states per cell)
        Value::Array(entries) => {
            for e in entries {
                if tensor_ref(e).is_none() {
                    let before = call.inputs.len();
                    collect(e, &mut call.inputs, &mut Vec::new(), 0);
                    if call.inputs.len() == before {
                        return Err(bad());
                    }
                    continue;
                }
                let t = tensor_ref(e).ok_or_else(bad)?;
                call.inputs.push(t);
                if let Some(kw) = e
                    .as_array()
                    .and_then(|a| a.get(3))
                    .and_then(Value::as_object)
                {
                    if let Some(s) = kw.get("initial_state") {
                        collect(s, &mut call.inputs, &mut Vec::new(), 0);
                    }
                    if let Some(m) = kw.get("mask") {
                        let mut refs = Vec::new();
                        collect(m, &mut refs, &mut Vec::new(), 0);
                        call.mask = refs.into_iter().next();
                    }
                }
            }
        }
        _ => return Err(bad()),
    }
    Ok(call)
}

/// `input_layers` / `output_layers`: one `[name, node, index]` or a list of them, possibly
/// nested (a model whose outputs are a layer's nested states, `[y, [h, c], h1]`), flattened
/// in order.
fn io_refs(v: Option<&Value>, src: &str, field: &str) -> Result<Vec<TensorRef>> {
    let Some(v) = v else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    io_refs_into(v, src, field, &mut out, 0)?;
    Ok(out)
}

fn io_refs_into(
    v: &Value,
    src: &str,
    field: &str,
    out: &mut Vec<TensorRef>,
    depth: usize,
) -> Result<()> {
    if let Some(t) = tensor_ref(v) {
        out.push(t);
        return Ok(());
    }
    let list = v
        .as_array()
        .filter(|_| depth < 8)
        .ok_or_else(|| json_err(src, format!("`{field}` holds {v}, not [name, node, index]")))?;
    for e in list {
        io_refs_into(e, src, field, out, depth + 1)?;
    }
    Ok(())
}

/// Keras's `naming.to_snake_case`: drop non-word characters, then `(.)([A-Z][a-z]+)` →
/// `\1_\2`, then `([a-z])([A-Z])` → `\1_\2`, then lower-case.
///
/// ```text
/// LSTM -> lstm, InputLayer -> input_layer, TimeDistributed -> time_distributed
/// ```
pub(crate) fn to_snake_case(name: &str) -> String {
    let s: Vec<char> = name
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    // (.)([A-Z][a-z]+) -> \1_\2, non-overlapping, left to right.
    let mut a = Vec::with_capacity(s.len() + 4);
    let mut i = 0;
    while i < s.len() {
        if i + 2 < s.len() && s[i + 1].is_ascii_uppercase() && s[i + 2].is_ascii_lowercase() {
            let mut end = i + 3;
            while end < s.len() && s[end].is_ascii_lowercase() {
                end += 1;
            }
            a.push(s[i]);
            a.push('_');
            a.extend_from_slice(&s[i + 1..end]);
            i = end;
        } else {
            a.push(s[i]);
            i += 1;
        }
    }
    // ([a-z])([A-Z]) -> \1_\2
    let mut b = String::with_capacity(a.len() + 4);
    let mut i = 0;
    while i < a.len() {
        if i + 1 < a.len() && a[i].is_ascii_lowercase() && a[i + 1].is_ascii_uppercase() {
            b.push(a[i]);
            b.push('_');
            b.push(a[i + 1]);
            i += 2;
        } else {
            b.push(a[i]);
            i += 1;
        }
    }
    b.to_lowercase()
}

/// Keras 3 writes its graph operations into a legacy `.h5` file's `model_config` without
/// their `module` (so Keras itself cannot reload such a file). An entry whose class is an
/// operation's and whose config lacks the `trainable` every layer's `get_config` writes is
/// such an operation — this tells the op `Concatenate` from the layer.
fn inferred_op_module(class: &str, config: &Value) -> Option<String> {
    let layer_like = config.get("trainable").is_some();
    (crate::layers::mask_ops::OP_CLASSES.contains(&class) && !layer_like)
        .then(|| "keras.src.ops.numpy".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn snake_case_matches_keras() {
        for (c, s) in [
            ("LSTM", "lstm"),
            ("InputLayer", "input_layer"),
            ("Dense", "dense"),
            ("Bidirectional", "bidirectional"),
            ("TimeDistributed", "time_distributed"),
            ("LSTMCell", "lstm_cell"),
            ("GRU", "gru"),
            ("SpatialDropout1D", "spatial_dropout1d"),
            ("MyLSTMLayer", "my_lstm_layer"),
        ] {
            assert_eq!(to_snake_case(c), s, "{c}");
        }
    }

    fn k3_functional(second_input: &str) -> Value {
        let t = |n: &str| json!({"class_name": "__keras_tensor__", "config": {"shape": [null, 3], "keras_history": [n, 0, 0]}});
        json!({"class_name": "Functional", "config": {"name": "f", "layers": [
            {"class_name": "InputLayer", "config": {"name": "in", "batch_shape": [null, 5, 3]}, "name": "in", "inbound_nodes": []},
            {"class_name": "LSTM", "config": {"name": "l1", "units": 2}, "name": "l1", "inbound_nodes": [{"args": [t("in")], "kwargs": {"mask": null, "initial_state": [t("in"), t("in")]}}]},
            {"class_name": "Dense", "config": {"name": "d", "units": 1}, "name": "d", "inbound_nodes": [{"args": [t(second_input)], "kwargs": {"mask": t("in")}}]}
        ], "input_layers": [["in", 0, 0]], "output_layers": [["d", 0, 0]]}})
    }

    #[test]
    fn functional_graphs_keep_their_calls() {
        let a = parse_architecture(&k3_functional("l1"), "t").unwrap();
        assert_eq!(a.class_name, "Functional");
        assert_eq!(a.layers.len(), 3);
        // the sequence, then the initial states
        assert_eq!(a.layers[1].calls[0].inputs.len(), 3);
        assert_eq!(a.layers[2].calls[0].mask.as_ref().unwrap().layer, "in");
        assert_eq!(a.outputs[0].layer, "d");
    }

    #[test]
    fn tf_keras_functional_nodes() {
        let v = json!({"class_name": "Model", "config": {"name": "m", "layers": [
            {"class_name": "InputLayer", "config": {"name": "input_1", "batch_input_shape": [null, 4, 2]}, "name": "input_1", "inbound_nodes": []},
            {"class_name": "LSTM", "config": {"name": "lstm", "units": 3}, "name": "lstm", "inbound_nodes": [[["input_1", 0, 0, {}], ["input_1", 0, 0, {}]]]}
        ], "input_layers": [["input_1", 0, 0]], "output_layers": [["lstm", 0, 0]]}});
        let a = parse_architecture(&v, "t").unwrap();
        assert_eq!(a.class_name, "Functional");
        assert_eq!(a.layers[1].calls[0].inputs.len(), 2);
    }

    #[test]
    fn nested_tensor_lists_are_flattened_in_order() {
        // tf-keras: RNN(StackedRNNCells) called on [x, [h0, c0], h1]; outputs nested per cell
        let v = json!({"class_name": "Model", "config": {"name": "m", "layers": [
            {"class_name": "InputLayer", "config": {"name": "x", "batch_input_shape": [null, 4, 2]}, "name": "x", "inbound_nodes": []},
            {"class_name": "RNN", "config": {"name": "rnn"}, "name": "rnn", "inbound_nodes": [[["x", 0, 0, {}], [["h0", 0, 0, {}], ["c0", 0, 0, {}]], ["h1", 0, 0, {}]]]}
        ], "input_layers": [["x", 0, 0]], "output_layers": [["rnn", 0, 0], [["rnn", 0, 1], ["rnn", 0, 2]], ["rnn", 0, 3]]}});
        let a = parse_architecture(&v, "t").unwrap();
        let names: Vec<&str> = a.layers[1].calls[0]
            .inputs
            .iter()
            .map(|t| t.layer.as_str())
            .collect();
        assert_eq!(names, ["x", "h0", "c0", "h1"]);
        let outs: Vec<usize> = a.outputs.iter().map(|t| t.tensor).collect();
        assert_eq!(outs, [0, 1, 2, 3]);
        // an entry that holds no tensor reference is malformed
        let mut bad = v.clone();
        bad["config"]["layers"][1]["inbound_nodes"] = json!([[["x", 0, 0, {}], [[1, 2]]]]);
        assert!(parse_architecture(&bad, "t").is_err());
        let mut bad = v;
        bad["config"]["output_layers"] = json!([["rnn", 0, 0], "rnn"]);
        assert!(parse_architecture(&bad, "t").is_err());
    }

    #[test]
    fn nested_models_parse_and_shared_layers_are_refused() {
        let v = json!({"class_name": "Sequential", "config": {"name": "outer", "layers": [
            {"class_name": "Sequential", "config": {"name": "inner", "layers": []}}
        ]}});
        let a = parse_architecture(&v, "t").unwrap();
        assert_eq!(a.layers[0].model.as_ref().unwrap().model_name, "inner");
        let mut f = k3_functional("l1");
        let node = f["config"]["layers"][1]["inbound_nodes"][0].clone();
        f["config"]["layers"][1]["inbound_nodes"] = json!([node.clone(), node]);
        let e = parse_architecture(&f, "t").unwrap_err();
        assert!(
            matches!(e, Error::Unsupported(_)) && e.to_string().contains("`l1`"),
            "{e}"
        );
    }

    #[test]
    fn malformed_architecture_is_json_error() {
        for v in [
            json!({}),
            json!({"class_name": "Sequential"}),
            json!({"class_name": "Sequential", "config": {"layers": [{"config": {}}]}}),
            json!({"class_name": "Sequential", "config": {"layers": [{"class_name": "LSTM", "config": {}}]}}),
        ] {
            let e = parse_architecture(&v, "arch.json").unwrap_err();
            assert!(matches!(e, Error::Json { .. }), "{e}");
            assert!(e.to_string().contains("arch.json"));
        }
    }
}
