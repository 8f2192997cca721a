//! Keras 3's mask computations as plan nodes ([`MaskOp`]): when a Functional model computes a
//! mask (an `Embedding(mask_zero=True)`, a `Masking` feeding a merge), Keras 3 writes the
//! computation into the model's `config.json` as operation nodes of module
//! `keras.src.ops.numpy` (and `keras.src.ops.core` for `Cast`), whose outputs feed layers'
//! `mask=` arguments: `NotEqual`, `Equal`, `Any`, `All`, `LogicalOr`, `LogicalAnd`,
//! `LogicalNot`, `ExpandDims`, `Squeeze`, `ZerosLike`, `OnesLike`, the op `Concatenate`, and
//! `Cast`. Each follows numpy's semantics as Keras 3 implements them
//! (`keras/src/ops/numpy.py`, checked against Keras by the fixtures
//! `tests/fixtures/layers/op_*`).
//!
//! **Booleans are float32 0.0 / 1.0** ([`Dtype::F32`] tensors): a truth value read from any
//! tensor is "nonzero" (NaN counts as true, as in numpy), and a boolean written is 1.0 or
//! 0.0, whose bits the recurrent kernels read as a mask word (nonzero = valid). `Cast` to an
//! integer type gives float32 holding the truncated integers. Integer token inputs
//! ([`Dtype::Int`], a model's token ids) are read as their values.
//!
//! **The op `Concatenate` and the layer `Concatenate` share a class name**: only the
//! node's `module` tells them apart. The reader routes a node to [`MaskOp::from_keras`] when
//! [`is_op`] says its module is an op module, and to the class table
//! (`keras/classes.rs`, which sees the config only and maps `Concatenate` to the layer)
//! otherwise. A binary op's scalar operand (`not_equal(x, 0)`) is a positional argument of
//! the node, not part of its config, so the reader passes the node's arguments as
//! [`OpArg`]s ([`MaskOp::from_keras`]) or as a tensor count and the numbers
//! ([`MaskOp::from_call`]). The (B, T) 0.0 / 1.0 tensor such a graph computes is what Keras 3
//! passes as a layer's `mask=`: nonzero = valid, on the CPU and as GPU mask words.
//!
//! Ops never carry Keras masks: their outputs are plain tensors. The batch axis is never
//! reduced, squeezed, concatenated along or moved (such ops are refused), and tensor
//! operands of a binary op must have one rank (numpy would align a lower-rank operand's
//! batch axis with another axis).
//!
//! GPU: `gpu/ops/mask_ops.rs`, `shaders/mask_ops.wgsl`.

use ndarray::{ArrayD, Axis, IxDyn};
use serde_json::Value as Json;

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::state::LstmState;
use crate::tensor::{Dtype, TensorInfo, Value};

use super::LayerOps;

/// Whether a Keras 3 config node of this `module` is an operation (a [`MaskOp`]) rather
/// than a layer: modules `keras.src.ops.*` (and the public `keras.ops.*`).
///
/// ```
/// use wgpu_lstm::layers::mask_ops::is_op;
/// assert!(is_op(Some("keras.src.ops.numpy")));
/// assert!(is_op(Some("keras.src.ops.core")));
/// assert!(!is_op(Some("keras.layers")));
/// assert!(!is_op(None)); // tf-keras configs and Keras 3 .h5 configs have no module
/// ```
pub fn is_op(module: Option<&str>) -> bool {
    module.is_some_and(|m| m.starts_with("keras.src.ops.") || m.starts_with("keras.ops."))
}

/// The Keras 3 operation classes a [`MaskOp`] runs.
///
/// ```
/// assert!(wgpu_lstm::layers::mask_ops::OP_CLASSES.contains(&"LogicalOr"));
/// ```
pub const OP_CLASSES: &[&str] = &[
    "NotEqual",
    "Equal",
    "LogicalOr",
    "LogicalAnd",
    "LogicalNot",
    "Any",
    "All",
    "ExpandDims",
    "Squeeze",
    "ZerosLike",
    "OnesLike",
    "Concatenate",
    "Cast",
];

/// One positional argument of an op node, as the config's `inbound_nodes[..].args` lists it:
/// a tensor (which becomes a node input, in order) or a number.
///
/// ```
/// use wgpu_lstm::layers::mask_ops::OpArg;
/// let args = [OpArg::Tensor, OpArg::Scalar(0.0)]; // not_equal(x, 0)
/// assert_eq!(args.iter().filter(|a| **a == OpArg::Tensor).count(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OpArg {
    /// A tensor (a list of tensors, `Concatenate`'s argument, is one `Tensor` per element).
    Tensor,
    /// A Python number (`True` / `False` as 1 / 0).
    Scalar(f64),
}

/// The target type of a `Cast`.
///
/// ```
/// use wgpu_lstm::layers::mask_ops::CastTo;
/// assert_eq!(CastTo::from_name("int32").unwrap(), CastTo::Int32);
/// assert!(CastTo::from_name("float16").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CastTo {
    /// float32: values unchanged.
    Float32,
    /// bool: nonzero → 1.0, zero → 0.0.
    Bool,
    /// int32: truncated toward zero; NaN and values out of range give -2³¹ (what TF's
    /// float → int conversion gives on x86).
    Int32,
    /// int64: truncated toward zero; NaN and values out of range give -2⁶³.
    Int64,
}

impl CastTo {
    /// From a Keras dtype name: `float32`, `bool`, `int32`, `int64`.
    ///
    /// ```
    /// assert!(wgpu_lstm::layers::mask_ops::CastTo::from_name("bool").is_ok());
    /// ```
    pub fn from_name(name: &str) -> Result<Self> {
        Ok(match name {
            "float32" => CastTo::Float32,
            "bool" => CastTo::Bool,
            "int32" => CastTo::Int32,
            "int64" => CastTo::Int64,
            other => {
                return Err(Error::Unsupported(format!(
                    "Cast to {other}: this crate casts to float32, bool, int32 and int64"
                )));
            }
        })
    }

    /// The cast of one value (booleans and integers as float32).
    ///
    /// ```
    /// use wgpu_lstm::layers::mask_ops::CastTo;
    /// assert_eq!(CastTo::Int32.apply(-2.7), -2.0);
    /// assert_eq!(CastTo::Bool.apply(-0.0), 0.0);
    /// assert_eq!(CastTo::Int32.apply(f32::NAN), -2147483648.0);
    /// assert_eq!(CastTo::Int32.apply(-0.5).to_bits(), 0); // +0, not -0
    /// ```
    pub fn apply(self, v: f32) -> f32 {
        match self {
            CastTo::Float32 => v,
            CastTo::Bool => truth(v),
            CastTo::Int32 | CastTo::Int64 => {
                let lim = if self == CastTo::Int32 {
                    2147483648.0f32
                } else {
                    9.223372e18f32
                };
                let t = v.trunc();
                if t.is_nan() || t >= lim || t < -lim {
                    -lim
                } else if t == 0.0 {
                    0.0 // an integer has no -0 (whose bits a mask word would read as valid)
                } else {
                    t
                }
            }
        }
    }

    /// Code of the cast in mask_ops.wgsl.
    pub(crate) fn code(self) -> u32 {
        match self {
            CastTo::Float32 => 0,
            CastTo::Bool => 1,
            CastTo::Int32 => 2,
            CastTo::Int64 => 3,
        }
    }
}

/// Which op.
///
/// ```
/// use wgpu_lstm::layers::mask_ops::OpKind;
/// assert_eq!(OpKind::LogicalOr.class_name(), "LogicalOr");
/// assert!(OpKind::NotEqual.is_binary());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OpKind {
    /// a != b
    NotEqual,
    /// a == b
    Equal,
    /// a ∨ b (truth values)
    LogicalOr,
    /// a ∧ b
    LogicalAnd,
    /// ¬a
    LogicalNot,
    /// Any value true over `axes` (Keras counts the batch as axis 0).
    Any {
        /// The reduced axes as in the config (`None`: all, refused since it reduces the batch).
        axes: Option<Vec<i64>>,
        /// Keep the reduced axes with size 1.
        keepdims: bool,
    },
    /// Every value true over `axes`.
    All {
        /// The reduced axes.
        axes: Option<Vec<i64>>,
        /// Keep the reduced axes with size 1.
        keepdims: bool,
    },
    /// New axes of size 1 at `axes` (positions in the output).
    ExpandDims {
        /// The new axes.
        axes: Vec<i64>,
    },
    /// Removes axes of size 1 (`None`: every known size-1 axis after the batch).
    Squeeze {
        /// The removed axes.
        axes: Option<Vec<i64>>,
    },
    /// Zeros of the input's shape.
    ZerosLike,
    /// Ones of the input's shape.
    OnesLike,
    /// Concatenation along `axis`.
    Concatenate {
        /// The axis.
        axis: i64,
    },
    /// A type conversion.
    Cast(CastTo),
}

impl OpKind {
    /// The Keras class name.
    ///
    /// ```
    /// use wgpu_lstm::layers::mask_ops::OpKind;
    /// assert_eq!(OpKind::Concatenate { axis: -1 }.class_name(), "Concatenate");
    /// ```
    pub fn class_name(&self) -> &'static str {
        match self {
            OpKind::NotEqual => "NotEqual",
            OpKind::Equal => "Equal",
            OpKind::LogicalOr => "LogicalOr",
            OpKind::LogicalAnd => "LogicalAnd",
            OpKind::LogicalNot => "LogicalNot",
            OpKind::Any { .. } => "Any",
            OpKind::All { .. } => "All",
            OpKind::ExpandDims { .. } => "ExpandDims",
            OpKind::Squeeze { .. } => "Squeeze",
            OpKind::ZerosLike => "ZerosLike",
            OpKind::OnesLike => "OnesLike",
            OpKind::Concatenate { .. } => "Concatenate",
            OpKind::Cast(_) => "Cast",
        }
    }

    /// Whether it takes two operands (each a tensor or a scalar).
    ///
    /// ```
    /// assert!(!wgpu_lstm::layers::mask_ops::OpKind::LogicalNot.is_binary());
    /// ```
    pub fn is_binary(&self) -> bool {
        matches!(
            self,
            OpKind::NotEqual | OpKind::Equal | OpKind::LogicalOr | OpKind::LogicalAnd
        )
    }

    /// Whether the output is the input's data in the same order (the GPU reuses the
    /// buffer).
    pub(crate) fn is_layout_only(&self) -> bool {
        matches!(self, OpKind::ExpandDims { .. } | OpKind::Squeeze { .. })
    }

    /// Code of an element-wise op in mask_ops.wgsl (`OP`).
    pub(crate) fn code(&self) -> u32 {
        match self {
            OpKind::NotEqual => 0,
            OpKind::Equal => 1,
            OpKind::LogicalOr => 2,
            OpKind::LogicalAnd => 3,
            OpKind::LogicalNot => 4,
            OpKind::Cast(_) => 5,
            OpKind::ZerosLike => 6,
            OpKind::OnesLike => 7,
            _ => 8,
        }
    }
}

/// A Keras 3 operation node of a mask computation.
///
/// ```
/// use wgpu_lstm::layers::mask_ops::{MaskOp, OpArg, OpKind};
/// let cfg = serde_json::json!({"name": "not_equal"});
/// let op = MaskOp::from_keras("NotEqual", &cfg, &[OpArg::Tensor, OpArg::Scalar(0.0)]).unwrap();
/// assert_eq!(op.kind, OpKind::NotEqual);
/// assert_eq!(op.scalar, Some(0.0));
/// assert_eq!(op.tensor_inputs(), 1);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MaskOp {
    /// Which op.
    pub kind: OpKind,
    /// A binary op's number operand, when one operand is a number (the binary ops are
    /// symmetric, so its position does not matter).
    pub scalar: Option<f64>,
}

/// The array in row-major order (what the executors hand on).
pub(crate) fn standard(a: ArrayD<f32>) -> ArrayD<f32> {
    if a.is_standard_layout() {
        a
    } else {
        a.as_standard_layout().into_owned()
    }
}

/// numpy's truth value of a float32: nonzero (NaN is true), as 1.0 / 0.0.
fn truth(v: f32) -> f32 {
    if v != 0.0 { 1.0 } else { 0.0 }
}

/// Reads an axis list from a config field: an integer, a list of integers, or null.
fn axes_field(cfg: &Json, field: &str) -> Result<Option<Vec<i64>>> {
    match cfg.get(field) {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Number(n)) => n
            .as_i64()
            .map(|a| Some(vec![a]))
            .ok_or_else(|| Error::config(field, format!("must be an integer, got {n}"))),
        Some(Json::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_i64()
                    .ok_or_else(|| Error::config(field, format!("must hold integers, got {v}")))
            })
            .collect::<Result<Vec<_>>>()
            .map(Some),
        Some(v) => Err(Error::config(
            field,
            format!("must be an integer or a list of integers, got {v}"),
        )),
    }
}

/// Normalises axes of a full shape of `rank` (batch = 0); the batch axis is refused.
fn full_axes(axes: &[i64], rank: usize, what: &str) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(axes.len());
    for &a in axes {
        let r = rank as i64;
        let n = if a < 0 { a + r } else { a };
        if n < 0 || n >= r {
            return Err(Error::config(
                "axis",
                format!("{a} is not an axis of a tensor of rank {rank}"),
            ));
        }
        if n == 0 {
            return Err(Error::Unsupported(format!(
                "{what} on the batch axis (axis {a})"
            )));
        }
        if out.contains(&(n as usize)) {
            return Err(Error::config("axis", format!("axis {a} is repeated")));
        }
        out.push(n as usize);
    }
    Ok(out)
}

/// numpy broadcasting of two shapes of one rank, without the batch axis.
fn broadcast_same_rank(a: &TensorInfo, b: &TensorInfo, class: &str) -> Result<Vec<Option<usize>>> {
    if a.rank() != b.rank() {
        return Err(Error::Unsupported(format!(
            "{class} of tensors of ranks {} and {}: numpy would align the batch axis of one \
             with another axis of the other",
            a.rank(),
            b.rank()
        )));
    }
    super::merge::broadcast_free(&a.shape, &b.shape).ok_or_else(|| {
        Error::config(
            "inputs",
            format!(
                "{class} needs shapes that broadcast, got {} and {}",
                a.keras_shape(None),
                b.keras_shape(None)
            ),
        )
    })
}

impl MaskOp {
    /// An op without a scalar operand.
    ///
    /// ```
    /// use wgpu_lstm::layers::mask_ops::{MaskOp, OpKind};
    /// assert_eq!(MaskOp::new(OpKind::LogicalNot).scalar, None);
    /// ```
    pub fn new(kind: OpKind) -> Self {
        MaskOp { kind, scalar: None }
    }

    /// From a Keras 3 op node: its class name, its config and its positional arguments
    /// (`args`, in order; only a binary op reads them, to find a number operand — pass
    /// `&[]` when every operand is a tensor). Configs: `Any` / `All` {axis, keepdims},
    /// `ExpandDims` {axis}, `Squeeze` {axis}, `ZerosLike` / `OnesLike` {dtype},
    /// `Concatenate` {axis}, `Cast` {dtype}.
    ///
    /// ```
    /// use wgpu_lstm::layers::mask_ops::{MaskOp, OpKind};
    /// let any = MaskOp::from_keras("Any", &serde_json::json!({"axis": -1, "keepdims": false}), &[])
    ///     .unwrap();
    /// assert_eq!(any.kind, OpKind::Any { axes: Some(vec![-1]), keepdims: false });
    /// assert!(MaskOp::from_keras("Cast", &serde_json::json!({"dtype": "float64"}), &[]).is_err());
    /// assert!(MaskOp::from_keras("Einsum", &serde_json::json!({}), &[]).is_err());
    /// ```
    pub fn from_keras(class_name: &str, cfg: &Json, args: &[OpArg]) -> Result<Self> {
        let keepdims = || -> Result<bool> {
            match cfg.get("keepdims") {
                None | Some(Json::Null) => Ok(false),
                Some(v) => v
                    .as_bool()
                    .ok_or_else(|| Error::config("keepdims", format!("must be a bool, got {v}"))),
            }
        };
        let dtype = || -> Result<Option<&str>> {
            match cfg.get("dtype") {
                None | Some(Json::Null) => Ok(None),
                Some(Json::String(s)) => Ok(Some(s.as_str())),
                // a DTypePolicy-like object: its name
                Some(v) => v
                    .get("config")
                    .and_then(|c| c.get("name"))
                    .and_then(Json::as_str)
                    .map(Some)
                    .ok_or_else(|| {
                        Error::config("dtype", format!("must be a dtype name, got {v}"))
                    }),
            }
        };
        let kind = match class_name {
            "NotEqual" => OpKind::NotEqual,
            "Equal" => OpKind::Equal,
            "LogicalOr" => OpKind::LogicalOr,
            "LogicalAnd" => OpKind::LogicalAnd,
            "LogicalNot" => OpKind::LogicalNot,
            "Any" => OpKind::Any {
                axes: axes_field(cfg, "axis")?,
                keepdims: keepdims()?,
            },
            "All" => OpKind::All {
                axes: axes_field(cfg, "axis")?,
                keepdims: keepdims()?,
            },
            "ExpandDims" => OpKind::ExpandDims {
                axes: axes_field(cfg, "axis")?
                    .ok_or_else(|| Error::config("axis", "ExpandDims needs an axis"))?,
            },
            "Squeeze" => OpKind::Squeeze {
                axes: axes_field(cfg, "axis")?,
            },
            "ZerosLike" | "OnesLike" => {
                // any dtype: 0 and 1 are exact in all of them
                dtype()?;
                if class_name == "ZerosLike" {
                    OpKind::ZerosLike
                } else {
                    OpKind::OnesLike
                }
            }
            "Concatenate" => OpKind::Concatenate {
                axis: match axes_field(cfg, "axis")?.as_deref() {
                    Some([a]) => *a,
                    None if cfg.get("axis").is_none() => 0,
                    _ => {
                        return Err(Error::config(
                            "axis",
                            "the op Concatenate needs one integer axis",
                        ));
                    }
                },
            },
            "Cast" => OpKind::Cast(CastTo::from_name(
                dtype()?.ok_or_else(|| Error::config("dtype", "Cast needs a dtype"))?,
            )?),
            other => {
                return Err(Error::Unsupported(format!(
                    "no Keras op {other} in this crate (it runs {})",
                    OP_CLASSES.join(", ")
                )));
            }
        };
        let mut scalar = None;
        if kind.is_binary() {
            let scalars: Vec<f64> = args
                .iter()
                .filter_map(|a| match a {
                    OpArg::Scalar(v) => Some(*v),
                    OpArg::Tensor => None,
                })
                .collect();
            if !args.is_empty() && args.len() != 2 {
                return Err(Error::config(
                    "args",
                    format!("{class_name} takes 2 operands, got {}", args.len()),
                ));
            }
            match scalars.as_slice() {
                [] => {}
                [v] => scalar = Some(*v),
                _ => {
                    return Err(Error::Unsupported(format!(
                        "{class_name} of two numbers: no tensor to compute on"
                    )));
                }
            }
        }
        Ok(MaskOp { kind, scalar })
    }

    /// [`MaskOp::from_keras`] from a call as a reader lists it: how many tensors it reads and
    /// its number arguments (their positions do not matter: the binary ops are symmetric).
    ///
    /// ```
    /// use wgpu_lstm::layers::mask_ops::{MaskOp, OpKind};
    /// let op = MaskOp::from_call("NotEqual", &serde_json::json!({}), 1, &[0.0]).unwrap();
    /// assert_eq!((op.kind, op.scalar), (OpKind::NotEqual, Some(0.0)));
    /// ```
    pub fn from_call(
        class_name: &str,
        cfg: &Json,
        tensors: usize,
        scalars: &[f64],
    ) -> Result<Self> {
        let mut args = vec![OpArg::Tensor; tensors];
        args.extend(scalars.iter().map(|&v| OpArg::Scalar(v)));
        Self::from_keras(class_name, cfg, &args)
    }

    /// How many tensor inputs the node takes (`None`: any number, at least one — the op
    /// `Concatenate`).
    ///
    /// ```
    /// use wgpu_lstm::layers::mask_ops::{MaskOp, OpKind};
    /// assert_eq!(MaskOp::new(OpKind::Equal).tensor_inputs(), 2);
    /// ```
    pub fn tensor_inputs(&self) -> usize {
        match (&self.kind, self.scalar) {
            (k, None) if k.is_binary() => 2,
            (OpKind::Concatenate { .. }, _) => 0,
            _ => 1,
        }
    }

    fn check_count(&self, n: usize) -> Result<()> {
        let want = self.tensor_inputs();
        let ok = if want == 0 { n >= 1 } else { n == want };
        if ok {
            Ok(())
        } else {
            Err(Error::config(
                "inputs",
                format!(
                    "{} takes {} tensor(s), got {n}",
                    self.kind.class_name(),
                    if want == 0 {
                        "at least 1".to_string()
                    } else {
                        want.to_string()
                    }
                ),
            ))
        }
    }

    /// The reduced axes of Any / All as axes of the full shape, sorted.
    pub(crate) fn reduced_axes(&self, rank: usize) -> Result<Vec<usize>> {
        match &self.kind {
            OpKind::Any { axes, .. } | OpKind::All { axes, .. } => {
                let axes = axes.as_ref().ok_or_else(|| {
                    Error::Unsupported(format!(
                        "{} over every axis: it reduces the batch axis too",
                        self.kind.class_name()
                    ))
                })?;
                let mut a = full_axes(axes, rank, self.kind.class_name())?;
                a.sort_unstable();
                Ok(a)
            }
            _ => Ok(Vec::new()),
        }
    }

    /// The output tensor (shape, dtype) of the op on these inputs.
    pub(crate) fn out_info(&self, inputs: &[TensorInfo]) -> Result<TensorInfo> {
        self.check_count(inputs.len())?;
        let x = &inputs[0];
        let class = self.kind.class_name();
        Ok(match &self.kind {
            k if k.is_binary() => match inputs {
                [a, b] => TensorInfo::f32(broadcast_same_rank(a, b, class)?),
                _ => TensorInfo::f32(x.shape.clone()),
            },
            OpKind::LogicalNot | OpKind::ZerosLike | OpKind::OnesLike | OpKind::Cast(_) => {
                TensorInfo::f32(x.shape.clone())
            }
            OpKind::Any { keepdims, .. } | OpKind::All { keepdims, .. } => {
                let axes = self.reduced_axes(x.rank())?;
                let shape = x
                    .shape
                    .iter()
                    .enumerate()
                    .filter_map(|(i, &d)| match (axes.contains(&(i + 1)), keepdims) {
                        (false, _) => Some(d),
                        (true, true) => Some(Some(1)),
                        (true, false) => None,
                    })
                    .collect();
                TensorInfo::f32(shape)
            }
            OpKind::ExpandDims { axes } => {
                let rank = x.rank() + axes.len();
                let new = full_axes(axes, rank, class)?;
                let mut it = x.shape.iter();
                let shape = (1..rank)
                    .map(|i| {
                        if new.contains(&i) {
                            Some(1)
                        } else {
                            it.next().copied().flatten()
                        }
                    })
                    .collect();
                TensorInfo {
                    shape,
                    dtype: x.dtype,
                    masked: false,
                }
            }
            OpKind::Squeeze { axes } => {
                let drop: Vec<usize> = match axes {
                    Some(axes) => {
                        let a = full_axes(axes, x.rank(), class)?;
                        for &i in &a {
                            if x.shape[i - 1] != Some(1) {
                                return Err(Error::config(
                                    "axis",
                                    format!(
                                        "cannot squeeze axis {i} of {}: its size is not 1",
                                        x.keras_shape(None)
                                    ),
                                ));
                            }
                        }
                        a
                    }
                    None => (1..x.rank())
                        .filter(|&i| x.shape[i - 1] == Some(1))
                        .collect(),
                };
                TensorInfo {
                    shape: x
                        .shape
                        .iter()
                        .enumerate()
                        .filter(|(i, _)| !drop.contains(&(i + 1)))
                        .map(|(_, &d)| d)
                        .collect(),
                    dtype: x.dtype,
                    masked: false,
                }
            }
            OpKind::Concatenate { axis } => {
                if inputs.iter().any(|t| t.dtype != x.dtype) {
                    return Err(Error::Unsupported(
                        "the op Concatenate of token ids with float tensors".into(),
                    ));
                }
                TensorInfo {
                    shape: super::merge::concat_shape(*axis, inputs)?,
                    dtype: x.dtype,
                    masked: false,
                }
            }
            _ => TensorInfo::f32(x.shape.clone()),
        })
    }

    /// The op on the CPU.
    ///
    /// ```
    /// use ndarray::array;
    /// use wgpu_lstm::layers::mask_ops::{MaskOp, OpArg};
    /// use wgpu_lstm::tensor::Value;
    /// let ne = MaskOp::from_keras("NotEqual", &serde_json::json!({}), &[OpArg::Tensor, OpArg::Scalar(0.0)])
    ///     .unwrap();
    /// let x = Value::new(array![[[0.0f32, 2.0], [0.0, 0.0]]].into_dyn());
    /// let m = ne.run(&[&x]).unwrap();
    /// assert_eq!(m.data.as_slice().unwrap(), &[0.0, 1.0, 0.0, 0.0]);
    /// let any = MaskOp::from_keras("Any", &serde_json::json!({"axis": -1}), &[]).unwrap();
    /// assert_eq!(any.run(&[&m]).unwrap().data.as_slice().unwrap(), &[1.0, 0.0]);
    /// ```
    pub fn run(&self, inputs: &[&Value]) -> Result<Value> {
        let infos: Vec<TensorInfo> = inputs
            .iter()
            .map(|v| TensorInfo {
                shape: v.data.shape().iter().skip(1).map(|&d| Some(d)).collect(),
                dtype: if v.tokens.is_some() {
                    Dtype::Int
                } else {
                    Dtype::F32
                },
                masked: false,
            })
            .collect();
        if inputs.iter().any(|v| v.data.ndim() == 0) {
            return Err(Error::config("inputs", "an op input needs a batch axis"));
        }
        let batch = inputs[0].batch();
        if let Some(v) = inputs.iter().find(|v| v.batch() != batch) {
            return Err(Error::shape(
                self.kind.class_name(),
                format!("batch {batch} like input 0"),
                v.data.shape(),
            ));
        }
        let out = self.out_info(&infos)?;
        let mut shape = vec![batch];
        shape.extend(out.shape.iter().map(|d| d.unwrap_or(0)));
        let x = &inputs[0].data;
        let data: ArrayD<f32> = match &self.kind {
            k if k.is_binary() => {
                let f = |a: f32, b: f32| -> f32 {
                    let r = match k {
                        OpKind::NotEqual => a != b,
                        OpKind::Equal => a == b,
                        OpKind::LogicalOr => a != 0.0 || b != 0.0,
                        _ => a != 0.0 && b != 0.0,
                    };
                    if r { 1.0 } else { 0.0 }
                };
                match (inputs, self.scalar) {
                    ([a], Some(s)) => a.data.mapv(|v| f(v, s as f32)),
                    ([a, b], _) => {
                        let (a, b) = (
                            a.data.broadcast(IxDyn(&shape)),
                            b.data.broadcast(IxDyn(&shape)),
                        );
                        match (a, b) {
                            (Some(a), Some(b)) => {
                                ndarray::Zip::from(&a).and(&b).map_collect(|&a, &b| f(a, b))
                            }
                            _ => {
                                return Err(Error::shape(
                                    self.kind.class_name(),
                                    format!("operands that broadcast to {shape:?}"),
                                    inputs[1].data.shape(),
                                ));
                            }
                        }
                    }
                    _ => return Err(Error::config("inputs", "wrong operand count")),
                }
            }
            OpKind::LogicalNot => x.mapv(|v| 1.0 - truth(v)),
            OpKind::ZerosLike => ArrayD::zeros(x.raw_dim()),
            OpKind::OnesLike => ArrayD::ones(x.raw_dim()),
            OpKind::Cast(to) => x.mapv(|v| to.apply(v)),
            OpKind::Any { .. } | OpKind::All { .. } => {
                let any = matches!(self.kind, OpKind::Any { .. });
                let mut t = x.mapv(truth);
                for &a in self.reduced_axes(x.ndim())?.iter().rev() {
                    t = t.map_axis(Axis(a), |lane| {
                        let hit = if any {
                            lane.iter().any(|&v| v != 0.0)
                        } else {
                            lane.iter().all(|&v| v != 0.0)
                        };
                        if hit { 1.0 } else { 0.0 }
                    });
                }
                t.as_standard_layout()
                    .into_owned()
                    .into_shape_with_order(IxDyn(&shape))
                    .map_err(|e| Error::config("inputs", format!("{e}")))?
            }
            OpKind::ExpandDims { .. } | OpKind::Squeeze { .. } => x
                .as_standard_layout()
                .into_owned()
                .into_shape_with_order(IxDyn(&shape))
                .map_err(|e| Error::config("inputs", format!("{e}")))?,
            OpKind::Concatenate { axis } => {
                let a = super::merge::concat_axis(*axis, x.ndim())?;
                let views: Vec<_> = inputs.iter().map(|v| v.data.view()).collect();
                ndarray::concatenate(Axis(a), &views)
                    .map_err(|e| Error::config("inputs", format!("Concatenate: {e}")))?
            }
            _ => return Err(Error::config("op", "unhandled op")),
        };
        // token ids pass through the layout-only ops and the concatenation
        let tokens = if out.dtype == Dtype::Int {
            let ts: Option<Vec<_>> = inputs.iter().map(|v| v.tokens.as_ref()).collect();
            match (&self.kind, ts) {
                (OpKind::Concatenate { axis }, Some(ts)) => {
                    let a = super::merge::concat_axis(*axis, x.ndim())?;
                    let views: Vec<_> = ts.iter().map(|t| t.view()).collect();
                    ndarray::concatenate(Axis(a), &views).ok()
                }
                (_, Some(ts)) => ts[0]
                    .as_standard_layout()
                    .into_owned()
                    .into_shape_with_order(IxDyn(&shape))
                    .ok(),
                _ => None,
            }
        } else {
            None
        };
        Ok(Value {
            data: standard(data),
            mask: None,
            tokens,
        })
    }
}

impl LayerOps for MaskOp {
    fn class_name(&self) -> &'static str {
        self.kind.class_name()
    }

    fn infer(&self, inputs: &[TensorInfo], _: KerasFlavour) -> Result<Vec<TensorInfo>> {
        Ok(vec![self.out_info(inputs)?])
    }

    fn detail(&self) -> String {
        let mut s = match &self.kind {
            OpKind::Any { axes, keepdims } | OpKind::All { axes, keepdims } => {
                format!("axis={axes:?} keepdims={keepdims}")
            }
            OpKind::ExpandDims { axes } => format!("axis={axes:?}"),
            OpKind::Squeeze { axes } => format!("axis={axes:?}"),
            OpKind::Concatenate { axis } => format!("axis={axis}"),
            OpKind::Cast(to) => format!("dtype={to:?}"),
            _ => String::new(),
        };
        if let Some(v) = self.scalar {
            s = format!("with {v}");
        }
        s
    }

    fn takes_tokens(&self) -> bool {
        true
    }

    fn cpu(&self, inputs: &[&Value], _: &mut [Option<LstmState>]) -> Result<Vec<Value>> {
        Ok(vec![self.run(inputs)?])
    }
}
