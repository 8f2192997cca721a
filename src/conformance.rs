//! The conformance runner: reads Keras fixture JSON files (format: `SCHEMA.md` of the
//! fixtures) and checks this crate against the outputs real Keras stored.
//!
//! Used by the test suite and by `wgpu-lstm conformance DIR [--device cpu|gpu|all]`.

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayD, IxDyn};
use serde_json::Value;

use crate::activation::KerasFlavour;
use crate::config::LstmConfig;
use crate::config::Precision;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::gpu::CallOptions;
use crate::layer::{Lstm, LstmInput};
use crate::layers::bidirectional::MergeMode;
use crate::layers::{Bidirectional, Layer, Recurrent};
use crate::model::{Model, ModelDef};
use crate::weights::LstmWeights;

/// Max abs error allowed on the CPU path (SCHEMA.md §8: ≥ 12× the worst f32 rounding seen).
pub const CPU_TOLERANCE: f32 = 1e-5;
/// Max abs error allowed on the GPU path: the GPU's `exp`/`tanh` are not correctly rounded
/// (Vulkan allows a few ULP, lavapipe's are polynomial approximations) and its dot products
/// sum in another order; the measured error stays well under this (see the test suite).
pub const GPU_TOLERANCE: f32 = 1e-4;

/// One call of a fixture.
#[derive(Debug, Clone)]
pub struct FixtureCall {
    /// (B, T, D)
    pub inputs: ArrayD<f32>,
    /// (B, T) or none.
    pub mask: Option<Array2<bool>>,
    /// (h, c), each (B, U), or none; a GRU's or SimpleRNN's fixture gives h alone, and c is
    /// then an empty (B, 0) array.
    pub initial_state: Option<(ArrayD<f32>, ArrayD<f32>)>,
    /// `layer.reset_states()` was called before this call.
    pub reset_states_before: bool,
    /// Expected arrays by name (`output`, `h`, `c`, …); null ones are left out.
    pub outputs: Vec<(String, ArrayD<f32>)>,
}

/// One fixture file.
///
/// ```no_run
/// let f = wgpu_lstm::conformance::Fixture::load("tests/fixtures/keras/k3_default.json".as_ref()).unwrap();
/// assert_eq!(f.kind, "lstm");
/// ```
#[derive(Debug, Clone)]
pub struct Fixture {
    /// The file stem.
    pub name: String,
    /// Where it was read from.
    pub path: PathBuf,
    /// `lstm`, `gru`, `simple_rnn`, `stacked` or `bidirectional`.
    pub kind: String,
    /// The Keras class of the layers (`layer` of the GRU / SimpleRNN fixtures,
    /// `SCHEMA_EXT.md`): `LSTM` when the file does not say.
    pub layer: String,
    /// The Keras flavour (from `keras_api`).
    pub flavour: KerasFlavour,
    /// The raw `config` object.
    pub config: Value,
    /// The raw `weights` object (kind `lstm`).
    pub weights: Value,
    /// The raw `layers` list (kinds `stacked`, `bidirectional`).
    pub layers: Vec<Value>,
    /// The calls, in order.
    pub calls: Vec<FixtureCall>,
}

fn json_err(path: &Path, reason: impl Into<String>) -> Error {
    Error::Json {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

/// Converts a nested JSON list of numbers into an array, checking it is rectangular.
///
/// The shape is read along the first elements, then the whole value is checked against it
/// (every list of a level the same length, numbers exactly at the last level) **before**
/// anything is allocated; the elements are then copied into a buffer of the size actually
/// counted, through the checked host-memory path ([`crate::host_memory`]). A ragged or
/// non-numeric value is an [`Error::Json`] naming `what`, the shape expected and the
/// first place that differs — a small document can never claim a huge array.
///
/// ```
/// let v = serde_json::json!([[1, 2, 3], [4, 5, 6]]);
/// let a = wgpu_lstm::conformance::json_array(&v, "x").unwrap();
/// assert_eq!(a.shape(), &[2, 3]);
/// assert!(wgpu_lstm::conformance::json_array(&serde_json::json!([[1], [2, 3]]), "x").is_err());
/// // a long first row claims a (3, 100000) array that the value does not hold
/// let ragged = serde_json::json!([vec![0; 100_000], [1], [2]]);
/// let e = wgpu_lstm::conformance::json_array(&ragged, "inputs").unwrap_err();
/// assert!(e.to_string().contains("inputs[1]"), "{e}");
/// ```
pub fn json_array(v: &Value, what: &str) -> Result<ArrayD<f32>> {
    let mut shape = Vec::new();
    let mut cur = v;
    while let Value::Array(items) = cur {
        shape.push(items.len());
        match items.first() {
            Some(first) => cur = first,
            None => break,
        }
    }
    let not_rectangular = |at: &str, found: String| Error::Json {
        path: what.to_string(),
        reason: format!(
            "`{what}` is not a rectangular array of numbers of shape {shape:?}: {what}{at} is {found}"
        ),
    };
    fn found(v: &Value) -> String {
        match v {
            Value::Array(a) => format!("a list of {}", a.len()),
            Value::Number(_) => "a number".into(),
            Value::Null => "null".into(),
            Value::Bool(_) => "a boolean".into(),
            Value::String(_) => "a string".into(),
            Value::Object(_) => "an object".into(),
        }
    }
    // Pass 1: check the whole value against the shape, allocating nothing (serde_json
    // bounds the nesting at 128 levels, so the recursion is bounded too); count the leaves.
    fn check(
        v: &Value,
        depth: usize,
        shape: &[usize],
        index: &mut Vec<usize>,
        leaves: &mut usize,
    ) -> std::result::Result<(), (String, String)> {
        let at = || index.iter().map(|i| format!("[{i}]")).collect::<String>();
        match v {
            Value::Array(items) if depth < shape.len() && items.len() == shape[depth] => {
                for (i, item) in items.iter().enumerate() {
                    index.push(i);
                    check(item, depth + 1, shape, index, leaves)?;
                    index.pop();
                }
                Ok(())
            }
            Value::Number(_) if depth == shape.len() => {
                *leaves += 1;
                Ok(())
            }
            other => Err((at(), found(other))),
        }
    }
    let mut leaves = 0usize;
    check(v, 0, &shape, &mut Vec::new(), &mut leaves)
        .map_err(|(at, found)| not_rectangular(&at, found))?;
    // Pass 2: copy the leaves into a buffer of the size counted (which the value holds).
    let mut data: Vec<f32> = crate::host_memory::vec_with_capacity(what, leaves)?;
    fn fill(v: &Value, out: &mut Vec<f32>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| fill(i, out)),
            Value::Number(n) => out.push(n.as_f64().unwrap_or(f64::NAN) as f32),
            _ => {}
        }
    }
    fill(v, &mut data);
    ArrayD::from_shape_vec(IxDyn(&shape), data).map_err(|e| Error::Json {
        path: what.to_string(),
        reason: e.to_string(),
    })
}

fn field<'a>(obj: &'a Value, key: &str, path: &Path) -> Result<&'a Value> {
    obj.get(key)
        .ok_or_else(|| json_err(path, format!("missing field `{key}`")))
}

fn opt_array(obj: &Value, key: &str, path: &Path) -> Result<Option<ArrayD<f32>>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => json_array(v, key)
            .map(Some)
            .map_err(|e| json_err(path, e.to_string())),
    }
}

impl Fixture {
    /// Reads and parses one fixture file. A malformed file is an [`Error::Json`] naming the
    /// file and the field.
    ///
    /// ```
    /// let err = wgpu_lstm::conformance::Fixture::parse("{}", "x.json".as_ref()).unwrap_err();
    /// assert!(err.to_string().contains("x.json"));
    /// ```
    pub fn load(path: &Path) -> Result<Fixture> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parses fixture JSON text (`path` is used for names and messages).
    ///
    /// ```
    /// assert!(wgpu_lstm::conformance::Fixture::parse("not json", "y.json".as_ref()).is_err());
    /// ```
    pub fn parse(text: &str, path: &Path) -> Result<Fixture> {
        let root: Value = serde_json::from_str(text).map_err(|e| json_err(path, e.to_string()))?;
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let kind = field(&root, "kind", path)?
            .as_str()
            .ok_or_else(|| json_err(path, "`kind` must be a string"))?
            .to_string();
        let api = field(&root, "keras_api", path)?
            .as_str()
            .ok_or_else(|| json_err(path, "`keras_api` must be a string"))?;
        let flavour = KerasFlavour::from_keras_api(api)?;
        let config = field(&root, "config", path)?.clone();
        let layer = match root.get("layer") {
            None | Some(Value::Null) => "LSTM".to_string(),
            Some(Value::String(l)) => l.clone(),
            Some(_) => return Err(json_err(path, "`layer` must be a class name")),
        };
        let weights = root.get("weights").cloned().unwrap_or(Value::Null);
        let layers = match root.get("layers") {
            Some(Value::Array(l)) => l.clone(),
            _ => Vec::new(),
        };
        let calls_v = field(&root, "calls", path)?
            .as_array()
            .ok_or_else(|| json_err(path, "`calls` must be a list"))?;
        let mut calls = Vec::new();
        for call in calls_v {
            let inputs = opt_array(call, "inputs", path)?
                .ok_or_else(|| json_err(path, "a call lacks `inputs`"))?;
            let mask = match opt_array(call, "mask", path)? {
                None => None,
                Some(m) => Some(
                    m.into_dimensionality::<ndarray::Ix2>()
                        .map_err(|_| json_err(path, "`mask` must be (B, T)"))?
                        .mapv(|v| v != 0.0),
                ),
            };
            let initial_state = match call.get("initial_state") {
                None | Some(Value::Null) => None,
                Some(s) => {
                    let h = opt_array(s, "h", path)?
                        .ok_or_else(|| json_err(path, "initial_state lacks `h`"))?;
                    let c = match opt_array(s, "c", path)? {
                        Some(c) => c,
                        None if layer != "LSTM" => {
                            ArrayD::zeros(IxDyn(&[h.shape().first().copied().unwrap_or(0), 0]))
                        }
                        None => return Err(json_err(path, "initial_state lacks `c`")),
                    };
                    Some((h, c))
                }
            };
            let reset_states_before = call
                .get("reset_states_before")
                .and_then(Value::as_bool)
                .unwrap_or(false);
            let outs = field(call, "outputs", path)?
                .as_object()
                .ok_or_else(|| json_err(path, "`outputs` must be an object"))?;
            let mut outputs = Vec::new();
            for (k, v) in outs {
                if k == "layer_outputs" || v.is_null() {
                    continue;
                }
                outputs.push((
                    k.clone(),
                    json_array(v, k).map_err(|e| json_err(path, e.to_string()))?,
                ));
            }
            calls.push(FixtureCall {
                inputs,
                mask,
                initial_state,
                reset_states_before,
                outputs,
            });
        }
        Ok(Fixture {
            name,
            path: path.to_path_buf(),
            kind,
            layer,
            flavour,
            config,
            weights,
            layers,
            calls,
        })
    }

    /// The layer config and weights of a kind-`lstm` fixture.
    ///
    /// ```no_run
    /// let f = wgpu_lstm::conformance::Fixture::load("tests/fixtures/keras/k3_default.json".as_ref()).unwrap();
    /// let (cfg, w) = f.lstm_layer().unwrap();
    /// assert_eq!(cfg.units, w.units());
    /// ```
    pub fn lstm_layer(&self) -> Result<(LstmConfig, LstmWeights)> {
        layer_from_json(
            &self.layer,
            &self.config,
            &self.weights,
            self.flavour,
            &self.path,
        )
    }
}

impl Fixture {
    /// The model of a `stacked` or `bidirectional` fixture (SCHEMA.md §6.5, §6.6).
    ///
    /// ```no_run
    /// let f = wgpu_lstm::conformance::Fixture::load("tests/fixtures/keras/k3_stacked.json".as_ref()).unwrap();
    /// assert_eq!(f.model_def().unwrap().layers.len(), 2);
    /// ```
    pub fn model_def(&self) -> Result<ModelDef> {
        let mut defs = Vec::new();
        for (i, l) in self.layers.iter().enumerate() {
            let cfg = l.get("config").unwrap_or(&Value::Null);
            let w = l.get("weights").unwrap_or(&Value::Null);
            defs.push(
                layer_from_json(&self.layer, cfg, w, self.flavour, &self.path)
                    .map_err(|e| json_err(&self.path, format!("layers[{i}]: {e}")))?,
            );
        }
        let layers = match self.kind.as_str() {
            "stacked" => defs
                .into_iter()
                .enumerate()
                .map(|(i, (config, weights))| {
                    Ok((
                        format!("{}_{i}", config.class_name().to_lowercase()),
                        Layer::Recurrent(Recurrent::new(config, weights)?),
                    ))
                })
                .collect::<Result<Vec<_>>>()?,
            "bidirectional" => {
                let [forward, backward]: [(LstmConfig, LstmWeights); 2] =
                    defs.try_into().map_err(|_| {
                        json_err(&self.path, "a bidirectional fixture has exactly 2 layers")
                    })?;
                let merge = MergeMode::from_keras(
                    self.config
                        .get("merge_mode")
                        .and_then(Value::as_str)
                        .or(Some("concat")),
                )?;
                vec![(
                    "bidirectional".to_string(),
                    Layer::Bidirectional(Bidirectional::new(
                        Recurrent::new(forward.0, forward.1)?,
                        Recurrent::new(backward.0, backward.1)?,
                        merge,
                    )?),
                )]
            }
            other => {
                return Err(Error::Unsupported(format!(
                    "fixture kind `{other}` has no model"
                )));
            }
        };
        Ok(ModelDef {
            name: self.name.clone(),
            flavour: self.flavour,
            layers,
        })
    }
}

/// Builds a config and weights from a fixture's `config` and `weights` objects, for a layer
/// of Keras class `layer` (`LSTM`, `GRU`, `SimpleRNN`).
pub(crate) fn layer_from_json(
    layer: &str,
    config: &Value,
    weights: &Value,
    flavour: KerasFlavour,
    path: &Path,
) -> Result<(LstmConfig, LstmWeights)> {
    let cell = crate::config::CellKind::from_class(layer).ok_or_else(|| {
        json_err(
            path,
            format!("`layer` {layer} is not LSTM, GRU or SimpleRNN"),
        )
    })?;
    let cfg = LstmConfig::from_keras_cell_json(cell, config, flavour)?;
    let k = opt_array(weights, "kernel", path)?
        .ok_or_else(|| json_err(path, "weights lack `kernel`"))?;
    let r = opt_array(weights, "recurrent_kernel", path)?
        .ok_or_else(|| json_err(path, "weights lack `recurrent_kernel`"))?;
    let b = opt_array(weights, "bias", path)?;
    let k = k
        .into_dimensionality()
        .map_err(|e| json_err(path, format!("kernel: {e}")))?;
    let r = r
        .into_dimensionality()
        .map_err(|e| json_err(path, format!("recurrent_kernel: {e}")))?;
    // a GRU's reset_after bias is (2, 3U): its rows in order, input bias first
    let b = b
        .map(|b| {
            let n = b.len();
            let flat = if b.ndim() == 2 || cfg.cell != crate::config::CellKind::Lstm {
                b.into_shape_with_order(IxDyn(&[n]))
            } else {
                Ok(b)
            };
            flat.and_then(|b| b.into_dimensionality())
        })
        .transpose()
        .map_err(|e| json_err(path, format!("bias: {e}")))?;
    Ok((cfg.clone(), LstmWeights::new_for(cfg.cell, k, r, b)?))
}

/// The result of one fixture on one device.
#[derive(Debug, Clone)]
pub struct FixtureResult {
    /// Fixture name.
    pub name: String,
    /// `cpu` or `gpu`.
    pub device: String,
    /// Max abs error over every compared array of every call (NaN if none ran).
    pub max_abs_err: f32,
    /// Whether it passed.
    pub passed: bool,
    /// Why it failed (empty when it passed).
    pub reason: String,
}

impl std::fmt::Display for FixtureResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let status = if self.passed { "ok  " } else { "FAIL" };
        write!(
            f,
            "{status} {:<44} {:<4} max abs err {:.3e}",
            self.name, self.device, self.max_abs_err
        )?;
        if !self.reason.is_empty() {
            write!(f, "  ({})", self.reason)?;
        }
        Ok(())
    }
}

/// Max abs difference of two arrays; `None` if the shapes differ.
///
/// ```
/// use ndarray::array;
/// let d = wgpu_lstm::conformance::max_abs_diff(&array![1.0f32, 2.0].into_dyn(), &array![1.0f32, 2.5].into_dyn());
/// assert_eq!(d, Some(0.5));
/// ```
pub fn max_abs_diff(a: &ArrayD<f32>, b: &ArrayD<f32>) -> Option<f32> {
    if a.shape() != b.shape() {
        return None;
    }
    Some(a.iter().zip(b.iter()).fold(0.0f32, |m, (x, y)| {
        let d = (x - y).abs();
        if d.is_nan() { f32::INFINITY } else { m.max(d) }
    }))
}

/// Runs a fixture on a device and compares every stored array.
///
/// ```no_run
/// use wgpu_lstm::{conformance, Device};
/// let f = conformance::Fixture::load("tests/fixtures/keras/k3_default.json".as_ref()).unwrap();
/// let r = conformance::run_fixture(&f, &Device::Cpu);
/// assert!(r.passed, "{r}");
/// ```
pub fn run_fixture(fixture: &Fixture, device: &Device) -> FixtureResult {
    let dev = match device {
        Device::Cpu => "cpu",
        Device::Gpu(_) => "gpu",
    };
    let tol = match device {
        Device::Cpu => CPU_TOLERANCE,
        Device::Gpu(_) => GPU_TOLERANCE,
    };
    let mut res = FixtureResult {
        name: fixture.name.clone(),
        device: dev.to_string(),
        max_abs_err: f32::NAN,
        passed: false,
        reason: String::new(),
    };
    match compare(fixture, device) {
        Ok(err) => {
            res.max_abs_err = err;
            res.passed = err <= tol;
            if !res.passed {
                res.reason = format!("above tolerance {tol:e}");
            }
        }
        Err(e) => res.reason = e.to_string(),
    }
    res
}

fn compare(fixture: &Fixture, device: &Device) -> Result<f32> {
    let outputs = run_calls(fixture, device)?;
    let mut worst = 0.0f32;
    for (i, (call, got)) in fixture.calls.iter().zip(&outputs).enumerate() {
        for (name, want) in &call.outputs {
            let Some((_, have)) = got.iter().find(|(n, _)| n == name) else {
                return Err(Error::Unsupported(format!(
                    "call {i}: this crate produced no `{name}`"
                )));
            };
            let d = max_abs_diff(have, want).ok_or_else(|| {
                Error::shape(
                    format!("call {i} `{name}`"),
                    format!("{:?}", want.shape()),
                    have.shape(),
                )
            })?;
            worst = worst.max(d);
        }
    }
    Ok(worst)
}

/// The named arrays one call produced (`output`, `h`, `c`, …).
pub type NamedArrays = Vec<(String, ArrayD<f32>)>;

/// Runs every call of a fixture, returning the named arrays of each call.
///
/// ```no_run
/// use wgpu_lstm::{conformance, Device};
/// let f = conformance::Fixture::load("tests/fixtures/keras/k3_stateful.json".as_ref()).unwrap();
/// let outs = conformance::run_calls(&f, &Device::Cpu).unwrap();
/// assert_eq!(outs.len(), f.calls.len());
/// ```
pub fn run_calls(fixture: &Fixture, device: &Device) -> Result<Vec<NamedArrays>> {
    run_calls_with(fixture, device, &CallOptions::default(), Precision::F32)
}

/// [`run_calls`] with per-call GPU options and a weight precision (the test suite runs every
/// fixture with every recurrent kernel forced, and with f16 recurrent weights).
///
/// ```no_run
/// use wgpu_lstm::{conformance, gpu::CallOptions, Device, Precision};
/// let f = conformance::Fixture::load("tests/fixtures/keras/k3_default.json".as_ref()).unwrap();
/// let outs = conformance::run_calls_with(&f, &Device::Cpu, &CallOptions::default(), Precision::F32).unwrap();
/// assert_eq!(outs.len(), 1);
/// ```
pub fn run_calls_with(
    fixture: &Fixture,
    device: &Device,
    opts: &CallOptions,
    precision: Precision,
) -> Result<Vec<NamedArrays>> {
    match fixture.kind.as_str() {
        "lstm" | "gru" | "simple_rnn" => {
            let (cfg, w) = fixture.lstm_layer()?;
            let mut layer = Lstm::on_device_with_precision(cfg, w, device, precision)?;
            layer.set_options(*opts);
            let mut all = Vec::new();
            for call in &fixture.calls {
                if call.reset_states_before {
                    layer.reset_states()?;
                }
                let mut input = LstmInput::new(call.inputs.view());
                if let Some(m) = &call.mask {
                    input = input.mask(m.view());
                }
                if let Some((h, c)) = &call.initial_state {
                    input = if c.is_empty() && !cfg_has_c(&layer) {
                        input.initial_h(h.view())
                    } else {
                        input.initial_state(h.view(), c.view())
                    };
                }
                let out = layer.call(input)?;
                let mut named = vec![("output".to_string(), out.output)];
                if let Some(h) = out.h {
                    named.push(("h".into(), h.into_dyn()));
                }
                if let Some(c) = out.c {
                    named.push(("c".into(), c.into_dyn()));
                }
                all.push(named);
            }
            Ok(all)
        }
        "stacked" | "bidirectional" => {
            let plan = fixture.model_def()?.plan()?;
            let mut model = Model::from_plan_with_precision(plan, device, precision)?;
            model.set_options(*opts);
            let mut all = Vec::new();
            for call in &fixture.calls {
                if call.reset_states_before {
                    model.reset_states()?;
                }
                let out = model.call(
                    call.inputs.view(),
                    call.mask.as_ref().map(|m| m.view().into_dyn()),
                )?;
                // outputs: the output, then (return_state) each direction's h and c (h alone
                // for a GRU or SimpleRNN)
                let names: &[&str] = if fixture.layer == "LSTM" {
                    &[
                        "output",
                        "forward_h",
                        "forward_c",
                        "backward_h",
                        "backward_c",
                    ]
                } else {
                    &["output", "forward_h", "backward_h"]
                };
                let named: NamedArrays = out
                    .outputs
                    .into_iter()
                    .enumerate()
                    .map(|(i, o)| {
                        let name = match (fixture.kind.as_str(), names.get(i)) {
                            ("bidirectional", Some(n)) => n.to_string(),
                            (_, _) if i == 0 => "output".to_string(),
                            _ => format!("output_{i}"),
                        };
                        (name, o)
                    })
                    .collect();
                all.push(named);
            }
            Ok(all)
        }
        other => Err(Error::Unsupported(format!(
            "fixture kind `{other}` (known: lstm, gru, simple_rnn, stacked, bidirectional)"
        ))),
    }
}

/// Whether a layer's cell has a cell state c (an LSTM's).
fn cfg_has_c(layer: &Lstm) -> bool {
    layer.config().cell.has_c()
}

/// Every `*.json` fixture in a directory (not recursive), sorted by name.
///
/// ```no_run
/// let files = wgpu_lstm::conformance::fixture_files("tests/fixtures/keras".as_ref()).unwrap();
/// assert!(!files.is_empty());
/// ```
pub fn fixture_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let rd = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut files: Vec<PathBuf> = rd
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}

/// Runs every fixture of a directory on every device, calling `report` with each result.
/// A file that fails to parse is reported as a failed result, never skipped.
///
/// ```no_run
/// use wgpu_lstm::{conformance, Device};
/// let results = conformance::run_dir("tests/fixtures/keras".as_ref(), &[Device::Cpu], |r| println!("{r}")).unwrap();
/// let failed = results.iter().filter(|r| !r.passed).count();
/// println!("{} passed, {failed} failed", results.len() - failed);
/// ```
pub fn run_dir(
    dir: &Path,
    devices: &[Device],
    mut report: impl FnMut(&FixtureResult),
) -> Result<Vec<FixtureResult>> {
    let mut results = Vec::new();
    for path in fixture_files(dir)? {
        let fixture = Fixture::load(&path);
        for device in devices {
            let r = match &fixture {
                Ok(f) => run_fixture(f, device),
                Err(e) => FixtureResult {
                    name: path
                        .file_stem()
                        .map(|s| s.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                    device: match device {
                        Device::Cpu => "cpu".into(),
                        Device::Gpu(_) => "gpu".into(),
                    },
                    max_abs_err: f32::NAN,
                    passed: false,
                    reason: e.to_string(),
                },
            };
            report(&r);
            results.push(r);
        }
    }
    Ok(results)
}
