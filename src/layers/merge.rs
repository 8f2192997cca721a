//! Keras's merge layers: `Concatenate(axis)`, `Add`, `Subtract`, `Multiply`, `Average`,
//! `Maximum`, `Minimum` ([`Merge`]), over a list of inputs.
//!
//! Shapes (both Keras versions): the element-wise kinds broadcast the shapes without the
//! batch axis numpy-style from the right (an input of lower rank gets axes inserted right
//! after the batch axis, as Keras's `expand_dims(x, 1)` does), a size 1 stretching to the
//! other size; `Concatenate` needs inputs of one rank, equal except on its axis.
//!
//! Masks differ between the versions (read in `keras/src/layers/merging/` and
//! `tf_keras/layers/merging/`; checked against both by the per-layer fixtures
//! `tests/fixtures/layers/merge_*`):
//!
//! | | Keras 3 | tf-keras |
//! |---|---|---|
//! | element-wise kinds | OR of the masks, **no mask when any input has none** | AND of the masks that exist |
//! | `Concatenate` on the feature axis | OR, an unmasked input counting as all valid (so a masked with an unmasked input gives an all-valid mask) | AND of the masks that exist |
//! | `Concatenate` on the time axis | the masks concatenated along time, all valid for an unmasked input | the same (Keras fails unless an unmasked input has one feature) |
//!
//! Keras 3's `Multiply`, `Maximum` and `Minimum` also let the masks change the **values**:
//! `Multiply` counts a masked step of an input as 1 and, when every input is masked, zeroes
//! the steps no input has valid; `Maximum` / `Minimum` take the extremum over the inputs
//! valid at a step (the fold in [`Merge::run`] spells out the exact rule, including inputs
//! without a mask). tf-keras computes all of them plainly.
//!
//! Masked inputs of rank 4 or more are refused where Keras itself fails on them (Keras 3
//! cannot broadcast a (B, T) mask to them in `Concatenate`, `Multiply`, `Maximum`,
//! `Minimum`), as are masked inputs whose rank or time axis differs from the output's.
//!
//! GPU: `gpu/ops/merge.rs`, `shaders/merge_layers.wgsl` (and the block copy of
//! `shaders/mask_ops.wgsl` for `Concatenate`).

use ndarray::{Array2, ArrayD, Axis, IxDyn};
use serde_json::Value as Json;

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value, check_mask};

use super::LayerOps;

/// The Keras classes of [`Merge`].
///
/// ```
/// assert!(wgpu_lstm::layers::merge::MERGE_CLASSES.contains(&"Average"));
/// ```
pub const MERGE_CLASSES: &[&str] = &[
    "Concatenate",
    "Add",
    "Subtract",
    "Multiply",
    "Average",
    "Maximum",
    "Minimum",
];

/// Which merge.
///
/// ```
/// use wgpu_lstm::layers::merge::MergeKind;
/// assert_eq!(MergeKind::Concatenate { axis: -1 }.class_name(), "Concatenate");
/// assert_eq!(MergeKind::Minimum.class_name(), "Minimum");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MergeKind {
    /// Concatenation along `axis` (Keras counts the batch as axis 0; negative counts from the
    /// end).
    Concatenate {
        /// The axis, as in the Keras config.
        axis: i64,
    },
    /// x₀ + x₁ + …
    Add,
    /// x₀ − x₁ (exactly two inputs).
    Subtract,
    /// x₀ · x₁ · …
    Multiply,
    /// (x₀ + x₁ + …) / n
    Average,
    /// Element-wise maximum.
    Maximum,
    /// Element-wise minimum.
    Minimum,
}

impl MergeKind {
    /// The Keras class name.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::layers::merge::MergeKind::Add.class_name(), "Add");
    /// ```
    pub fn class_name(self) -> &'static str {
        match self {
            MergeKind::Concatenate { .. } => "Concatenate",
            MergeKind::Add => "Add",
            MergeKind::Subtract => "Subtract",
            MergeKind::Multiply => "Multiply",
            MergeKind::Average => "Average",
            MergeKind::Maximum => "Maximum",
            MergeKind::Minimum => "Minimum",
        }
    }

    /// Whether it is an element-wise kind (all but `Concatenate`).
    ///
    /// ```
    /// use wgpu_lstm::layers::merge::MergeKind;
    /// assert!(MergeKind::Average.is_elementwise());
    /// assert!(!MergeKind::Concatenate { axis: 1 }.is_elementwise());
    /// ```
    pub fn is_elementwise(self) -> bool {
        !matches!(self, MergeKind::Concatenate { .. })
    }
}

/// A Keras merge layer, with the Keras version whose mask rules it follows.
///
/// ```
/// use wgpu_lstm::layers::merge::{Merge, MergeKind};
/// use wgpu_lstm::KerasFlavour;
/// let m = Merge::from_keras("Concatenate", &serde_json::json!({"axis": 1}), KerasFlavour::Keras2)
///     .unwrap();
/// assert_eq!(m.kind, MergeKind::Concatenate { axis: 1 });
/// assert!(Merge::from_keras("Dot", &serde_json::json!({}), KerasFlavour::Keras3).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Merge {
    /// Which merge.
    pub kind: MergeKind,
    /// The Keras version: decides the mask rules (and Keras 3's masked values).
    pub flavour: KerasFlavour,
}

/// How a merge's output mask comes from its inputs' masks (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MaskRule {
    /// No mask.
    None,
    /// Input `i`'s mask, unchanged (the first masked input).
    Pass(usize),
    /// The OR of these inputs' masks (two or more).
    Or(Vec<usize>),
    /// The AND of these inputs' masks (two or more).
    And(Vec<usize>),
    /// Every step valid.
    AllValid,
    /// Along time, per input: its mask (`true`) or all valid (`false`).
    TimeConcat(Vec<bool>),
}

impl MaskRule {
    /// Whether the output carries a mask.
    pub(crate) fn masked(&self) -> bool {
        *self != MaskRule::None
    }

    /// Whether the output's mask is a new one (not an input's, passed on).
    pub(crate) fn computes(&self) -> bool {
        !matches!(self, MaskRule::None | MaskRule::Pass(_))
    }
}

impl Merge {
    /// A merge of `kind` following `flavour`'s rules.
    ///
    /// ```
    /// use wgpu_lstm::layers::merge::{Merge, MergeKind};
    /// let m = Merge::new(MergeKind::Add, wgpu_lstm::KerasFlavour::Keras3);
    /// assert_eq!(m.kind, MergeKind::Add);
    /// ```
    pub fn new(kind: MergeKind, flavour: KerasFlavour) -> Self {
        Merge { kind, flavour }
    }

    /// From a Keras class name (one of [`MERGE_CLASSES`]) and config: `Concatenate` reads
    /// `axis` (an integer, default -1); the others have nothing to read.
    ///
    /// ```
    /// use wgpu_lstm::layers::merge::{Merge, MergeKind};
    /// use wgpu_lstm::KerasFlavour;
    /// let m = Merge::from_keras("Concatenate", &serde_json::json!({}), KerasFlavour::Keras3).unwrap();
    /// assert_eq!(m.kind, MergeKind::Concatenate { axis: -1 });
    /// let bad = serde_json::json!({"axis": "last"});
    /// assert!(Merge::from_keras("Concatenate", &bad, KerasFlavour::Keras3).is_err());
    /// ```
    pub fn from_keras(class_name: &str, cfg: &Json, flavour: KerasFlavour) -> Result<Self> {
        let kind = match class_name {
            "Concatenate" => {
                let axis = match cfg.get("axis") {
                    None | Some(Json::Null) => -1,
                    Some(v) => v.as_i64().ok_or_else(|| {
                        Error::config("axis", format!("must be an integer, got {v}"))
                    })?,
                };
                MergeKind::Concatenate { axis }
            }
            "Add" => MergeKind::Add,
            "Subtract" => MergeKind::Subtract,
            "Multiply" => MergeKind::Multiply,
            "Average" => MergeKind::Average,
            "Maximum" => MergeKind::Maximum,
            "Minimum" => MergeKind::Minimum,
            other => {
                return Err(Error::Unsupported(format!(
                    "{other} is not a merge layer of this crate ({})",
                    MERGE_CLASSES.join(", ")
                )));
            }
        };
        Ok(Merge { kind, flavour })
    }

    /// Checks the input count and the flavour against the plan's.
    fn check_inputs(&self, inputs: &[TensorInfo]) -> Result<()> {
        let n = inputs.len();
        if self.kind == MergeKind::Subtract && n != 2 {
            return Err(Error::config(
                "inputs",
                format!("a Subtract layer takes exactly 2 inputs, got {n}"),
            ));
        }
        if n == 0 {
            return Err(Error::config(
                "inputs",
                "a merge layer takes a list of at least one input",
            ));
        }
        Ok(())
    }

    /// The output shape without the batch axis.
    fn out_shape(&self, inputs: &[TensorInfo]) -> Result<Vec<Option<usize>>> {
        match self.kind {
            MergeKind::Concatenate { axis } => concat_shape(axis, inputs),
            _ => {
                let mut out = inputs[0].shape.clone();
                for t in &inputs[1..] {
                    out = broadcast_free(&out, &t.shape).ok_or_else(|| {
                        Error::config(
                            "inputs",
                            format!(
                                "{} needs shapes that broadcast, got {} and {}",
                                self.kind.class_name(),
                                inputs[0].keras_shape(None),
                                t.keras_shape(None)
                            ),
                        )
                    })?;
                }
                Ok(out)
            }
        }
    }

    /// How the output's mask comes from the inputs' (see the module docs), or why the
    /// masks cannot be merged.
    pub(crate) fn mask_rule(&self, inputs: &[TensorInfo]) -> Result<MaskRule> {
        let n = inputs.len();
        let masked: Vec<usize> = (0..n).filter(|&i| inputs[i].masked).collect();
        if masked.is_empty() {
            return Ok(MaskRule::None);
        }
        let k3 = self.flavour == KerasFlavour::Keras3;
        let all = masked.len() == n;
        let class = self.kind.class_name();
        let refuse = |why: String| Err(Error::Unsupported(format!("{class}: {why}")));
        let out = self.out_shape(inputs)?;
        let rank = out.len() + 1;
        // a masked input must line up with the output's (B, T)
        for &i in &masked {
            let t = &inputs[i];
            if t.rank() != rank {
                return refuse(format!(
                    "a masked input of shape {} with an output of rank {rank}: the (B, T) mask \
                     does not line up",
                    t.keras_shape(None)
                ));
            }
            let time_concat = matches!(self.kind, MergeKind::Concatenate { axis }
                if concat_axis(axis, rank).ok() == Some(1));
            if !time_concat
                && let (Some(a), Some(b)) = (t.shape[0], out[0])
                && a != b
            {
                return refuse(format!(
                    "a masked input of {a} steps broadcast to {b} steps: Keras cannot merge \
                     its mask"
                ));
            }
        }
        Ok(match self.kind {
            MergeKind::Concatenate { axis } => {
                let a = concat_axis(axis, rank)?;
                if rank >= 4 {
                    if k3 {
                        return refuse(format!(
                            "masked inputs of rank {rank}: Keras 3 cannot broadcast their \
                             (B, T) masks to them"
                        ));
                    }
                    if !all {
                        return refuse(format!(
                            "masked and unmasked inputs of rank {rank}: tf-keras cannot \
                             concatenate their masks"
                        ));
                    }
                    // tf-keras concatenates the (B, T, 1) masks on the same axis number
                    let m = if axis < 0 { 3 + axis } else { axis };
                    match (m, a) {
                        (2, _) if n == 1 => MaskRule::Pass(0),
                        (2, _) => MaskRule::And(masked),
                        (1, 1) if n == 1 => MaskRule::Pass(0),
                        (1, 1) => MaskRule::TimeConcat(vec![true; n]),
                        _ => {
                            return refuse(format!(
                                "axis {axis} on inputs of rank {rank}: tf-keras concatenates \
                                 their masks on another axis"
                            ));
                        }
                    }
                } else if a == 1 {
                    if !k3 {
                        for t in inputs.iter().filter(|t| !t.masked) {
                            if t.last() != Some(1) {
                                return refuse(format!(
                                    "tf-keras cannot concatenate along time a masked input \
                                     with an unmasked one of shape {} (its all-valid mask \
                                     has {} features, the others 1)",
                                    t.keras_shape(None),
                                    t.last().map_or("?".into(), |d| d.to_string())
                                ));
                            }
                        }
                    }
                    if n == 1 {
                        MaskRule::Pass(0)
                    } else {
                        MaskRule::TimeConcat(inputs.iter().map(|t| t.masked).collect())
                    }
                } else if k3 {
                    match (all, n) {
                        (true, 1) => MaskRule::Pass(0),
                        (true, _) => MaskRule::Or(masked),
                        (false, _) => MaskRule::AllValid,
                    }
                } else if masked.len() == 1 {
                    MaskRule::Pass(masked[0])
                } else {
                    MaskRule::And(masked)
                }
            }
            kind => {
                if k3
                    && rank >= 4
                    && matches!(
                        kind,
                        MergeKind::Multiply | MergeKind::Maximum | MergeKind::Minimum
                    )
                {
                    return refuse(format!(
                        "masked inputs of rank {rank}: Keras 3 cannot broadcast their (B, T) \
                         masks to them"
                    ));
                }
                if k3 {
                    match (all, n) {
                        (false, _) => MaskRule::None,
                        (true, 1) => MaskRule::Pass(0),
                        (true, _) => MaskRule::Or(masked),
                    }
                } else if masked.len() == 1 {
                    MaskRule::Pass(masked[0])
                } else {
                    MaskRule::And(masked)
                }
            }
        })
    }

    /// Whether Keras 3's mask-dependent values apply (Multiply, Maximum, Minimum with a
    /// masked input).
    pub(crate) fn masked_values(&self, inputs_masked: &[bool]) -> bool {
        self.flavour == KerasFlavour::Keras3
            && matches!(
                self.kind,
                MergeKind::Multiply | MergeKind::Maximum | MergeKind::Minimum
            )
            && inputs_masked.iter().any(|&m| m)
    }

    /// The merge on the CPU: the output value with its mask, as Keras computes them.
    ///
    /// Keras 3's masked `Maximum` / `Minimum` fold the inputs in order, with an output mask
    /// `om` that starts as input 0's mask (none if it has none): for each next input `x`
    /// with mask `m`, `x' = m ? x : out` (if `x` has a mask), `out' = om ? out : x'` (if
    /// `om` exists), `out = op(out', x')`, and `om = om | m` while both exist (else `om`
    /// is gone for good). Keras 3's masked `Multiply` multiplies `m ? x : 1` and, when every
    /// input is masked, zeroes the steps where no mask is valid.
    ///
    /// ```
    /// use ndarray::{array, Array2};
    /// use wgpu_lstm::layers::merge::{Merge, MergeKind};
    /// use wgpu_lstm::tensor::Value;
    /// use wgpu_lstm::KerasFlavour;
    /// let a = Value::new(array![[[1.0f32], [5.0]]].into_dyn())
    ///     .masked(Some(Array2::from_shape_vec((1, 2), vec![true, false]).unwrap()));
    /// let b = Value::new(array![[[3.0f32], [2.0]]].into_dyn())
    ///     .masked(Some(Array2::from_shape_vec((1, 2), vec![false, false]).unwrap()));
    /// // Keras 3: step 0 takes a's 1 (b is masked there), step 1 keeps a's 5 (nothing valid)
    /// let k3 = Merge::new(MergeKind::Maximum, KerasFlavour::Keras3).run(&[&a, &b]).unwrap();
    /// assert_eq!(k3.data.as_slice().unwrap(), &[1.0, 5.0]);
    /// assert_eq!(k3.mask.unwrap().as_slice().unwrap(), &[true, false]);
    /// // tf-keras: plain maximum, the masks ANDed
    /// let k2 = Merge::new(MergeKind::Maximum, KerasFlavour::Keras2).run(&[&a, &b]).unwrap();
    /// assert_eq!(k2.data.as_slice().unwrap(), &[3.0, 5.0]);
    /// assert_eq!(k2.mask.unwrap().as_slice().unwrap(), &[false, false]);
    /// ```
    pub fn run(&self, inputs: &[&Value]) -> Result<Value> {
        let infos: Vec<TensorInfo> = inputs
            .iter()
            .map(|v| {
                TensorInfo::f32(v.data.shape().iter().skip(1).map(|&d| Some(d)).collect())
                    .with_mask(v.mask.is_some())
            })
            .collect();
        self.check_inputs(&infos)?;
        let batch = inputs[0].batch();
        for (i, v) in inputs.iter().enumerate() {
            if v.data.ndim() < 2 {
                return Err(Error::shape(
                    format!("input {i}"),
                    "(B, ...) with at least one axis after the batch",
                    v.data.shape(),
                ));
            }
            if v.batch() != batch {
                return Err(Error::shape(
                    format!("input {i}"),
                    format!("batch {batch} like input 0"),
                    v.data.shape(),
                ));
            }
            if let Some(m) = &v.mask {
                check_mask(Some(&format!("input {i}")), &m.view(), v.data.shape())?;
            }
        }
        let rule = self.mask_rule(&infos)?;
        let out_free = self.out_shape(&infos)?;
        let mut out_shape = vec![batch];
        out_shape.extend(out_free.iter().map(|d| d.unwrap_or(0)));
        let data = match self.kind {
            MergeKind::Concatenate { axis } => {
                let a = concat_axis(axis, out_shape.len())?;
                let views: Vec<_> = inputs.iter().map(|v| v.data.view()).collect();
                ndarray::concatenate(Axis(a), &views).map_err(|e| {
                    Error::config("inputs", format!("Concatenate on axis {axis}: {e}"))
                })?
            }
            _ => self.elementwise(inputs, &out_shape)?,
        };
        let mask = self.apply_mask_rule(&rule, inputs, &out_shape);
        Ok(Value::new(super::mask_ops::standard(data)).masked(mask))
    }

    /// The element-wise kinds, with Keras 3's masked values where they apply.
    fn elementwise(&self, inputs: &[&Value], out_shape: &[usize]) -> Result<ArrayD<f32>> {
        let n_out: usize = out_shape.iter().product();
        // every input stretched to the output shape, row-major
        let mut xs = Vec::with_capacity(inputs.len());
        for (i, v) in inputs.iter().enumerate() {
            let mut view = v.data.view();
            while view.ndim() < out_shape.len() {
                view.insert_axis_inplace(Axis(1));
            }
            let b = view.broadcast(IxDyn(out_shape)).ok_or_else(|| {
                Error::shape(
                    format!("input {i} of {}", self.kind.class_name()),
                    format!("a shape that broadcasts to {out_shape:?}"),
                    v.data.shape(),
                )
            })?;
            xs.push(b.iter().copied().collect::<Vec<f32>>());
        }
        // (B, T) row of each output element, for the masks
        let row_len: usize = out_shape.iter().skip(2).product::<usize>().max(1);
        let std_masks: Vec<Option<Vec<bool>>> = inputs
            .iter()
            .map(|v| v.mask.as_ref().map(|m| m.iter().copied().collect()))
            .collect();
        let mask_at = |m: &Option<Vec<bool>>, e: usize| -> Option<bool> {
            m.as_ref().map(|m| m[e / row_len])
        };
        let masked: Vec<bool> = std_masks.iter().map(Option::is_some).collect();
        let mut out = vec![0f32; n_out];
        let max = |a: f32, b: f32| if a < b { b } else { a };
        let min = |a: f32, b: f32| if a < b { a } else { b };
        if self.masked_values(&masked) && self.kind == MergeKind::Multiply {
            let all = masked.iter().all(|&m| m);
            for (e, o) in out.iter_mut().enumerate() {
                let mut acc = 1f32;
                let mut om = false;
                for (i, x) in xs.iter().enumerate() {
                    let v = match mask_at(&std_masks[i], e) {
                        Some(false) => 1.0,
                        _ => x[e],
                    };
                    acc = if i == 0 { v } else { acc * v };
                    om |= mask_at(&std_masks[i], e).unwrap_or(false);
                }
                *o = if all && !om { 0.0 } else { acc };
            }
        } else if self.masked_values(&masked) {
            let op = if self.kind == MergeKind::Maximum {
                max
            } else {
                min
            };
            for (e, o) in out.iter_mut().enumerate() {
                let mut acc = xs[0][e];
                let mut om = mask_at(&std_masks[0], e);
                for (i, x) in xs.iter().enumerate().skip(1) {
                    let m = mask_at(&std_masks[i], e);
                    let xv = match m {
                        Some(false) => acc,
                        _ => x[e],
                    };
                    let ov = match om {
                        Some(false) => xv,
                        _ => acc,
                    };
                    om = match (om, m) {
                        (Some(a), Some(b)) => Some(a | b),
                        _ => None,
                    };
                    acc = op(ov, xv);
                }
                *o = acc;
            }
        } else {
            let k = inputs.len() as f32;
            for (e, o) in out.iter_mut().enumerate() {
                let mut acc = xs[0][e];
                for x in &xs[1..] {
                    acc = match self.kind {
                        MergeKind::Add | MergeKind::Average => acc + x[e],
                        MergeKind::Subtract => acc - x[e],
                        MergeKind::Multiply => acc * x[e],
                        MergeKind::Maximum => max(acc, x[e]),
                        _ => min(acc, x[e]),
                    };
                }
                *o = if self.kind == MergeKind::Average {
                    acc / k
                } else {
                    acc
                };
            }
        }
        ArrayD::from_shape_vec(IxDyn(out_shape), out)
            .map_err(|e| Error::config("inputs", format!("merge output: {e}")))
    }

    /// The output mask (B, T) of a rule.
    fn apply_mask_rule(
        &self,
        rule: &MaskRule,
        inputs: &[&Value],
        out_shape: &[usize],
    ) -> Option<Array2<bool>> {
        let mask = |i: usize| inputs[i].mask.clone();
        match rule {
            MaskRule::None => None,
            MaskRule::Pass(i) => mask(*i),
            MaskRule::Or(ids) | MaskRule::And(ids) => {
                let or = matches!(rule, MaskRule::Or(_));
                let mut acc = mask(ids[0])?;
                for &i in &ids[1..] {
                    let m = mask(i)?;
                    acc.zip_mut_with(&m, |a, &b| *a = if or { *a | b } else { *a & b });
                }
                Some(acc)
            }
            MaskRule::AllValid => Some(Array2::from_elem((out_shape[0], out_shape[1]), true)),
            MaskRule::TimeConcat(flags) => {
                let parts: Vec<Array2<bool>> = inputs
                    .iter()
                    .zip(flags)
                    .map(|(v, &f)| match (&v.mask, f) {
                        (Some(m), true) => m.clone(),
                        _ => Array2::from_elem((v.batch(), v.data.shape()[1]), true),
                    })
                    .collect();
                let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
                ndarray::concatenate(Axis(1), &views).ok()
            }
        }
    }
}

/// Keras's element-wise output shape of two shapes without the batch axis: aligned from
/// the right, a 1 stretching to the other size; an unknown size stays unknown unless the
/// other side knows a size above 1. `None` when they do not broadcast.
pub(crate) fn broadcast_free(
    a: &[Option<usize>],
    b: &[Option<usize>],
) -> Option<Vec<Option<usize>>> {
    let (long, short) = if a.len() >= b.len() { (a, b) } else { (b, a) };
    let lead = long.len() - short.len();
    let mut out = long[..lead].to_vec();
    for (&x, &y) in long[lead..].iter().zip(short) {
        out.push(match (x, y) {
            (Some(1), d) | (d, Some(1)) => d,
            (Some(x), Some(y)) if x == y => Some(x),
            (Some(_), Some(_)) => return None,
            (None, d) | (d, None) => d,
        });
    }
    Some(out)
}

/// The output shape (without the batch axis) of a concatenation along `axis` (Keras's
/// numbering): inputs of one rank, equal except on the axis (an unknown size matches any).
pub(crate) fn concat_shape(axis: i64, inputs: &[TensorInfo]) -> Result<Vec<Option<usize>>> {
    let rank = inputs[0].rank();
    if let Some(bad) = inputs.iter().find(|t| t.rank() != rank) {
        return Err(Error::config(
            "inputs",
            format!(
                "Concatenate needs inputs of one rank, got {} and {}",
                inputs[0].keras_shape(None),
                bad.keras_shape(None)
            ),
        ));
    }
    let a = concat_axis(axis, rank)? - 1;
    let mut out = inputs[0].shape.clone();
    for t in &inputs[1..] {
        for (i, (o, d)) in out.iter_mut().zip(&t.shape).enumerate() {
            if i == a {
                *o = match (*o, *d) {
                    (Some(x), Some(y)) => Some(x + y),
                    _ => None,
                };
            } else {
                match (*o, *d) {
                    (Some(x), Some(y)) if x != y => {
                        return Err(Error::config(
                            "inputs",
                            format!(
                                "Concatenate on axis {axis} needs inputs equal on \
                                     every other axis, got {} and {}",
                                inputs[0].keras_shape(None),
                                t.keras_shape(None)
                            ),
                        ));
                    }
                    (None, Some(y)) => *o = Some(y),
                    _ => {}
                }
            }
        }
    }
    Ok(out)
}

/// A concatenation axis of a Keras config as an axis of the full shape (batch = 0): must be
/// an axis after the batch.
pub(crate) fn concat_axis(axis: i64, rank: usize) -> Result<usize> {
    let r = rank as i64;
    let a = if axis < 0 { axis + r } else { axis };
    if a <= 0 || a >= r {
        return Err(if a == 0 {
            Error::Unsupported(format!(
                "concatenating along the batch axis (axis {axis} of rank {rank})"
            ))
        } else {
            Error::config(
                "axis",
                format!("{axis} is not an axis of an input of rank {rank}"),
            )
        });
    }
    Ok(a as usize)
}

impl LayerOps for Merge {
    fn class_name(&self) -> &'static str {
        self.kind.class_name()
    }

    fn infer(&self, inputs: &[TensorInfo], flavour: KerasFlavour) -> Result<Vec<TensorInfo>> {
        if flavour != self.flavour {
            return Err(Error::config(
                "flavour",
                format!(
                    "the layer follows {}'s mask rules but the model was saved by {}",
                    self.flavour.name(),
                    flavour.name()
                ),
            ));
        }
        self.check_inputs(inputs)?;
        let shape = self.out_shape(inputs)?;
        let rule = self.mask_rule(inputs)?;
        Ok(vec![TensorInfo::f32(shape).with_mask(rule.masked())])
    }

    fn detail(&self) -> String {
        match self.kind {
            MergeKind::Concatenate { axis } => format!("axis={axis}"),
            _ => String::new(),
        }
    }

    fn computes_mask(&self, inputs: &[TensorInfo]) -> bool {
        self.mask_rule(inputs).is_ok_and(|r| r.computes())
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        Ok(vec![self.run(inputs)?])
    }
}
