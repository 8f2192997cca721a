//! `describe`: what exactly a Keras `LSTM(units)` configuration is — equations with shapes,
//! weight shapes, Keras's parameter count, output and state shapes, and what `stateful` keeps.

use std::fmt::Write;

use crate::config::LstmConfig;
use crate::error::{Error, Result};

/// Describes one LSTM layer on `input_dim` features, for a batch of `batch` rows and
/// `timesteps` steps (either may be unknown, shown as `B` / `T`).
///
/// Every number shown is computed in checked arithmetic: a configuration that
/// [`LstmConfig::validate`] refuses, `input_dim = 0`, or a parameter count that overflows is
/// an [`Error::Config`] naming the field — never a wrapped count.
///
/// ```
/// use wgpu_lstm::{describe::describe_layer, Error, LstmConfig};
/// let text = describe_layer(&LstmConfig::new(4), 3, None, None).unwrap();
/// assert!(text.contains("parameters: 128"));
/// assert!(text.contains("kernel            (3, 16)"));
/// // GRU(4) on 3 features (reset_after=True): 108 parameters, as Keras's summary() says
/// let gru = describe_layer(&LstmConfig::gru(4), 3, None, None).unwrap();
/// assert!(gru.contains("parameters: 108") && gru.contains("bias              (2, 12)"));
/// let e = describe_layer(&LstmConfig::new(1 << 62), 3, None, None).unwrap_err();
/// assert!(matches!(&e, Error::Config { field, .. } if field == "units"));
/// ```
pub fn describe_layer(
    cfg: &LstmConfig,
    input_dim: usize,
    batch: Option<usize>,
    timesteps: Option<usize>,
) -> Result<String> {
    cfg.validate()?;
    if input_dim == 0 {
        return Err(Error::config("input_dim", "must be at least 1, got 0"));
    }
    let params = cfg.param_count(input_dim)?;
    let u = cfg.units;
    let d = input_dim;
    // validate() and param_count() bound every product below: 4U·U and 4U·D fit, and so
    // do 2U, 3U, 4U.
    let b = batch.map_or("B".to_string(), |b| b.to_string());
    let t = timesteps.map_or("T".to_string(), |t| t.to_string());
    if cfg.cell != crate::config::CellKind::Lstm {
        // GRU, SimpleRNN
        return Ok(crate::cell::describe(cfg, d, params, &b, &t));
    }
    let mut s = String::new();
    let w = &mut s;
    let _ = writeln!(
        w,
        "LSTM({u}) on {d} input features ({}), activation={}, recurrent_activation={}",
        cfg.flavour.name(),
        cfg.activation,
        cfg.recurrent_activation
    );
    let _ = writeln!(
        w,
        "  one layer of {u} cells: the gates i, f, c, o and the states h, c are vectors of length {u} per batch row"
    );
    let _ = writeln!(
        w,
        "\nweights (Keras layout, gate blocks in order i | f | c | o, {u} columns each):"
    );
    let _ = writeln!(
        w,
        "  kernel            ({d}, {})   = {} params",
        4 * u,
        d * 4 * u
    );
    let _ = writeln!(
        w,
        "  recurrent_kernel  ({u}, {})   = {} params",
        4 * u,
        u * 4 * u
    );
    if cfg.use_bias {
        let _ = writeln!(w, "  bias              ({})      = {} params", 4 * u, 4 * u);
    } else {
        let _ = writeln!(w, "  bias              none (use_bias=False)");
    }
    let _ = writeln!(w, "  parameters: {params}");

    let _ = writeln!(w, "\nper timestep t, for each of the {b} batch rows:");
    let _ = writeln!(w, "  x_t ({d})  h_(t-1) ({u})  c_(t-1) ({u})");
    let bias = if cfg.use_bias { " + bias" } else { "" };
    let _ = writeln!(
        w,
        "  z   = x_t·kernel + h_(t-1)·recurrent_kernel{bias}        ({})",
        4 * u
    );
    let ra = cfg.recurrent_activation.formula();
    let a = cfg.activation.formula();
    let _ = writeln!(w, "  i   = ract(z[0:{u}])        input gate   ({u})");
    let _ = writeln!(w, "  f   = ract(z[{u}:{}])       forget gate  ({u})", 2 * u);
    let _ = writeln!(
        w,
        "  g   = act(z[{}:{}])        cell input   ({u})",
        2 * u,
        3 * u
    );
    let _ = writeln!(
        w,
        "  o   = ract(z[{}:{}])       output gate  ({u})",
        3 * u,
        4 * u
    );
    let _ = writeln!(
        w,
        "  c_t = f * c_(t-1) + i * g                              ({u})"
    );
    let _ = writeln!(
        w,
        "  h_t = o * act(c_t)      (the step's output)            ({u})"
    );
    let _ = writeln!(w, "  where ract(x) = {ra}, act(x) = {a}");

    let _ = writeln!(
        w,
        "\ncall: inputs ({b}, {t}, {d}), optional mask ({b}, {t}), optional initial_state [h ({b}, {u}), c ({b}, {u})]"
    );
    let order = if cfg.go_backwards {
        format!(
            "steps {t}-1 … 0 (go_backwards); a returned sequence stays in that processing order: out[:, k] is input step {t}-1-k"
        )
    } else {
        format!("steps 0 … {t}-1")
    };
    let _ = writeln!(w, "  processes {order}");
    let out = if cfg.return_sequences {
        format!("({b}, {t}, {u}): h_t for every step")
    } else {
        format!("({b}, {u}): the last step's h")
    };
    let _ = writeln!(w, "  output: {out}");
    if cfg.return_state {
        let _ = writeln!(
            w,
            "  return_state: also h_T ({b}, {u}) and c_T ({b}, {u}) → [output, h, c]"
        );
    }
    let _ = writeln!(
        w,
        "  masked steps: h, c carried unchanged; output = {}",
        if cfg.zero_output_for_mask {
            "0 (zero_output_for_mask)"
        } else {
            "the previous step's output (0 before the row's first valid step)"
        }
    );
    if cfg.stateful {
        let _ = writeln!(
            w,
            "\nstateful=True: h ({b}, {u}) and c ({b}, {u}) are kept after each call and are the \
             initial state of the next call (calls may differ in T, not in batch size {b}); \
             reset_states() sets them to zeros; an initial_state passed to a call overrides them. \
             The masked-output hold does not carry: each call starts with a previous output of 0."
        );
    } else {
        let _ = writeln!(
            w,
            "\nstateful=False: every call starts from h = c = 0 (or the given initial_state); nothing is kept."
        );
    }
    Ok(s)
}

// ---------------------------------------------------------------- whole model files

/// One row of [`describe_model`]'s table: a layer of the file, in model order.
///
/// ```
/// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
/// let file = wgpu_lstm::keras::load_keras_bytes(bytes, "demo.keras").unwrap();
/// let d = wgpu_lstm::describe::describe_model(&file, "demo.keras");
/// let lstm = &d.rows[1];
/// assert_eq!((lstm.name.as_str(), lstm.class_name.as_str(), lstm.params), ("lstm", "LSTM", 4352));
/// assert_eq!(lstm.output_shapes.as_deref(), Some(&["(None, None, 32)".to_string()][..]));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerRow {
    /// The layer's name.
    pub name: String,
    /// Its Keras class (`"LSTM"`, `"InputLayer"`, a nested model's `"Sequential"` /
    /// `"Functional"`, a Keras 3 graph operation's `"NotEqual"`, ...).
    pub class_name: String,
    /// Each output's shape as Keras writes it, batch first (`"(2, None, 6)"`: the model's
    /// fixed batch size and sequence length where it declares them, `None` where not);
    /// `None` where it cannot be known here (a layer this crate cannot run, the layers
    /// after it, a layer called more than once).
    pub output_shapes: Option<Vec<String>>,
    /// Keras's `count_params()`: every weight the layer (or nested model) holds,
    /// non-trainable ones (BatchNormalization's moving statistics) included.
    pub params: usize,
    /// A Keras 3 graph operation (a mask computation Keras records in a Functional config;
    /// not in Keras's `model.layers`).
    pub op: bool,
    /// Why this crate cannot run the layer (empty when it can): one entry per unsupported
    /// layer in it (a nested model may hold several).
    pub unsupported: Vec<String>,
    /// What the layer does, in short (units, activation, ...), where the plan knows it.
    pub detail: String,
}

/// What [`describe_model`] finds: every layer of a model file with output shapes and
/// Keras's parameter counts, whether or not this crate can run the model. `Display` prints
/// it as a table like Keras's `model.summary()`.
///
/// ```
/// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
/// let file = wgpu_lstm::keras::load_keras_bytes(bytes, "demo.keras").unwrap();
/// let d = wgpu_lstm::describe::describe_model(&file, "demo.keras");
/// assert_eq!(d.total_params, 4385);
/// assert!(d.problem.is_none());
/// assert!(d.to_string().contains("Total params: 4385"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDescription {
    /// The file's name, as given.
    pub file: String,
    /// The model's name.
    pub model_name: String,
    /// `"Sequential"` or `"Functional"`.
    pub class_name: String,
    /// The Keras version that saved it.
    pub keras_version: String,
    /// Every layer of the file (weightless ones, input layers and Keras 3 graph operations
    /// too), in model order; a nested model is one row.
    pub rows: Vec<LayerRow>,
    /// Keras's `model.count_params()`.
    pub total_params: usize,
    /// The model's inputs: name and shape (with the dtype when it is an integer input).
    pub inputs: Vec<(String, String)>,
    /// The model's output shapes, in its output order (empty when the plan cannot be built).
    pub outputs: Vec<String>,
    /// The batch size the model is built for, when it declares one (`batch_shape`); a
    /// stateful model refuses calls with another batch size.
    pub fixed_batch: Option<usize>,
    /// Whether a layer keeps state between calls (`stateful=True`).
    pub stateful: bool,
    /// Why the model cannot be run here (the error [`crate::model::Model::load`] gives),
    /// if it cannot.
    pub problem: Option<String>,
}

/// Describes a loaded model file: every layer (weightless ones too) with its output
/// shapes and Keras's `count_params()`, the model's inputs and outputs, and — for a model
/// this crate cannot run — the table all the same, with the unsupported layers marked and
/// the reason in [`ModelDescription::problem`]. Shapes come from the model's plan; when the
/// plan cannot be built, from the plan of the part before the first unsupported layer.
/// `file_name` names the file in the text.
///
/// ```
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keras/models/tfkeras2_seq_lstm.h5");
/// let file = wgpu_lstm::keras::load_model_file(std::path::Path::new(path)).unwrap();
/// let d = wgpu_lstm::describe::describe_model(&file, path);
/// assert!(d.rows.iter().any(|r| r.class_name == "LSTM" && r.params == 4 * 8 * (3 + 8 + 1)));
/// ```
pub fn describe_model(file: &crate::keras::ModelFile, file_name: &str) -> ModelDescription {
    use crate::keras::{ModelFile, plan_from_model_file};

    let (plan, problem) = match plan_from_model_file(file) {
        Ok(p) => (Some(p), None),
        Err(e) => {
            let e = match e {
                Error::Unsupported(m) if !m.starts_with(file_name) => {
                    Error::Unsupported(format!("{file_name}: {m}"))
                }
                e => e,
            };
            (runnable_part(file), Some(e.to_string()))
        }
    };
    let fixed_batch = declared_batch(file);
    let rows: Vec<LayerRow> = file
        .layers
        .iter()
        .map(|spec| {
            let node = plan
                .as_ref()
                .filter(|p| p.layer_outputs(&spec.name).is_none())
                .and_then(|p| single_node(p, &spec.name));
            LayerRow {
                name: spec.name.clone(),
                class_name: spec.class_name.clone(),
                output_shapes: plan.as_ref().and_then(|p| {
                    layer_infos(p, spec).map(|infos| {
                        infos
                            .iter()
                            .map(|i| i.keras_shape(fixed_batch))
                            .collect::<Vec<_>>()
                    })
                }),
                params: spec_params(spec),
                op: crate::keras::is_op_module(spec.module.as_deref()),
                unsupported: crate::keras::unsupported_layer(spec),
                detail: match (node, plan.as_ref()) {
                    (Some(n), _) => n.layer.detail(),
                    (None, Some(p)) => chain_detail(p, &spec.name),
                    (None, None) => String::new(),
                },
            }
        })
        .collect();
    let total_params = rows.iter().map(|r| r.params).sum();
    // the whole model's plan, or none (a partial plan gives no model outputs)
    let full = if problem.is_none() {
        plan.as_ref()
    } else {
        None
    };
    let inputs = match plan.as_ref() {
        Some(p) => p
            .inputs
            .iter()
            .map(|i| {
                let info = p.tensor(i.tensor);
                let dtype = match info.dtype {
                    crate::tensor::Dtype::Int => " int",
                    crate::tensor::Dtype::F32 => "",
                };
                (
                    i.name.clone(),
                    format!("{}{dtype}", info.keras_shape(fixed_batch)),
                )
            })
            .collect(),
        None => Vec::new(),
    };
    let outputs = full.map_or_else(Vec::new, |p| {
        p.outputs
            .iter()
            .map(|t| p.tensor(*t).keras_shape(fixed_batch))
            .collect()
    });
    fn stateful(f: &ModelFile) -> bool {
        f.layers.iter().any(|l| {
            l.model.as_deref().is_some_and(stateful)
                || [
                    Some(&l.config),
                    l.config.get("layer"),
                    l.config.get("backward_layer"),
                ]
                .into_iter()
                .flatten()
                .any(|c| {
                    c.get("config").unwrap_or(c).get("stateful")
                        == Some(&serde_json::Value::Bool(true))
                })
        })
    }
    ModelDescription {
        file: file_name.to_string(),
        model_name: file.model_name.clone(),
        class_name: file.class_name.clone(),
        keras_version: file.keras_version.clone(),
        rows,
        total_params,
        inputs,
        outputs,
        fixed_batch,
        stateful: stateful(file),
        problem,
    }
}

/// Every weight element a layer holds (a nested model: all its layers'), as Keras's
/// `count_params()` counts them. The weights are in memory, so the sum fits.
fn spec_params(spec: &crate::keras::LayerSpec) -> usize {
    let own: usize = spec.weights.iter().map(|w| w.data.len()).sum();
    own + spec
        .model
        .as_ref()
        .map_or(0, |m| m.layers.iter().map(spec_params).sum())
}

/// The node called `name`, when exactly one node has that name (a shared layer called
/// twice has no single output shape, as in Keras).
fn single_node<'p>(plan: &'p crate::plan::Plan, name: &str) -> Option<&'p crate::plan::Node> {
    let mut it = plan.nodes.iter().filter(|n| n.name == name);
    let first = it.next()?;
    it.next().is_none().then_some(first)
}

/// What a Keras layer that the plan holds as a chain of recurrent nodes does (see
/// [`crate::plan::Plan::layer_outputs`]): its cells in order, per direction for a
/// Bidirectional, and the merge; empty for any other layer.
fn chain_detail(plan: &crate::plan::Plan, name: &str) -> String {
    use crate::layers::Layer;
    if plan.layer_outputs(name).is_none() {
        return String::new();
    }
    let prefix = format!("{name}/");
    let part = |nodes: &[&crate::plan::Node]| -> String {
        nodes
            .iter()
            .filter_map(|n| match &n.layer {
                Layer::Recurrent(r) => Some(format!(
                    "{}({})",
                    r.config.cell.class_name(),
                    r.config.units
                )),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join(" → ")
    };
    let mine: Vec<&crate::plan::Node> = plan
        .nodes
        .iter()
        .filter(|n| n.name == name || n.name.starts_with(&prefix))
        .collect();
    let dir = |d: &str| -> Vec<&crate::plan::Node> {
        let p = format!("{name}/{d}");
        mine.iter()
            .copied()
            .filter(|n| n.name.starts_with(&p))
            .collect()
    };
    let (fwd, bwd) = (dir("forward"), dir("backward"));
    let flags = |nodes: &[&crate::plan::Node]| -> String {
        let last = nodes.iter().rev().find_map(|n| match &n.layer {
            Layer::Recurrent(r) => Some(&r.config),
            _ => None,
        });
        let mut f = String::new();
        if let Some(c) = last {
            for (on, what) in [
                (c.return_sequences, " return_sequences"),
                (c.return_state, " return_state"),
                (c.go_backwards, " go_backwards"),
                (c.stateful, " stateful"),
            ] {
                if on {
                    f.push_str(what);
                }
            }
        }
        f
    };
    if fwd.is_empty() && bwd.is_empty() {
        return format!("cells {}{}", part(&mine), flags(&mine));
    }
    let merge =
        mine.iter()
            .find(|n| n.name == name)
            .map_or("None", |n| match n.layer.class_name() {
                "Concatenate" => "concat",
                "Add" => "sum",
                "Multiply" => "mul",
                _ => "ave",
            });
    format!(
        "forward {}, backward {}, merge_mode={merge}{}",
        part(&fwd),
        part(&bwd),
        flags(&fwd)
    )
}

/// The output infos of a layer (or nested model), from the plan.
fn layer_infos(
    plan: &crate::plan::Plan,
    spec: &crate::keras::LayerSpec,
) -> Option<Vec<crate::tensor::TensorInfo>> {
    if spec.class_name == "InputLayer" {
        let input = plan.inputs.iter().find(|i| i.name == spec.name)?;
        return Some(vec![plan.tensor(input.tensor).clone()]);
    }
    if let Some(m) = &spec.model {
        return model_infos(plan, m);
    }
    if let Some(outs) = plan.layer_outputs(&spec.name) {
        return Some(outs.iter().map(|t| plan.tensor(*t).clone()).collect());
    }
    let node = single_node(plan, &spec.name)?;
    Some(
        node.outputs
            .iter()
            .map(|t| plan.tensor(*t).clone())
            .collect(),
    )
}

/// The output infos of a nested model, from its layers' nodes in the plan.
fn model_infos(
    plan: &crate::plan::Plan,
    m: &crate::keras::ModelFile,
) -> Option<Vec<crate::tensor::TensorInfo>> {
    if m.class_name == "Sequential" {
        let last = m.layers.iter().rfind(|l| l.class_name != "InputLayer")?;
        return layer_infos(plan, last);
    }
    m.outputs
        .iter()
        .map(|r| {
            let spec = m.layer(&r.layer)?;
            if spec.class_name == "InputLayer" {
                return None;
            }
            layer_infos(plan, spec)?.get(r.tensor).cloned()
        })
        .collect()
}

/// The batch size the model's (first) input declares (`batch_shape` / `batch_input_shape`
/// of its InputLayer or first layer, or a Sequential's build shape), if any.
fn declared_batch(file: &crate::keras::ModelFile) -> Option<usize> {
    let first_input = file
        .inputs
        .first()
        .and_then(|r| file.layer(&r.layer))
        .or_else(|| file.layers.iter().find(|l| l.class_name == "InputLayer"))
        .or_else(|| file.layers.first());
    let shape = first_input
        .and_then(|l| {
            l.config
                .get("batch_shape")
                .or_else(|| l.config.get("batch_input_shape"))
        })
        .or(file.build_input_shape.as_ref())?;
    shape
        .as_array()?
        .first()?
        .as_u64()
        .and_then(|b| usize::try_from(b).ok())
}

/// The plan of the part of a model this crate can build: a Sequential up to its first
/// unsupported layer; a Functional without its unsupported layers and every layer that
/// reads from them. `None` when even that does not build.
fn runnable_part(file: &crate::keras::ModelFile) -> Option<crate::plan::Plan> {
    use std::collections::HashSet;
    let unsupported = |l: &crate::keras::LayerSpec| !crate::keras::unsupported_layer(l).is_empty();
    let mut part = file.clone();
    if file.class_name == "Sequential" {
        let cut = file.layers.iter().position(unsupported)?;
        part.layers.truncate(cut);
    } else {
        let mut blocked: HashSet<&str> = file
            .layers
            .iter()
            .filter(|l| unsupported(l))
            .map(|l| l.name.as_str())
            .collect();
        loop {
            let before = blocked.len();
            for l in &file.layers {
                let reads_blocked = l.calls.iter().any(|c| {
                    c.inputs
                        .iter()
                        .chain(c.mask.iter())
                        .any(|t| blocked.contains(t.layer.as_str()))
                });
                if reads_blocked {
                    blocked.insert(l.name.as_str());
                }
            }
            if blocked.len() == before {
                break;
            }
        }
        part.layers.retain(|l| !blocked.contains(l.name.as_str()));
        part.outputs.retain(|r| !blocked.contains(r.layer.as_str()));
        if part.outputs.is_empty() {
            part.outputs = file.inputs.iter().take(1).cloned().collect();
        }
    }
    crate::keras::plan_from_model_file(&part).ok()
}

impl std::fmt::Display for ModelDescription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "{}: {} model \"{}\" (saved by Keras {})",
            self.file, self.class_name, self.model_name, self.keras_version
        )?;
        let shapes = |r: &LayerRow| match &r.output_shapes {
            None => "?".to_string(),
            Some(s) if s.len() == 1 => s[0].clone(),
            Some(s) => format!("[{}]", s.join(", ")),
        };
        let names: Vec<String> = self
            .rows
            .iter()
            .map(|r| {
                let kind = if r.op { " op" } else { "" };
                format!("{} ({}{kind})", r.name, r.class_name)
            })
            .collect();
        let w0 = names
            .iter()
            .map(|n| n.chars().count())
            .max()
            .unwrap_or(0)
            .max(12);
        let w1 = self
            .rows
            .iter()
            .map(|r| shapes(r).chars().count())
            .max()
            .unwrap_or(0)
            .max(12);
        writeln!(
            f,
            "{:<w0$}  {:<w1$}  {:>10}",
            "Layer (type)", "Output shape", "Param #"
        )?;
        for (r, name) in self.rows.iter().zip(&names) {
            let note = if !r.unsupported.is_empty() {
                format!("UNSUPPORTED: {}", r.unsupported.join("; "))
            } else {
                r.detail.clone()
            };
            let line = format!("{name:<w0$}  {:<w1$}  {:>10}  {note}", shapes(r), r.params);
            writeln!(f, "{}", line.trim_end())?;
        }
        writeln!(f, "Total params: {}", self.total_params)?;
        for (name, shape) in &self.inputs {
            writeln!(f, "input  {name}: {shape}")?;
        }
        for (i, shape) in self.outputs.iter().enumerate() {
            writeln!(f, "output {i}: {shape}")?;
        }
        if self.stateful {
            match self.fixed_batch {
                Some(b) => writeln!(
                    f,
                    "stateful: the recurrent states carry from call to call; every call takes batch size {b}"
                )?,
                None => writeln!(
                    f,
                    "stateful: the recurrent states carry from call to call; every call takes the first call's batch size"
                )?,
            }
        }
        if let Some(p) = &self.problem {
            writeln!(f, "cannot run: {p}")?;
        }
        Ok(())
    }
}
