//! The one error type of the crate.
//!
//! Every fallible public function returns [`Result`]. Each variant names the offending value
//! (a shape, a field, a file, a limit) and, where there is one, the fix. Nothing in the public
//! API panics on bad input.

use std::path::PathBuf;

/// Shorthand for `std::result::Result<T, wgpu_lstm::Error>`.
///
/// ```
/// fn units(n: usize) -> wgpu_lstm::Result<usize> {
///     Ok(n)
/// }
/// assert_eq!(units(4).unwrap(), 4);
/// ```
pub type Result<T> = std::result::Result<T, Error>;

/// Everything that can go wrong, as one typed enum.
///
/// The `Display` text is written for the person at the terminal: it names the offending
/// value and what was expected.
///
/// ```
/// use wgpu_lstm::{Activation, Error, KerasFlavour};
/// let err = Activation::from_keras_name("tahn", KerasFlavour::Keras3).unwrap_err();
/// assert!(matches!(err, Error::UnknownActivation { .. }));
/// assert!(err.to_string().contains("tanh"));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An array has the wrong shape (weights, inputs, masks, states, file datasets).
    #[error("{what}: expected shape {expected}, got {got:?}")]
    Shape {
        /// Which array, e.g. `"recurrent_kernel"` or `"inputs"`.
        what: String,
        /// The expected shape in words, e.g. `"(4, 16)"` or `"(B, T, 3)"`.
        expected: String,
        /// The shape that was given.
        got: Vec<usize>,
    },
    /// An activation name that Keras (of the given flavour) does not know element-wise.
    #[error("unknown activation `{name}` for {flavour}; known names: {known}")]
    UnknownActivation {
        /// The name as given.
        name: String,
        /// The Keras flavour it was looked up in.
        flavour: String,
        /// Every accepted name, comma separated.
        known: String,
    },
    /// A configuration field with a value that cannot work (e.g. `units = 0`).
    #[error("invalid config field `{field}`: {reason}")]
    Config {
        /// The field, with Keras's spelling.
        field: String,
        /// Why the value is rejected.
        reason: String,
    },
    /// A stateful layer was called with another batch size than the state it holds.
    #[error(
        "stateful layer holds state for batch size {expected}, but was called with batch size {got}; \
         a stateful layer keeps one state row per batch row (reset or rebuild it for another batch size)"
    )]
    StatefulBatch {
        /// The batch size of the stored state.
        expected: usize,
        /// The batch size of the call.
        got: usize,
    },
    /// A per-row state operation named a row outside the layer's batch.
    #[error("batch row {row} does not exist: the stateful state has {batch} rows (0..{batch})")]
    RowOutOfRange {
        /// The row asked for.
        row: usize,
        /// The batch size of the state.
        batch: usize,
    },
    /// A per-row state operation on a layer that holds no state yet.
    #[error("{0}")]
    NoState(String),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A JSON document (fixture, model config) is malformed or lacks a field.
    #[error("{path}: malformed JSON: {reason}")]
    Json {
        /// The file (or a description of the source).
        path: String,
        /// What is wrong, including the field where known.
        reason: String,
    },
    /// A model file (`.keras`, `.h5`, `.weights.h5`, `.npy`) is damaged or not what it claims.
    #[error("{path}: {reason}")]
    ModelFile {
        /// The file, or the member inside an archive.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A model uses a layer or option this crate does not run.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// An error in one layer of a model: its name and Keras class, and what is wrong.
    #[error("layer `{layer}` ({class}): {source}")]
    Layer {
        /// The layer's name.
        layer: String,
        /// Its Keras class.
        class: String,
        /// What went wrong.
        #[source]
        source: Box<Error>,
    },
    /// No GPU adapter could be found.
    #[error(
        "no GPU adapter found{filter}; adapters seen: [{found}]. Install a Vulkan driver \
         (on Debian/Ubuntu: apt-get install mesa-vulkan-drivers, which provides lavapipe), \
         or check WGPU_BACKEND / WGPU_ADAPTER_NAME"
    )]
    NoAdapter {
        /// The filter that was applied (backend / name), in words, or empty.
        filter: String,
        /// Every adapter seen, described, comma separated (may be empty).
        found: String,
    },
    /// The GPU rejected an operation (device request, validation or internal error).
    #[error("GPU error: {0}")]
    Gpu(String),
    /// The GPU ran out of memory. The context stays usable; free memory or use smaller inputs.
    #[error("GPU out of memory: {0}")]
    OutOfMemory(String),
    /// The GPU device was lost (driver reset, device destroyed). The context is unusable:
    /// build a new [`crate::gpu::GpuContext`] and new layers.
    #[error("GPU device lost: {0}")]
    DeviceLost(String),
    /// An input needs more memory than one storage binding of the device allows.
    #[error(
        "{what} needs {bytes} bytes, more than the device's max_storage_buffer_binding_size \
         of {limit} bytes; split the input over time or batch"
    )]
    TooLarge {
        /// Which buffer.
        what: String,
        /// Bytes needed.
        bytes: u64,
        /// The device limit.
        limit: u64,
    },
    /// A token id an `Embedding` cannot look up (Keras raises `InvalidArgumentError`).
    #[error("token id {token} at position {position:?} is outside the vocabulary: {valid}")]
    TokenOutOfRange {
        /// The id as given (a float id as written, e.g. `NaN` or `7.5`).
        token: String,
        /// Its index in the input array, batch first.
        position: Vec<usize>,
        /// The vocabulary size (`input_dim`).
        input_dim: usize,
        /// Which ids are valid, in words.
        valid: String,
    },
}

impl Error {
    /// Builds an [`Error::Shape`] from a name, an expected shape in words and the shape given.
    ///
    /// ```
    /// let e = wgpu_lstm::Error::shape("kernel", "(3, 16)", &[3, 12]);
    /// assert_eq!(e.to_string(), "kernel: expected shape (3, 16), got [3, 12]");
    /// ```
    pub fn shape(what: impl Into<String>, expected: impl Into<String>, got: &[usize]) -> Self {
        Error::Shape {
            what: what.into(),
            expected: expected.into(),
            got: got.to_vec(),
        }
    }

    /// Builds an [`Error::Config`].
    ///
    /// ```
    /// let e = wgpu_lstm::Error::config("units", "must be at least 1, got 0");
    /// assert!(e.to_string().contains("units"));
    /// ```
    pub fn config(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::Config {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// Wraps an error as coming from a layer (see [`Error::Layer`]).
    ///
    /// ```
    /// let e = wgpu_lstm::Error::config("units", "must be at least 1").in_layer("lstm_1", "LSTM");
    /// assert!(e.to_string().starts_with("layer `lstm_1` (LSTM): "));
    /// ```
    pub fn in_layer(self, layer: &str, class: &str) -> Self {
        Error::Layer {
            layer: layer.to_string(),
            class: class.to_string(),
            source: Box::new(self),
        }
    }

    /// Builds an [`Error::ModelFile`].
    ///
    /// ```
    /// let e = wgpu_lstm::Error::model_file("m.keras", "missing member config.json");
    /// assert_eq!(e.to_string(), "m.keras: missing member config.json");
    /// ```
    pub fn model_file(path: impl Into<String>, reason: impl Into<String>) -> Self {
        Error::ModelFile {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
