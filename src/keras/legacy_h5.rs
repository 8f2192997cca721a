//! tf-keras / Keras 2 legacy HDF5 layout (`model.save("m.h5")`, `save_weights("w.h5")`).
//!
//! ```text
//! /                       attrs: keras_version, backend, model_config (JSON, full model only)
//! /model_weights/         attrs: layer_names = [...] in model order   (full model)
//!                         (a weights-only file has layer_names on the root instead)
//! /model_weights/<layer>/ attrs: weight_names = ["lstm/lstm_cell/kernel:0", ...]
//! /model_weights/<layer>/<weight_name>   the dataset (the `:0` is part of its name)
//! ```
//!
//! Layers are matched by their real name (legacy files store it); each layer's arrays come
//! in the order of its `weight_names`, whose last path component (without `:0`) must name
//! the expected role: `kernel`, `recurrent_kernel`, `bias`. For `Bidirectional` the first
//! half belongs to the forward layer and the second half to the backward one (Keras's own
//! split); where the names carry `forward_` / `backward_` components they are checked too.

use std::collections::HashSet;

use super::arch::ArchLayer;
use super::hdf5::H5;
use super::layers::{Found, Kind, RawWeight, WeightSource, roles};
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

/// `lstm/lstm_cell/kernel:0` → `kernel`.
fn role_of(weight_name: &str) -> &str {
    let last = weight_name.rsplit('/').next().unwrap_or(weight_name);
    match last.rsplit_once(':') {
        Some((base, idx)) if idx.chars().all(|c| c.is_ascii_digit()) => base,
        _ => last,
    }
}

impl WeightSource for LegacyWeights<'_> {
    fn layer(&mut self, layer: &ArchLayer, kind: &Kind) -> Result<Found> {
        let src = self.h5.name().to_string();
        let path = format!("{}/{}", self.root, layer.name);
        let listed = self.layer_names.iter().any(|n| n == &layer.name);
        self.consumed.insert(layer.name.clone());
        let expected = roles(kind);
        if expected.is_empty() {
            if listed
                && let Some(names) = self.weight_names(&layer.name)?
                && !names.is_empty()
            {
                return Ok(Found::UnreadableWeights(path));
            }
            return Ok(Found::Nothing);
        }
        if !listed {
            return Err(Error::model_file(
                src,
                format!(
                    "layer `{}` ({}): its weights are missing: `layer_names` does not list it (no group {path})",
                    layer.name, layer.class_name
                ),
            ));
        }
        let names = self.weight_names(&layer.name)?.ok_or_else(|| {
            Error::model_file(
                &src,
                format!(
                    "layer `{}` ({}): its weights are missing: no group {path} with a `weight_names` attribute",
                    layer.name, layer.class_name
                ),
            )
        })?;
        if names.len() != expected.len() {
            return Err(Error::model_file(
                src,
                format!(
                    "layer `{}` ({}): {path} lists {} weights [{}], the config calls for {} [{}] (check use_bias)",
                    layer.name,
                    layer.class_name,
                    names.len(),
                    names.join(", "),
                    expected.len(),
                    expected.join(", ")
                ),
            ));
        }
        for (name, role) in names.iter().zip(&expected) {
            let want = role.rsplit('/').next().unwrap_or(role);
            let direction_ok = match role.split_once('/') {
                Some((dir, _)) => {
                    let other = if dir == "forward" {
                        "backward_"
                    } else {
                        "forward_"
                    };
                    !name.split('/').any(|seg| seg.starts_with(other))
                }
                None => true,
            };
            if role_of(name) != want || !direction_ok {
                return Err(Error::model_file(
                    src,
                    format!(
                        "layer `{}` ({}): weight `{name}` stands where `{role}` belongs (weight_names: [{}])",
                        layer.name,
                        layer.class_name,
                        names.join(", ")
                    ),
                ));
            }
        }
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
            .collect::<Result<Vec<_>>>()
            .map(Found::Weights)
    }

    fn finish(&mut self) -> Result<()> {
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
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::role_of;

    #[test]
    fn roles_from_weight_names() {
        assert_eq!(role_of("lstm/lstm_cell/kernel:0"), "kernel");
        assert_eq!(
            role_of("bidirectional/backward_lstm/lstm_cell/recurrent_kernel:0"),
            "recurrent_kernel"
        );
        assert_eq!(role_of("dense/bias:0"), "bias");
        assert_eq!(role_of("bias"), "bias");
    }
}
