//! Reading the fields of a Keras layer config (`get_config()` as a model file stores it) and
//! picking a layer's weights by name, with typed errors naming the field.

use ndarray::{Array1, Array2, ArrayD, Ix1, Ix2};
use serde_json::Value as Json;

use crate::error::{Error, Result};

/// A layer's weights by name (`"gamma"`, `"embeddings"`, …), as the class table hands them over.
pub(crate) type NamedWeights = [(String, ArrayD<f32>)];

/// The weight called `name` (or ending in `/name`), if present.
pub(crate) fn find<'a>(weights: &'a NamedWeights, name: &str) -> Option<&'a ArrayD<f32>> {
    weights
        .iter()
        .find(|(n, _)| n == name || n.rsplit('/').next() == Some(name))
        .map(|(_, a)| a)
}

/// The weight called `name`, or an error saying it is missing.
pub(crate) fn require<'a>(weights: &'a NamedWeights, name: &str) -> Result<&'a ArrayD<f32>> {
    find(weights, name).ok_or_else(|| {
        let have: Vec<&str> = weights.iter().map(|(n, _)| n.as_str()).collect();
        Error::config(
            name,
            format!(
                "the weight is missing (the layer has [{}])",
                have.join(", ")
            ),
        )
    })
}

/// A weight as a vector of `len` values.
pub(crate) fn vector(a: &ArrayD<f32>, name: &str, len: usize) -> Result<Array1<f32>> {
    if a.len() != len || a.ndim() != 1 {
        return Err(Error::shape(name, format!("({len},)"), a.shape()));
    }
    a.clone()
        .into_dimensionality::<Ix1>()
        .map_err(|_| Error::shape(name, format!("({len},)"), a.shape()))
}

/// A weight as a matrix.
pub(crate) fn matrix(a: &ArrayD<f32>, name: &str) -> Result<Array2<f32>> {
    a.clone()
        .into_dimensionality::<Ix2>()
        .map_err(|_| Error::shape(name, "a matrix", a.shape()))
}

/// A boolean field (absent or null: `default`).
pub(crate) fn boolean(cfg: &Json, field: &str, default: bool) -> Result<bool> {
    match cfg.get(field) {
        None | Some(Json::Null) => Ok(default),
        Some(Json::Bool(b)) => Ok(*b),
        Some(v) => Err(Error::config(
            field,
            format!("must be true or false, got {v}"),
        )),
    }
}

/// A number field (absent or null: `default`).
pub(crate) fn number(cfg: &Json, field: &str, default: f64) -> Result<f64> {
    match cfg.get(field) {
        None | Some(Json::Null) => Ok(default),
        Some(v) => v
            .as_f64()
            .ok_or_else(|| Error::config(field, format!("must be a number, got {v}"))),
    }
}

/// A positive integer field, if present.
pub(crate) fn count(cfg: &Json, field: &str) -> Result<Option<usize>> {
    match cfg.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(v) => match v.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if n >= 1 => Ok(Some(n)),
            _ => Err(Error::config(
                field,
                format!("must be a positive integer, got {v}"),
            )),
        },
    }
}

/// An integer list field (a single integer reads as a list of one).
pub(crate) fn int_list(cfg: &Json, field: &str) -> Result<Option<Vec<i64>>> {
    let bad = |v: &Json| {
        Error::config(
            field,
            format!("must be an integer or a list of them, got {v}"),
        )
    };
    match cfg.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Array(items)) => items
            .iter()
            .map(|i| i.as_i64().ok_or_else(|| bad(i)))
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(v) => v.as_i64().map(|i| Some(vec![i])).ok_or_else(|| bad(v)),
    }
}

/// A string field, if present.
pub(crate) fn string<'a>(cfg: &'a Json, field: &str) -> Result<Option<&'a str>> {
    match cfg.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::String(s)) => Ok(Some(s)),
        Some(v) => Err(Error::config(field, format!("must be a string, got {v}"))),
    }
}

/// A Keras axis (negative counts from the end) resolved for a tensor of `rank` (batch
/// included): an index in 1..rank, or an error (the batch axis cannot be one).
pub(crate) fn resolve_axis(axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a < 1 || a >= r {
        return Err(Error::config(
            "axis",
            format!("axis {axis} does not name a non-batch axis of a rank-{rank} input"),
        ));
    }
    Ok(a as usize)
}
