//! Keras 3 weights layout (`.weights.h5`, and `model.weights.h5` inside a `.keras`).
//!
//! ```text
//! /layers/<key>/vars/                 empty group, attr name = layer name
//! /layers/<key>/cell/vars/0, 1, 2     LSTM: kernel, recurrent_kernel, bias
//! /layers/<key>/vars/0, 1             Dense: kernel, bias
//! /layers/<key>/forward_layer/cell/vars/0..2    Bidirectional(LSTM), forward
//! /layers/<key>/backward_layer/cell/vars/0..2   Bidirectional(LSTM), backward
//! /vars/                              empty group, attr name = model name
//! /optimizer/...                      optimizer state (ignored)
//! ```
//!
//! `<key>` is **not** the layer name: Keras (`saving_lib._save_container_state`) derives it
//! from the class name in model order, `snake_case(class)` for the first layer of a class
//! and `_1`, `_2`, ... after (`lstm`, `lstm_1`, `dense`, `bidirectional`). Keys are built
//! the same way here, so no listing order matters. Inside a `vars` group the datasets are
//! named `0`, `1`, ... and sorted as numbers (HDF5 lists them as text: `10` < `2`).
//! Files written by the Keras 2.13 `.keras` format keep the layers under
//! `/_layer_checkpoint_dependencies` instead of `/layers`; that is accepted as Keras does.

use std::collections::{HashMap, HashSet};

use super::arch::{ArchLayer, to_snake_case};
use super::hdf5::H5;
use super::layers::{Found, Kind, LstmDims, RawWeight, WeightSource};
use crate::error::{Error, Result};

/// Reads layers from a Keras 3 weights file.
pub(crate) struct Keras3Weights<'a> {
    h5: &'a H5,
    root: String,
    used: HashMap<String, usize>,
    consumed: HashSet<String>,
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
            used: HashMap::new(),
            consumed: HashSet::new(),
        })
    }

    /// Keras's `_get_unique_name`: `name`, then `name_1`, `name_2`, ...
    fn next_key(&mut self, class: &str) -> String {
        let base = to_snake_case(class);
        match self.used.get_mut(&base) {
            Some(n) => {
                *n += 1;
                format!("{base}_{n}")
            }
            None => {
                self.used.insert(base.clone(), 0);
                base
            }
        }
    }

    fn missing(&self, layer: &ArchLayer, path: &str) -> Error {
        Error::model_file(
            self.h5.name(),
            format!(
                "layer `{}` ({}): its weights are missing: no group {path} in the weights file",
                layer.name, layer.class_name
            ),
        )
    }

    /// Reads the numbered datasets `0..n` of the `vars` group at `path`.
    fn read_vars(&self, layer: &ArchLayer, path: &str, n: usize) -> Result<Vec<RawWeight>> {
        if !self.h5.has_group(path)? {
            return Err(self.missing(layer, path));
        }
        let mut idx = Vec::new();
        for name in self.h5.dataset_names(path)? {
            match name.parse::<usize>() {
                Ok(i) if i.to_string() == name => idx.push(i),
                _ => {
                    return Err(Error::model_file(
                        self.h5.name(),
                        format!(
                            "layer `{}`: dataset {path}/{name} is not named by a number",
                            layer.name
                        ),
                    ));
                }
            }
        }
        idx.sort_unstable();
        if idx.len() != n || idx.iter().enumerate().any(|(k, &i)| k != i) {
            return Err(Error::model_file(
                self.h5.name(),
                format!(
                    "layer `{}` ({}): {path} holds datasets {idx:?}, expected 0..{n} (check use_bias)",
                    layer.name, layer.class_name
                ),
            ));
        }
        idx.into_iter()
            .map(|i| {
                let p = format!("{path}/{i}");
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

fn n_lstm(d: &LstmDims) -> usize {
    if d.use_bias { 3 } else { 2 }
}

impl WeightSource for Keras3Weights<'_> {
    fn layer(&mut self, layer: &ArchLayer, kind: &Kind) -> Result<Found> {
        let key = self.next_key(&layer.class_name);
        let base = format!("{}/{key}", self.root);
        self.consumed.insert(key);
        match kind {
            Kind::Lstm(d) => self
                .read_vars(layer, &format!("{base}/cell/vars"), n_lstm(d))
                .map(Found::Weights),
            Kind::Bidirectional {
                forward, backward, ..
            } => {
                let mut w = self.read_vars(
                    layer,
                    &format!("{base}/forward_layer/cell/vars"),
                    n_lstm(forward),
                )?;
                w.extend(self.read_vars(
                    layer,
                    &format!("{base}/backward_layer/cell/vars"),
                    n_lstm(backward),
                )?);
                Ok(Found::Weights(w))
            }
            Kind::Dense { use_bias, .. } => self
                .read_vars(
                    layer,
                    &format!("{base}/vars"),
                    if *use_bias { 2 } else { 1 },
                )
                .map(Found::Weights),
            Kind::PassThrough | Kind::Other => {
                if self.h5.has_group(&base)? && self.h5.has_any_dataset(&base)? {
                    Ok(Found::UnreadableWeights(base))
                } else {
                    Ok(Found::Nothing)
                }
            }
        }
    }

    fn finish(&mut self) -> Result<()> {
        if !self.h5.has_group(&self.root)? {
            return Ok(());
        }
        let consumed = &self.consumed;
        let extra = self
            .h5
            .child_groups_with_datasets(&self.root, |k| consumed.contains(k))?;
        if let Some(key) = extra.first() {
            let path = format!("{}/{key}", self.root);
            return Err(Error::model_file(
                self.h5.name(),
                format!(
                    "the weights file holds weights at {path} for which the architecture has no layer (more layers of that class in the file than in the config?)"
                ),
            ));
        }
        Ok(())
    }
}
