//! The chunked-dataset guard: the cost of reading one chunked HDF5 dataset is bounded by the
//! file's size, before and while `hdf5-pure` reads it. Only [`super::hdf5::H5::read_f32`]
//! uses it; with `hdf5.rs` it is the only code that talks to the HDF5 reader.
//!
//! `hdf5-pure` 0.47 reads a chunked dataset by walking its chunk index and decoding every
//! chunk the index lists, and it trusts the file while doing so:
//!
//! * it walks a version-1 chunk B-tree without remembering the nodes it has visited, so a
//!   tree whose nodes each name the next one twice (a DAG) costs `2^depth` visits, and a
//!   chunk record for each (a 45 KB file with 18 such levels took 1.1 s and 180 MB; each
//!   two more levels cost four times as much);
//! * it accepts a chunk dimension of 0 and then fills the dataset with its fill value
//!   (wrong weights; h5py refuses such a file), and it accepts chunk records that repeat,
//!   lie outside the dataset, or claim another size than the chunk has;
//! * it sizes decoding by the chunk shape the file declares (up to 4 GiB a chunk), so a
//!   chunk shape far larger than the dataset, or many chunks, cost work the bytes on disk
//!   never paid for (a decompression bomb is one case);
//! * the extensible-array index sizes a table from its header before reading anything.
//!
//! [`ChunkGuard::read`] therefore, for each chunked dataset:
//!
//! 1. **Layout.** Refuses index types it cannot bound (extensible array, version-2 B-tree,
//!    and any kind newer than these), a chunk rank other than the dataset's, a chunk
//!    dimension of 0, a single-chunk index whose chunk is smaller than the dataset, a
//!    filter pipeline that names a filter twice, and a chunk that alone decodes to more
//!    than the decode budget left.
//! 2. **Index walk, metered.** Lists the chunks with `hdf5-pure`'s own `Dataset::chunks`,
//!    but on a second, streaming view of the same bytes (opened once per file) whose every
//!    read goes through [`Metered`]: a chunk B-tree node read twice in one walk is refused
//!    (a valid B-tree never shares a node; this catches DAGs and cycles at the first
//!    repeat), and a walk that reads more than [`read_budget`] bytes (4 times the file
//!    plus 1 MiB, each read counting at least [`MIN_READ_COST`]) is stopped. Every other way
//!    to make a walk long, such as overlapping nodes or a fixed array of many pages, costs
//!    reads (a fixed array's unused pages cost the bits of its bitmap that were read).
//! 3. **Chunk list.** Each chunk must sit on the chunk grid inside the dataset, once, and
//!    store between 1 byte and the rest of the file; an unfiltered chunk must store exactly
//!    one chunk's bytes; and all chunks together store no more than the file holds (chunks
//!    never share bytes).
//! 4. **Decode budget.** The chunks decode to their count times the chunk's size, which is
//!    charged to one budget per file of [`decode_budget`] (64 times the file plus 16 MiB).
//!    `hdf5-pure` refuses a chunk that decodes to more than the chunk's size, so this
//!    bounds every filter's output, deflate bombs included.
//! 5. **Read.** The dataset is then read through the same metered view, so the read's own
//!    walk of the index and its chunk reads are bounded too.
//!
//! Time and memory for one dataset are then linear in the file's size: the walk reads at
//! most the read budget, the chunk list is at most one record per budgeted read, and the
//! decoded chunks (one at a time, plus `hdf5-pure`'s 1 MiB chunk cache) and the dataset
//! itself (already checked against the file's length) are bounded by the decode budget.

use std::cell::{Cell, OnceCell};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, PoisonError};

use hdf5_pure::{ChunkIndex, FileAccessProperties, FormatError, Layout, Source, WriteMarkPolicy};

/// The least a read is charged, so that many tiny reads cost as much as they take.
const MIN_READ_COST: u64 = 32;

/// Bytes one phase of a chunked read (the walk that lists the chunks, then the read) may
/// read from a file of `len` bytes: 4 times the file plus 1 MiB. A valid index is read
/// once per walk, and a valid file's chunks once per read, so a real file needs about its
/// own size at most. A chunk record costs at least 32 bytes of reads and, with the copy
/// `Dataset::chunks` makes, at most a few hundred bytes of memory, so the chunk list of a
/// hostile walk stays within about ten times this budget.
fn read_budget(len: u64) -> u64 {
    len.saturating_mul(4).saturating_add(1 << 20)
}

/// Bytes the chunked datasets of a file of `len` bytes may decode to, all together: 64
/// times the file plus 16 MiB (float weights barely compress; the slack covers small files
/// of zeros, which compress well).
fn decode_budget(len: u64) -> u64 {
    len.saturating_mul(64).saturating_add(16 << 20)
}

/// What the meter knows in the current phase.
#[derive(Default)]
struct MeterState {
    /// The phase's budget, and what is left of it.
    budget: u64,
    left: u64,
    /// Addresses of the chunk B-tree nodes read in this phase, when watching for repeats.
    nodes: Option<HashSet<u64>>,
    /// Why a read was refused in this phase, for the error message.
    refusal: Option<String>,
}

/// Counts the reads of a [`Metered`] source, phase by phase.
#[derive(Default)]
struct Meter(Mutex<MeterState>);

impl Meter {
    fn state(&self) -> std::sync::MutexGuard<'_, MeterState> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a phase with `budget` bytes of reads; `watch_nodes` refuses a chunk B-tree
    /// node read twice.
    fn begin(&self, budget: u64, watch_nodes: bool) {
        *self.state() = MeterState {
            budget,
            left: budget,
            nodes: watch_nodes.then(HashSet::new),
            refusal: None,
        };
    }

    /// Why the current phase refused a read, if it did.
    fn refusal(&self) -> Option<String> {
        self.state().refusal.clone()
    }

    /// Charges a read of `len` bytes at `offset` whose bytes are `head` (at least their
    /// start), or refuses it.
    fn charge(&self, offset: u64, len: usize, head: &[u8]) -> Result<(), FormatError> {
        let mut s = self.state();
        let cost = (len as u64).max(MIN_READ_COST);
        if cost > s.left {
            let why = format!(
                "reading its chunk index and chunks took more than {} bytes of reads, more than a valid file of this size needs (a damaged or hostile file)",
                s.budget
            );
            s.refusal = Some(why.clone());
            return Err(FormatError::Source(why));
        }
        s.left -= cost;
        // A version-1 B-tree node of type 1 (a chunk index): its header is read on its own.
        let is_chunk_node = head.len() >= 5 && &head[..4] == b"TREE" && head[4] == 1;
        if is_chunk_node
            && let Some(nodes) = s.nodes.as_mut()
            && !nodes.insert(offset)
        {
            let why = format!(
                "its chunk B-tree reaches the node at byte {offset} more than once; a B-tree never shares a node (a damaged or hostile file: walking it could take exponential time)"
            );
            s.refusal = Some(why.clone());
            return Err(FormatError::Source(why));
        }
        Ok(())
    }
}

/// The file's bytes as an `hdf5-pure` [`Source`] that charges every read to a [`Meter`].
struct Metered {
    bytes: Arc<[u8]>,
    meter: Arc<Meter>,
}

impl Metered {
    fn slice(&self, offset: u64, len: usize) -> Result<&[u8], FormatError> {
        let start = usize::try_from(offset).ok();
        match start.and_then(|s| Some(s..s.checked_add(len)?)) {
            Some(r) if r.end <= self.bytes.len() => Ok(&self.bytes[r]),
            _ => Err(FormatError::UnexpectedEof {
                expected: start.map_or(usize::MAX, |s| s.saturating_add(len)),
                available: self.bytes.len(),
            }),
        }
    }
}

impl Source for Metered {
    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), FormatError> {
        let src = self.slice(offset, buf.len())?;
        self.meter.charge(offset, buf.len(), src)?;
        buf.copy_from_slice(src);
        Ok(())
    }

    fn read_exact_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, FormatError> {
        // Bounds and budget first: nothing is allocated for a read that is refused.
        let src = self.slice(offset, len)?;
        self.meter.charge(offset, len, src)?;
        Ok(src.to_vec())
    }

    fn read_metadata_at(&self, offset: u64, len: usize) -> Result<Vec<u8>, FormatError> {
        self.read_exact_at(offset, len)
    }
}

/// The metered, streaming view of a file.
struct View {
    file: hdf5_pure::File,
    meter: Arc<Meter>,
}

/// Reads chunked datasets of one file within budgets set by its size (see the
/// [module docs](self)).
pub(crate) struct ChunkGuard {
    /// Opened at the first chunked dataset (real Keras files have none).
    view: OnceCell<std::result::Result<View, String>>,
    /// Bytes of decoded chunks charged so far, against [`decode_budget`].
    decoded: Cell<u64>,
}

impl ChunkGuard {
    pub(crate) fn new() -> Self {
        ChunkGuard {
            view: OnceCell::new(),
            decoded: Cell::new(0),
        }
    }

    fn view(&self, bytes: &[u8]) -> std::result::Result<&View, String> {
        self.view
            .get_or_init(|| {
                let meter = Arc::new(Meter::default());
                meter.begin(read_budget(bytes.len() as u64), false);
                let source = Metered {
                    bytes: Arc::from(bytes),
                    meter: Arc::clone(&meter),
                };
                // Read-only: a writer's leftover status mark is no reason to refuse.
                let props = FileAccessProperties::new()
                    .with_write_mark_policy(WriteMarkPolicy::AllowSnapshot);
                match hdf5_pure::File::from_source_with_options(source, props) {
                    Ok(file) => Ok(View { file, meter }),
                    Err(e) => {
                        let why = meter.refusal().unwrap_or_else(|| e.to_string());
                        Err(format!(
                            "cannot open the file to read a chunked dataset: {why}"
                        ))
                    }
                }
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Reads the raw bytes of the chunked dataset at `path` (no leading `/`) of the file
    /// `bytes`. The caller has checked, on its own handle to the dataset, that its shape is
    /// `shape`, that its elements are `elem_size` bytes and that it fits in the file. The
    /// layout, shape and filters the guard checks are those of the handle it reads from.
    ///
    /// Returns the reason to give, without the file name and path, when the dataset is
    /// refused or does not read.
    pub(crate) fn read(
        &self,
        bytes: &[u8],
        path: &str,
        shape: &[u64],
        elem_size: u64,
    ) -> std::result::Result<Vec<u8>, String> {
        let len = bytes.len() as u64;
        let view = self.view(bytes)?;
        // Phase 1: open the dataset, check its layout, list its chunks.
        view.meter.begin(read_budget(len), true);
        let why = |e: hdf5_pure::Error| view.meter.refusal().unwrap_or_else(|| e.to_string());
        let ds = view.file.dataset(path).map_err(why)?;
        let Layout::Chunked { chunk_shape, index } = ds.layout().map_err(why)? else {
            return Err(
                "the dataset changed its layout between two reads (an inconsistent file)".into(),
            );
        };
        if ds.shape().map_err(why)? != shape || ds.element_size().map_err(why)? != elem_size {
            return Err(
                "the dataset changed its shape or type between two reads (an inconsistent file)"
                    .into(),
            );
        }
        check_index(index)?;
        let chunk_bytes = check_chunk_shape(shape, &chunk_shape, elem_size)?;
        if index == ChunkIndex::SingleChunk && chunk_shape.iter().zip(shape).any(|(c, n)| c < n) {
            return Err(format!(
                "its single-chunk index holds one chunk of {chunk_shape:?}, smaller than its shape {shape:?} (a damaged file)"
            ));
        }
        let filters = ds.filters();
        check_filters(&filters)?;
        let total = decode_budget(len);
        let left = total.saturating_sub(self.decoded.get());
        if chunk_bytes > left {
            return Err(over_budget(chunk_bytes, "one chunk", left, total));
        }
        let chunks = ds.chunks().map_err(why)?;
        let records = chunks.iter().map(|c| ChunkRef {
            offset: &c.offset,
            address: c.address,
            storage_size: c.storage_size,
            filter_mask: c.filter_mask,
        });
        check_chunks(
            records,
            shape,
            &chunk_shape,
            chunk_bytes,
            filters.len(),
            len,
        )?;

        // On the grid and distinct, so at most one per grid cell.
        let decoded = (chunks.len() as u64).saturating_mul(chunk_bytes);
        if decoded > left {
            return Err(over_budget(decoded, "its chunks", left, total));
        }
        self.decoded.set(self.decoded.get() + decoded);
        drop(chunks);

        // Phase 2: the read walks the index again (no more than above) and reads every
        // chunk (no more than the file, checked above).
        view.meter.begin(read_budget(len).saturating_mul(2), false);
        ds.read_raw().map_err(why)
    }
}

fn over_budget(bytes: u64, what: &str, left: u64, total: u64) -> String {
    format!(
        "{what} would decode to {bytes} bytes, more than the {left} bytes this file may still decode ({total} in all: 64 times its size plus 16 MiB; a damaged or hostile file, or an unusually well compressed one)"
    )
}

/// Refuses the chunk indexes whose reading cannot be bounded from outside `hdf5-pure`.
fn check_index(index: ChunkIndex) -> std::result::Result<(), String> {
    match index {
        ChunkIndex::BTreeV1
        | ChunkIndex::SingleChunk
        | ChunkIndex::Implicit
        | ChunkIndex::FixedArray => Ok(()),
        ChunkIndex::ExtensibleArray => Err(
            "its chunks are indexed by an extensible array (HDF5 1.10+ format for a resizable dataset), which is not read here: the reader sizes it from the file's header before reading any of it. Save the weights with h5py's default format (libver='earliest') or without maxshape".into(),
        ),
        ChunkIndex::BTreeV2 => Err(
            "its chunks are indexed by a version-2 B-tree (HDF5 1.10+ format), which is not read here".into(),
        ),
        other => Err(format!(
            "its chunks are indexed by a kind of index not read here ({other:?})"
        )),
    }
}

/// Refuses a filter pipeline that names one filter twice. `hdf5-pure` bounds what each
/// decoding stage may output by the chunk's size pushed forward through the stages before
/// it, and lets LZF double that bound: twenty LZF stages would let one chunk decode to a
/// million times its size on the way. Once each, the stages stay within a few chunk sizes.
fn check_filters(filters: &[u16]) -> std::result::Result<(), String> {
    let mut seen = HashSet::new();
    match filters.iter().find(|&&id| !seen.insert(id)) {
        Some(id) => Err(format!(
            "its filter pipeline {filters:?} applies filter {id} more than once (a damaged or hostile file)"
        )),
        None => Ok(()),
    }
}

/// Checks the chunk shape against the dataset and returns the bytes one chunk holds.
fn check_chunk_shape(
    shape: &[u64],
    chunk: &[u64],
    elem_size: u64,
) -> std::result::Result<u64, String> {
    if chunk.len() != shape.len() {
        return Err(format!(
            "its chunk shape {chunk:?} does not match its shape {shape:?} (a damaged file)"
        ));
    }
    if let Some(d) = chunk.iter().position(|&c| c == 0) {
        return Err(format!(
            "chunk dimension {d} is 0 (chunk shape {chunk:?} for shape {shape:?}); a chunk must hold at least one element in every dimension (a damaged file)"
        ));
    }
    chunk
        .iter()
        .try_fold(elem_size, |acc, &c| acc.checked_mul(c))
        .ok_or_else(|| format!("its chunk shape {chunk:?} is too large (a damaged file)"))
}

/// What [`check_chunks`] looks at in one chunk record of the index.
#[derive(Clone, Copy, Debug)]
struct ChunkRef<'a> {
    /// The chunk's first element, one coordinate per dataset dimension.
    offset: &'a [u64],
    /// Where its stored bytes start in the file.
    address: u64,
    /// How many bytes it is stored as.
    storage_size: u64,
    /// Bit `i` set: filter `i` of the pipeline was skipped for this chunk.
    filter_mask: u32,
}

/// Checks the chunk list (see the [module docs](self), step 3).
fn check_chunks<'a>(
    chunks: impl ExactSizeIterator<Item = ChunkRef<'a>>,
    shape: &[u64],
    chunk: &[u64],
    chunk_bytes: u64,
    filters: usize,
    file_len: u64,
) -> std::result::Result<(), String> {
    let mut seen: HashSet<&[u64]> = HashSet::with_capacity(chunks.len());
    let mut stored: u64 = 0;
    for c in chunks {
        let at = c.offset;
        let on_grid = at.len() == shape.len()
            && at
                .iter()
                .zip(shape)
                .zip(chunk)
                .all(|((&o, &n), &c)| o < n && o % c == 0);
        if !on_grid {
            return Err(format!(
                "its chunk index lists a chunk at offset {at:?}, which is not a chunk of shape {shape:?} cut in chunks of {chunk:?} (a damaged file)"
            ));
        }
        if !seen.insert(at) {
            return Err(format!(
                "its chunk index lists the chunk at offset {at:?} more than once (a damaged or hostile file)"
            ));
        }
        let end = c.address.checked_add(c.storage_size);
        if c.storage_size == 0 || end.is_none_or(|end| end > file_len) {
            return Err(format!(
                "the chunk at offset {at:?} is stored as {} bytes at byte {}, which is not within the file's {file_len} bytes (a damaged file)",
                c.storage_size, c.address
            ));
        }
        let unfiltered = (0..filters).all(|i| i < 32 && (c.filter_mask >> i) & 1 == 1);
        if unfiltered && c.storage_size != chunk_bytes {
            return Err(format!(
                "the unfiltered chunk at offset {at:?} is stored as {} bytes, but a chunk of shape {chunk:?} holds {chunk_bytes} (a damaged file)",
                c.storage_size
            ));
        }
        stored = stored.saturating_add(c.storage_size);
    }
    if stored > file_len {
        return Err(format!(
            "its chunks are stored as {stored} bytes in all, more than the whole file ({file_len} bytes): chunks share their bytes (a damaged or hostile file)"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(offset: &[u64], address: u64, storage_size: u64, filter_mask: u32) -> ChunkRef<'_> {
        ChunkRef {
            offset,
            address,
            storage_size,
            filter_mask,
        }
    }

    /// A (2, 3) float32 dataset in chunks of (1, 2): a 2 x 2 grid of 8-byte chunks.
    fn check(records: &[ChunkRef<'_>], filters: usize) -> std::result::Result<(), String> {
        check_chunks(records.iter().copied(), &[2, 3], &[1, 2], 8, filters, 100)
    }

    #[test]
    fn a_valid_chunk_list_passes() {
        let (a, b, c, d) = ([0, 0], [0, 2], [1, 0], [1, 2]);
        let all = [
            rec(&a, 0, 8, 0),
            rec(&b, 8, 8, 0),
            rec(&c, 16, 8, 0),
            rec(&d, 24, 8, 0),
        ];
        check(&all, 0).unwrap();
        // Missing chunks read as the fill value, as in h5py.
        check(&all[..1], 0).unwrap();
        // A filtered chunk may be stored as any size; one that skipped every filter may not.
        check(&[rec(&a, 0, 3, 0)], 2).unwrap();
        let e = check(&[rec(&a, 0, 3, 0b11)], 2).unwrap_err();
        assert!(
            e.contains("unfiltered chunk at offset [0, 0] is stored as 3 bytes"),
            "{e}"
        );
    }

    #[test]
    fn chunks_off_the_grid_repeated_or_outside_the_file_are_refused() {
        let cases: [(&[u64], u64, u64, &str); 6] = [
            (&[0, 1], 0, 8, "not a chunk of shape [2, 3]"),
            (&[2, 0], 0, 8, "not a chunk of shape"),
            (&[0], 0, 8, "not a chunk of shape"),
            (&[0, 0], 96, 8, "not within the file's 100 bytes"),
            (&[0, 0], u64::MAX, 8, "not within the file"),
            (&[0, 0], 0, 0, "stored as 0 bytes"),
        ];
        for (offset, address, size, want) in cases {
            let e = check(&[rec(offset, address, size, 0)], 0).unwrap_err();
            assert!(e.contains(want), "{offset:?}: {e}");
        }
        let a = [0, 0];
        let e = check(&[rec(&a, 0, 8, 0), rec(&a, 8, 8, 0)], 0).unwrap_err();
        assert!(e.contains("more than once"), "{e}");
        // Distinct chunks sharing their bytes: more stored than the file holds.
        let (b, c, d) = ([0, 2], [1, 0], [1, 2]);
        let shared = [
            rec(&a, 0, 30, 0),
            rec(&b, 0, 30, 0),
            rec(&c, 0, 30, 0),
            rec(&d, 0, 30, 0),
        ];
        let e = check(&shared, 1).unwrap_err();
        assert!(e.contains("120 bytes in all"), "{e}");
    }

    #[test]
    fn chunk_shapes_must_fit_the_dataset() {
        assert_eq!(check_chunk_shape(&[3, 32], &[2, 16], 4), Ok(128));
        let e = check_chunk_shape(&[3, 32], &[2, 0], 4).unwrap_err();
        assert!(e.starts_with("chunk dimension 1 is 0"), "{e}");
        assert!(check_chunk_shape(&[3, 32], &[2], 4).is_err());
        assert!(check_chunk_shape(&[3, 32], &[u64::MAX, 2], 4).is_err());
        assert!(check_index(ChunkIndex::BTreeV1).is_ok());
        assert!(check_index(ChunkIndex::FixedArray).is_ok());
        assert!(check_index(ChunkIndex::ExtensibleArray).is_err());
        assert!(check_index(ChunkIndex::BTreeV2).is_err());
        assert!(check_filters(&[2, 1, 3, 32000, 6]).is_ok());
        let e = check_filters(&[32000, 1, 32000]).unwrap_err();
        assert!(e.contains("filter 32000 more than once"), "{e}");
    }

    #[test]
    fn the_meter_refuses_a_repeated_chunk_node_and_an_exhausted_budget() {
        let mut bytes = vec![0u8; 256];
        bytes[64..69].copy_from_slice(b"TREE\x01");
        bytes[128..133].copy_from_slice(b"TREE\x00"); // a group node: not watched
        let meter = Arc::new(Meter::default());
        let src = Metered {
            bytes: Arc::from(bytes),
            meter: Arc::clone(&meter),
        };
        meter.begin(1000, true);
        src.read_metadata_at(64, 24).unwrap();
        src.read_metadata_at(128, 24).unwrap();
        src.read_metadata_at(128, 24).unwrap();
        assert!(src.read_metadata_at(64, 24).is_err());
        assert!(
            meter
                .refusal()
                .unwrap()
                .contains("node at byte 64 more than once")
        );
        // A new phase forgets the nodes; without watching, repeats are fine.
        meter.begin(1000, false);
        src.read_metadata_at(64, 24).unwrap();
        src.read_metadata_at(64, 24).unwrap();
        assert!(meter.refusal().is_none());
        // Every read costs at least MIN_READ_COST; past the budget reads are refused,
        // before anything is allocated; out-of-file reads are refused too.
        meter.begin(3 * MIN_READ_COST, false);
        let mut one = [0u8; 1];
        for _ in 0..3 {
            src.read_at(0, &mut one).unwrap();
        }
        assert!(src.read_exact_at(0, 1).is_err());
        assert!(
            meter
                .refusal()
                .unwrap()
                .contains("more than 96 bytes of reads")
        );
        meter.begin(1000, false);
        assert!(src.read_exact_at(250, 7).is_err());
        assert!(src.read_exact_at(u64::MAX, 2).is_err());
        assert_eq!(src.read_exact_at(250, 6).unwrap().len(), 6);
    }

    #[test]
    fn budgets_grow_with_the_file() {
        assert_eq!(read_budget(1000), 4_000 + (1 << 20));
        assert_eq!(decode_budget(1000), 64_000 + (16 << 20));
        assert_eq!(read_budget(u64::MAX), u64::MAX);
    }
}
