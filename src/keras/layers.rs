//! From an architecture and a weights file to a [`ModelFile`]: each layer gets its arrays in
//! Keras's order (a wrapper — Bidirectional, TimeDistributed, RNN — gets its inner layers'
//! arrays after its own), named by the roles the class table gives them
//! (`keras::classes::weight_roles`), or by their position when the class is unknown. Which
//! arrays a class must have, and their shapes, is checked when the layer is built.
//!
//! The file readers ([`super::weights_h5`], [`super::legacy_h5`]) only find arrays; they
//! hand them out per *leaf* layer, addressed by the names of the nested models above it and
//! its own name.

use std::collections::HashMap;

use super::arch::{Arch, ArchLayer};
use super::classes::weight_roles;
use super::{LayerSpec, ModelFile, WeightArray};
use crate::error::{Error, Result};

/// One array as a reader found it, before naming.
#[derive(Debug, Clone)]
pub(crate) struct RawWeight {
    /// Where it was found, e.g. `/layers/lstm/cell/vars/0`.
    pub path: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// A leaf layer's address: the names of the nested models above it, then its own.
pub(crate) type LayerPath = Vec<String>;

/// A reader of one file layout.
pub(crate) trait WeightSource {
    /// Every leaf layer's arrays in Keras order (leaf layers without weights may be left
    /// out). Arrays the architecture has no layer for are an error naming where they are.
    fn read(&mut self, arch: &Arch) -> Result<HashMap<LayerPath, Vec<RawWeight>>>;
}

/// Whether an architecture entry is an operation Keras 3 recorded in a Functional graph
/// (`keras.src.ops.*`), not a layer: it has no weights and no group in the weights file.
pub(crate) fn is_op(layer: &ArchLayer) -> bool {
    layer
        .module
        .as_deref()
        .is_some_and(|m| m.starts_with("keras.src.ops") || m.starts_with("keras.ops"))
}

/// Builds the [`ModelFile`] of `arch` with the arrays `source` finds.
pub(crate) fn assemble(
    arch: &Arch,
    keras_version: &str,
    src: &str,
    source: &mut dyn WeightSource,
) -> Result<ModelFile> {
    let mut weights = source.read(arch)?;
    model_file(arch, keras_version, &[], &mut weights, src)
}

fn model_file(
    arch: &Arch,
    keras_version: &str,
    prefix: &[String],
    weights: &mut HashMap<LayerPath, Vec<RawWeight>>,
    src: &str,
) -> Result<ModelFile> {
    let layers = arch
        .layers
        .iter()
        .map(|l| {
            let mut path = prefix.to_vec();
            path.push(l.name.clone());
            let model = match &l.model {
                Some(m) => Some(Box::new(model_file(m, keras_version, &path, weights, src)?)),
                None => None,
            };
            let raw = weights.remove(&path).unwrap_or_default();
            let roles = match weight_roles(&l.class_name, &l.config) {
                Some(r) if r.len() == raw.len() => r,
                Some(r) => {
                    let found: Vec<&str> = raw.iter().map(|w| w.path.as_str()).collect();
                    return Err(Error::model_file(
                        src,
                        format!(
                            "layer `{}` ({}): the file holds {} weight arrays [{}], the config \
                             calls for {} [{}]{}",
                            l.name,
                            l.class_name,
                            raw.len(),
                            found.join(", "),
                            r.len(),
                            r.join(", "),
                            if raw.is_empty() {
                                ": its weights are missing"
                            } else {
                                " (check use_bias)"
                            }
                        ),
                    ));
                }
                None => raw.iter().map(|w| w.path.clone()).collect(),
            };
            check_order(l, &raw, &roles, src)?;
            Ok(LayerSpec {
                class_name: l.class_name.clone(),
                name: l.name.clone(),
                config: l.config.clone(),
                weights: raw
                    .into_iter()
                    .zip(roles)
                    .map(|(w, name)| WeightArray {
                        name,
                        shape: w.shape,
                        data: w.data,
                    })
                    .collect(),
                module: l.module.clone(),
                calls: l.calls.clone(),
                model,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(ModelFile {
        keras_version: keras_version.to_string(),
        model_name: arch.model_name.clone(),
        class_name: arch.class_name.clone(),
        layers,
        inputs: arch.inputs.clone(),
        outputs: arch.outputs.clone(),
        build_input_shape: arch.build_input_shape.clone(),
    })
}

/// The last component of a stored name without its `:0` suffix (`dense/kernel:0` → `kernel`).
fn leaf(name: &str) -> &str {
    let last = name.rsplit('/').next().unwrap_or(name);
    last.split(':').next().unwrap_or(last)
}

/// Where the file names its arrays (legacy `weight_names` such as
/// `bidirectional/backward_lstm/lstm_cell/kernel:0`), each must fit the role its position
/// gives it: an array named for *another* role of the same layer, or for the other
/// direction of a Bidirectional, means the file lists them out of order — refused rather
/// than silently swapped. Names that fit no role (numbered Keras 3 variables, renamed
/// inner layers) are not judged.
fn check_order(l: &ArchLayer, raw: &[RawWeight], roles: &[String], src: &str) -> Result<()> {
    let leaves: Vec<&str> = roles.iter().map(|r| leaf(r)).collect();
    for (w, role) in raw.iter().zip(roles) {
        let found = leaf(&w.path);
        let wrong_leaf = found != leaf(role) && leaves.contains(&found);
        let direction = |d: &str| role.starts_with(&format!("{d}/"));
        let other_dir = (direction("forward") && w.path.contains("backward"))
            || (direction("backward") && w.path.contains("forward"));
        if wrong_leaf || other_dir {
            return Err(Error::model_file(
                src,
                format!(
                    "layer `{}` ({}): the array at `{}` stands where Keras keeps `{role}`; \
                     the file lists the layer's weights out of order",
                    l.name, l.class_name, w.path
                ),
            ));
        }
    }
    Ok(())
}
