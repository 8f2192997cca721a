//! Reading Keras model files and `.npy` arrays, in pure Rust.
//!
//! The readers turn a file into a neutral description, [`ModelFile`]: the model's layers in
//! order, each with its class, name, Keras config (as JSON) and its float32 weights in
//! Keras order. Nothing here runs a model; building layers from a [`ModelFile`] is the job
//! of the rest of the crate.
//!
//! | file | written by | read with |
//! |---|---|---|
//! | `.keras` (zip: `config.json`, `metadata.json`, `model.weights.h5`) | Keras 3 `model.save()` | [`load_model_file`], [`load_keras_bytes`] |
//! | legacy `.h5` (full model, `model_config` attribute) | tf-keras / Keras 2 `model.save(..., save_format="h5")` | [`load_model_file`], [`load_legacy_h5_bytes`] |
//! | `.weights.h5` (weights only) | Keras 3 `model.save_weights()` (or tf-keras `save_weights("w.h5")`) | [`load_weights_h5`] with the architecture JSON |
//! | `.npy` | `np.save` | [`read_npy_f32`], [`read_npy_mask`], [`write_npy_f32`] |
//! | `.npz` | `np.savez` | [`read_npz`], [`write_npz`] |
//!
//! # Weights per layer class
//!
//! | class | [`LayerSpec::weights`], in order (names as in [`WeightArray::name`]) |
//! |---|---|
//! | `LSTM` | `kernel` (D, 4U), `recurrent_kernel` (U, 4U), `bias` (4U) if `use_bias` |
//! | `Bidirectional(LSTM)` | `forward/kernel`, `forward/recurrent_kernel`, `forward/bias`, then the same three with `backward/` |
//! | `Dense` | `kernel` (D, units), `bias` (units) if `use_bias` |
//! | `InputLayer`, `Masking`, `Dropout`, other weightless layers | none |
//!
//! Gate blocks of the 4U axis are in Keras order i, f, c, o. For `Bidirectional`,
//! [`LayerSpec::config`] is the wrapper's config, with the inner `layer` and (when
//! present) `backward_layer` configs inside it. A layer class not in this table loads only
//! when the file holds no weights for it; otherwise the result is [`Error::Unsupported`].
//!
//! # How layers are matched to weights
//!
//! As Keras does it. Keras 3 stores a layer's weights under a key built from its **class
//! name** in model order (`lstm`, `lstm_1`, ..., `dense`, `bidirectional`), not under its
//! name; keys are rebuilt the same way here, with numeric suffixes compared as numbers.
//! Legacy `.h5` files store the real layer names (`layer_names`) and, per layer, the
//! dataset names in order (`weight_names`).
//!
//! # Checks, and what they give
//!
//! * every weight's shape is checked against the config (`units`, `use_bias`, and the
//!   input feature size where the file gives it or the previous layer implies it):
//!   [`Error::Shape`] naming the file, layer, weight and HDF5 path;
//! * every dataset must be little-endian IEEE float32 (`<f4`): [`Error::ModelFile`] naming
//!   the dtype found (`<f8`, `<i4`, `>f4`, ...);
//! * a layer whose weights are missing: [`Error::ModelFile`] naming the layer and the
//!   missing path; weights in the file that no layer of the architecture takes: also an
//!   error (Keras 3 itself would ignore them; here they signal the wrong architecture);
//! * nested models and graphs other than a linear chain: [`Error::Unsupported`];
//! * damaged, truncated or hostile files: an error, never a panic, a hang or an allocation
//!   much larger than the input. Zip members are read with a size limit; `.npy` shapes are
//!   checked against the bytes present; HDF5 dataset sizes are checked against the file
//!   length before reading, and every call into the HDF5 reader runs under
//!   `catch_unwind`. Chunked datasets (what h5py writes when asked to compress: gzip,
//!   shuffle, lzf, fletcher32) are read, but their chunk index, chunk shape and chunk list
//!   are checked and the work they cost is capped by the file's size; a damaged one (a
//!   chunk dimension of 0, a B-tree that shares nodes, chunks off the grid) is an
//!   [`Error::ModelFile`] naming the HDF5 path. An optimizer group in the weights file is
//!   ignored.
//!
//! The Keras version ([`ModelFile::keras_version`]) comes from `metadata.json` in a
//! `.keras` archive (a missing `metadata.json` is an error, because the version decides
//! which `hard_sigmoid` the model means) and from the root `keras_version` attribute of a
//! legacy `.h5`.
//!
//! ```
//! let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
//! let model = wgpu_lstm::keras::load_keras_bytes(bytes, "sine_forecaster.keras")?;
//! assert_eq!(model.keras_version, "3.15.1");
//! let lstm = model.layer("lstm").unwrap();
//! assert_eq!(lstm.weight("recurrent_kernel").unwrap().shape, vec![32, 128]);
//! # Ok::<(), wgpu_lstm::Error>(())
//! ```

use std::path::Path;

use ndarray::{ArrayD, ArrayViewD, IxDyn};
use serde_json::Value;

use crate::error::{Error, Result};

mod arch;
mod archive;
mod classes;
mod hdf5;
mod hdf5_guard;
mod layers;
mod legacy_h5;
mod npy;
mod weights_h5;

#[cfg(test)]
mod tests;

pub use arch::{CallSpec, TensorRef};
pub(crate) use classes::unsupported_layer;
pub use classes::{is_op_module, plan_from_model_file};
pub use npy::NpyArray;

/// One layer as found in the file: class name, layer name, its Keras config dict, and its
/// weights in Keras order.
///
/// ```
/// use wgpu_lstm::keras::{LayerSpec, WeightArray};
/// let dense = LayerSpec {
///     class_name: "Dense".into(),
///     name: "dense".into(),
///     config: serde_json::json!({"name": "dense", "units": 1, "use_bias": true}),
///     weights: vec![
///         WeightArray { name: "kernel".into(), shape: vec![2, 1], data: vec![0.5, -0.5] },
///         WeightArray { name: "bias".into(), shape: vec![1], data: vec![0.1] },
///     ],
///     ..LayerSpec::default()
/// };
/// assert_eq!(dense.weight("bias").unwrap().data, vec![0.1]);
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LayerSpec {
    /// The Keras class, e.g. `"LSTM"`, `"Bidirectional"`, `"Dense"`, `"InputLayer"`.
    pub class_name: String,
    /// The layer's name, e.g. `"lstm_1"`.
    pub name: String,
    /// The layer's Keras config dict (`config` of the layer entry), as written in the file.
    pub config: Value,
    /// The weights in Keras order (see the [module docs](self) for each class).
    pub weights: Vec<WeightArray>,
    /// The entry's `module` (Keras 3 files): `keras.layers`, or `keras.src.ops.numpy` for
    /// the operations Keras 3 records in a Functional graph (mask computations).
    pub module: Option<String>,
    /// The layer's calls in a Functional graph (which tensors it read; empty in a
    /// Sequential model, where each layer reads the previous one's output).
    pub calls: Vec<CallSpec>,
    /// A nested model (a Sequential or Functional used as a layer): its own layers and
    /// graph.
    pub model: Option<Box<ModelFile>>,
}

impl LayerSpec {
    /// The weight called `name` (`"kernel"`, `"forward/bias"`, ...), if the layer has it.
    ///
    /// ```
    /// use wgpu_lstm::keras::{LayerSpec, WeightArray};
    /// let l = LayerSpec {
    ///     class_name: "Dense".into(),
    ///     name: "d".into(),
    ///     config: serde_json::json!({}),
    ///     weights: vec![WeightArray { name: "kernel".into(), shape: vec![1, 1], data: vec![2.0] }],
    ///     ..LayerSpec::default()
    /// };
    /// assert!(l.weight("kernel").is_some());
    /// assert!(l.weight("bias").is_none());
    /// ```
    pub fn weight(&self, name: &str) -> Option<&WeightArray> {
        self.weights.iter().find(|w| w.name == name)
    }
}

/// A float32 array read from a file, row-major.
///
/// ```
/// let w = wgpu_lstm::keras::WeightArray { name: "bias".into(), shape: vec![4], data: vec![0.0; 4] };
/// assert_eq!(w.to_array()?.shape(), &[4]);
/// # Ok::<(), wgpu_lstm::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct WeightArray {
    /// The weight's role: `kernel`, `recurrent_kernel`, `bias`; for `Bidirectional`
    /// prefixed with `forward/` or `backward/`.
    pub name: String,
    /// The shape, e.g. `[3, 32]` for a kernel (D, 4U).
    pub shape: Vec<usize>,
    /// The elements in row-major (C) order; `data.len()` is the product of `shape`.
    pub data: Vec<f32>,
}

impl WeightArray {
    /// The array as an `ndarray` array (a copy).
    ///
    /// Fails with [`Error::Shape`] if `data.len()` does not match `shape` (only possible
    /// for a hand-built value).
    ///
    /// ```
    /// let w = wgpu_lstm::keras::WeightArray { name: "kernel".into(), shape: vec![1, 2], data: vec![1.0, 2.0] };
    /// assert_eq!(w.to_array()?[[0, 1]], 2.0);
    /// # Ok::<(), wgpu_lstm::Error>(())
    /// ```
    pub fn to_array(&self) -> Result<ArrayD<f32>> {
        ArrayD::from_shape_vec(IxDyn(&self.shape), self.data.clone()).map_err(|_| {
            Error::shape(
                format!("weight `{}`", self.name),
                format!("{} elements", self.data.len()),
                &self.shape,
            )
        })
    }
}

/// A whole model file: Keras version, model name and class, and the layers in order.
///
/// ```no_run
/// let m = wgpu_lstm::keras::load_model_file(std::path::Path::new("model.keras"))?;
/// for layer in &m.layers {
///     println!("{} {} {:?}", layer.class_name, layer.name,
///              layer.weights.iter().map(|w| &w.shape).collect::<Vec<_>>());
/// }
/// # Ok::<(), wgpu_lstm::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelFile {
    /// The Keras version that wrote the file, e.g. `"3.15.1"` or `"2.21.0"`.
    pub keras_version: String,
    /// The model's name (`""` if the file has none).
    pub model_name: String,
    /// `"Sequential"` or `"Functional"` (tf-keras's `"Model"` is reported as `"Functional"`).
    pub class_name: String,
    /// The layers in model order, `InputLayer` included (it has no weights).
    pub layers: Vec<LayerSpec>,
    /// A Functional model's inputs and outputs, in order (empty for a Sequential).
    pub inputs: Vec<TensorRef>,
    pub outputs: Vec<TensorRef>,
    /// A Sequential model's declared input shape (`[null, T, D]`), when it has no
    /// InputLayer.
    pub build_input_shape: Option<Value>,
}

impl ModelFile {
    /// The layer called `name`, if any.
    ///
    /// ```no_run
    /// let m = wgpu_lstm::keras::load_model_file(std::path::Path::new("model.keras"))?;
    /// let units = m.layer("lstm").and_then(|l| l.config["units"].as_u64());
    /// # Ok::<(), wgpu_lstm::Error>(())
    /// ```
    pub fn layer(&self, name: &str) -> Option<&LayerSpec> {
        self.layers.iter().find(|l| l.name == name)
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Loads a Keras model file, telling the format from its content: a zip archive is a
/// Keras 3 `.keras` file, an HDF5 file is a legacy tf-keras `.h5` full model.
///
/// A weights-only `.weights.h5` holds no architecture: it gives [`Error::ModelFile`]
/// saying so (use [`load_weights_h5`] with the model's `config.json`). An unreadable file
/// gives [`Error::Io`]; see the [module docs](self) for the other errors.
///
/// ```
/// use std::path::Path;
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keras/models/tfkeras2_seq_lstm.h5");
/// let m = wgpu_lstm::keras::load_model_file(Path::new(path))?;
/// assert_eq!(m.keras_version, "2.21.0");
/// assert_eq!(m.layers[1].weights[0].shape, vec![3, 32]); // LSTM(8) kernel (D, 4U)
/// # Ok::<(), wgpu_lstm::Error>(())
/// ```
pub fn load_model_file(path: &Path) -> Result<ModelFile> {
    let bytes = read_file(path)?;
    let name = path.display().to_string();
    if bytes.starts_with(archive::ZIP_MAGIC) || bytes.starts_with(b"PK\x05\x06") {
        load_keras_bytes(&bytes, &name)
    } else if hdf5::is_hdf5(&bytes) {
        load_legacy_h5_bytes(&bytes, &name)
    } else if bytes.starts_with(npy::NPY_MAGIC) {
        Err(Error::model_file(
            name,
            "this is a .npy array, not a model (read it with read_npy_f32)",
        ))
    } else {
        Err(Error::model_file(
            name,
            "not a Keras model file: neither a .keras archive (zip) nor an HDF5 .h5 file",
        ))
    }
}

/// Loads a Keras 3 `.keras` archive from memory (for a model embedded with
/// `include_bytes!`). `name_for_errors` names the source in error messages.
///
/// ```
/// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
/// let m = wgpu_lstm::keras::load_keras_bytes(bytes, "demo")?;
/// let names: Vec<&str> = m.layers.iter().map(|l| l.class_name.as_str()).collect();
/// assert_eq!(names, ["InputLayer", "LSTM", "Dense"]);
/// # Ok::<(), wgpu_lstm::Error>(())
/// ```
pub fn load_keras_bytes(bytes: &[u8], name_for_errors: &str) -> Result<ModelFile> {
    archive::load_keras(bytes, name_for_errors)
}

/// Loads a legacy tf-keras / Keras 2 full-model `.h5` file from memory.
/// `name_for_errors` names the source in error messages.
///
/// ```
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/keras/models/tfkeras2_seq_lstm.h5");
/// let bytes = std::fs::read(path).unwrap();
/// let m = wgpu_lstm::keras::load_legacy_h5_bytes(&bytes, "tfkeras2_seq_lstm.h5")?;
/// assert_eq!(m.layers[1].weights[0].name, "kernel");
/// # Ok::<(), wgpu_lstm::Error>(())
/// ```
pub fn load_legacy_h5_bytes(bytes: &[u8], name_for_errors: &str) -> Result<ModelFile> {
    let name = name_for_errors;
    let h5 = hdf5::H5::from_bytes(bytes.to_vec(), name)?;
    let Some(config_text) = h5.string_attr("/", "model_config")? else {
        if h5.has_group("/layers")? || h5.string_list_attr("/", "layer_names")?.is_some() {
            return Err(Error::model_file(
                name,
                "a weights-only file (no `model_config`): it holds no architecture; load it with load_weights_h5 and the model's config.json",
            ));
        }
        return Err(Error::model_file(
            name,
            "not a Keras model file: the HDF5 root has no `model_config` attribute",
        ));
    };
    let keras_version = h5
        .string_attr("/", "keras_version")?
        .ok_or_else(|| Error::model_file(name, "the HDF5 root has no `keras_version` attribute"))?;
    let config_name = format!("{name}:model_config");
    let config: Value = serde_json::from_str(&config_text).map_err(|e| Error::Json {
        path: config_name.clone(),
        reason: e.to_string(),
    })?;
    let arch = arch::parse_architecture(&config, &config_name)?;
    let mut source = legacy_h5::LegacyWeights::new(&h5)?;
    layers::assemble(&arch, &keras_version, name, &mut source)
}

/// Loads a weights-only HDF5 file with the architecture given as JSON.
///
/// `architecture_json` is a Keras `config.json`-like object,
/// `{"class_name": "Sequential", "config": {"name": ..., "layers": [...]}}`;
/// `keras_version` is recorded in the result (a weights file does not store it). The file
/// may be a Keras 3 `.weights.h5` or a tf-keras `save_weights("w.h5")` file; the layout is
/// told from its content.
///
/// ```no_run
/// use std::path::Path;
/// let config: serde_json::Value = serde_json::from_str(&std::fs::read_to_string("config.json").unwrap()).unwrap();
/// let m = wgpu_lstm::keras::load_weights_h5(Path::new("model.weights.h5"), &config, "3.15.1")?;
/// # Ok::<(), wgpu_lstm::Error>(())
/// ```
pub fn load_weights_h5(
    path: &Path,
    architecture_json: &Value,
    keras_version: &str,
) -> Result<ModelFile> {
    let bytes = read_file(path)?;
    load_weights_h5_bytes(
        &bytes,
        &path.display().to_string(),
        architecture_json,
        keras_version,
    )
}

/// [`load_weights_h5`] from memory; `name_for_errors` names the source in error messages.
///
/// ```no_run
/// let bytes = std::fs::read("model.weights.h5").unwrap();
/// let config = serde_json::json!({"class_name": "Sequential", "config": {"name": "m", "layers": []}});
/// let m = wgpu_lstm::keras::load_weights_h5_bytes(&bytes, "model.weights.h5", &config, "3.15.1")?;
/// # Ok::<(), wgpu_lstm::Error>(())
/// ```
pub fn load_weights_h5_bytes(
    bytes: &[u8],
    name_for_errors: &str,
    architecture_json: &Value,
    keras_version: &str,
) -> Result<ModelFile> {
    let name = name_for_errors;
    let arch =
        arch::parse_architecture(architecture_json, &format!("architecture JSON for {name}"))?;
    let h5 = hdf5::H5::from_bytes(bytes.to_vec(), name)?;
    let keras3 = h5.has_group("/layers")? || h5.has_group("/_layer_checkpoint_dependencies")?;
    let legacy = !keras3
        && (h5.has_group("/model_weights")? || h5.string_list_attr("/", "layer_names")?.is_some());
    if legacy {
        let mut source = legacy_h5::LegacyWeights::new(&h5)?;
        layers::assemble(&arch, keras_version, name, &mut source)
    } else {
        // Keras 3 layout (also for a file with neither layout: each weighted layer then
        // reports its missing group).
        let mut source = weights_h5::Keras3Weights::new(&h5)?;
        layers::assemble(&arch, keras_version, name, &mut source)
    }
}

/// Reads a `.npy` file as a float32 array.
///
/// Only little-endian float32 (`'<f4'`) in C order is read; any other dtype, Fortran order,
/// a truncated file or extra bytes give [`Error::ModelFile`] naming the file and the
/// problem. A missing file gives [`Error::Io`].
///
/// ```no_run
/// let a = wgpu_lstm::keras::read_npy_f32(std::path::Path::new("inputs.npy"))?;
/// println!("{:?}", a.shape());
/// # Ok::<(), wgpu_lstm::Error>(())
/// ```
pub fn read_npy_f32(path: &Path) -> Result<ArrayD<f32>> {
    npy::read_path(path)
}

/// Parses `.npy` bytes as a float32 array; `name_for_errors` names the source in errors.
///
/// ```
/// use ndarray::{arr2, IxDyn};
/// let a = arr2(&[[1.0f32, 2.0], [3.0, 4.0]]).into_dyn();
/// let bytes = wgpu_lstm::keras::npy_f32_bytes(&a.view());
/// assert_eq!(wgpu_lstm::keras::read_npy_f32_bytes(&bytes, "a.npy")?, a);
/// assert!(wgpu_lstm::keras::read_npy_f32_bytes(&bytes[..bytes.len() - 1], "a.npy").is_err());
/// # Ok::<(), wgpu_lstm::Error>(())
/// ```
pub fn read_npy_f32_bytes(bytes: &[u8], name_for_errors: &str) -> Result<ArrayD<f32>> {
    npy::read_bytes(bytes, name_for_errors)
}

/// Reads a `.npy` file as a mask: bool (`'|b1'`, what `np.save` writes for a bool array;
/// each byte must be 0 or 1) or float32 (`'<f4'`, nonzero = `true`). Any other dtype, Fortran
/// order, a truncated file or extra bytes give [`Error::ModelFile`] naming the file and the
/// problem; a missing file gives [`Error::Io`].
///
/// ```no_run
/// let m = wgpu_lstm::keras::read_npy_mask(std::path::Path::new("mask.npy"))?;
/// println!("{} valid steps", m.iter().filter(|&&v| v).count());
/// # Ok::<(), wgpu_lstm::Error>(())
/// ```
pub fn read_npy_mask(path: &Path) -> Result<ArrayD<bool>> {
    npy::read_mask_path(path)
}

/// Parses `.npy` bytes as a mask (see [`read_npy_mask`]); `name_for_errors` names the source.
///
/// ```
/// // np.save of np.array([True, False]): dtype '|b1'
/// let header = "{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }";
/// let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
/// bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
/// bytes.extend_from_slice(header.as_bytes());
/// bytes.extend_from_slice(&[1, 0]);
/// let m = wgpu_lstm::keras::read_npy_mask_bytes(&bytes, "mask.npy")?;
/// assert_eq!(m.as_slice().unwrap(), &[true, false]);
/// // float32 masks are read too: nonzero = true
/// let f = ndarray::arr1(&[0.0f32, 2.0]).into_dyn();
/// let m = wgpu_lstm::keras::read_npy_mask_bytes(&wgpu_lstm::keras::npy_f32_bytes(&f.view()), "f.npy")?;
/// assert_eq!(m.as_slice().unwrap(), &[false, true]);
/// # Ok::<(), wgpu_lstm::Error>(())
/// ```
pub fn read_npy_mask_bytes(bytes: &[u8], name_for_errors: &str) -> Result<ArrayD<bool>> {
    npy::read_mask_bytes(bytes, name_for_errors)
}

/// Reads a `.npy` file of any dtype a model call takes: float inputs (float16/32/64, as
/// float32), integer token ids (int8..int64, uint8..uint64, widened exactly to i64) or a
/// bool mask. Other dtypes, Fortran order, truncation and extra bytes give
/// [`Error::ModelFile`] naming the file.
///
/// ```no_run
/// match wgpu_lstm::keras::read_npy(std::path::Path::new("tokens.npy"))? {
///     wgpu_lstm::keras::NpyArray::Int(t) => println!("{} token ids", t.len()),
///     other => println!("shape {:?}", other.shape()),
/// }
/// # Ok::<(), wgpu_lstm::Error>(())
/// ```
pub fn read_npy(path: &Path) -> Result<NpyArray> {
    npy::read_any_path(path)
}

/// Parses `.npy` bytes of any dtype a model call takes (see [`read_npy`]).
///
/// ```
/// let a = ndarray::arr1(&[1.5f32]).into_dyn();
/// let bytes = wgpu_lstm::keras::npy_f32_bytes(&a.view());
/// assert_eq!(wgpu_lstm::keras::read_npy_bytes(&bytes, "a.npy")?, wgpu_lstm::keras::NpyArray::F32(a));
/// # Ok::<(), wgpu_lstm::Error>(())
/// ```
pub fn read_npy_bytes(bytes: &[u8], name_for_errors: &str) -> Result<NpyArray> {
    npy::read_any_bytes(bytes, name_for_errors)
}

/// Writes a float32 array as a `.npy` file (format 1.0, `'<f4'`, C order), readable by
/// `np.load`. Views of any memory layout are written in logical (row-major) order.
///
/// ```no_run
/// let a = ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[2, 3]));
/// wgpu_lstm::keras::write_npy_f32(std::path::Path::new("out.npy"), &a.view())?;
/// # Ok::<(), wgpu_lstm::Error>(())
/// ```
pub fn write_npy_f32(path: &Path, a: &ArrayViewD<f32>) -> Result<()> {
    npy::write_path(path, a)
}

/// Encodes a float32 array as `.npy` bytes (what [`write_npy_f32`] writes).
///
/// ```
/// let a = ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[3]));
/// let bytes = wgpu_lstm::keras::npy_f32_bytes(&a.view());
/// assert!(bytes.starts_with(b"\x93NUMPY"));
/// ```
pub fn npy_f32_bytes(a: &ArrayViewD<f32>) -> Vec<u8> {
    npy::to_bytes(a)
}

/// Writes named float32 arrays as an `.npz` file readable by `np.load` (a zip of stored
/// `<name>.npy` members in the given order, as `np.savez` writes): `np.load(path)["name"]`.
///
/// ```
/// let a = ndarray::ArrayD::<f32>::zeros(ndarray::IxDyn(&[2, 3]));
/// let path = std::env::temp_dir().join(format!("doc_write_npz_{}.npz", std::process::id()));
/// wgpu_lstm::keras::write_npz(&path, &[("output_0".into(), a.view())])?;
/// let back = wgpu_lstm::keras::read_npz(&path)?;
/// assert_eq!(back[0].0, "output_0");
/// # std::fs::remove_file(&path).ok();
/// # Ok::<(), wgpu_lstm::Error>(())
/// ```
pub fn write_npz(path: &Path, arrays: &[(String, ArrayViewD<'_, f32>)]) -> Result<()> {
    npy::write_npz(path, arrays)
}

/// Reads an `.npz` file (`np.savez`): every member `<name>.npy` as [`read_npy`] reads it, in
/// archive order, as `(name, array)`. Compressed members (`np.savez_compressed`) and
/// members that are not `.npy` give [`Error::ModelFile`] naming the archive and member.
///
/// ```no_run
/// for (name, a) in wgpu_lstm::keras::read_npz(std::path::Path::new("y.npz"))? {
///     println!("{name}: {:?}", a.shape());
/// }
/// # Ok::<(), wgpu_lstm::Error>(())
/// ```
pub fn read_npz(path: &Path) -> Result<Vec<(String, NpyArray)>> {
    let bytes = read_file(path)?;
    npy::read_npz_bytes(&bytes, &path.display().to_string())
}
