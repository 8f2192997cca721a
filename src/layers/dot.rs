//! Keras `Dot(axes, normalize)`: the batchwise dot product of two tensors along one axis of
//! each.
//!
//! What Keras does (Keras 3.15.1 and tf_keras 2.21; fixtures `tests/fixtures/layers/dot_*`,
//! made by `scripts/gen_fixtures/gen_dot_cases.py`):
//! * `axes` is an int (the same axis of both inputs; a negative one counts from each input's
//!   end, batch included) or a pair; the batch axis cannot be one, and the two axes' sizes
//!   must match.
//! * The output is `x`'s other non-batch axes followed by `y`'s, in order
//!   (`out[b, I, J] = Σ_k x[b, I, k] · y[b, k, J]`); two rank-2 inputs give `(B, 1)`.
//! * `normalize` L2-normalises each input along its axis first: Keras 3
//!   `x · min(rsqrt(Σx²), 1/1e-7)`, tf_keras `x · rsqrt(max(Σx², 1e-12))`.
//! * The mask is dropped (`compute_mask` is None in both versions).
//!
//! GPU: `gpu/ops/dot.rs`, `shaders/dot.wgsl`.

use ndarray::{ArrayD, IxDyn};
use serde_json::Value as Json;

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};

use super::LayerOps;

/// Keras `Dot`.
///
/// ```
/// use wgpu_lstm::layers::Dot;
/// use wgpu_lstm::KerasFlavour;
/// let d = Dot::from_keras(&serde_json::json!({"axes": [2, 2], "normalize": false}), KerasFlavour::Keras3).unwrap();
/// assert_eq!(d.axes, (2, 2));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Dot {
    /// The axis of each input as the config gives it (an int config repeats it).
    pub axes: (i64, i64),
    /// L2-normalise along the axes first.
    pub normalize: bool,
    /// Which Keras: decides normalize's epsilon.
    pub flavour: KerasFlavour,
}

/// Where a dot product reads: `b` rows, `i` of `x`'s free elements, `j` of `y`'s, `k` summed;
/// `x_post` / `y_post`: how many elements follow the contracted axis in each input (its
/// stride).
///
/// ```
/// use wgpu_lstm::layers::dot::DotGeometry;
/// let g = DotGeometry::new(&[2, 4, 3], &[2, 5, 3], 2, 2).unwrap();
/// assert_eq!((g.b, g.i, g.j, g.k, g.x_post, g.y_post), (2, 4, 5, 3, 1, 1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DotGeometry {
    /// Batch rows.
    pub b: usize,
    /// `x`'s free elements per row.
    pub i: usize,
    /// `y`'s free elements per row.
    pub j: usize,
    /// The contracted size.
    pub k: usize,
    /// Elements after `x`'s contracted axis.
    pub x_post: usize,
    /// Elements after `y`'s contracted axis.
    pub y_post: usize,
}

impl DotGeometry {
    /// For the two inputs' shapes (batch first) and resolved axes.
    ///
    /// ```
    /// use wgpu_lstm::layers::dot::DotGeometry;
    /// assert!(DotGeometry::new(&[2, 4, 3], &[2, 5, 4], 2, 2).is_err());
    /// ```
    pub fn new(x: &[usize], y: &[usize], a0: usize, a1: usize) -> Result<Self> {
        if x.first() != y.first() {
            return Err(Error::shape(
                "Dot inputs",
                format!("the same batch size as {x:?}"),
                y,
            ));
        }
        if a0 == 0 || a1 == 0 || a0 >= x.len() || a1 >= y.len() || x[a0] != y[a1] {
            return Err(Error::shape(
                "Dot inputs",
                format!("axis {a1} of the same size as axis {a0} of {x:?}"),
                y,
            ));
        }
        let p = |s: &[usize]| s.iter().product::<usize>();
        Ok(DotGeometry {
            b: x[0],
            i: p(&x[1..a0]) * p(&x[a0 + 1..]),
            j: p(&y[1..a1]) * p(&y[a1 + 1..]),
            k: x[a0],
            x_post: p(&x[a0 + 1..]),
            y_post: p(&y[a1 + 1..]),
        })
    }
}

impl Dot {
    /// From a Keras config (`axes`: an int or a pair; `normalize`).
    ///
    /// ```
    /// use wgpu_lstm::layers::Dot;
    /// use wgpu_lstm::KerasFlavour;
    /// assert!(Dot::from_keras(&serde_json::json!({"axes": [1, 2, 3]}), KerasFlavour::Keras2).is_err());
    /// assert_eq!(Dot::from_keras(&serde_json::json!({"axes": -1}), KerasFlavour::Keras2).unwrap().axes, (-1, -1));
    /// ```
    pub fn from_keras(cfg: &Json, flavour: KerasFlavour) -> Result<Self> {
        let axes = match cfg.get("axes") {
            Some(Json::Number(n)) => {
                let a = n
                    .as_i64()
                    .ok_or_else(|| Error::config("axes", format!("must be an integer, got {n}")))?;
                (a, a)
            }
            Some(Json::Array(v)) if v.len() == 2 => {
                let a = |x: &Json| {
                    x.as_i64()
                        .ok_or_else(|| Error::config("axes", format!("must be integers, got {x}")))
                };
                (a(&v[0])?, a(&v[1])?)
            }
            other => {
                return Err(Error::config(
                    "axes",
                    format!("must be an integer or a pair of integers, got {other:?}"),
                ));
            }
        };
        let normalize = match cfg.get("normalize") {
            None | Some(Json::Null) => false,
            Some(Json::Bool(b)) => *b,
            Some(v) => {
                return Err(Error::config(
                    "normalize",
                    format!("must be a bool, got {v}"),
                ));
            }
        };
        Ok(Dot {
            axes,
            normalize,
            flavour,
        })
    }

    /// The axes resolved for inputs of these ranks (batch included): a negative axis
    /// counts from the end; the batch axis and axes outside the inputs are errors.
    ///
    /// ```
    /// use wgpu_lstm::layers::Dot;
    /// use wgpu_lstm::KerasFlavour;
    /// let d = Dot { axes: (-1, -1), normalize: false, flavour: KerasFlavour::Keras3 };
    /// assert_eq!(d.resolve(3, 2).unwrap(), (2, 1));
    /// let d = Dot { axes: (0, 0), ..d };
    /// assert!(d.resolve(3, 3).is_err());
    /// ```
    pub fn resolve(&self, r0: usize, r1: usize) -> Result<(usize, usize)> {
        let one = |a: i64, r: usize| -> Result<usize> {
            let v = if a < 0 { a.rem_euclid(r as i64) } else { a };
            if v == 0 || v >= r as i64 {
                return Err(Error::config(
                    "axes",
                    format!(
                        "axis {a} of a rank-{r} input: the batch axis and axes past the input \
                         cannot be contracted"
                    ),
                ));
            }
            Ok(v as usize)
        };
        Ok((one(self.axes.0, r0)?, one(self.axes.1, r1)?))
    }

    /// The factor normalize multiplies a vector of squared norm `s` by (each version's
    /// epsilon).
    ///
    /// ```
    /// use wgpu_lstm::layers::Dot;
    /// use wgpu_lstm::KerasFlavour;
    /// let d = Dot { axes: (1, 1), normalize: true, flavour: KerasFlavour::Keras3 };
    /// assert_eq!(d.inv_norm(0.0), 1e7);
    /// assert_eq!(Dot { flavour: KerasFlavour::Keras2, ..d }.inv_norm(0.0), 1e6);
    /// ```
    pub fn inv_norm(&self, s: f32) -> f32 {
        match self.flavour {
            KerasFlavour::Keras3 => (1.0 / s.sqrt()).min(1e7),
            KerasFlavour::Keras2 => 1.0 / s.max(1e-12).sqrt(),
        }
    }
}

/// `x`'s element of free index `i` and contracted index `k` in row `b` (see
/// [`DotGeometry`]); the same for `y` with `j`.
fn at(row: usize, free: usize, k: usize, kk: usize, post: usize) -> usize {
    let (pre, p) = (free / post.max(1), free % post.max(1));
    row + pre * kk * post + k * post + p
}

impl LayerOps for Dot {
    fn class_name(&self) -> &'static str {
        "Dot"
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        let [x, y] = inputs else {
            return Err(Error::config(
                "inputs",
                format!("a Dot layer takes 2 inputs, got {}", inputs.len()),
            ));
        };
        let (a0, a1) = self.resolve(x.rank(), y.rank())?;
        let (d0, d1) = (x.shape[a0 - 1], y.shape[a1 - 1]);
        if let (Some(p), Some(q)) = (d0, d1)
            && p != q
        {
            return Err(Error::config(
                "axes",
                format!(
                    "axis {a0} of {} ({p}) and axis {a1} of {} ({q}) differ",
                    x.keras_shape(None),
                    y.keras_shape(None)
                ),
            ));
        }
        let mut shape: Vec<Option<usize>> = Vec::new();
        shape.extend(
            x.shape
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != a0 - 1)
                .map(|(_, d)| *d),
        );
        shape.extend(
            y.shape
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != a1 - 1)
                .map(|(_, d)| *d),
        );
        if shape.is_empty() {
            shape.push(Some(1));
        }
        // Dot's compute_mask is None in both versions: the mask is dropped
        Ok(vec![TensorInfo::f32(shape)])
    }

    fn detail(&self) -> String {
        format!(
            "axes=({}, {}) normalize={}",
            self.axes.0, self.axes.1, self.normalize
        )
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        let [x, y] = inputs else {
            return Err(Error::config("inputs", "a Dot layer takes 2 inputs"));
        };
        let (xs, ys) = (x.data.shape(), y.data.shape());
        let (a0, a1) = self.resolve(xs.len(), ys.len())?;
        let g = DotGeometry::new(xs, ys, a0, a1)?;
        let mut shape = vec![g.b];
        shape.extend(
            xs[1..]
                .iter()
                .enumerate()
                .filter(|(i, _)| i + 1 != a0)
                .map(|(_, d)| *d),
        );
        shape.extend(
            ys[1..]
                .iter()
                .enumerate()
                .filter(|(i, _)| i + 1 != a1)
                .map(|(_, d)| *d),
        );
        if shape.len() == 1 {
            shape.push(1);
        }
        let mut out = crate::host_memory::zeros::<f32, _>("Dot output", IxDyn(&shape))?;
        let xd = x.data.as_standard_layout();
        let yd = y.data.as_standard_layout();
        let (Some(xv), Some(yv), Some(ov)) = (xd.as_slice(), yd.as_slice(), out.as_slice_mut())
        else {
            return Err(Error::shape("Dot input", "a standard-layout array", xs));
        };
        let norms = |v: &[f32], rows: usize, free: usize, post: usize| -> Vec<f32> {
            let mut n = Vec::with_capacity(rows * free);
            for b in 0..rows {
                for f in 0..free {
                    let s: f32 = (0..g.k)
                        .map(|k| {
                            let e = v[at(b * free * g.k, f, k, g.k, post)];
                            e * e
                        })
                        .sum();
                    n.push(if self.normalize {
                        self.inv_norm(s)
                    } else {
                        1.0
                    });
                }
            }
            n
        };
        crate::host_memory::check_host_bytes(
            "Dot norms",
            ((g.b as u128) * (g.i as u128 + g.j as u128)) * 4,
        )?;
        let (nx, ny) = (norms(xv, g.b, g.i, g.x_post), norms(yv, g.b, g.j, g.y_post));
        for b in 0..g.b {
            for i in 0..g.i {
                let rx = nx[b * g.i + i];
                for j in 0..g.j {
                    let ry = ny[b * g.j + j];
                    let mut s = 0.0f32;
                    for k in 0..g.k {
                        let xe = xv[at(b * g.i * g.k, i, k, g.k, g.x_post)];
                        let ye = yv[at(b * g.j * g.k, j, k, g.k, g.y_post)];
                        s += if self.normalize {
                            (xe * rx) * (ye * ry)
                        } else {
                            xe * ye
                        };
                    }
                    ov[(b * g.i + i) * g.j + j] = s;
                }
            }
        }
        let out: ArrayD<f32> = out;
        Ok(vec![Value::new(out)])
    }
}
