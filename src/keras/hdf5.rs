//! The one place that talks to the HDF5 reader (`hdf5-pure`, pinned to `=0.47.0`).
//!
//! Everything the Keras readers need from an HDF5 file goes through [`H5`]: list groups and
//! datasets, read string attributes, read a float32 dataset. Each call
//!
//! * turns the reader's errors into [`Error::ModelFile`] naming the file and the HDF5 path,
//! * runs under [`std::panic::catch_unwind`], so a panic inside the reader on a damaged file
//!   becomes an error instead of taking the caller down,
//! * checks what the reader would otherwise gloss over: `read_f32` of `hdf5-pure` converts
//!   any numeric type silently, so the datatype is checked to be IEEE little-endian float32
//!   before the raw bytes are decoded here; a dataset's declared size is checked against the
//!   file's length before anything is allocated.
//!
//! Three guards keep a small hostile file from costing unbounded time or memory (see
//! FUZZING.md): opening a file refuses a version-1 group B-tree that names a node twice
//! (`hdf5-pure` would walk such a DAG in exponential time); the searches for stray
//! datasets walk group handles with one budget of listed members per file (HDF5 hard links
//! let one group appear under many names); and a chunked dataset is read by
//! [`super::hdf5_guard`], which bounds its chunk index walk, checks its chunk shape and
//! chunk list, and caps what its chunks decode to, all by the file's size.
//!
//! Keeping the dependency behind this narrow API means an upgrade (its API has moved fast)
//! touches one file.

use std::cell::Cell;
use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};

use hdf5_pure::{AttrValue, Datatype, DatatypeByteOrder, FloatingPointLayout, FormatError, Layout};

use super::hdf5_guard::ChunkGuard;
use crate::error::{Error, Result};

/// Most dimensions a weight dataset may have.
const MAX_RANK: usize = 8;

/// Deepest group nesting the dataset search descends into (a damaged file may link a
/// group into itself).
const MAX_DEPTH: usize = 12;

/// Most group members the dataset searches ([`H5::child_groups_with_datasets`]) list, together, over the life of one file. HDF5 hard
/// links let a small file name one group from many places, so a per-call bound would still
/// multiply with the number of calls; a real Keras file lists a few per weightless layer.
const MAX_LISTED: usize = 1 << 14;

/// An HDF5 file held in memory, opened for reading.
pub(crate) struct H5 {
    file: hdf5_pure::File,
    name: String,
    len: u64,
    /// Group members listed so far by the dataset searches (bounded by [`MAX_LISTED`]).
    listed: Cell<usize>,
    /// Reads the chunked datasets, within the file's budgets.
    chunked: ChunkGuard,
}

/// Whether `bytes` carries the HDF5 signature at one of the offsets the format allows.
pub(crate) fn is_hdf5(bytes: &[u8]) -> bool {
    catch_unwind(|| hdf5_pure::is_hdf5_bytes(bytes)).unwrap_or(false)
}

/// Runs `f`, turning a panic inside the HDF5 reader into an [`Error::ModelFile`].
fn guard<T>(name: &str, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(_) => Err(Error::model_file(
            name,
            format!("the HDF5 reader failed (panicked) while {what}; the file is damaged"),
        )),
    }
}

fn is_not_found(e: &hdf5_pure::Error) -> bool {
    matches!(e, hdf5_pure::Error::Format(FormatError::PathNotFound(_)))
}

/// Describes a datatype the way numpy would (`<f8`, `<i4`, `>f4`, ...) where it can.
fn describe_datatype(dt: &Datatype) -> String {
    let order = |o: &DatatypeByteOrder| match o {
        DatatypeByteOrder::LittleEndian => "<",
        DatatypeByteOrder::BigEndian => ">",
        DatatypeByteOrder::Vax => "vax ",
    };
    match dt {
        Datatype::FloatingPoint {
            size, byte_order, ..
        } => format!("{}f{size}", order(byte_order)),
        Datatype::FixedPoint {
            size,
            byte_order,
            layout,
        } => format!(
            "{}{}{size}",
            order(byte_order),
            if layout.signed { "i" } else { "u" }
        ),
        Datatype::String { size, .. } => format!("fixed-length string of {size} bytes"),
        Datatype::VariableLength {
            is_string: true, ..
        } => "variable-length string".into(),
        Datatype::Compound { .. } => "compound".into(),
        Datatype::Enumeration { .. } => "enum (e.g. bool)".into(),
        other => format!("{other:?}").chars().take(60).collect(),
    }
}

impl H5 {
    /// Opens an in-memory HDF5 file. `name` is what errors call it.
    pub(crate) fn from_bytes(bytes: Vec<u8>, name: &str) -> Result<Self> {
        let len = bytes.len() as u64;
        if !is_hdf5(&bytes) {
            return Err(Error::model_file(
                name,
                "not an HDF5 file (no HDF5 signature \\x89HDF\\r\\n\\x1a\\n)",
            ));
        }
        guard(name, "opening the file", || {
            let file = hdf5_pure::File::from_bytes(bytes)
                .map_err(|e| Error::model_file(name, format!("cannot open as HDF5: {e}")))?;
            // Like the HDF5 C library, refuse a file shorter than the end-of-file address
            // its superblock records: it was cut off (the reader alone may not notice
            // when the missing tail is not touched).
            let sb = file.superblock();
            let eof = sb.base_address.get().saturating_add(sb.eof_address);
            if eof > len {
                return Err(Error::model_file(
                    name,
                    format!("truncated HDF5 file: {len} bytes, but its superblock says {eof}"),
                ));
            }
            let (os, ls) = (sb.offset_size, sb.length_size);
            if let Err(why) = check_group_btrees(file.as_bytes(), sb.base_address.get(), os, ls) {
                return Err(Error::model_file(name, format!("damaged HDF5 file: {why}")));
            }
            Ok(H5 {
                file,
                name: name.to_string(),
                len,
                listed: Cell::new(0),
                chunked: ChunkGuard::new(),
            })
        })
    }

    /// The name errors use for this file.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    fn err(&self, path: &str, what: impl std::fmt::Display) -> Error {
        Error::model_file(&self.name, format!("{path}: {what}"))
    }

    fn group(&self, path: &str) -> std::result::Result<hdf5_pure::Group, hdf5_pure::Error> {
        let p = path.trim_matches('/');
        if p.is_empty() {
            Ok(self.file.root())
        } else {
            self.file.group(p)
        }
    }

    /// Whether a group exists at `path` (`false` when nothing is there or it is a dataset).
    pub(crate) fn has_group(&self, path: &str) -> Result<bool> {
        guard(&self.name, &format!("looking up {path}"), || {
            match self.group(path) {
                Ok(_) => Ok(true),
                Err(e) if is_not_found(&e) => Ok(false),
                Err(hdf5_pure::Error::NotAGroup(_)) => Ok(false),
                Err(e) => Err(self.err(path, e)),
            }
        })
    }

    /// Names of the child groups of the group at `path` (in no particular order).
    pub(crate) fn group_names(&self, path: &str) -> Result<Vec<String>> {
        guard(&self.name, &format!("listing {path}"), || {
            self.group(path)
                .and_then(|g| g.groups())
                .map_err(|e| self.err(path, e))
        })
    }

    /// Names of the child datasets of the group at `path` (in no particular order).
    pub(crate) fn dataset_names(&self, path: &str) -> Result<Vec<String>> {
        guard(&self.name, &format!("listing {path}"), || {
            self.group(path)
                .and_then(|g| g.datasets())
                .map_err(|e| self.err(path, e))
        })
    }

    /// Names of the child groups of the group at `path` that hold a dataset at any depth,
    /// sorted, leaving out (unsearched) those `skip` names. Lists the group once (looking
    /// each child up by path would list it again per child).
    pub(crate) fn child_groups_with_datasets(
        &self,
        path: &str,
        skip: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>> {
        guard(
            &self.name,
            &format!("searching {path} for datasets"),
            || {
                let g = self.group(path).map_err(|e| self.err(path, e))?;
                let children: Vec<(String, hdf5_pure::Group)> =
                    g.iter_groups().map_err(|e| self.err(path, e))?.collect();
                self.count_listed(path, children.len())?;
                let mut out = Vec::new();
                for (name, child) in children {
                    if skip(&name) {
                        continue;
                    }
                    let child_path = format!("{}/{name}", path.trim_end_matches('/'));
                    if self.any_dataset_in(&child, &child_path, 1)? {
                        out.push(name);
                    }
                }
                out.sort();
                Ok(out)
            },
        )
    }

    /// Charges `n` listed members to the file's budget.
    fn count_listed(&self, path: &str, n: usize) -> Result<()> {
        let total = self.listed.get().saturating_add(n);
        self.listed.set(total);
        if total > MAX_LISTED {
            return Err(self.err(
                path,
                format!(
                    "more than {MAX_LISTED} group members to search (a damaged or hostile file?)"
                ),
            ));
        }
        Ok(())
    }

    /// Walks the group handles themselves: each level lists its own members once, rather than
    /// resolving every path from the root again.
    fn any_dataset_in(&self, g: &hdf5_pure::Group, path: &str, depth: usize) -> Result<bool> {
        if depth > MAX_DEPTH {
            return Err(self.err(path, "groups nest too deeply (a damaged or cyclic file?)"));
        }
        let datasets = g.datasets().map_err(|e| self.err(path, e))?;
        self.count_listed(path, 1 + datasets.len())?;
        if !datasets.is_empty() {
            return Ok(true);
        }
        let children: Vec<(String, hdf5_pure::Group)> =
            g.iter_groups().map_err(|e| self.err(path, e))?.collect();
        // Listing the datasets above read each of these members too.
        self.count_listed(path, 2 * children.len())?;
        for (name, child) in children {
            if self.any_dataset_in(&child, &format!("{path}/{name}"), depth + 1)? {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// A list-of-strings attribute of the group at `path`, or `None` if the group has no
    /// such attribute.
    ///
    /// A string scalar reads as one element; an empty numeric array (what h5py stores for
    /// an empty Python list, e.g. `weight_names = []`) reads as an empty list. Following
    /// Keras's `load_attributes_from_hdf5_group`, an attribute too large for one object
    /// header is looked up as the chunks `name0`, `name1`, ... when `name` is absent.
    /// Trailing NUL padding is removed.
    pub(crate) fn string_list_attr(&self, path: &str, attr: &str) -> Result<Option<Vec<String>>> {
        guard(
            &self.name,
            &format!("reading attribute {attr} of {path}"),
            || {
                let group = match self.group(path) {
                    Ok(g) => g,
                    Err(e) if is_not_found(&e) => return Ok(None),
                    Err(e) => return Err(self.err(path, e)),
                };
                let attrs = group.attrs().map_err(|e| self.err(path, e))?;
                let decode = |v: &AttrValue| -> Result<Vec<String>> {
                    if let Some(s) = v.as_strings() {
                        return Ok(s
                            .iter()
                            .map(|s| s.trim_end_matches('\0').to_string())
                            .collect());
                    }
                    let empty = matches!(v, AttrValue::F64Array(a) if a.is_empty())
                        || matches!(v, AttrValue::F32Array(a) if a.is_empty())
                        || matches!(v, AttrValue::I64Array(a) if a.is_empty())
                        || matches!(v, AttrValue::I32Array(a) if a.is_empty())
                        || matches!(v, AttrValue::U8Array(a) if a.is_empty());
                    if empty {
                        Ok(Vec::new())
                    } else {
                        Err(self.err(
                            path,
                            format!("attribute `{attr}` is not a string or list of strings"),
                        ))
                    }
                };
                if let Some(v) = attrs.get(attr) {
                    return decode(v).map(Some);
                }
                let mut out = Vec::new();
                let mut found = false;
                for chunk in 0..attrs.len() {
                    match attrs.get(&format!("{attr}{chunk}")) {
                        Some(v) => {
                            found = true;
                            out.extend(decode(v)?);
                        }
                        None => break,
                    }
                }
                Ok(found.then_some(out))
            },
        )
    }

    /// A single-string attribute of the group at `path` (`None` when absent).
    pub(crate) fn string_attr(&self, path: &str, attr: &str) -> Result<Option<String>> {
        match self.string_list_attr(path, attr)? {
            None => Ok(None),
            Some(mut v) if v.len() == 1 => Ok(v.pop()),
            Some(v) => Err(self.err(
                path,
                format!("attribute `{attr}` holds {} strings, expected one", v.len()),
            )),
        }
    }

    /// Reads the dataset at `path` as row-major float32, with its shape: float32, float16
    /// and bfloat16 datasets (see [`WeightDtype`]), each value widened exactly.
    ///
    /// Refuses any other datatype (naming the one found, numpy-style: `<f8`, `<i4`, `>f4`),
    /// ranks above 8, and shapes whose byte size exceeds the file's length. A chunked
    /// dataset is read through [`ChunkGuard::read`], which refuses damaged or hostile chunk
    /// layouts and indexes.
    pub(crate) fn read_f32(&self, path: &str) -> Result<(Vec<usize>, Vec<f32>)> {
        guard(&self.name, &format!("reading dataset {path}"), || {
            let p = path.trim_start_matches('/');
            let ds = self.file.dataset(p).map_err(|e| {
                if is_not_found(&e) {
                    self.err(path, "no such dataset")
                } else {
                    self.err(path, e)
                }
            })?;
            let dt = ds.datatype().map_err(|e| self.err(path, e))?;
            let Some(kind) = WeightDtype::of(&dt) else {
                return Err(self.err(
                    path,
                    format!(
                        "dtype {} is not a weight type this crate reads (little-endian float32 \
                         <f4, float16 <f2, or bfloat16 as Keras stores it)",
                        describe_datatype(&dt)
                    ),
                ));
            };
            let width = kind.width();
            let shape64 = ds.shape().map_err(|e| self.err(path, e))?;
            if shape64.len() > MAX_RANK {
                return Err(self.err(path, format!("rank {} is too large", shape64.len())));
            }
            let mut shape = Vec::with_capacity(shape64.len());
            let mut count: u64 = 1;
            for &d in &shape64 {
                count = count.saturating_mul(d);
                shape.push(usize::try_from(d).unwrap_or(usize::MAX));
            }
            let bytes_needed = count.saturating_mul(width);
            if bytes_needed > self.len {
                return Err(self.err(
                    path,
                    format!(
                        "declares shape {shape64:?} ({bytes_needed} bytes), more than the whole file ({} bytes)",
                        self.len
                    ),
                ));
            }
            let raw = match ds.layout().map_err(|e| self.err(path, e))? {
                Layout::Chunked { .. } => self
                    .chunked
                    .read(self.file.as_bytes(), p, &shape64, width)
                    .map_err(|why| self.err(path, why))?,
                _ => ds.read_raw().map_err(|e| self.err(path, e))?,
            };
            if raw.len() as u64 != bytes_needed {
                return Err(self.err(
                    path,
                    format!(
                        "read {} bytes for shape {shape64:?}, expected {bytes_needed}",
                        raw.len()
                    ),
                ));
            }
            let data = match kind {
                WeightDtype::F32 => raw
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
                WeightDtype::F16 => raw
                    .chunks_exact(2)
                    .map(|c| half::f16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
                WeightDtype::Bf16 => raw
                    .chunks_exact(2)
                    .map(|c| half::bf16::from_le_bytes([c[0], c[1]]).to_f32())
                    .collect(),
            };
            Ok((shape, data))
        })
    }
}

/// The weight datatypes read (all widened exactly to float32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WeightDtype {
    /// IEEE little-endian float32 (`<f4`).
    F32,
    /// IEEE little-endian float16 (`<f2`): a `dtype="float16"` layer's weights.
    F16,
    /// bfloat16: h5py stores ml_dtypes' bfloat16 (a `dtype="bfloat16"` Keras 3 layer) as a
    /// 2-byte opaque type without a tag, little-endian — the only 2-byte opaque type Keras
    /// writes.
    Bf16,
}

impl WeightDtype {
    fn of(dt: &Datatype) -> Option<Self> {
        const F16: FloatingPointLayout = FloatingPointLayout {
            bit_offset: 0,
            bit_precision: 16,
            exponent_location: 10,
            exponent_size: 5,
            mantissa_location: 0,
            mantissa_size: 10,
            exponent_bias: 15,
        };
        match dt {
            Datatype::FloatingPoint {
                size: 4,
                byte_order: DatatypeByteOrder::LittleEndian,
                layout,
            } if *layout == FloatingPointLayout::IEEE754_BINARY32 => Some(WeightDtype::F32),
            Datatype::FloatingPoint {
                size: 2,
                byte_order: DatatypeByteOrder::LittleEndian,
                layout,
            } if *layout == F16 => Some(WeightDtype::F16),
            Datatype::Opaque { size: 2, tag } if tag.iter().all(|&b| b == 0) => {
                Some(WeightDtype::Bf16)
            }
            _ => None,
        }
    }

    /// Bytes per element.
    fn width(self) -> u64 {
        match self {
            WeightDtype::F32 => 4,
            WeightDtype::F16 | WeightDtype::Bf16 => 2,
        }
    }
}

/// Refuses a version-1 group B-tree that reaches a node twice.
///
/// `hdf5-pure` 0.47 lists a version-1 group by walking its B-tree (`TREE` nodes of type 0,
/// whose leaves point at `SNOD` symbol-table nodes) without remembering the nodes it has
/// seen, and only bounds the depth (64). A damaged file whose internal nodes name the same
/// child twice, level after level, makes a few hundred bytes cost 2^depth node visits on every
/// lookup in that group: a hang, and as many duplicated entries. In a valid file each node and
/// each `SNOD` has exactly one parent, so this scans the bytes for every group B-tree node
/// (the reader can only follow a node that starts with `TREE` at its address, so the scan
/// sees every node it could reach) and refuses the file if any `TREE` or `SNOD` is named as a
/// child twice. Linear in the file's length.
fn check_group_btrees(
    bytes: &[u8],
    base: u64,
    offset_size: u8,
    length_size: u8,
) -> std::result::Result<(), String> {
    let (os, ls) = (usize::from(offset_size), usize::from(length_size));
    if !matches!(os, 2 | 4 | 8) || !matches!(ls, 2 | 4 | 8) {
        return Ok(()); // the reader refuses such a file itself
    }
    let read = |at: usize, n: usize| -> Option<u64> {
        let b = bytes.get(at..at.checked_add(n)?)?;
        Some(
            b.iter()
                .rev()
                .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)),
        )
    };
    let header = 8 + 2 * os;
    // Real nodes do not overlap, so their child slots fit in the file; many overlapping fake
    // nodes could otherwise make this scan quadratic.
    let mut slots_left = bytes.len() / (ls + os) + (1 << 16);
    let mut parent_of: HashMap<u64, usize> = HashMap::new();
    let mut at = 0usize;
    while let Some(found) = bytes.get(at..).and_then(|rest| find(rest, b"TREE")) {
        let node = at + found;
        at = node + 1;
        if bytes.get(node + 4) != Some(&0) {
            continue; // not a group node (type 1 is a chunk index)
        }
        let (Some(&level), Some(used)) = (bytes.get(node + 5), read(node + 6, 2)) else {
            continue;
        };
        for i in 0..used as usize {
            let Some(child) = read(node + header + i * (ls + os) + ls, os) else {
                break;
            };
            slots_left = slots_left.checked_sub(1).ok_or_else(|| {
                "its group B-tree nodes overlap (more child slots than the file can hold)"
                    .to_string()
            })?;
            let Some(abs) = base.checked_add(child) else {
                continue;
            };
            let Ok(abs_usize) = usize::try_from(abs) else {
                continue;
            };
            // Only children that really are what the reader would parse there count.
            let sig: &[u8; 4] = if level == 0 { b"SNOD" } else { b"TREE" };
            if abs_usize
                .checked_add(4)
                .and_then(|end| bytes.get(abs_usize..end))
                != Some(&sig[..])
            {
                continue;
            }
            if let Some(first) = parent_of.insert(abs, node) {
                let what = if level == 0 {
                    "symbol-table node"
                } else {
                    "B-tree node"
                };
                let whom = if first == node {
                    format!(
                        "the group B-tree node at byte {node} names the {what} at byte {abs} twice"
                    )
                } else {
                    format!(
                        "the group B-tree nodes at bytes {first} and {node} both name the {what} at byte {abs}"
                    )
                };
                return Err(format!(
                    "{whom} (a B-tree never shares a node; walking it could take exponential time)"
                ));
            }
        }
    }
    Ok(())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Builds small HDF5 files for tests (Keras-like layouts the fixtures do not cover), so
/// that the tests, too, reach the HDF5 crate only through this file.
#[cfg(test)]
pub(crate) mod testfile {
    use std::collections::BTreeMap;

    use hdf5_pure::{AttrValue, FileBuilder, GroupBuilder};

    /// Element data of a test dataset.
    pub(crate) enum Data {
        F32(Vec<f32>),
        F64(Vec<f64>),
        I32(Vec<i32>),
    }

    /// What to put in the file: datasets by full path, and string attributes
    /// `(group path, name, values)` (one value is written as a scalar string).
    #[derive(Default)]
    pub(crate) struct Spec {
        pub datasets: Vec<(String, Vec<u64>, Data)>,
        pub attrs: Vec<(String, String, Vec<String>)>,
    }

    #[derive(Default)]
    struct Node<'a> {
        attrs: Vec<(&'a str, &'a [String])>,
        datasets: Vec<(&'a str, &'a [u64], &'a Data)>,
        children: BTreeMap<&'a str, Node<'a>>,
    }

    fn node_at<'a, 'b>(root: &'b mut Node<'a>, path: &'a str) -> &'b mut Node<'a> {
        let mut n = root;
        for part in path.split('/').filter(|p| !p.is_empty()) {
            n = n.children.entry(part).or_default();
        }
        n
    }

    fn attr_value(v: &[String]) -> AttrValue {
        if v.len() == 1 {
            AttrValue::VarLenString(v[0].clone())
        } else {
            AttrValue::VarLenStringArray(v.to_vec())
        }
    }

    fn fill(g: &mut GroupBuilder, n: &Node<'_>) {
        for (name, v) in &n.attrs {
            g.set_attr(name, attr_value(v));
        }
        for (name, shape, data) in &n.datasets {
            let d = g.create_dataset(name);
            match data {
                Data::F32(x) => d.with_f32_data(x),
                Data::F64(x) => d.with_f64_data(x),
                Data::I32(x) => d.with_i32_data(x),
            }
            .with_shape(shape);
        }
        for (name, child) in &n.children {
            let mut c = g.create_group(name);
            fill(&mut c, child);
            g.add_group(c.finish());
        }
    }

    /// The file's bytes.
    pub(crate) fn build(spec: &Spec) -> Vec<u8> {
        let mut root = Node::default();
        for (path, shape, data) in &spec.datasets {
            let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
            node_at(&mut root, dir).datasets.push((name, shape, data));
        }
        for (path, name, v) in &spec.attrs {
            node_at(&mut root, path).attrs.push((name, v));
        }
        let mut fb = FileBuilder::new();
        for (name, v) in &root.attrs {
            fb.set_attr(name, attr_value(v));
        }
        for (name, shape, data) in &root.datasets {
            let d = fb.create_dataset(name);
            match data {
                Data::F32(x) => d.with_f32_data(x),
                Data::F64(x) => d.with_f64_data(x),
                Data::I32(x) => d.with_i32_data(x),
            }
            .with_shape(shape);
        }
        for (name, child) in &root.children {
            let mut c = fb.create_group(name);
            fill(&mut c, child);
            fb.add_group(c.finish());
        }
        fb.finish().expect("test HDF5 file")
    }
}
