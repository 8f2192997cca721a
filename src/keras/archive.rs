//! The Keras 3 `.keras` archive: a zip holding `config.json` (the architecture),
//! `metadata.json` (`{"keras_version": ...}`) and `model.weights.h5` (the Keras 3 weights
//! layout, see [`super::weights_h5`]). Keras writes the members uncompressed ("stored"),
//! which is the only method read here; a compressed member is refused with a typed error.
//!
//! All three members are required. `metadata.json` is required because the Keras version
//! decides what `hard_sigmoid` means (Keras 3 and tf-keras define it differently, and
//! tf-keras ≥ 2.13 writes `.keras` archives too), so a missing version is an error rather
//! than a guess.
//!
//! Bounds: a member is read with a limit (JSON members 64 MiB, the weights 2 GiB) and never
//! more than the archive's own length is reserved up front, so a zip bomb or a lying size
//! field cannot make this allocate more than the bytes it was given (plus the limit).

use std::io::{Cursor, Read};

use serde_json::Value;

use super::ModelFile;
use super::arch::parse_architecture;
use super::hdf5::H5;
use super::layers::assemble;
use super::weights_h5::Keras3Weights;
use crate::error::{Error, Result};

/// The zip local-file-header signature, `PK\x03\x04`.
pub(crate) const ZIP_MAGIC: &[u8; 4] = b"PK\x03\x04";

/// Largest JSON member read.
const MAX_JSON_MEMBER: u64 = 64 << 20;

/// Largest weights member read.
const MAX_WEIGHTS_MEMBER: u64 = 2 << 30;

type Archive<'a> = zip::ZipArchive<Cursor<&'a [u8]>>;

/// Reads member `member` whole, refusing compressed members and anything over `limit`.
fn read_member(zip: &mut Archive<'_>, file: &str, member: &str, limit: u64) -> Result<Vec<u8>> {
    let total = zip.len();
    let mut f = match zip.by_name(member) {
        Ok(f) => f,
        Err(zip::result::ZipError::FileNotFound) => {
            return Err(Error::model_file(
                file,
                format!(
                    "missing member `{member}` (the archive has {total} members); a Keras 3 .keras file holds config.json, metadata.json and model.weights.h5"
                ),
            ));
        }
        Err(e) => {
            return Err(Error::model_file(
                format!("{file}:{member}"),
                format!("cannot open archive member: {e}"),
            ));
        }
    };
    let name = format!("{file}:{member}");
    if f.compression() != zip::CompressionMethod::Stored {
        return Err(Error::model_file(
            name,
            format!(
                "member is compressed ({}); only uncompressed (stored) members are read, as Keras writes them",
                f.compression()
            ),
        ));
    }
    let declared = f.size();
    if declared > limit {
        return Err(Error::model_file(
            name,
            format!("member declares {declared} bytes, over the limit of {limit}"),
        ));
    }
    // `declared <= limit`, and a stored member cannot hold more than the archive.
    let mut out = Vec::with_capacity(usize::try_from(declared).unwrap_or(0).min(1 << 20));
    (&mut f)
        .take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::model_file(&name, format!("cannot read member: {e}")))?;
    if out.len() as u64 != declared {
        return Err(Error::model_file(
            name,
            format!(
                "member declares {declared} bytes but {} were read",
                out.len()
            ),
        ));
    }
    Ok(out)
}

fn parse_json(bytes: &[u8], name: &str) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| Error::Json {
        path: name.to_string(),
        reason: e.to_string(),
    })
}

/// Loads a `.keras` archive from memory; `file` is the name errors use.
pub(crate) fn load_keras(bytes: &[u8], file: &str) -> Result<ModelFile> {
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| {
        Error::model_file(file, format!("not a readable .keras (zip) archive: {e}"))
    })?;

    let config_bytes = read_member(&mut zip, file, "config.json", MAX_JSON_MEMBER)?;
    let meta_bytes = read_member(&mut zip, file, "metadata.json", MAX_JSON_MEMBER)?;
    if zip.index_for_name("model.weights.h5").is_none()
        && zip.index_for_name("model.weights.npz").is_some()
    {
        return Err(Error::Unsupported(format!(
            "{file}: the weights are stored as model.weights.npz; only model.weights.h5 is read"
        )));
    }
    let weights = read_member(&mut zip, file, "model.weights.h5", MAX_WEIGHTS_MEMBER)?;

    let meta_name = format!("{file}:metadata.json");
    let meta = parse_json(&meta_bytes, &meta_name)?;
    let keras_version = meta
        .get("keras_version")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::Json {
            path: meta_name.clone(),
            reason: "no string field `keras_version`".into(),
        })?
        .to_string();

    let config_name = format!("{file}:config.json");
    let config = parse_json(&config_bytes, &config_name)?;
    let arch = parse_architecture(&config, &config_name)?;

    let h5 = H5::from_bytes(weights, &format!("{file}:model.weights.h5"))?;
    let mut source = Keras3Weights::new(&h5)?;
    assemble(&arch, &keras_version, file, &mut source)
}
