//! Keras `Embedding(input_dim, output_dim, mask_zero)`: each integer token id picks a row of
//! the `embeddings` table (input_dim, output_dim); the output is the input's shape plus
//! `output_dim`.
//!
//! What Keras does, checked against both versions (tests/fixtures/layers/emb_*):
//! * ids are read as integers: int32 / int64 as they are, floats cast to int32 (truncated
//!   toward zero: 2.9 → 2, -0.3 → 0);
//! * an id ≥ input_dim is an error in both versions; a negative id is an error in tf_keras,
//!   while Keras 3 on TensorFlow reads an id -k in [-input_dim, -1] as row input_dim - k (its
//!   `take` wraps negative indices like numpy) and refuses ids below -input_dim;
//! * `mask_zero`: the output carries the mask `id != 0`, taken on the ids as given (a float id
//!   0.7 reads row 0 but is valid); input_dim still counts id 0 (no shift). Without
//!   `mask_zero` the output has no mask (an input mask is dropped). This crate carries masks
//!   over (batch, time), so `mask_zero` needs (B, T) ids.
//!
//! GPU: `gpu/ops/embedding.rs`, `shaders/embedding.wgsl` (ids checked on the host first).

use ndarray::{Array2, ArrayD, IxDyn};
use serde_json::Value as Json;

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::state::LstmState;
use crate::tensor::{Dtype, TensorInfo, Value};

use super::keras_args;
use super::{LayerOps, one};

/// Keras `Embedding`.
///
/// ```
/// use wgpu_lstm::{layers::Embedding, KerasFlavour};
/// let e = Embedding::new(ndarray::Array2::zeros((10, 4)), true, KerasFlavour::Keras3).unwrap();
/// assert_eq!((e.input_dim(), e.output_dim()), (10, 4));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Embedding {
    /// The table (input_dim, output_dim).
    pub embeddings: Array2<f32>,
    /// Whether the output carries the mask `id != 0`.
    pub mask_zero: bool,
    /// Which Keras made it: Keras 3 reads a negative id -k as row input_dim - k, tf_keras
    /// refuses it.
    pub flavour: KerasFlavour,
}

impl Embedding {
    /// Checks the table: at least one row and one column, at most 2³¹ - 1 rows (Keras reads
    /// ids as int32).
    ///
    /// ```
    /// use wgpu_lstm::{layers::Embedding, KerasFlavour};
    /// assert!(Embedding::new(ndarray::Array2::zeros((0, 4)), false, KerasFlavour::Keras3).is_err());
    /// ```
    pub fn new(embeddings: Array2<f32>, mask_zero: bool, flavour: KerasFlavour) -> Result<Self> {
        if embeddings.is_empty() {
            return Err(Error::shape(
                "embeddings",
                "(input_dim, output_dim) with both >= 1",
                embeddings.shape(),
            ));
        }
        if embeddings.nrows() > i32::MAX as usize {
            return Err(Error::config(
                "input_dim",
                format!(
                    "{} rows: Keras reads ids as int32, so at most {} rows can be reached",
                    embeddings.nrows(),
                    i32::MAX
                ),
            ));
        }
        Ok(Embedding {
            embeddings,
            mask_zero,
            flavour,
        })
    }

    /// From a Keras config (`input_dim`, `output_dim`, `mask_zero`; tf_keras's `input_length`
    /// is ignored) and the weight `embeddings`.
    ///
    /// ```
    /// use wgpu_lstm::{layers::Embedding, KerasFlavour};
    /// let cfg = serde_json::json!({"input_dim": 3, "output_dim": 2, "mask_zero": true});
    /// let w = vec![("embeddings".to_string(), ndarray::ArrayD::zeros(vec![3, 2]))];
    /// let e = Embedding::from_keras(&cfg, &w, KerasFlavour::Keras3).unwrap();
    /// assert!(e.mask_zero);
    /// let bad = serde_json::json!({"input_dim": 4, "output_dim": 2});
    /// assert!(Embedding::from_keras(&bad, &w, KerasFlavour::Keras3).is_err());
    /// ```
    pub fn from_keras(
        cfg: &Json,
        weights: &[(String, ArrayD<f32>)],
        flavour: KerasFlavour,
    ) -> Result<Self> {
        if let Some(q) = cfg.get("quantization_config").filter(|q| !q.is_null()) {
            return Err(Error::Unsupported(format!(
                "a quantized Embedding (quantization_config {q})"
            )));
        }
        let table = keras_args::matrix(keras_args::require(weights, "embeddings")?, "embeddings")?;
        for (field, got) in [("input_dim", table.nrows()), ("output_dim", table.ncols())] {
            if let Some(want) = keras_args::count(cfg, field)?
                && want != got
            {
                return Err(Error::shape(
                    "embeddings",
                    format!("({field} = {want}) as the config says"),
                    table.shape(),
                ));
            }
        }
        Embedding::new(
            table,
            keras_args::boolean(cfg, "mask_zero", false)?,
            flavour,
        )
    }

    /// Vocabulary size: rows of the table.
    ///
    /// ```
    /// use wgpu_lstm::{layers::Embedding, KerasFlavour};
    /// assert_eq!(Embedding::new(ndarray::Array2::zeros((5, 1)), false, KerasFlavour::Keras2).unwrap().input_dim(), 5);
    /// ```
    pub fn input_dim(&self) -> usize {
        self.embeddings.nrows()
    }

    /// Width of one embedding.
    ///
    /// ```
    /// use wgpu_lstm::{layers::Embedding, KerasFlavour};
    /// assert_eq!(Embedding::new(ndarray::Array2::zeros((5, 3)), false, KerasFlavour::Keras2).unwrap().output_dim(), 3);
    /// ```
    pub fn output_dim(&self) -> usize {
        self.embeddings.ncols()
    }

    /// The table row an integer id reads, or `None` when Keras refuses the id.
    ///
    /// ```
    /// use wgpu_lstm::{layers::Embedding, KerasFlavour};
    /// let k3 = Embedding::new(ndarray::Array2::zeros((7, 2)), false, KerasFlavour::Keras3).unwrap();
    /// assert_eq!(k3.row(-1), Some(6));
    /// assert_eq!(k3.row(-8), None);
    /// assert_eq!(k3.row(7), None);
    /// let k2 = Embedding { flavour: KerasFlavour::Keras2, ..k3 };
    /// assert_eq!(k2.row(-1), None);
    /// ```
    pub fn row(&self, id: i64) -> Option<usize> {
        let v = self.input_dim() as i64;
        match id {
            0.. if id < v => Some(id as usize),
            _ if id < 0 && id >= -v && self.flavour == KerasFlavour::Keras3 => {
                Some((id + v) as usize)
            }
            _ => None,
        }
    }

    /// Which ids are valid, in words.
    fn valid_ids(&self) -> String {
        let v = self.input_dim();
        match self.flavour {
            KerasFlavour::Keras3 => {
                format!("Keras 3 reads ids in [-{v}, {v}) (input_dim {v}; -k is row {v} - k)")
            }
            KerasFlavour::Keras2 => format!("tf_keras reads ids in [0, {v}) (input_dim {v})"),
        }
    }

    /// The table row of every id of `x` (row-major), or the first refused id with its position.
    pub(crate) fn rows(&self, x: &Value) -> Result<Vec<usize>> {
        let bad = |token: String, flat: usize, shape: &[usize]| Error::TokenOutOfRange {
            token,
            position: unravel(flat, shape),
            input_dim: self.input_dim(),
            valid: self.valid_ids(),
        };
        match &x.tokens {
            Some(t) => {
                let t = t.as_standard_layout();
                t.iter()
                    .enumerate()
                    .map(|(i, &id)| {
                        self.row(id)
                            .ok_or_else(|| bad(id.to_string(), i, t.shape()))
                    })
                    .collect()
            }
            None => {
                let d = x.data.as_standard_layout();
                d.iter()
                    .enumerate()
                    .map(|(i, &f)| {
                        float_id(f)
                            .and_then(|id| self.row(id))
                            .ok_or_else(|| bad(f.to_string(), i, d.shape()))
                    })
                    .collect()
            }
        }
    }

    /// The `mask_zero` mask of (B, T) ids: `id != 0` on the ids as given.
    fn mask_of(&self, x: &Value) -> Option<Array2<bool>> {
        let shape = x.data.shape();
        if !self.mask_zero || shape.len() != 2 {
            return None;
        }
        let dim = (shape[0], shape[1]);
        Some(match &x.tokens {
            Some(t) => Array2::from_shape_fn(dim, |(b, s)| t[[b, s]] != 0),
            None => Array2::from_shape_fn(dim, |(b, s)| x.data[[b, s]] != 0.0),
        })
    }
}

/// A float id as Keras casts it to int32: truncated toward zero; NaN, ±inf and values
/// outside int32 have no row (`None`).
///
/// ```
/// use wgpu_lstm::layers::embedding::float_id;
/// assert_eq!(float_id(2.9), Some(2));
/// assert_eq!(float_id(-0.3), Some(0));
/// assert_eq!(float_id(f32::NAN), None);
/// assert_eq!(float_id(3e9), None);
/// ```
pub fn float_id(f: f32) -> Option<i64> {
    let t = f.trunc();
    (-2_147_483_648.0..2_147_483_648.0)
        .contains(&t)
        .then_some(t as i64)
}

/// Index `flat` of a row-major array of `shape`, as coordinates.
fn unravel(mut flat: usize, shape: &[usize]) -> Vec<usize> {
    let mut pos = vec![0; shape.len()];
    for (p, &d) in pos.iter_mut().zip(shape).rev() {
        *p = flat % d.max(1);
        flat /= d.max(1);
    }
    pos
}

impl LayerOps for Embedding {
    fn class_name(&self) -> &'static str {
        "Embedding"
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let x = one(inputs)?;
        if self.mask_zero && x.rank() != 2 {
            return Err(Error::Unsupported(format!(
                "Embedding(mask_zero=True) on ids {} makes a mask of that shape; this crate \
                 carries masks over (batch, time) only, so mask_zero needs (B, T) ids",
                x.keras_shape(None)
            )));
        }
        let mut shape = x.shape.clone();
        shape.push(Some(self.output_dim()));
        Ok(vec![TensorInfo {
            shape,
            dtype: Dtype::F32,
            masked: self.mask_zero,
        }])
    }

    fn param_count(&self) -> usize {
        self.embeddings.len()
    }

    fn detail(&self) -> String {
        format!(
            "input_dim={} output_dim={} mask_zero={}",
            self.input_dim(),
            self.output_dim(),
            self.mask_zero
        )
    }

    fn computes_mask(&self, _: &[TensorInfo]) -> bool {
        self.mask_zero
    }

    fn takes_tokens(&self) -> bool {
        true
    }

    fn check_host_inputs(&self, inputs: &[&Value]) -> Result<()> {
        match inputs.first() {
            Some(x) => self.rows(x).map(|_| ()),
            None => Ok(()),
        }
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let x = inputs[0];
        let rows = self.rows(x)?;
        let d = self.output_dim();
        let mut out = Vec::with_capacity(rows.len() * d);
        for r in rows {
            out.extend(self.embeddings.row(r).iter());
        }
        let mut shape = x.data.shape().to_vec();
        shape.push(d);
        let y = ArrayD::from_shape_vec(IxDyn(&shape), out)
            .map_err(|e| Error::shape("Embedding output", e.to_string(), &shape))?;
        Ok(vec![Value::new(y).masked(self.mask_of(x))])
    }
}
