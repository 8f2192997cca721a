//! The architecture JSON (Keras 3 `config.json`, tf-keras `model_config`) as an ordered
//! chain of layers.
//!
//! Accepted: a `Sequential` model, or a `Functional` (tf-keras: `Model`) model whose graph
//! is a simple chain: one input layer first, every other layer called once on the output of
//! the layer listed before it, the last layer the one output. Anything else (nested models,
//! branches, several inputs/outputs, shared layers, extra tensors such as `initial_state`
//! passed between layers) is refused with [`Error::Unsupported`] naming the layer.

use std::collections::HashSet;

use serde_json::Value;

use crate::error::{Error, Result};

/// One layer entry of the architecture, in model order.
#[derive(Debug, Clone)]
pub(crate) struct ArchLayer {
    /// `class_name` as written (`LSTM`, `Dense`, `InputLayer`, ...).
    pub class_name: String,
    /// The layer's name (`config.name`).
    pub name: String,
    /// The layer's `config` object.
    pub config: Value,
    /// The feature size the file says this layer takes: the last entry of
    /// `build_config.input_shape` (Keras 3), of `batch_input_shape` (tf-keras, first
    /// layer), or of an `InputLayer`'s `batch_shape` / `batch_input_shape`.
    pub input_dim_hint: Option<usize>,
}

/// The whole architecture.
#[derive(Debug, Clone)]
pub(crate) struct Arch {
    /// `Sequential` or `Functional` (tf-keras's `Model` is reported as `Functional`).
    pub class_name: String,
    /// The model's name (`config.name`), `""` when the file has none.
    pub model_name: String,
    /// The layers in model order.
    pub layers: Vec<ArchLayer>,
    /// Feature size from the model-level `build_input_shape` / `build_config`, when present.
    pub build_input_dim: Option<usize>,
}

fn json_err(src: &str, reason: impl Into<String>) -> Error {
    Error::Json {
        path: src.to_string(),
        reason: reason.into(),
    }
}

/// The last entry of a shape list like `[null, 6, 3]`, when it is a positive integer.
pub(crate) fn last_dim(shape: Option<&Value>) -> Option<usize> {
    let arr = shape?.as_array()?;
    let last = arr.last()?.as_u64()?;
    usize::try_from(last).ok().filter(|&d| d > 0)
}

fn is_model_class(class: &str) -> bool {
    matches!(class, "Sequential" | "Functional" | "Model")
}

/// Parses `{"class_name": ..., "config": {"name": ..., "layers": [...]}}`.
pub(crate) fn parse_architecture(v: &Value, src: &str) -> Result<Arch> {
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

    let mut layers = Vec::with_capacity(entries.len());
    let mut seen = HashSet::new();
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
        if is_model_class(lclass) {
            return Err(Error::Unsupported(format!(
                "{src}: nested model `{name}` (class {lclass}) inside model `{model_name}`; only a flat chain of layers can be loaded"
            )));
        }
        if !seen.insert(name.clone()) {
            return Err(json_err(src, format!("two layers are named `{name}`")));
        }
        let input_dim_hint = last_dim(e.get("build_config").and_then(|b| b.get("input_shape")))
            .or_else(|| last_dim(lcfg.get("batch_input_shape")))
            .or_else(|| last_dim(lcfg.get("batch_shape")));
        layers.push(ArchLayer {
            class_name: lclass.to_string(),
            name,
            config: lcfg.clone(),
            input_dim_hint,
        });
    }

    if class_name == "Functional" {
        check_linear_chain(cfg, entries, &layers, &model_name, src)?;
    }
    Ok(Arch {
        class_name: class_name.to_string(),
        model_name,
        layers,
        build_input_dim: last_dim(cfg.get("build_input_shape"))
            .or_else(|| last_dim(v.get("build_config").and_then(|b| b.get("input_shape")))),
    })
}

/// Collects the names of the layers whose tensors one inbound node reads.
///
/// Keras 3 nodes are `{"args": [...], "kwargs": {...}}` with tensors as
/// `{"class_name": "__keras_tensor__", "config": {"keras_history": [name, i, j]}}`;
/// tf-keras nodes are lists of `[name, node_index, tensor_index, kwargs]`.
fn node_refs(node: &Value, out: &mut Vec<String>, depth: usize) {
    if depth > 64 {
        return;
    }
    match node {
        Value::Object(m) => {
            if m.get("class_name").and_then(Value::as_str) == Some("__keras_tensor__") {
                if let Some(h) = m
                    .get("config")
                    .and_then(|c| c.get("keras_history"))
                    .and_then(Value::as_array)
                    .and_then(|h| h.first())
                    .and_then(Value::as_str)
                {
                    out.push(h.to_string());
                }
                return;
            }
            for v in m.values() {
                node_refs(v, out, depth + 1);
            }
        }
        Value::Array(a) => {
            // A tf-keras tensor reference: [name, node_index, tensor_index, (kwargs)].
            if a.len() >= 3
                && a[0].is_string()
                && a[1].is_u64()
                && a[2].is_u64()
                && let Some(s) = a[0].as_str()
            {
                out.push(s.to_string());
                if let Some(kw) = a.get(3) {
                    node_refs(kw, out, depth + 1);
                }
                return;
            }
            for v in a {
                node_refs(v, out, depth + 1);
            }
        }
        _ => {}
    }
}

fn io_refs(v: Option<&Value>) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(v) = v {
        node_refs(v, &mut out, 0);
    }
    out
}

fn check_linear_chain(
    cfg: &Value,
    entries: &[Value],
    layers: &[ArchLayer],
    model: &str,
    src: &str,
) -> Result<()> {
    let unsupported = |what: String| {
        Err(Error::Unsupported(format!(
            "{src}: model `{model}`: {what}; only a linear chain of layers (one input, each layer feeding the next, one output) can be loaded"
        )))
    };
    let Some(first) = layers.first() else {
        return unsupported("it has no layers".into());
    };
    if first.class_name != "InputLayer" {
        return unsupported(format!(
            "its first layer `{}` is a {}, not an InputLayer",
            first.name, first.class_name
        ));
    }
    for (i, (e, l)) in entries.iter().zip(layers).enumerate() {
        let nodes = e
            .get("inbound_nodes")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        if i == 0 {
            if !nodes.is_empty() {
                return unsupported(format!("input layer `{}` has inbound nodes", l.name));
            }
            continue;
        }
        if l.class_name == "InputLayer" {
            return unsupported(format!("it has a second input layer `{}`", l.name));
        }
        if nodes.len() != 1 {
            return unsupported(format!(
                "layer `{}` is called {} times (shared or unused layer)",
                l.name,
                nodes.len()
            ));
        }
        let mut refs = Vec::new();
        node_refs(&nodes[0], &mut refs, 0);
        let prev = &layers[i - 1].name;
        if refs.len() != 1 {
            return unsupported(format!(
                "layer `{}` takes {} tensors ({})",
                l.name,
                refs.len(),
                refs.join(", ")
            ));
        }
        if &refs[0] != prev {
            return unsupported(format!(
                "layer `{}` takes its input from `{}`, not from the layer listed before it (`{prev}`)",
                l.name, refs[0]
            ));
        }
    }
    let ins = io_refs(cfg.get("input_layers"));
    if ins.len() != 1 || ins[0] != first.name {
        return unsupported(format!("its inputs are [{}]", ins.join(", ")));
    }
    let outs = io_refs(cfg.get("output_layers"));
    let last = &layers[layers.len() - 1].name;
    if outs.len() != 1 || &outs[0] != last {
        return unsupported(format!("its outputs are [{}]", outs.join(", ")));
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
            {"class_name": "LSTM", "config": {"name": "l1", "units": 2}, "name": "l1", "inbound_nodes": [{"args": [t("in")], "kwargs": {"mask": null}}]},
            {"class_name": "Dense", "config": {"name": "d", "units": 1}, "name": "d", "inbound_nodes": [{"args": [t(second_input)], "kwargs": {}}]}
        ], "input_layers": [["in", 0, 0]], "output_layers": [["d", 0, 0]]}})
    }

    #[test]
    fn functional_chain_accepted_and_branch_refused() {
        let a = parse_architecture(&k3_functional("l1"), "t").unwrap();
        assert_eq!(a.class_name, "Functional");
        assert_eq!(a.layers.len(), 3);
        assert_eq!(a.layers[0].input_dim_hint, Some(3));
        let e = parse_architecture(&k3_functional("in"), "t").unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)), "{e}");
        assert!(e.to_string().contains("`d`"), "{e}");
    }

    #[test]
    fn tf_keras_functional_chain() {
        let v = json!({"class_name": "Model", "config": {"name": "m", "layers": [
            {"class_name": "InputLayer", "config": {"name": "input_1", "batch_input_shape": [null, 4, 2]}, "name": "input_1", "inbound_nodes": []},
            {"class_name": "LSTM", "config": {"name": "lstm", "units": 3}, "name": "lstm", "inbound_nodes": [[["input_1", 0, 0, {}]]]}
        ], "input_layers": [["input_1", 0, 0]], "output_layers": [["lstm", 0, 0]]}});
        let a = parse_architecture(&v, "t").unwrap();
        assert_eq!(a.class_name, "Functional");
    }

    #[test]
    fn nested_model_refused() {
        let v = json!({"class_name": "Sequential", "config": {"name": "outer", "layers": [
            {"class_name": "Sequential", "config": {"name": "inner", "layers": []}}
        ]}});
        let e = parse_architecture(&v, "t").unwrap_err();
        assert!(matches!(e, Error::Unsupported(_)));
        assert!(e.to_string().contains("inner"), "{e}");
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
