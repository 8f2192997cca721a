//! The layer kinds a plan can hold, one file each: its Keras config (read by the class table,
//! `keras/classes.rs`), its shape and mask rules, and its CPU code. Each kind's GPU half is
//! `gpu/ops/<kind>.rs` with its kernel in `shaders/<kind>.wgsl`.
//!
//! | kind | Keras classes | file |
//! |---|---|---|
//! | [`Masking`] | `Masking` | `masking.rs` |
//! | [`Identity`] | `Dropout`, `SpatialDropout1D`, `GaussianNoise`, `GaussianDropout`, `AlphaDropout`, `ActivityRegularization` | `identity.rs` |
//! | [`Recurrent`] | `LSTM` | `recurrent.rs` |
//! | [`Bidirectional`] | `Bidirectional` | `bidirectional.rs` |
//! | [`Dense`] | `Dense` | `dense.rs` |
//! | [`ActivationLayer`] | `Activation` | `activation_layer.rs` |
//! | [`AdvancedActivation`] | `ReLU`, `LeakyReLU`, `ELU`, `ThresholdedReLU`, `PReLU`, `Softmax` | `advanced_activation.rs` |
//! | [`RmsNormalization`] | `RMSNormalization` | `rms_normalization.rs` |
//! | [`Dot`] | `Dot` | `dot.rs` |
//! | [`Conv1D`] | `Conv1D` | `conv1d.rs` |
//! | [`Pooling1D`] | `MaxPooling1D`, `AveragePooling1D` | `pooling.rs` |
//! | [`GlobalPooling1D`] | `GlobalMaxPooling1D`, `GlobalAveragePooling1D` | `global_pooling.rs` |
//! | [`ZeroPadding1D`], [`Cropping1D`] | `ZeroPadding1D`, `Cropping1D` | `padding.rs` |
//! | [`Merge`] | `Concatenate`, `Add`, `Subtract`, `Multiply`, `Average`, `Maximum`, `Minimum` | `merge.rs` |
//! | [`MaskOp`] | Keras 3 op nodes (module `keras.src.ops.*`): `NotEqual`, `Equal`, `Any`, `All`, `LogicalOr`, `LogicalAnd`, `LogicalNot`, `ExpandDims`, `Squeeze`, `ZerosLike`, `OnesLike`, op `Concatenate`, `Cast` | `mask_ops.rs` |
//! | [`Embedding`] | `Embedding` | `embedding.rs` |
//! | [`TimeDistributed`] | `TimeDistributed` | `time_distributed.rs` |
//! | [`RepeatVector`] | `RepeatVector` | `repeat_vector.rs` |
//! | [`Flatten`], [`Reshape`] | `Flatten`, `Reshape` | `reshape.rs` |
//! | [`Permute`] | `Permute` | `permute.rs` |
//! | [`BatchNormalization`] | `BatchNormalization` | `batch_normalization.rs` |
//! | [`LayerNormalization`] | `LayerNormalization` | `layer_normalization.rs` |
//! | [`TimeReverse`] | none: a time flip inside a chain that stands for one recurrent layer | `time_reverse.rs` |
//!
//! Masks follow Keras's `compute_mask`: a layer that supports masking passes its input's
//! mask on (or computes one), any other layer drops it.

use crate::activation::KerasFlavour;
use crate::error::Result;
use crate::host_memory::HostBytes;
use crate::state::LstmState;
use crate::tensor::{TensorInfo, Value};

pub mod activation_layer;
pub mod advanced_activation;
pub mod batch_normalization;
pub mod bidirectional;
pub mod conv1d;
pub mod dense;
pub mod dot;
pub mod embedding;
pub mod global_pooling;
pub mod identity;
pub(crate) mod keras_args;
pub mod layer_normalization;
pub mod mask_ops;
pub mod masking;
pub mod merge;
pub mod padding;
pub mod permute;
pub mod pooling;
pub mod recurrent;
pub mod repeat_vector;
pub mod reshape;
pub mod rms_normalization;
pub mod time_distributed;
pub mod time_reverse;

pub use activation_layer::ActivationLayer;
pub use advanced_activation::AdvancedActivation;
pub use batch_normalization::BatchNormalization;
pub use bidirectional::Bidirectional;
pub use conv1d::Conv1D;
pub use dense::Dense;
pub use dot::Dot;
pub use embedding::Embedding;
pub use global_pooling::GlobalPooling1D;
pub use identity::Identity;
pub use layer_normalization::LayerNormalization;
pub use mask_ops::MaskOp;
pub use masking::Masking;
pub use merge::Merge;
pub use padding::{Cropping1D, ZeroPadding1D};
pub use permute::Permute;
pub use pooling::Pooling1D;
pub use recurrent::Recurrent;
pub use repeat_vector::RepeatVector;
pub use reshape::{Flatten, Reshape};
pub use rms_normalization::RmsNormalization;
pub use time_distributed::TimeDistributed;
pub use time_reverse::TimeReverse;

/// What every layer kind provides to the plan and the CPU executor.
pub(crate) trait LayerOps: std::fmt::Debug + Send + Sync {
    /// The Keras class name.
    fn class_name(&self) -> &'static str;
    /// Output tensors from input tensors (shapes without batch, dtypes, masks), or an error
    /// saying what does not fit (the plan adds the layer's name).
    fn infer(&self, inputs: &[TensorInfo], flavour: KerasFlavour) -> Result<Vec<TensorInfo>>;
    /// Keras's `count_params()`.
    fn param_count(&self) -> usize {
        0
    }
    /// How many recurrent states (h, c) the layer keeps: 1 for an LSTM, 2 for a
    /// Bidirectional, 0 otherwise.
    fn state_slots(&self) -> usize {
        0
    }
    /// Whether the layer carries its states from one call to the next.
    fn stateful(&self) -> bool {
        false
    }
    /// A short description of the configuration for `summary()`.
    fn detail(&self) -> String {
        String::new()
    }
    /// Whether the layer computes its outputs' masks itself (Masking, Embedding, a merge of
    /// several masked inputs) rather than passing its first masked input's mask on.
    fn computes_mask(&self, _inputs: &[TensorInfo]) -> bool {
        false
    }
    /// Whether the layer reads integer token ids (an Embedding).
    fn takes_tokens(&self) -> bool {
        false
    }
    /// Checks inputs that come straight from the caller before the GPU runs (e.g. token ids
    /// against the vocabulary): the GPU executor calls it for nodes whose inputs are all
    /// model inputs; the CPU code checks as it runs.
    fn check_host_inputs(&self, _inputs: &[&Value]) -> Result<()> {
        Ok(())
    }
    /// Adds to `need` the host memory the CPU code allocates beyond the layer's input and
    /// output tensors (work arrays, copies) for inputs of these concrete shapes (batch
    /// first); the CPU executor checks the sum before a call starts.
    fn cpu_work(&self, _inputs: &[&[usize]], _need: &mut HostBytes) -> Result<()> {
        Ok(())
    }
    /// Runs the layer on the CPU. `states` has [`LayerOps::state_slots`] entries: the
    /// states a stateful layer carries (updated in place), `None` before the first call.
    fn cpu(&self, inputs: &[&Value], states: &mut [Option<LstmState>]) -> Result<Vec<Value>>;
}

/// One layer of a plan, with its configuration and weights.
///
/// ```
/// use wgpu_lstm::layers::{Layer, Masking};
/// let l = Layer::Masking(Masking { mask_value: 0.0 });
/// assert_eq!(l.class_name(), "Masking");
/// assert_eq!(l.param_count(), 0);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
// Layers are built once per model; boxing the large kinds would only make matching on them
// clumsier for users.
#[allow(clippy::large_enum_variant)]
pub enum Layer {
    /// Keras `Masking`.
    Masking(Masking),
    /// An identity at inference (`Dropout` and its kin).
    Identity(Identity),
    /// Keras `LSTM`.
    Recurrent(Recurrent),
    /// Keras `Bidirectional` of an LSTM.
    Bidirectional(Bidirectional),
    /// Keras `Dense`.
    Dense(Dense),
    /// Keras `Activation`.
    Activation(ActivationLayer),
    /// Keras `Conv1D`.
    Conv1D(Conv1D),
    /// Keras `MaxPooling1D` / `AveragePooling1D`.
    Pooling1D(Pooling1D),
    /// Keras `GlobalMaxPooling1D` / `GlobalAveragePooling1D`.
    GlobalPooling1D(GlobalPooling1D),
    /// Keras `ZeroPadding1D`.
    ZeroPadding1D(ZeroPadding1D),
    /// Keras `Cropping1D`.
    Cropping1D(Cropping1D),
    /// Keras's merge layers (`Concatenate`, `Add`, …).
    Merge(Merge),
    /// A Keras 3 op node of a mask computation (`NotEqual`, `Any`, …).
    Op(MaskOp),
    /// Keras `Embedding`.
    Embedding(Embedding),
    /// Keras `TimeDistributed` around another layer.
    TimeDistributed(TimeDistributed),
    /// Keras `RepeatVector`.
    RepeatVector(RepeatVector),
    /// Keras `Flatten`.
    Flatten(Flatten),
    /// Keras `Reshape`.
    Reshape(Reshape),
    /// Keras `Permute`.
    Permute(Permute),
    /// Keras `BatchNormalization` (inference).
    BatchNormalization(BatchNormalization),
    /// Keras `LayerNormalization`.
    LayerNormalization(LayerNormalization),
    /// Keras's advanced-activation layers (`ReLU`, `LeakyReLU`, `ELU`, `ThresholdedReLU`,
    /// `PReLU`, `Softmax`).
    AdvancedActivation(AdvancedActivation),
    /// Keras 3 `RMSNormalization`.
    RmsNormalization(RmsNormalization),
    /// Keras `Dot`.
    Dot(Dot),
    /// A time-axis flip inside the chain of nodes that stands for one Keras recurrent layer
    /// (`RNN(StackedRNNCells)` with `go_backwards`, its `Bidirectional`).
    TimeReverse(TimeReverse),
}

impl Layer {
    pub(crate) fn ops(&self) -> &dyn LayerOps {
        match self {
            Layer::Masking(l) => l,
            Layer::Identity(l) => l,
            Layer::Recurrent(l) => l,
            Layer::Bidirectional(l) => l,
            Layer::Dense(l) => l,
            Layer::Activation(l) => l,
            Layer::Conv1D(l) => l,
            Layer::Pooling1D(l) => l,
            Layer::GlobalPooling1D(l) => l,
            Layer::ZeroPadding1D(l) => l,
            Layer::Cropping1D(l) => l,
            Layer::Merge(l) => l,
            Layer::Op(l) => l,
            Layer::Embedding(l) => l,
            Layer::TimeDistributed(l) => l,
            Layer::RepeatVector(l) => l,
            Layer::Flatten(l) => l,
            Layer::Reshape(l) => l,
            Layer::Permute(l) => l,
            Layer::BatchNormalization(l) => l,
            Layer::LayerNormalization(l) => l,
            Layer::AdvancedActivation(l) => l,
            Layer::RmsNormalization(l) => l,
            Layer::Dot(l) => l,
            Layer::TimeReverse(l) => l,
        }
    }

    /// The Keras class name.
    ///
    /// ```
    /// use wgpu_lstm::layers::{Identity, Layer};
    /// assert_eq!(Layer::Identity(Identity::new("Dropout")).class_name(), "Dropout");
    /// ```
    pub fn class_name(&self) -> &'static str {
        self.ops().class_name()
    }

    /// Keras's parameter count (`count_params()`).
    ///
    /// ```
    /// use wgpu_lstm::{layers::{Layer, Recurrent}, LstmConfig, LstmWeights};
    /// let cfg = LstmConfig::new(4);
    /// let l = Layer::Recurrent(Recurrent::lstm(cfg.clone(), LstmWeights::keras_default(3, &cfg, 0).unwrap()).unwrap());
    /// let l = Layer::Recurrent(Recurrent::lstm(cfg.clone(), LstmWeights::keras_default(3, &cfg, 0).unwrap()).unwrap());
    /// assert_eq!(l.param_count(), 128);
    /// ```
    pub fn param_count(&self) -> usize {
        self.ops().param_count()
    }

    /// Output tensors for these input tensors (see [`TensorInfo`]), as Keras's
    /// `compute_output_shape` and `compute_mask` give them for `flavour`.
    ///
    /// ```
    /// use wgpu_lstm::{layers::{Layer, Masking}, tensor::TensorInfo, KerasFlavour};
    /// let l = Layer::Masking(Masking { mask_value: 0.0 });
    /// let out = l.infer(&[TensorInfo::f32(vec![None, Some(3)])], KerasFlavour::Keras3).unwrap();
    /// assert!(out[0].masked);
    /// ```
    pub fn infer(&self, inputs: &[TensorInfo], flavour: KerasFlavour) -> Result<Vec<TensorInfo>> {
        self.ops().infer(inputs, flavour)
    }

    /// A short description of the configuration (as `summary()` prints it).
    ///
    /// ```
    /// use wgpu_lstm::layers::{Layer, Masking};
    /// assert_eq!(Layer::Masking(Masking { mask_value: 0.0 }).detail(), "mask_value=0");
    /// ```
    pub fn detail(&self) -> String {
        self.ops().detail()
    }

    /// Whether the layer computes its outputs' masks itself (see `LayerOps::computes_mask`).
    pub(crate) fn computes_mask(&self, inputs: &[TensorInfo]) -> bool {
        self.ops().computes_mask(inputs)
    }

    /// Whether the layer reads integer token ids.
    pub(crate) fn takes_tokens(&self) -> bool {
        self.ops().takes_tokens()
    }

    /// The recurrent layers inside (one, two for a Bidirectional, none for other kinds), in
    /// state order.
    ///
    /// ```
    /// use wgpu_lstm::layers::{Identity, Layer};
    /// assert!(Layer::Identity(Identity::new("Dropout")).lstms().is_empty());
    /// ```
    pub fn lstms(&self) -> Vec<&Recurrent> {
        match self {
            Layer::Recurrent(r) => vec![r],
            Layer::Bidirectional(b) => vec![&b.forward, &b.backward],
            _ => Vec::new(),
        }
    }

    /// The same, mutable.
    pub(crate) fn lstms_mut(&mut self) -> Vec<&mut Recurrent> {
        match self {
            Layer::Recurrent(r) => vec![r],
            Layer::Bidirectional(b) => vec![&mut b.forward, &mut b.backward],
            _ => Vec::new(),
        }
    }
}

/// The one input most layers take, or an error naming how many were given.
pub(crate) fn one(inputs: &[TensorInfo]) -> Result<&TensorInfo> {
    match inputs {
        [x] => Ok(x),
        _ => Err(crate::Error::config(
            "inputs",
            format!("this layer takes one tensor, got {}", inputs.len()),
        )),
    }
}

/// The last axis of an input, which must be known.
pub(crate) fn last_axis(x: &TensorInfo) -> Result<usize> {
    x.last().ok_or_else(|| {
        crate::Error::config(
            "input shape",
            format!(
                "the last axis of input {} must be known",
                x.keras_shape(None)
            ),
        )
    })
}
