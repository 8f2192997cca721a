//! tf-keras / Keras 2 legacy HDF5 layout (`model.save("m.h5")`, `save_weights("w.h5")`;
//! Keras 3 writes the same layout with the `:0` suffixes left off).
//!
//! ```text
//! /                       attrs: keras_version, backend, model_config (JSON, full model only)
//! /model_weights/         attrs: layer_names = [...] in model order   (full model)
//!                         (a weights-only file has layer_names on the root instead)
//! /model_weights/<layer>/ attrs: weight_names = ["lstm/lstm_cell/kernel:0", ...]
//! /model_weights/<layer>/<weight_name>   the dataset
//! ```
//!
//! Layers are matched by their real name (legacy files store it); each layer's arrays come
//! in the order of its `weight_names` — Keras's `layer.weights`, a wrapper's inner layers'
//! included. A nested model is one entry whose `weight_names` hold all its layers' arrays
//! (trainable ones first): each is given to the nested layer whose name is the first
//! component of its path that names one (`lstm_1/lstm_cell/kernel:0` → `lstm_1`;
//! Keras 3 adds the model's scope: `sequential/lstm/lstm_cell/kernel` → `lstm`), keeping
//! their order.

use std::collections::{HashMap, HashSet};

use super::arch::Arch;
use super::hdf5::H5;
use super::layers::{LayerPath, RawWeight, WeightSource, is_op};
use crate::error::{Error, Result};

/// Reads layers from a legacy Keras 2 HDF5 file.
pub(crate) struct LegacyWeights<'a> {
    h5: &'a H5,
    /// `/model_weights` for a full model, `` (the root) for a weights-only file.
    root: String,
    layer_names: Vec<String>,
    /// The child groups of the weights root, listed once: looking up a name that is not
    /// there would list the root again, so a long `layer_names` over a wide root would
    /// cost their product.
    groups: HashSet<String>,
    consumed: HashSet<String>,
}

impl<'a> LegacyWeights<'a> {
    /// Finds the weights root (`/model_weights` or the file's root) and its `layer_names`.
    pub(crate) fn new(h5: &'a H5) -> Result<Self> {
        let root = if h5.has_group("/model_weights")? {
            "/model_weights"
        } else {
            ""
        };
        let layer_names = h5
            .string_list_attr(if root.is_empty() { "/" } else { root }, "layer_names")?
            .ok_or_else(|| {
                Error::model_file(
                    h5.name(),
                    format!(
                        "{}: no attribute `layer_names`; not a Keras 2 weights layout",
                        if root.is_empty() { "/" } else { root }
                    ),
                )
            })?;
        let groups = h5
            .group_names(if root.is_empty() { "/" } else { root })?
            .into_iter()
            .collect();
        Ok(LegacyWeights {
            h5,
            root: root.to_string(),
            layer_names,
            groups,
            consumed: HashSet::new(),
        })
    }

    fn weight_names(&self, layer_name: &str) -> Result<Option<Vec<String>>> {
        if !self.groups.contains(layer_name) {
            return Ok(None);
        }
        let path = format!("{}/{layer_name}", self.root);
        self.h5.string_list_attr(&path, "weight_names")
    }
}

/// The names of a nested architecture's leaf layers, with their paths under `prefix`.
fn leaves(arch: &Arch, prefix: &[String], out: &mut Vec<(String, LayerPath)>) {
    for l in &arch.layers {
        let mut path = prefix.to_vec();
        path.push(l.name.clone());
        match &l.model {
            Some(m) => leaves(m, &path, out),
            None => out.push((l.name.clone(), path)),
        }
    }
}

impl LegacyWeights<'_> {
    fn read_datasets(&self, layer: &str, names: &[String]) -> Result<Vec<RawWeight>> {
        let path = format!("{}/{layer}", self.root);
        names
            .iter()
            .map(|n| {
                let p = format!("{path}/{n}");
                let (shape, data) = self.h5.read_f32(&p)?;
                Ok(RawWeight {
                    path: p,
                    shape,
                    data,
                })
            })
            .collect()
    }
}

impl WeightSource for LegacyWeights<'_> {
    fn read(&mut self, arch: &Arch) -> Result<HashMap<LayerPath, Vec<RawWeight>>> {
        let mut out: HashMap<LayerPath, Vec<RawWeight>> = HashMap::new();
        for layer in &arch.layers {
            if is_op(layer) {
                continue;
            }
            self.consumed.insert(layer.name.clone());
            let listed = self.layer_names.iter().any(|n| n == &layer.name);
            let names = if listed {
                self.weight_names(&layer.name)?.unwrap_or_default()
            } else {
                Vec::new()
            };
            let raw = self.read_datasets(&layer.name, &names)?;
            match &layer.model {
                None => {
                    out.insert(vec![layer.name.clone()], raw);
                }
                Some(m) => {
                    let mut inner = Vec::new();
                    leaves(m, std::slice::from_ref(&layer.name), &mut inner);
                    for (w, wname) in raw.into_iter().zip(&names) {
                        let parts: Vec<&str> = wname.split('/').collect();
                        let target = parts[..parts.len().saturating_sub(1)]
                            .iter()
                            .find_map(|c| inner.iter().find(|(n, _)| n == c));
                        let Some((_, path)) = target else {
                            return Err(Error::model_file(
                                self.h5.name(),
                                format!(
                                    "nested model `{}`: weight `{wname}` names none of its layers",
                                    layer.name
                                ),
                            ));
                        };
                        out.entry(path.clone()).or_default().push(w);
                    }
                }
            }
        }
        let mut seen = HashSet::new();
        for name in &self.layer_names {
            if self.consumed.contains(name) || !seen.insert(name) {
                continue;
            }
            if let Some(w) = self.weight_names(name)?
                && !w.is_empty()
            {
                return Err(Error::model_file(
                    self.h5.name(),
                    format!(
                        "the file holds weights for layer `{name}` ({}/{name}), which the architecture does not have",
                        self.root
                    ),
                ));
            }
        }
        Ok(out)
    }
}
