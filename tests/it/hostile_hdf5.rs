//! Chunked HDF5 datasets: the layouts h5py writes load with the right values, and hostile
//! chunk indexes end in a typed error, fast and small (the guard in src/keras/hdf5_guard.rs).
//!
//! The legit files are tests/fixtures/keras/chunked/ (written by
//! scripts/make_chunked_fixtures.py). The hostile ones are made here from them by patching
//! the bytes: a version-1 chunk B-tree turned into a DAG (each level names the next node
//! twice), a node that names itself, damaged chunk dimensions, and so on.
//!
//! Each hostile file is loaded in a child process (this test binary, running only
//! [`child_load`]) so that its time and peak memory are its own. The child measures both
//! itself: the time around the load call, and the peak resident set size `VmHWM` from
//! `/proc/self/status` (Linux; elsewhere the memory check is skipped). It runs under
//! `ulimit -v`, so a regression fails the test instead of exhausting the machine.

use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use wgpu_lstm::keras::{self, ModelFile};
use wgpu_lstm::{Error, Result};

/// Limits every hostile file must stay under.
const TIME_LIMIT: Duration = Duration::from_secs(1);
const MEMORY_LIMIT_KIB: u64 = 100 * 1024;
/// A child still running after this is a hang.
const CHILD_TIMEOUT: Duration = Duration::from_secs(60);
/// `ulimit -v` for a child, in KiB: well above a healthy child, well below the machine.
const CHILD_VM_KIB: u64 = 6 * 1024 * 1024;
/// Set in a child: `KIND<TAB>FILE` to load.
const CHILD_ENV: &str = "WGPU_LSTM_HOSTILE_HDF5_CHILD";

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> Vec<u8> {
    let p = manifest().join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn keras3_config() -> Value {
    serde_json::from_slice(&read("fuzz/arch/keras3_seq_lstm.config.json")).unwrap()
}

// ---------------------------------------------------------------------------------------
// The three containers
// ---------------------------------------------------------------------------------------

/// Where a weights HDF5 file travels: inside a `.keras` zip, as a legacy full-model `.h5`,
/// or as a `.weights.h5` loaded with an architecture.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Keras,
    LegacyH5,
    WeightsH5,
}

const KINDS: [Kind; 3] = [Kind::Keras, Kind::LegacyH5, Kind::WeightsH5];

impl Kind {
    fn ext(self) -> &'static str {
        match self {
            Kind::Keras => "keras",
            Kind::LegacyH5 => "h5",
            Kind::WeightsH5 => "weights.h5",
        }
    }

    fn parse(s: &str) -> Kind {
        *KINDS.iter().find(|k| k.ext() == s).expect("kind")
    }

    /// The chunked HDF5 file this kind's hostile files are made from.
    fn base_h5(self) -> Vec<u8> {
        match self {
            Kind::Keras | Kind::WeightsH5 => {
                read("tests/fixtures/keras/chunked/keras3_seq_lstm.chunked.weights.h5")
            }
            Kind::LegacyH5 => read("tests/fixtures/keras/chunked/tfkeras2_seq_lstm.chunked.h5"),
        }
    }

    /// The file to load, around the HDF5 bytes `h5` (for `.keras`: keras3_seq_lstm.keras
    /// with `h5` as its `model.weights.h5`).
    fn wrap(self, h5: Vec<u8>) -> Vec<u8> {
        match self {
            Kind::Keras => {
                let archive = read("tests/fixtures/keras/models/keras3_seq_lstm.keras");
                let members = unzip(&archive)
                    .into_iter()
                    .map(|(name, data)| {
                        let data = if name == "model.weights.h5" {
                            h5.clone()
                        } else {
                            data
                        };
                        (name, data)
                    })
                    .collect::<Vec<_>>();
                zip_stored(&members)
            }
            Kind::LegacyH5 | Kind::WeightsH5 => h5,
        }
    }

    fn load(self, bytes: &[u8], name: &str) -> Result<ModelFile> {
        match self {
            Kind::Keras => keras::load_keras_bytes(bytes, name),
            Kind::LegacyH5 => keras::load_legacy_h5_bytes(bytes, name),
            Kind::WeightsH5 => {
                keras::load_weights_h5_bytes(bytes, name, &keras3_config(), "3.15.1")
            }
        }
    }
}

fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut v = Vec::new();
            f.read_to_end(&mut v).unwrap();
            (f.name().unwrap().into_owned(), v)
        })
        .collect()
}

fn zip_stored(members: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in members {
        w.start_file(name.as_str(), opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

// ---------------------------------------------------------------------------------------
// Patching HDF5 bytes (superblock version 0, 8-byte offsets: what h5py writes by default)
// ---------------------------------------------------------------------------------------

fn le(b: &[u8], at: usize, n: usize) -> u64 {
    b[at..at + n]
        .iter()
        .rev()
        .fold(0, |acc, &x| (acc << 8) | u64::from(x))
}

fn put(b: &mut [u8], at: usize, n: usize, v: u64) {
    for i in 0..n {
        b[at + i] = (v >> (8 * i)) as u8;
    }
}

/// A version-3 data layout message of class 2 (chunked) in an object header, and the
/// version-1 B-tree (type 1) it names.
#[derive(Clone, Copy, Debug)]
struct ChunkLayout {
    /// Offset of the message body (its version byte).
    at: usize,
    /// Dimensionality: the dataset's rank + 1 (the last "dimension" is the element size).
    ndims: usize,
    /// Address of the B-tree's root node.
    root: u64,
}

impl ChunkLayout {
    fn rank(self) -> usize {
        self.ndims - 1
    }
    /// Where chunk dimension `d` is stored (4 bytes).
    fn dim_at(self, d: usize) -> usize {
        self.at + 3 + 8 + 4 * d
    }
    /// The size of one key of this B-tree: chunk size, filter mask, ndims offsets.
    fn key_size(self) -> usize {
        8 + 8 * self.ndims
    }
}

/// Every chunked layout message of a file, in file order.
fn chunk_layouts(h5: &[u8]) -> Vec<ChunkLayout> {
    let mut out = Vec::new();
    for at in 8..h5.len().saturating_sub(11) {
        // A version-1 object header message: type (2 bytes, 0x0008), size, flags, reserved.
        if h5[at - 8..at - 6] != [8, 0] || h5[at] != 3 || h5[at + 1] != 2 {
            continue;
        }
        let ndims = usize::from(h5[at + 2]);
        if !(2..=9).contains(&ndims) || at + 11 + 4 * ndims > h5.len() {
            continue;
        }
        let root = le(h5, at + 3, 8);
        let Ok(r) = usize::try_from(root) else {
            continue;
        };
        if h5.get(r..r + 5) != Some(b"TREE\x01") {
            continue;
        }
        out.push(ChunkLayout { at, ndims, root });
    }
    assert!(!out.is_empty(), "no chunked layout message found");
    out
}

/// The first chunked layout of rank `rank`.
fn layout_of_rank(h5: &[u8], rank: usize) -> ChunkLayout {
    *chunk_layouts(h5)
        .iter()
        .find(|l| l.rank() == rank)
        .expect("a chunked dataset of that rank")
}

/// Superblock 0 or 1 with 8-byte offsets; records the file's new length as its EOF.
fn set_eof(h5: &mut [u8]) {
    assert_eq!(&h5[..8], b"\x89HDF\r\n\x1a\n");
    assert_eq!(h5[13], 8, "8-byte offsets");
    let eof_at = match h5[8] {
        0 => 40,
        1 => 44,
        v => panic!("superblock version {v}"),
    };
    let len = h5.len() as u64;
    put(h5, eof_at, 8, len);
}

/// Appends a version-1 B-tree node of type 1 (8-byte aligned) and returns its address.
/// `entries` are (key, child address); `last_key` closes the node.
fn push_node(h5: &mut Vec<u8>, level: u8, entries: &[(Vec<u8>, u64)], last_key: &[u8]) -> u64 {
    while !h5.len().is_multiple_of(8) {
        h5.push(0);
    }
    let at = h5.len() as u64;
    h5.extend_from_slice(b"TREE");
    h5.push(1);
    h5.push(level);
    h5.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    h5.extend_from_slice(&u64::MAX.to_le_bytes()); // no left sibling
    h5.extend_from_slice(&u64::MAX.to_le_bytes()); // no right sibling
    for (key, child) in entries {
        h5.extend_from_slice(key);
        h5.extend_from_slice(&child.to_le_bytes());
    }
    h5.extend_from_slice(last_key);
    at
}

/// The (key offset, child address) of every entry of the node at `node`.
fn entries(h5: &[u8], l: ChunkLayout, node: u64) -> Vec<(usize, u64)> {
    let node = node as usize;
    assert_eq!(&h5[node..node + 5], b"TREE\x01");
    let used = le(h5, node + 6, 2) as usize;
    let first = node + 24;
    (0..used)
        .map(|i| {
            let key = first + i * (l.key_size() + 8);
            (key, le(h5, key + l.key_size(), 8))
        })
        .collect()
}

/// The leaf entries (key offset, chunk address) of a chunk B-tree, in order.
fn leaf_entries(h5: &[u8], l: ChunkLayout) -> Vec<(usize, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![l.root];
    while let Some(node) = stack.pop() {
        let level = h5[node as usize + 5];
        let es = entries(h5, l, node);
        if level == 0 {
            out.extend(es);
        } else {
            stack.extend(es.iter().rev().map(|&(_, child)| child));
        }
    }
    out
}

/// The body of the first filter pipeline message (version 1) that is shuffle then deflate.
fn shuffle_gzip_pipeline(h5: &[u8]) -> usize {
    (8..h5.len() - 64)
        .find(|&at| {
            // version 1, two filters, 6 reserved bytes; then each filter: id, name length,
            // flags, client value count, the name (padded to 8), the values (padded to 8).
            let first = at + 8;
            let name = (le(h5, first + 2, 2) as usize).next_multiple_of(8);
            let values = (4 * le(h5, first + 6, 2) as usize).next_multiple_of(8);
            let second = first + 8 + name + values;
            h5[at - 8..at - 6] == [0x0b, 0]
                && h5[at..at + 2] == [1, 2]
                && le(h5, first, 2) == 2
                && second + 2 <= h5.len()
                && le(h5, second, 2) == 1
        })
        .expect("a shuffle+gzip filter pipeline")
}

/// A zlib stream of `n` zero bytes, written with deflate's fixed Huffman codes: a literal
/// 0, then matches of length 258 at distance 1 (13 bits each), then literals.
fn zlib_zeros(n: usize) -> Vec<u8> {
    struct Bits {
        out: Vec<u8>,
        acc: u32,
        nbits: u32,
    }
    impl Bits {
        /// `n` bits of `v`, least significant first (header fields).
        fn lsb(&mut self, v: u32, n: u32) {
            for i in 0..n {
                self.acc |= ((v >> i) & 1) << self.nbits;
                self.nbits += 1;
                if self.nbits == 8 {
                    self.out.push(self.acc as u8);
                    (self.acc, self.nbits) = (0, 0);
                }
            }
        }
        /// A Huffman code of `n` bits, most significant first.
        fn code(&mut self, v: u32, n: u32) {
            for i in (0..n).rev() {
                self.lsb((v >> i) & 1, 1);
            }
        }
    }
    let mut b = Bits {
        out: vec![0x78, 0x01],
        acc: 0,
        nbits: 0,
    };
    b.lsb(1, 1); // final block
    b.lsb(1, 2); // fixed Huffman codes
    let mut left = n;
    if left > 0 {
        b.code(0x30, 8); // literal 0
        left -= 1;
    }
    while left >= 258 {
        b.code(0xc5, 8); // length 258 (symbol 285)
        b.code(0, 5); // distance 1
        left -= 258;
    }
    for _ in 0..left {
        b.code(0x30, 8);
    }
    b.code(0, 7); // end of block (symbol 256)
    if b.nbits > 0 {
        b.lsb(0, 8 - b.nbits);
    }
    let adler = ((n % 65521) as u32) << 16 | 1;
    b.out.extend_from_slice(&adler.to_be_bytes());
    b.out
}

fn set_root(h5: &mut [u8], l: ChunkLayout, root: u64) {
    put(h5, l.at + 3, 8, root);
}

/// The hostile file kinds, applied to the HDF5 bytes of a chunked weights file.
#[derive(Clone, Copy, Debug)]
enum Hostile {
    /// `depth` internal nodes above the real root, each naming the next one `fanout`
    /// times: the walk reaches the real tree `fanout^depth` times.
    Dag { depth: u8, fanout: u16 },
    /// An internal node whose two children are itself.
    Cycle,
    /// Chunk dimension `dim` of the first chunked dataset of rank `rank` set to `value`.
    ChunkDim { rank: usize, dim: usize, value: u32 },
    /// A leaf of `n` entries that all name the first chunk (same offsets, same bytes).
    DuplicateChunks { n: u16 },
    /// The first chunk's offset moved off the chunk grid (past the dataset).
    ChunkOffset { value: u64 },
    /// The stored size of the first chunk of an unfiltered dataset changed.
    StoredSize { value: u32 },
    /// Many distinct leaves whose entries all name one chunk: a wide tree with no shared
    /// node, where every record is a duplicate.
    WideDuplicates { leaves: u16, per_leaf: u16 },
    /// `n` leaves 40 bytes apart (one entry), each listing entries up to the end of the
    /// run, under one root that names each once: no node is shared, yet the leaves list
    /// about `n * n / 2` chunk records from about `80 * n` bytes.
    OverlappingLeaves { n: u16 },
    /// The shuffle+gzip pipeline of the first rank-2 dataset turned into gzip+gzip.
    FilterTwice,
    /// The first rank-2 dataset (shuffle+gzip, shape (3, 32)) as one chunk of
    /// (3, `cols`) whose stored bytes are a deflate stream of that many zeros: a
    /// decompression bomb (about 160:1 here; deflate allows 1032:1).
    DeflateBomb { cols: u32 },
}

impl Hostile {
    fn name(self) -> String {
        match self {
            Hostile::Dag { depth, fanout } => {
                format!("chunk-btree-dag-depth{depth}-fanout{fanout}")
            }
            Hostile::Cycle => "chunk-btree-cycle".into(),
            Hostile::ChunkDim { rank, dim, value } => {
                format!("chunk-dim{dim}-of-rank{rank}-is-{value}")
            }
            Hostile::DuplicateChunks { n } => format!("chunk-btree-{n}-duplicate-chunks"),
            Hostile::ChunkOffset { value } => format!("chunk-offset-{value}"),
            Hostile::StoredSize { value } => format!("unfiltered-chunk-stored-size-{value}"),
            Hostile::WideDuplicates { leaves, per_leaf } => {
                format!("chunk-btree-{leaves}x{per_leaf}-duplicate-chunks")
            }
            Hostile::OverlappingLeaves { n } => format!("chunk-btree-{n}-overlapping-leaves"),
            Hostile::FilterTwice => "filter-pipeline-gzip-twice".into(),
            Hostile::DeflateBomb { cols } => format!("deflate-bomb-3x{cols}-zeros"),
        }
    }

    /// The patched HDF5 bytes.
    fn apply(self, mut h5: Vec<u8>) -> Vec<u8> {
        let l = chunk_layouts(&h5)[0];
        let zero_key = vec![0u8; l.key_size()];
        match self {
            Hostile::Dag { depth, fanout } => {
                let mut child = l.root;
                let mut level = h5[l.root as usize + 5];
                for _ in 0..depth {
                    level += 1;
                    let es = vec![(zero_key.clone(), child); usize::from(fanout)];
                    child = push_node(&mut h5, level, &es, &zero_key);
                }
                set_root(&mut h5, l, child);
            }
            Hostile::Cycle => {
                let at = h5.len().next_multiple_of(8) as u64;
                let node = push_node(
                    &mut h5,
                    1,
                    &[(zero_key.clone(), at), (zero_key.clone(), at)],
                    &zero_key,
                );
                assert_eq!(node, at);
                set_root(&mut h5, l, node);
            }
            Hostile::ChunkDim { rank, dim, value } => {
                let l = layout_of_rank(&h5, rank);
                put(&mut h5, l.dim_at(dim), 4, u64::from(value));
            }
            Hostile::DuplicateChunks { n } => {
                let (key, chunk) = leaf_entries(&h5, l)[0];
                let key = h5[key..key + l.key_size()].to_vec();
                let es = vec![(key, chunk); usize::from(n)];
                let leaf = push_node(&mut h5, 0, &es, &zero_key);
                set_root(&mut h5, l, leaf);
            }
            Hostile::ChunkOffset { value } => {
                let (key, _) = leaf_entries(&h5, l)[0];
                put(&mut h5, key + 8, 8, value);
            }
            Hostile::StoredSize { value } => {
                // The two-level dataset of 1x2 chunks is unfiltered.
                let l = *chunk_layouts(&h5)
                    .iter()
                    .find(|l| h5[l.root as usize + 5] > 0)
                    .expect("the dataset with a two-level B-tree");
                let (key, _) = leaf_entries(&h5, l)[0];
                put(&mut h5, key, 4, u64::from(value));
            }
            Hostile::WideDuplicates { leaves, per_leaf } => {
                let (key, chunk) = leaf_entries(&h5, l)[0];
                let key = h5[key..key + l.key_size()].to_vec();
                let es = vec![(key, chunk); usize::from(per_leaf)];
                let kids: Vec<(Vec<u8>, u64)> = (0..leaves)
                    .map(|_| (zero_key.clone(), push_node(&mut h5, 0, &es, &zero_key)))
                    .collect();
                let root = push_node(&mut h5, 1, &kids, &zero_key);
                set_root(&mut h5, l, root);
            }
            Hostile::OverlappingLeaves { n } => {
                let n = usize::from(n);
                let l = layout_of_rank(&h5, 2);
                let zero_key = vec![0u8; l.key_size()];
                while !h5.len().is_multiple_of(8) {
                    h5.push(0);
                }
                let run = h5.len();
                let entry = l.key_size() + 8;
                assert_eq!(entry, 40, "a rank-2 dataset");
                h5.resize(run + entry * n + 24 + l.key_size(), 0);
                for i in 0..n {
                    let at = run + entry * i;
                    h5[at..at + 6].copy_from_slice(b"TREE\x01\x00");
                    put(&mut h5, at + 6, 2, (n - i) as u64);
                    put(&mut h5, at + 8, 8, u64::MAX); // no siblings
                    put(&mut h5, at + 16, 8, u64::MAX);
                }
                let kids: Vec<(Vec<u8>, u64)> = (0..n)
                    .map(|i| (zero_key.clone(), (run + entry * i) as u64))
                    .collect();
                let root = push_node(&mut h5, 1, &kids, &zero_key);
                set_root(&mut h5, l, root);
            }
            Hostile::FilterTwice => {
                let at = shuffle_gzip_pipeline(&h5);
                put(&mut h5, at + 8, 2, 1); // shuffle (2) -> deflate (1)
            }
            Hostile::DeflateBomb { cols } => {
                let l = layout_of_rank(&h5, 2);
                put(&mut h5, l.dim_at(0), 4, 3);
                put(&mut h5, l.dim_at(1), 4, u64::from(cols));
                let stream = zlib_zeros(3 * cols as usize * 4);
                while !h5.len().is_multiple_of(8) {
                    h5.push(0);
                }
                let data = h5.len() as u64;
                h5.extend_from_slice(&stream);
                let last_key = vec![0u8; l.key_size()];
                let mut key = last_key.clone();
                put(&mut key, 0, 4, stream.len() as u64);
                let leaf = push_node(&mut h5, 0, &[(key, data)], &last_key);
                // The full size of a node (2K = 64 entries), as the HDF5 library reads it.
                h5.resize(
                    leaf as usize + 24 + 64 * (l.key_size() + 8) + l.key_size(),
                    0,
                );
                set_root(&mut h5, l, leaf);
            }
        }
        set_eof(&mut h5);
        h5
    }

    /// The whole file of `kind`.
    fn file(self, kind: Kind) -> Vec<u8> {
        kind.wrap(self.apply(kind.base_h5()))
    }
}

/// The required set: chunk-index DAGs of depth 8 to 40 and damaged chunk dimensions.
fn required_cases() -> Vec<Hostile> {
    let mut v: Vec<Hostile> = [8, 16, 24, 32, 40]
        .into_iter()
        .map(|depth| Hostile::Dag { depth, fanout: 2 })
        .collect();
    v.extend([
        Hostile::ChunkDim {
            rank: 2,
            dim: 0,
            value: 0,
        },
        Hostile::ChunkDim {
            rank: 2,
            dim: 1,
            value: 0,
        },
        Hostile::ChunkDim {
            rank: 1,
            dim: 0,
            value: 0,
        },
    ]);
    v
}

/// More of the same families: wide DAGs, a cycle, huge chunks, duplicate and stray chunks.
fn more_cases() -> Vec<Hostile> {
    vec![
        Hostile::Dag {
            depth: 4,
            fanout: 64,
        },
        Hostile::Dag {
            depth: 64,
            fanout: 2,
        },
        Hostile::Cycle,
        Hostile::ChunkDim {
            rank: 2,
            dim: 0,
            value: 16384,
        },
        Hostile::ChunkDim {
            rank: 2,
            dim: 1,
            value: u32::MAX,
        },
        Hostile::ChunkDim {
            rank: 1,
            dim: 0,
            value: 1 << 28,
        },
        Hostile::DuplicateChunks { n: 600 },
        Hostile::WideDuplicates {
            leaves: 60,
            per_leaf: 20,
        },
        Hostile::ChunkOffset { value: 1 << 40 },
        Hostile::ChunkOffset { value: 1 },
        Hostile::StoredSize { value: 4 },
        Hostile::StoredSize { value: 1 << 30 },
        Hostile::OverlappingLeaves { n: 1000 },
        Hostile::FilterTwice,
        Hostile::DeflateBomb { cols: 1 << 22 },
    ]
}

// ---------------------------------------------------------------------------------------
// Legit chunked files
// ---------------------------------------------------------------------------------------

fn model(rel: &str, kind: Kind) -> Result<ModelFile> {
    kind.load(&read(rel), rel)
}

/// h5py's chunked layouts (v1 B-tree with one and two levels, edge chunks, gzip,
/// shuffle+gzip, lzf, fletcher32) load bit for bit like the contiguous originals.
fn chunked_files_load_the_same_values_as_contiguous_ones() {
    let m = "tests/fixtures/keras/models/";
    let c = "tests/fixtures/keras/chunked/";
    let want = model(&format!("{m}keras3_seq_lstm.keras"), Kind::Keras).unwrap();
    let archive = Kind::Keras.wrap(Kind::Keras.base_h5());
    assert_eq!(Kind::Keras.load(&archive, "chunked.keras").unwrap(), want);
    let pairs = [
        (
            "tfkeras2_seq_lstm.h5",
            "tfkeras2_seq_lstm.chunked.h5",
            Kind::LegacyH5,
        ),
        (
            "keras3_seq_lstm.weights.h5",
            "keras3_seq_lstm.chunked.weights.h5",
            Kind::WeightsH5,
        ),
        (
            "keras3_seq_lstm.weights.h5",
            "keras3_seq_lstm.latest.weights.h5",
            Kind::WeightsH5,
        ),
    ];
    for (orig, chunked, kind) in pairs {
        let want = model(&format!("{m}{orig}"), kind).unwrap();
        let got =
            model(&format!("{c}{chunked}"), kind).unwrap_or_else(|e| panic!("{chunked}: {e}"));
        assert_eq!(got, want, "{chunked}");
        assert!(got.layers.iter().any(|l| !l.weights.is_empty()));
    }
}

/// An extensible-array chunk index (HDF5 1.10 format, a resizable dataset) is refused with
/// a typed error naming the dataset.
fn extensible_array_chunk_index_is_refused() {
    let rel = "tests/fixtures/keras/chunked/keras3_seq_lstm.extensible.weights.h5";
    let e = model(rel, Kind::WeightsH5).unwrap_err();
    let Error::ModelFile { path, reason } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(path, rel);
    assert!(
        reason.contains("/layers/lstm/cell/vars/0") && reason.contains("extensible array"),
        "{reason}"
    );
}

// ---------------------------------------------------------------------------------------
// Hostile files, each in a child process
// ---------------------------------------------------------------------------------------

/// What a child reports.
#[derive(Debug)]
struct Outcome {
    millis: f64,
    peak_kib: Option<u64>,
    /// `Err(ModelFile)` reason, or what else happened.
    result: std::result::Result<(String, String), String>,
}

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The child side: loads the file named in [`CHILD_ENV`] and prints one result line.
/// Without that variable (the normal test run) it does nothing.
fn child_load() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (kind, file) = spec.split_once('\t').expect("KIND\\tFILE");
    let kind = Kind::parse(kind);
    let bytes = std::fs::read(file).unwrap();
    let name = Path::new(file).file_name().unwrap().to_string_lossy();
    let start = Instant::now();
    let r = kind.load(&bytes, &name);
    let millis = start.elapsed().as_secs_f64() * 1000.0;
    let peak = vm_hwm_kib().map_or("-".to_string(), |k| k.to_string());
    let result = match r {
        Ok(_) => "OK\t".to_string(),
        Err(Error::ModelFile { path, reason }) => format!("ModelFile\t{path}\t{reason}"),
        Err(e) => format!("Other\t{e:?}"),
    };
    println!(
        "HOSTILE-RESULT\t{millis}\t{peak}\t{}",
        result.replace('\n', " ")
    );
}

/// Whether this process is a child started by [`run_child`].
pub fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// Runs [`child_load`] on `file` in a child process.
fn run_child(kind: Kind, file: &Path) -> Outcome {
    let exe = std::env::current_exe().unwrap();
    let script = format!("ulimit -v {CHILD_VM_KIB} 2>/dev/null; exec \"$0\" \"$@\"");
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg(&exe)
        .args([
            "hostile_hdf5::child_load",
            "--exact",
            "--include-ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, format!("{}\t{}", kind.ext(), file.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the test binary");
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > CHILD_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            return Outcome {
                millis: start.elapsed().as_secs_f64() * 1000.0,
                peak_kib: None,
                result: Err(format!("still running after {CHILD_TIMEOUT:?} (killed)")),
            };
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    // libtest may print `test ... ` on the same line first.
    let line = stdout
        .lines()
        .find_map(|l| l.find("HOSTILE-RESULT\t").map(|at| &l[at..]));
    let Some(line) = line else {
        return Outcome {
            millis: f64::NAN,
            peak_kib: None,
            result: Err(format!(
                "no result ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .rev()
                    .take(5)
                    .collect::<Vec<_>>()
                    .join(" | ")
            )),
        };
    };
    let f: Vec<&str> = line.splitn(6, '\t').collect();
    let result = match f[3] {
        "ModelFile" => Ok((f[4].to_string(), f.get(5).unwrap_or(&"").to_string())),
        other => Err(format!("{other}: {}", f[4..].join(" "))),
    };
    Outcome {
        millis: f[1].parse().unwrap(),
        peak_kib: f[2].parse().ok(),
        result,
    }
}

/// A directory of its own for the test `tag` (tests run in parallel and remove theirs).
fn scratch_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "wgpu-lstm-hostile-hdf5-{}-{tag}",
        std::process::id()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Loads each case in each container in a child; every one must end in
/// `Error::ModelFile` naming the file and an HDF5 dataset, in under a second and 100 MB.
fn check_cases(tag: &str, cases: &[Hostile]) {
    let dir = scratch_dir(tag);
    let mut failures = Vec::new();
    let mut report = Vec::new();
    for &case in cases {
        for kind in KINDS {
            let name = format!("{}.{}", case.name(), kind.ext());
            let path = dir.join(&name);
            std::fs::write(&path, case.file(kind)).unwrap();
            let o = run_child(kind, &path);
            let _ = std::fs::remove_file(&path);
            let peak = o
                .peak_kib
                .map_or("?".into(), |k| format!("{:.1} MB", k as f64 / 1024.0));
            report.push(format!("{name}: {:.1} ms, peak RSS {peak}", o.millis));
            match &o.result {
                Ok((file, reason)) => {
                    // `.keras`: the member, `NAME.keras:model.weights.h5`.
                    let names_file = file == &name || file.starts_with(&format!("{name}:"));
                    let names_dataset =
                        reason.starts_with("/layers/") || reason.starts_with("/model_weights/");
                    if !names_file || !names_dataset {
                        failures.push(format!(
                            "{name}: error does not name the file and dataset: {file}: {reason}"
                        ));
                    }
                    report.push(format!("    {reason}"));
                }
                Err(what) => failures.push(format!("{name}: not a ModelFile error: {what}")),
            }
            // A NaN time (no result) fails too.
            if o.millis.is_nan() || o.millis >= TIME_LIMIT.as_secs_f64() * 1000.0 {
                failures.push(format!("{name}: took {:.1} ms", o.millis));
            }
            if let Some(k) = o.peak_kib
                && k > MEMORY_LIMIT_KIB
            {
                failures.push(format!("{name}: peak RSS {k} KiB"));
            }
        }
    }
    let _ = std::fs::remove_dir(&dir);
    println!("{}", report.join("\n"));
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The required set: DAG depth 8, 16, 24, 32, 40 and chunk dimension 0, in `.keras`,
/// `.h5` and `.weights.h5`.
fn hostile_chunk_indexes_and_chunk_dims_fail_fast_and_small() {
    check_cases("required", &required_cases());
}

/// Wider DAGs, a cycle, huge chunk dimensions, duplicate and stray chunks, lying sizes.
fn more_hostile_chunk_layouts_fail_fast_and_small() {
    check_cases("more", &more_cases());
}

/// A deflate bomb within the decode budget (12 MiB from 80 KB) decodes, within the limits;
/// the values are its zeros.
fn a_deflate_bomb_within_the_budget_stays_within_the_limits() {
    let dir = scratch_dir("bomb");
    for kind in KINDS {
        let case = Hostile::DeflateBomb { cols: 1 << 20 };
        let path = dir.join(format!("{}.{}", case.name(), kind.ext()));
        std::fs::write(&path, case.file(kind)).unwrap();
        let o = run_child(kind, &path);
        let _ = std::fs::remove_file(&path);
        println!("{}: {o:?}", path.display());
        assert!(matches!(&o.result, Err(r) if r.starts_with("OK")), "{o:?}");
        assert!(o.millis < TIME_LIMIT.as_secs_f64() * 1000.0, "{o:?}");
        assert!(o.peak_kib.is_none_or(|k| k < MEMORY_LIMIT_KIB), "{o:?}");
    }
    let _ = std::fs::remove_dir(&dir);
}

/// The hostile files are real: before patching, each base file loads.
fn hostile_bases_load() {
    for kind in KINDS {
        kind.load(&kind.wrap(kind.base_h5()), "base").unwrap();
    }
}

/// Writes the hostile files of the fuzz corpus (fuzz/corpus/{keras_archive,legacy_h5,
/// weights_h5}/hostile-*): `cargo test --test it write_hostile_hdf5_corpus -- --ignored`.
fn write_hostile_hdf5_corpus() {
    let cases = [
        Hostile::Dag {
            depth: 40,
            fanout: 2,
        },
        Hostile::ChunkDim {
            rank: 2,
            dim: 1,
            value: 0,
        },
    ];
    for case in cases {
        for (kind, target) in [
            (Kind::Keras, "keras_archive"),
            (Kind::LegacyH5, "legacy_h5"),
            (Kind::WeightsH5, "weights_h5"),
        ] {
            let p = manifest().join("fuzz/corpus").join(target).join(format!(
                "hostile-{}.{}",
                case.name(),
                kind.ext()
            ));
            std::fs::write(&p, case.file(kind)).unwrap();
        }
    }
}

pub fn tests() -> Vec<libtest_mimic::Trial> {
    vec![
        crate::common::test(
            "hostile_hdf5::chunked_files_load_the_same_values_as_contiguous_ones",
            chunked_files_load_the_same_values_as_contiguous_ones,
        ),
        crate::common::test(
            "hostile_hdf5::extensible_array_chunk_index_is_refused",
            extensible_array_chunk_index_is_refused,
        ),
        // the child side of the hostile loads: runs only in a child the tests start
        libtest_mimic::Trial::test("hostile_hdf5::child_load", || {
            child_load();
            Ok(())
        })
        .with_ignored_flag(std::env::var_os(CHILD_ENV).is_none()),
        crate::common::test(
            "hostile_hdf5::hostile_chunk_indexes_and_chunk_dims_fail_fast_and_small",
            hostile_chunk_indexes_and_chunk_dims_fail_fast_and_small,
        ),
        crate::common::test(
            "hostile_hdf5::more_hostile_chunk_layouts_fail_fast_and_small",
            more_hostile_chunk_layouts_fail_fast_and_small,
        ),
        crate::common::test(
            "hostile_hdf5::a_deflate_bomb_within_the_budget_stays_within_the_limits",
            a_deflate_bomb_within_the_budget_stays_within_the_limits,
        ),
        crate::common::test("hostile_hdf5::hostile_bases_load", hostile_bases_load),
        // writes fuzz/corpus files: run on purpose with --ignored
        crate::common::test(
            "hostile_hdf5::write_hostile_hdf5_corpus",
            write_hostile_hdf5_corpus,
        )
        .with_ignored_flag(true),
    ]
}
