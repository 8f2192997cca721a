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
    /// An input needs more GPU memory than a limit allows: one storage binding of the
    /// device (`max_storage_buffer_binding_size`), one buffer (`max_buffer_size`), or the
    /// context's scratch budget. `limit_name` says which.
    ///
    /// ```
    /// let e = wgpu_lstm::Error::TooLarge {
    ///     what: "input projection scratch".into(),
    ///     bytes: 4096,
    ///     limit: 1024,
    ///     limit_name: "the scratch budget (CallOptions::scratch_budget)".into(),
    /// };
    /// assert!(e.to_string().contains("more than the scratch budget (CallOptions::scratch_budget) of 1024 bytes"));
    /// ```
    #[error(
        "{what} needs {bytes} bytes, more than {limit_name} of {limit} bytes; \
         split the input over time or batch"
    )]
    TooLarge {
        /// Which buffer.
        what: String,
        /// Bytes needed.
        bytes: u64,
        /// The limit, in bytes.
        limit: u64,
        /// Which limit, in words: `"the device's max_storage_buffer_binding_size"`,
        /// `"the device's max_buffer_size"` or
        /// `"the scratch budget (CallOptions::scratch_budget)"`.
        limit_name: String,
    },
    /// A size computed from user-given dimensions does not fit this machine: the product of
    /// the dimensions (elements) or its size in bytes passes `isize::MAX`, the most one
    /// allocation (or one ndarray array) can hold. Nothing was allocated.
    ///
    /// ```
    /// let e = wgpu_lstm::host_memory::checked_elems("inputs (B, T, D)", &[1 << 40, 1 << 40, 2]).unwrap_err();
    /// assert!(matches!(e, wgpu_lstm::Error::SizeOverflow { .. }));
    /// assert!(e.to_string().starts_with("inputs (B, T, D): shape [1099511627776, 1099511627776, 2]"));
    /// ```
    #[error(
        "{what}: shape {dims:?} is too large for this machine (its element count or byte size \
         overflows a {bits}-bit size)",
        bits = usize::BITS
    )]
    SizeOverflow {
        /// Which array (or size), e.g. `"inputs (B, T, D)"` or `"kernel (D, 4U)"`.
        what: String,
        /// The dimensions whose product overflows.
        dims: Vec<usize>,
    },
    /// Host (CPU) memory that user-given sizes would need is over the process's host-memory
    /// budget; checked before anything is allocated or computed. See
    /// [`crate::host_memory`] for the budget and how to change it.
    ///
    /// ```
    /// let e = wgpu_lstm::Error::HostMemory { what: "state h, c (B, U)".into(), bytes: 1 << 40, budget: 1 << 30 };
    /// assert!(e.to_string().contains("WGPU_LSTM_HOST_MEMORY_BUDGET"));
    /// ```
    #[error(
        "{what} needs {bytes} bytes of host memory, more than the host-memory budget of \
         {budget} bytes; use smaller sizes, or raise the budget with \
         wgpu_lstm::host_memory::set_host_memory_budget or the environment variable \
         WGPU_LSTM_HOST_MEMORY_BUDGET (bytes, or with a K/M/G/T suffix)"
    )]
    HostMemory {
        /// What needs the memory, with the shapes involved.
        what: String,
        /// Bytes needed (exact; may exceed `u64` for absurd shapes).
        bytes: u128,
        /// The budget in force, in bytes.
        budget: u64,
    },
    /// The allocator refused host memory that was within the budget (the machine is out of
    /// memory). Nothing was computed.
    ///
    /// ```
    /// let e = wgpu_lstm::Error::HostAllocation { what: "inputs copy".into(), bytes: 1 << 34 };
    /// assert!(e.to_string().contains("out of host memory"));
    /// ```
    #[error(
        "{what}: the allocator refused {bytes} bytes (out of host memory); free memory, use \
         smaller sizes, or lower the host-memory budget (WGPU_LSTM_HOST_MEMORY_BUDGET) so \
         that such sizes are refused up front"
    )]
    HostAllocation {
        /// What was being allocated.
        what: String,
        /// Bytes asked for.
        bytes: u128,
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
