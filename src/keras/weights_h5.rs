//! Keras 3 weights layout (`.weights.h5`, and `model.weights.h5` inside a `.keras`): a tree
//! that mirrors the model's objects.
//!
//! ```text
//! /layers/<key>/vars/0, 1, ...           a layer's own variables (Dense: kernel, bias)
//! /layers/<key>/cell/vars/0, 1, 2        LSTM / GRU / SimpleRNN: the cell's
//! /layers/<key>/forward_layer/...        Bidirectional: each half, as a recurrent layer
//! /layers/<key>/backward_layer/...
//! /layers/<key>/layer/...                TimeDistributed: the inner layer
//! /layers/<key>/cell/cells/<key>/vars/   RNN(StackedRNNCells([...])): each cell
//! /layers/<key>/layers/<key>/...         a nested model: its own container
//! /vars/                                 empty group, attr name = model name
//! /optimizer/...                         optimizer state (ignored)
//! ```
//!
//! `<key>` is **not** the layer name: Keras (`saving_lib._save_container_state`) derives it
//! from the class name in container order, `snake_case(class)` for the first of a class and
//! `_1`, `_2`, ... after (`lstm`, `lstm_1`, `dense`). A Sequential's container leaves out
//! its InputLayer, a Functional's keeps its InputLayers; the operations Keras 3 records in
//! a Functional graph (`keras.src.ops.*`) are not in it. Keys are rebuilt the same way
//! here. Inside a `vars` group the datasets are named `0`, `1`, ... and sorted as numbers
//! (HDF5 lists them as text: `10` < `2`). Files written by the Keras 2.13 `.keras` format
//! keep the layers under `/_layer_checkpoint_dependencies`; that is accepted as Keras does.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::arch::{Arch, to_snake_case};
use super::hdf5::H5;
use super::layers::{LayerPath, RawWeight, WeightSource, is_op};
use crate::error::{Error, Result};

/// Deepest nesting of wrapped layers followed (a hostile config could nest without end).
const MAX_DEPTH: usize = 12;

/// Reads layers from a Keras 3 weights file.
pub(crate) struct Keras3Weights<'a> {
    h5: &'a H5,
    root: String,
}

/// Keras's `_get_unique_name` over one container: `name`, then `name_1`, `name_2`, ...
fn next_key(used: &mut HashMap<String, usize>, class: &str) -> String {
    let base = to_snake_case(class);
    match used.get_mut(&base) {
        Some(n) => {
            *n += 1;
            format!("{base}_{n}")
        }
        None => {
            used.insert(base.clone(), 0);
            base
        }
    }
}

/// `(class_name, config)` of a nested layer entry such as a wrapper's `layer`.
fn entry(v: Option<&Value>) -> Option<(String, Value)> {
    let v = v.filter(|v| !v.is_null())?;
    let class = v.get("class_name")?.as_str()?.to_string();
    Some((class, v.get("config").cloned().unwrap_or(Value::Null)))
}

impl<'a> Keras3Weights<'a> {
    /// Prepares to read `h5`; fails only when the file cannot be read at all.
    pub(crate) fn new(h5: &'a H5) -> Result<Self> {
        let root = if h5.has_group("/layers")? {
            "/layers"
        } else if h5.has_group("/_layer_checkpoint_dependencies")? {
            "/_layer_checkpoint_dependencies"
        } else {
            "/layers"
        };
        Ok(Keras3Weights {
            h5,
            root: root.to_string(),
        })
    }

    /// The numbered datasets of the `vars` group under `path`, in numeric order.
    fn own_vars(&self, path: &str, layer: &str) -> Result<Vec<RawWeight>> {
        let vars = format!("{path}/vars");
        if !self.h5.has_group(&vars)? {
            return Ok(Vec::new());
        }
        let mut idx = Vec::new();
        for name in self.h5.dataset_names(&vars)? {
            match name.parse::<usize>() {
                Ok(i) if i.to_string() == name => idx.push(i),
                _ => {
                    return Err(Error::model_file(
                        self.h5.name(),
                        format!("layer `{layer}`: dataset {vars}/{name} is not named by a number"),
                    ));
                }
            }
        }
        idx.sort_unstable();
        if idx.iter().enumerate().any(|(k, &i)| k != i) {
            return Err(Error::model_file(
                self.h5.name(),
                format!("layer `{layer}`: {vars} holds datasets {idx:?}, not 0, 1, 2, ..."),
            ));
        }
        idx.into_iter()
            .map(|i| {
                let p = format!("{vars}/{i}");
                let (shape, data) = self.h5.read_f32(&p)?;
                Ok(RawWeight {
                    path: p,
                    shape,
                    data,
                })
            })
            .collect()
    }

    /// A layer's arrays: its own variables, then its inner objects' in Keras's order.
    fn collect(
        &self,
        path: &str,
        class: &str,
        config: &Value,
        layer: &str,
        depth: usize,
    ) -> Result<Vec<RawWeight>> {
        if depth > MAX_DEPTH {
            return Err(Error::Unsupported(format!(
                "{}: layer `{layer}` wraps layers more than {MAX_DEPTH} deep",
                self.h5.name()
            )));
        }
        let mut out = self.own_vars(path, layer)?;
        let cell = |name: &str| (name.to_string(), Value::Null);
        let children: Vec<(&str, (String, Value))> = match class {
            "LSTM" | "GRU" | "SimpleRNN" => vec![("cell", cell("Cell"))],
            "Bidirectional" => {
                let fwd = entry(config.get("layer"));
                let bwd = entry(config.get("backward_layer")).or_else(|| fwd.clone());
                [("forward_layer", fwd), ("backward_layer", bwd)]
                    .into_iter()
                    .filter_map(|(k, e)| e.map(|e| (k, e)))
                    .collect()
            }
            "TimeDistributed" => entry(config.get("layer"))
                .map(|e| vec![("layer", e)])
                .unwrap_or_default(),
            "RNN" => entry(config.get("cell"))
                .map(|e| vec![("cell", e)])
                .unwrap_or_default(),
            "StackedRNNCells" => {
                let mut used = HashMap::new();
                let cells = config
                    .get("cells")
                    .and_then(Value::as_array)
                    .map(Vec::as_slice)
                    .unwrap_or(&[]);
                for c in cells {
                    if let Some((cclass, ccfg)) = entry(Some(c)) {
                        let key = next_key(&mut used, &cclass);
                        out.extend(self.collect(
                            &format!("{path}/cells/{key}"),
                            &cclass,
                            &ccfg,
                            layer,
                            depth + 1,
                        )?);
                    }
                }
                Vec::new()
            }
            _ => Vec::new(),
        };
        for (attr, (cclass, ccfg)) in children {
            out.extend(self.collect(
                &format!("{path}/{attr}"),
                &cclass,
                &ccfg,
                layer,
                depth + 1,
            )?);
        }
        Ok(out)
    }

    /// Reads a model's container at `path`, leaf layers under `prefix`.
    fn read_model(
        &self,
        arch: &Arch,
        path: &str,
        prefix: &[String],
        out: &mut HashMap<LayerPath, Vec<RawWeight>>,
        depth: usize,
    ) -> Result<()> {
        let mut used = HashMap::new();
        let mut consumed = HashSet::new();
        for layer in &arch.layers {
            if is_op(layer) || (arch.class_name == "Sequential" && layer.class_name == "InputLayer")
            {
                continue;
            }
            let key = next_key(&mut used, &layer.class_name);
            let lpath = format!("{path}/{key}");
            consumed.insert(key);
            let mut name = prefix.to_vec();
            name.push(layer.name.clone());
            match &layer.model {
                Some(m) if depth < MAX_DEPTH => {
                    self.read_model(m, &format!("{lpath}/layers"), &name, out, depth + 1)?
                }
                Some(_) => {
                    return Err(Error::Unsupported(format!(
                        "{}: models nested more than {MAX_DEPTH} deep",
                        self.h5.name()
                    )));
                }
                None => {
                    let w =
                        self.collect(&lpath, &layer.class_name, &layer.config, &layer.name, 0)?;
                    out.insert(name, w);
                }
            }
        }
        if self.h5.has_group(path)? {
            let extra = self
                .h5
                .child_groups_with_datasets(path, |k| consumed.contains(k))?;
            if let Some(key) = extra.first() {
                return Err(Error::model_file(
                    self.h5.name(),
                    format!(
                        "the weights file holds weights at {path}/{key} for which the architecture has no layer (more layers of that class in the file than in the config?)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl WeightSource for Keras3Weights<'_> {
    fn read(&mut self, arch: &Arch) -> Result<HashMap<LayerPath, Vec<RawWeight>>> {
        let mut out = HashMap::new();
        let root = self.root.clone();
        self.read_model(arch, &root, &[], &mut out, 0)?;
        Ok(out)
    }
}
