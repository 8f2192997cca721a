//! `.npy` arrays (numpy's `np.save` format) and `.npz` archives of them (`np.savez`).
//!
//! Layout: the magic `\x93NUMPY`, a version byte pair (1.0: 2-byte header length;
//! 2.0 / 3.0: 4-byte), then an ASCII (3.0: UTF-8) Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces and a
//! newline, then the raw data. Read here, in C order: little-endian float16/32/64,
//! int8..int64, uint8..uint64 and bool (`'|b1'`, one byte 0 or 1 per element) — each reader
//! takes the dtypes its use allows (model inputs: all of them; [`read_bytes`]: float32
//! only). Everything else gets an [`Error::ModelFile`] that names the file and says what was
//! found (`'<c8'`, big-endian `'>f4'`, a byte-order mark numpy never writes for that type
//! such as `'=f4'` or `'|f4'` — the signature of a damaged header — `fortran_order: True`,
//! a truncated or over-long data section). The header is at most 1 MiB and the data size
//! implied by the shape is checked against the bytes actually present before anything is
//! allocated, so a small file cannot claim a huge array.
//!
//! Why not the `ndarray-npy` crate: it cannot bound a hostile file the way this reader
//! does. `ndarray-npy` 0.10 allocates the header length the file declares
//! (`vec![0; header_len]`, up to 4 GiB for a 12-byte version-2.0 file) and then the element
//! count the header's shape declares (`vec![0; len]`) before reading a single data byte, so
//! a 100-byte `.npy` claiming shape `(100000, 100000)` makes it reserve 40 GB; it also
//! depends on `zip` 6 while this crate uses `zip` 9 (two zip stacks for `.npz`). This reader
//! has the whole file in memory and checks the header length (≤ 1 MiB) and the shape's byte
//! count against the bytes present first.
//!
//! `.npz`: a zip of `.npy` members named `<key>.npy`. [`write_npz`] writes them stored
//! (uncompressed), as `np.savez` does; [`read_npz_bytes`] reads stored members only (a
//! `np.savez_compressed` file is refused by name), each member with the limits above.

use std::path::Path;

use ndarray::{ArrayD, ArrayViewD, IxDyn};

use crate::error::{Error, Result};

/// The `.npy` magic string.
pub(crate) const NPY_MAGIC: &[u8; 6] = b"\x93NUMPY";

/// Longest header accepted.
const MAX_HEADER: usize = 1 << 20;

/// A Python literal as found in an `.npy` header.
#[derive(Debug, PartialEq)]
enum PyVal {
    Str(String),
    Bool(bool),
    Tuple(Vec<u64>),
    /// Anything else (a list for structured dtypes, numbers, ...), kept as text.
    Other(String),
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && self.s[self.i].is_ascii_whitespace() {
            self.i += 1;
        }
    }
    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> std::result::Result<(), String> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!(
                "expected `{}` at byte {} of the header",
                c as char, self.i
            ))
        }
    }
    fn string(&mut self) -> std::result::Result<String, String> {
        let q = self.peek().ok_or("unexpected end of header")?;
        if q != b'\'' && q != b'"' {
            return Err(format!(
                "expected a quoted string at byte {} of the header",
                self.i
            ));
        }
        self.i += 1;
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i] != q {
            if self.s[self.i] == b'\\' {
                return Err("escape sequences in header strings are not supported".into());
            }
            self.i += 1;
        }
        if self.i >= self.s.len() {
            return Err("unterminated string in header".into());
        }
        let out = String::from_utf8_lossy(&self.s[start..self.i]).into_owned();
        self.i += 1;
        Ok(out)
    }
    fn int(&mut self) -> std::result::Result<u64, String> {
        self.ws();
        let start = self.i;
        while self.i < self.s.len() && self.s[self.i].is_ascii_digit() {
            self.i += 1;
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
        let n = text.parse::<u64>().map_err(|_| {
            format!("expected a non-negative integer at byte {start} of the header")
        })?;
        // Python 2 long suffix, as in `(3L, 4L)`.
        if matches!(self.s.get(self.i), Some(b'L' | b'l')) {
            self.i += 1;
        }
        Ok(n)
    }
    fn value(&mut self, depth: usize) -> std::result::Result<PyVal, String> {
        if depth > 8 {
            return Err("header nests too deeply".into());
        }
        match self.peek().ok_or("unexpected end of header")? {
            b'\'' | b'"' => self.string().map(PyVal::Str),
            b'(' => {
                self.i += 1;
                let mut v = Vec::new();
                loop {
                    if self.peek() == Some(b')') {
                        self.i += 1;
                        return Ok(PyVal::Tuple(v));
                    }
                    v.push(self.int()?);
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b')') => {}
                        _ => return Err("malformed shape tuple in header".into()),
                    }
                }
            }
            _ if self.s[self.i..].starts_with(b"True") => {
                self.i += 4;
                Ok(PyVal::Bool(true))
            }
            _ if self.s[self.i..].starts_with(b"False") => {
                self.i += 5;
                Ok(PyVal::Bool(false))
            }
            b'[' | b'{' => {
                // Skip a nested list/dict (structured dtypes), keeping its text.
                let start = self.i;
                let mut level = 0usize;
                while self.i < self.s.len() {
                    match self.s[self.i] {
                        b'[' | b'{' | b'(' => level += 1,
                        b']' | b'}' | b')' => {
                            level = level.saturating_sub(1);
                            if level == 0 {
                                self.i += 1;
                                break;
                            }
                        }
                        b'\'' | b'"' => {
                            self.string()?;
                            continue;
                        }
                        _ => {}
                    }
                    self.i += 1;
                }
                Ok(PyVal::Other(
                    String::from_utf8_lossy(&self.s[start..self.i]).into_owned(),
                ))
            }
            _ => Err(format!("unexpected value at byte {} of the header", self.i)),
        }
    }
    fn dict(&mut self) -> std::result::Result<Vec<(String, PyVal)>, String> {
        self.eat(b'{')?;
        let mut out = Vec::new();
        loop {
            if self.peek() == Some(b'}') {
                self.i += 1;
                return Ok(out);
            }
            let k = self.string()?;
            self.eat(b':')?;
            let v = self.value(0)?;
            out.push((k, v));
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {}
                _ => return Err("malformed header dict".into()),
            }
        }
    }
}

/// What a numpy `descr` is, in words, for error messages.
fn describe_descr(d: &str) -> String {
    let (order, code) = match d.as_bytes().first() {
        Some(b'<' | b'>' | b'|' | b'=') => (&d[..1], &d[1..]),
        _ => ("", d),
    };
    let kind = match code {
        "f2" => "float16",
        "f4" => "float32",
        "f8" => "float64",
        "f16" => "float128",
        "i1" => "int8",
        "i2" => "int16",
        "i4" => "int32",
        "i8" => "int64",
        "u1" => "uint8",
        "u2" => "uint16",
        "u4" => "uint32",
        "u8" => "uint64",
        "b1" => "bool",
        "c8" => "complex64",
        "c16" => "complex128",
        c if c.starts_with('U') => "unicode string",
        c if c.starts_with('S') => "byte string",
        c if c.starts_with('O') => "Python object",
        _ => "unknown type",
    };
    if order == ">" {
        format!("big-endian {kind}")
    } else {
        kind.to_string()
    }
}

/// A dtype this crate reads: its `descr`, its size in bytes, and the name used in messages.
/// Only little-endian (and, for 1-byte types, `'|'`) layouts: what `np.save` writes on
/// every machine numpy runs on today.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dtype {
    /// `'<f4'`
    F32,
    /// `'|b1'`
    Bool,
    /// `'<i4'`
    I32,
    /// `'<i8'`
    I64,
    /// `'<f2'`
    F16,
    /// `'<f8'`
    F64,
    /// `'|i1'`
    I8,
    /// `'<i2'`
    I16,
    /// `'|u1'`
    U8,
    /// `'<u2'`
    U16,
    /// `'<u4'`
    U32,
    /// `'<u8'`
    U64,
}

/// Every dtype [`read_any_bytes`] takes.
const ANY: &[Dtype] = &[
    Dtype::F32,
    Dtype::F16,
    Dtype::F64,
    Dtype::I8,
    Dtype::I16,
    Dtype::I32,
    Dtype::I64,
    Dtype::U8,
    Dtype::U16,
    Dtype::U32,
    Dtype::U64,
    Dtype::Bool,
];

impl Dtype {
    fn descr(self) -> &'static str {
        match self {
            Dtype::F32 => "<f4",
            Dtype::Bool => "|b1",
            Dtype::I32 => "<i4",
            Dtype::I64 => "<i8",
            Dtype::F16 => "<f2",
            Dtype::F64 => "<f8",
            Dtype::I8 => "|i1",
            Dtype::I16 => "<i2",
            Dtype::U8 => "|u1",
            Dtype::U16 => "<u2",
            Dtype::U32 => "<u4",
            Dtype::U64 => "<u8",
        }
    }
    fn size(self) -> u64 {
        match self {
            Dtype::Bool | Dtype::I8 | Dtype::U8 => 1,
            Dtype::F16 | Dtype::I16 | Dtype::U16 => 2,
            Dtype::F32 | Dtype::I32 | Dtype::U32 => 4,
            Dtype::I64 | Dtype::F64 | Dtype::U64 => 8,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::Bool => "bool",
            Dtype::I32 => "int32",
            Dtype::I64 => "int64",
            Dtype::F16 => "float16",
            Dtype::F64 => "float64",
            Dtype::I8 => "int8",
            Dtype::I16 => "int16",
            Dtype::U8 => "uint8",
            Dtype::U16 => "uint16",
            Dtype::U32 => "uint32",
            Dtype::U64 => "uint64",
        }
    }
}

/// The elements of `data` (exactly `n · dtype.size()` bytes) as `f64`, each exact: every
/// value of every dtype here but `int64` / `uint64` beyond 2^53 is an `f64`; those are
/// read by [`ints`] instead.
fn floats(dtype: Dtype, data: &[u8]) -> Vec<f64> {
    let n = dtype.size() as usize;
    data.chunks_exact(n)
        .map(|c| match dtype {
            Dtype::F32 => f32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
            Dtype::F16 => half::f16::from_le_bytes([c[0], c[1]]).to_f64(),
            Dtype::F64 => f64::from_le_bytes(c.try_into().unwrap_or([0; 8])),
            Dtype::Bool | Dtype::U8 => c[0] as f64,
            Dtype::I8 => c[0] as i8 as f64,
            Dtype::I16 => i16::from_le_bytes([c[0], c[1]]) as f64,
            Dtype::U16 => u16::from_le_bytes([c[0], c[1]]) as f64,
            Dtype::I32 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
            Dtype::U32 => u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as f64,
            Dtype::I64 => i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64,
            Dtype::U64 => u64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64,
        })
        .collect()
}

/// The elements of an integer array as `i64`, exactly; a `uint64` element over `i64::MAX`
/// is an error naming its index.
fn ints(dtype: Dtype, data: &[u8], name: &str) -> Result<Vec<i64>> {
    let n = dtype.size() as usize;
    data.chunks_exact(n)
        .enumerate()
        .map(|(i, c)| {
            Ok(match dtype {
                Dtype::I8 => c[0] as i8 as i64,
                Dtype::U8 => c[0] as i64,
                Dtype::I16 => i16::from_le_bytes([c[0], c[1]]) as i64,
                Dtype::U16 => u16::from_le_bytes([c[0], c[1]]) as i64,
                Dtype::I32 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64,
                Dtype::U32 => u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64,
                Dtype::I64 => i64::from_le_bytes(c.try_into().unwrap_or([0; 8])),
                Dtype::U64 => {
                    let v = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
                    i64::try_from(v).map_err(|_| {
                        Error::model_file(
                            name,
                            format!("uint64 element {i} is {v}, over the int64 range of token ids"),
                        )
                    })?
                }
                _ => unreachable!("ints() is called for integer dtypes only"),
            })
        })
        .collect()
}

/// What is wrong with a `descr` none of `accepted` matches, in words. `wanted` says what is
/// accepted (`"little-endian float32 ('<f4')"`).
fn descr_problem(d: &str, wanted: &str) -> String {
    let shown: String = d.escape_debug().collect();
    if !d.chars().all(|c| c.is_ascii_graphic()) {
        return format!(
            "dtype '{shown}' holds a control, space or non-ASCII character: no numpy dtype does, \
             so the header is damaged (expected {wanted})"
        );
    }
    let (order, code) = match d.as_bytes().first() {
        Some(b'<' | b'>' | b'|' | b'=') => (&d[..1], &d[1..]),
        _ => ("", d),
    };
    let multi_byte = matches!(
        code,
        "f2" | "f4" | "f8" | "f16" | "i2" | "i4" | "i8" | "u2" | "u4" | "u8" | "c8" | "c16"
    );
    if order == "=" {
        return format!(
            "dtype '{shown}' has byte order '=' (native), which np.save never writes (it records \
             '<' or '>'; '|' for 1-byte types): the header is damaged or was not written by \
             numpy (expected {wanted})"
        );
    }
    if order == "|" && multi_byte {
        return format!(
            "dtype '{shown}' has byte order '|' (not applicable), which numpy writes only for \
             1-byte types, but {} has {} bytes: the header is damaged (expected {wanted})",
            describe_descr(code),
            code[1..].parse::<u32>().unwrap_or(0)
        );
    }
    format!(
        "dtype '{shown}' ({}) is not {wanted}; save it with a.astype('<f4')",
        describe_descr(d)
    )
}

/// Parses `.npy` bytes of one of the `accepted` dtypes; `wanted` says what is accepted, in
/// words. Returns the dtype found, the shape and the data bytes (exactly as many as the
/// shape needs).
fn read_typed<'a>(
    bytes: &'a [u8],
    name: &str,
    accepted: &[Dtype],
    wanted: &str,
) -> Result<(Dtype, Vec<usize>, &'a [u8])> {
    let bad = |reason: String| Error::model_file(name, reason);
    if bytes.len() < 10 || &bytes[..6] != NPY_MAGIC {
        return Err(bad(format!(
            "not a .npy file (no \\x93NUMPY magic; {} bytes)",
            bytes.len()
        )));
    }
    let (major, minor) = (bytes[6], bytes[7]);
    let (header_len, start) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10usize),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(bad("truncated .npy header".into()));
            }
            let n = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
            (usize::try_from(n).unwrap_or(usize::MAX), 12usize)
        }
        _ => {
            return Err(bad(format!(
                "unsupported .npy format version {major}.{minor} (1.0, 2.0 and 3.0 are read)"
            )));
        }
    };
    if header_len > MAX_HEADER {
        return Err(bad(format!(
            "header claims {header_len} bytes, over the limit of {MAX_HEADER}"
        )));
    }
    let data_start = start + header_len;
    if data_start > bytes.len() {
        return Err(bad(format!(
            "truncated: the header claims {header_len} bytes but the file has {}",
            bytes.len()
        )));
    }
    let header = &bytes[start..data_start];
    let entries = Parser { s: header, i: 0 }
        .dict()
        .map_err(|e| bad(format!("malformed header: {e}")))?;
    let get = |k: &str| entries.iter().find(|(key, _)| key == k).map(|(_, v)| v);

    let dtype = match get("descr") {
        Some(PyVal::Str(d)) => match accepted.iter().find(|t| t.descr() == d) {
            Some(&t) => t,
            None => return Err(bad(descr_problem(d, wanted))),
        },
        Some(PyVal::Other(t)) => {
            return Err(bad(format!("structured dtype {t} is not {wanted}")));
        }
        _ => return Err(bad("header has no string `descr`".into())),
    };
    match get("fortran_order") {
        Some(PyVal::Bool(false)) => {}
        Some(PyVal::Bool(true)) => {
            return Err(bad(
                "fortran_order is True; only C-order arrays are read (save np.ascontiguousarray(a))"
                    .into(),
            ));
        }
        _ => return Err(bad("header has no boolean `fortran_order`".into())),
    }
    let shape64 = match get("shape") {
        Some(PyVal::Tuple(s)) => s.clone(),
        _ => return Err(bad("header has no tuple `shape`".into())),
    };
    let mut count: u64 = 1;
    for &d in &shape64 {
        count = count
            .checked_mul(d)
            .ok_or_else(|| bad(format!("shape {shape64:?} overflows")))?;
    }
    let have = (bytes.len() - data_start) as u64;
    let need = count
        .checked_mul(dtype.size())
        .ok_or_else(|| bad(format!("shape {shape64:?} overflows")))?;
    if have < need {
        return Err(bad(format!(
            "truncated: shape {shape64:?} needs {need} bytes of {} data, the file holds {have}",
            dtype.name()
        )));
    }
    if have > need {
        return Err(bad(format!(
            "{} unexpected bytes after the {need} bytes of data for shape {shape64:?}",
            have - need
        )));
    }
    // `need` bytes exist in memory, so these conversions and the allocation are bounded.
    let shape = shape64
        .iter()
        .map(|&d| usize::try_from(d))
        .collect::<std::result::Result<Vec<usize>, _>>()
        .map_err(|_| bad(format!("shape {shape64:?} does not fit this platform")))?;
    crate::host_memory::checked_elems(name, &shape)
        .map_err(|_| bad(format!("shape {shape64:?} does not fit this platform")))?;
    Ok((dtype, shape, &bytes[data_start..]))
}

/// Parses `.npy` bytes as a float32 array; `name` is what errors call the data.
pub(crate) fn read_bytes(bytes: &[u8], name: &str) -> Result<ArrayD<f32>> {
    let (_, shape, data) = read_typed(bytes, name, &[Dtype::F32], "little-endian float32 ('<f4')")?;
    let data: Vec<f32> = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    ArrayD::from_shape_vec(IxDyn(&shape), data)
        .map_err(|e| Error::model_file(name, format!("shape {shape:?}: {e}")))
}

/// Parses `.npy` bytes as a mask: bool (`'|b1'`, each byte 0 or 1) or any number type
/// numpy writes (float16/32/64, int8..int64, uint8..uint64: nonzero = true, NaN included,
/// as Keras's cast to bool); `name` is what errors call the data.
pub(crate) fn read_mask_bytes(bytes: &[u8], name: &str) -> Result<ArrayD<bool>> {
    let (dtype, shape, data) = read_typed(
        bytes,
        name,
        ANY,
        "a mask: bool ('|b1') or a little-endian number type ('<f4', '<i8', ...)",
    )?;
    let data: Vec<bool> = match dtype {
        Dtype::Bool => {
            if let Some(i) = data.iter().position(|&b| b > 1) {
                return Err(Error::model_file(
                    name,
                    format!(
                        "bool element {i} is the byte {:#04x}, not 0 or 1: the data is damaged",
                        data[i]
                    ),
                ));
            }
            data.iter().map(|&b| b == 1).collect()
        }
        // every byte pattern of a nonzero value of these types is nonzero as f64 (NaN too)
        _ => floats(dtype, data).into_iter().map(|v| v != 0.0).collect(),
    };
    ArrayD::from_shape_vec(IxDyn(&shape), data)
        .map_err(|e| Error::model_file(name, format!("shape {shape:?}: {e}")))
}

/// An `.npy` array as a model call takes it.
///
/// ```
/// let a = wgpu_lstm::keras::NpyArray::Int(ndarray::ArrayD::zeros(ndarray::IxDyn(&[2, 3])));
/// assert_eq!(a.shape(), &[2, 3]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum NpyArray {
    /// float32 (`'<f4'`), or float16 / float64 (`'<f2'`, `'<f8'`) converted to float32 (to
    /// nearest, as Keras casts a float input to a float32 model input).
    F32(ArrayD<f32>),
    /// Any integer type (`'|i1'`, `'<i2'`, `'<i4'`, `'<i8'`, `'|u1'`, `'<u2'`, `'<u4'`,
    /// `'<u8'`), widened exactly to i64: token ids.
    Int(ArrayD<i64>),
    /// bool (`'|b1'`): a mask.
    Bool(ArrayD<bool>),
}

impl NpyArray {
    /// The array's shape.
    ///
    /// ```
    /// let a = wgpu_lstm::keras::NpyArray::Int(ndarray::ArrayD::zeros(ndarray::IxDyn(&[2, 3])));
    /// assert_eq!(a.shape(), &[2, 3]);
    /// ```
    pub fn shape(&self) -> &[usize] {
        match self {
            NpyArray::F32(a) => a.shape(),
            NpyArray::Int(a) => a.shape(),
            NpyArray::Bool(a) => a.shape(),
        }
    }
}

/// Parses `.npy` bytes of any dtype a model call takes: a float type (as float32), an
/// integer type (token ids, as i64) or bool (masks).
pub(crate) fn read_any_bytes(bytes: &[u8], name: &str) -> Result<NpyArray> {
    let (dtype, shape, data) = read_typed(
        bytes,
        name,
        ANY,
        "a little-endian number type (float16/32/64, int8..int64, uint8..uint64) or bool ('|b1')",
    )?;
    let err = |e: ndarray::ShapeError| Error::model_file(name, format!("shape {shape:?}: {e}"));
    Ok(match dtype {
        Dtype::F32 => NpyArray::F32(read_bytes(bytes, name)?),
        Dtype::Bool => NpyArray::Bool(read_mask_bytes(bytes, name)?),
        // float16 → float32 is exact; float64 → float32 rounds to nearest (Keras's cast)
        Dtype::F16 | Dtype::F64 => NpyArray::F32(
            ArrayD::from_shape_vec(
                IxDyn(&shape),
                floats(dtype, data).into_iter().map(|v| v as f32).collect(),
            )
            .map_err(err)?,
        ),
        _ => NpyArray::Int(
            ArrayD::from_shape_vec(IxDyn(&shape), ints(dtype, data, name)?).map_err(err)?,
        ),
    })
}

/// Encodes an array as `.npy` version 1.0 bytes (`'<f4'`, C order).
pub(crate) fn to_bytes(a: &ArrayViewD<f32>) -> Vec<u8> {
    let dims: Vec<String> = a.shape().iter().map(usize::to_string).collect();
    let shape = match dims.len() {
        0 => "()".to_string(),
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {shape}, }}");
    // Pad so that magic (6) + version (2) + length (2) + header, newline included, is a
    // multiple of 64, as numpy does.
    let unpadded = 10 + header.len() + 1;
    header.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + 4 * a.len());
    out.extend_from_slice(NPY_MAGIC);
    if let Ok(n) = u16::try_from(header.len()) {
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&n.to_le_bytes());
    } else {
        // A rank so large the header passes 64 KiB: version 2.0 with a 4-byte length
        // (the padding then aims at 12 + len; numpy accepts either alignment).
        out.extend_from_slice(&[2, 0]);
        out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    }
    out.extend_from_slice(header.as_bytes());
    for &x in a.iter() {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

/// Reads a `.npy` file as float32.
pub(crate) fn read_any_path(path: &Path) -> Result<NpyArray> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_any_bytes(&bytes, &path.display().to_string())
}

pub(crate) fn read_path(path: &Path) -> Result<ArrayD<f32>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_bytes(&bytes, &path.display().to_string())
}

/// Reads a `.npy` file as a mask ([`read_mask_bytes`]).
pub(crate) fn read_mask_path(path: &Path) -> Result<ArrayD<bool>> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    read_mask_bytes(&bytes, &path.display().to_string())
}

/// Writes a float32 array as a `.npy` file.
pub(crate) fn write_path(path: &Path, a: &ArrayViewD<f32>) -> Result<()> {
    std::fs::write(path, to_bytes(a)).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Largest number of members read from an `.npz`.
const MAX_NPZ_MEMBERS: usize = 4096;

/// Encodes named float32 arrays as `.npz` bytes (a zip of stored `<key>.npy` members, in
/// the given order), as `np.savez(path, key=array, ...)` writes them.
pub(crate) fn npz_bytes(arrays: &[(String, ArrayViewD<'_, f32>)], name: &str) -> Result<Vec<u8>> {
    use std::io::Write as _;
    let fail =
        |e: &dyn std::fmt::Display| Error::model_file(name, format!("cannot write .npz: {e}"));
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (key, a) in arrays {
        let bytes = to_bytes(a);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored)
            .large_file(bytes.len() as u64 >= u32::MAX as u64);
        zip.start_file(format!("{key}.npy"), opts)
            .map_err(|e| fail(&e))?;
        zip.write_all(&bytes).map_err(|e| fail(&e))?;
    }
    Ok(zip.finish().map_err(|e| fail(&e))?.into_inner())
}

/// Writes named float32 arrays as an `.npz` file (see [`npz_bytes`]).
pub(crate) fn write_npz(path: &Path, arrays: &[(String, ArrayViewD<'_, f32>)]) -> Result<()> {
    let bytes = npz_bytes(arrays, &path.display().to_string())?;
    std::fs::write(path, bytes).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Parses `.npz` bytes: every `<key>.npy` member, in archive order, as [`read_any_bytes`]
/// reads it. Compressed members, members not ending in `.npy`, more than 4096 members and
/// a member whose declared size disagrees with its data are errors naming the archive and
/// the member.
pub(crate) fn read_npz_bytes(bytes: &[u8], name: &str) -> Result<Vec<(String, NpyArray)>> {
    use std::io::Read as _;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .map_err(|e| Error::model_file(name, format!("not a readable .npz (zip) archive: {e}")))?;
    if zip.len() > MAX_NPZ_MEMBERS {
        return Err(Error::model_file(
            name,
            format!("{} members, over the limit of {MAX_NPZ_MEMBERS}", zip.len()),
        ));
    }
    let mut out = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        let mut f = zip
            .by_index(i)
            .map_err(|e| Error::model_file(name, format!("member {i}: {e}")))?;
        let fname = f
            .name()
            .map_err(|e| Error::model_file(name, format!("member {i}: {e}")))?
            .to_string();
        let member = format!("{name}:{fname}");
        let Some(key) = fname.strip_suffix(".npy").map(str::to_string) else {
            return Err(Error::model_file(
                member,
                "an .npz member must be a .npy file",
            ));
        };
        if f.compression() != zip::CompressionMethod::Stored {
            return Err(Error::model_file(
                member,
                format!(
                    "member is compressed ({}); only np.savez's stored members are read \
                     (save with np.savez, not np.savez_compressed)",
                    f.compression()
                ),
            ));
        }
        // a stored member holds no more than the archive's bytes
        let declared = f.size();
        if declared > bytes.len() as u64 {
            return Err(Error::model_file(
                member,
                format!(
                    "declares {declared} bytes, more than the archive's {}",
                    bytes.len()
                ),
            ));
        }
        let mut data = Vec::with_capacity(declared as usize);
        (&mut f)
            .take(declared + 1)
            .read_to_end(&mut data)
            .map_err(|e| Error::model_file(&member, format!("cannot read member: {e}")))?;
        if data.len() as u64 != declared {
            return Err(Error::model_file(
                member,
                format!("declares {declared} bytes but {} were read", data.len()),
            ));
        }
        out.push((key, read_any_bytes(&data, &member)?));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;

    fn npy(descr: &str, fortran: &str, shape: &str, data: &[u8]) -> Vec<u8> {
        let h = format!("{{'descr': '{descr}', 'fortran_order': {fortran}, 'shape': {shape}, }}\n");
        let mut v = NPY_MAGIC.to_vec();
        v.extend_from_slice(&[1, 0]);
        v.extend_from_slice(&(h.len() as u16).to_le_bytes());
        v.extend_from_slice(h.as_bytes());
        v.extend_from_slice(data);
        v
    }

    fn expect_err(bytes: &[u8], needle: &str) {
        let e = read_bytes(bytes, "x.npy").unwrap_err();
        assert!(matches!(e, Error::ModelFile { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains("x.npy"), "{msg}");
        assert!(msg.contains(needle), "`{needle}` not in: {msg}");
    }

    #[test]
    fn round_trip_through_file() {
        let a = Array::from_shape_fn((2, 3, 4), |(i, j, k)| {
            (i * 12 + j * 4 + k) as f32 * 0.5 - 3.0
        })
        .into_dyn();
        let dir = std::env::temp_dir().join(format!("wgpu_lstm_npy_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.npy");
        write_path(&p, &a.view()).unwrap();
        let bytes = std::fs::read(&p).unwrap();
        let header_end = 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
        assert_eq!(header_end % 64, 0);
        assert_eq!(bytes[header_end - 1], b'\n');
        let b = read_path(&p).unwrap();
        assert_eq!(a, b);
        // Non-contiguous views are written in logical order.
        let t = a.view().reversed_axes();
        write_path(&p, &t).unwrap();
        assert_eq!(read_path(&p).unwrap(), t.to_owned());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn scalars_and_empty_arrays() {
        let s = ArrayD::from_elem(IxDyn(&[]), 7.5f32);
        assert_eq!(read_bytes(&to_bytes(&s.view()), "s").unwrap(), s);
        let e = ArrayD::<f32>::zeros(IxDyn(&[0, 3]));
        assert_eq!(read_bytes(&to_bytes(&e.view()), "e").unwrap(), e);
    }

    #[test]
    fn reads_numpy_style_headers() {
        let data: Vec<u8> = [1.0f32, -2.0, 3.5]
            .iter()
            .flat_map(|x| x.to_le_bytes())
            .collect();
        let a = read_bytes(&npy("<f4", "False", "(3,)", &data), "x").unwrap();
        assert_eq!(a.as_slice().unwrap(), &[1.0, -2.0, 3.5]);
        let a = read_bytes(&npy("<f4", "False", "(1L, 3L)", &data), "x").unwrap();
        assert_eq!(a.shape(), &[1, 3]);
    }

    #[test]
    fn wrong_dtypes_are_named() {
        let d8 = vec![0u8; 24];
        expect_err(&npy("<f8", "False", "(3,)", &d8), "'<f8' (float64)");
        expect_err(&npy("<i4", "False", "(3,)", &d8[..12]), "'<i4' (int32)");
        expect_err(
            &npy(">f4", "False", "(3,)", &d8[..12]),
            "'>f4' (big-endian float32)",
        );
        expect_err(&npy("|b1", "False", "(3,)", &d8[..3]), "bool");
    }

    #[test]
    fn fortran_order_truncation_and_garbage() {
        let d = vec![0u8; 24];
        expect_err(&npy("<f4", "True", "(2, 3)", &d), "fortran_order");
        expect_err(&npy("<f4", "False", "(2, 3)", &d[..23]), "truncated");
        expect_err(
            &npy("<f4", "False", "(2, 3)", &[d.as_slice(), &[0]].concat()),
            "unexpected bytes",
        );
        // A small file claiming a huge shape is refused before allocating.
        expect_err(&npy("<f4", "False", "(100000, 100000)", &d), "truncated");
        expect_err(
            &npy("<f4", "False", "(100000000000, 100000000000)", &d),
            "overflows",
        );
        expect_err(
            &npy("<f4", "False", "(18446744073709551615, 2)", &d),
            "overflows",
        );
        expect_err(b"\x93NUMPY", "not a .npy");
        expect_err(b"hello world, not numpy", "not a .npy");
        expect_err(&npy("<f4", "False", "(2, 3", &d), "malformed");
        let mut big = npy("<f4", "False", "(2, 3)", &d);
        big[8] = 0xff;
        big[9] = 0xff;
        expect_err(&big, "truncated");
        let mut v9 = npy("<f4", "False", "(2, 3)", &d);
        v9[6] = 9;
        expect_err(&v9, "version 9.0");
    }

    #[test]
    fn every_cut_and_flip_is_an_error_not_a_panic() {
        let a = Array::from_shape_fn((3, 5), |(i, j)| (i + j) as f32).into_dyn();
        let bytes = to_bytes(&a.view());
        for cut in 0..bytes.len() {
            assert!(read_bytes(&bytes[..cut], "cut").is_err(), "cut at {cut}");
        }
        for pos in 0..bytes.len() {
            for bit in [0x01u8, 0x80, 0xff] {
                let mut b = bytes.clone();
                b[pos] ^= bit;
                let _ = read_bytes(&b, "flip");
            }
        }
    }

    #[test]
    fn bit_flipped_dtypes_say_what_is_really_wrong() {
        let a = Array::from_shape_fn((2, 3), |(i, j)| (i + j) as f32).into_dyn();
        let bytes = to_bytes(&a.view());
        let at = bytes.windows(5).position(|w| w == b"'<f4'").unwrap() + 1;
        let flipped = |pos: usize, bit: u8| {
            let mut b = bytes.clone();
            b[pos] ^= bit;
            b
        };
        // '<' ^ 0x01 = '=': the message used to say "dtype '=f4' (float32) is not float32"
        expect_err(
            &flipped(at, 0x01),
            "dtype '=f4' has byte order '=' (native)",
        );
        expect_err(&flipped(at, 0x01), "damaged");
        // '<' ^ 0x40 = '|', a byte order numpy writes for 1-byte types only
        expect_err(&flipped(at, 0x40), "byte order '|' (not applicable)");
        expect_err(&flipped(at, 0x40), "float32 has 4 bytes");
        // '4' ^ 0x20 = 0x14, an invisible control character: shown escaped
        expect_err(&flipped(at + 2, 0x20), "'<f\\u{14}'");
        expect_err(&flipped(at + 2, 0x20), "control");
        // no single-bit flip of the dtype yields a message that contradicts itself
        for pos in at..at + 3 {
            for bit in 0..8 {
                let b = flipped(pos, 1 << bit);
                let msg = read_bytes(&b, "x.npy").unwrap_err().to_string();
                assert!(!msg.contains("(float32) is not"), "{msg}");
                let msg = read_mask_bytes(&b, "x.npy").unwrap_err().to_string();
                assert!(!msg.contains("(float32) is not"), "{msg}");
            }
        }
        // a real big-endian float32 is named as such
        expect_err(
            &npy(">f4", "False", "(1,)", &[0; 4]),
            "'>f4' (big-endian float32)",
        );
    }

    #[test]
    fn masks_are_read_as_bool_or_float32() {
        let m = read_mask_bytes(&npy("|b1", "False", "(2, 2)", &[1, 0, 0, 1]), "m").unwrap();
        assert_eq!(m.shape(), &[2, 2]);
        assert_eq!(m.as_slice().unwrap(), &[true, false, false, true]);
        let f: Vec<u8> = [0.0f32, 1.0, -2.0, 0.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let m2 = read_mask_bytes(&npy("<f4", "False", "(2, 2)", &f), "m").unwrap();
        assert_eq!(m2.as_slice().unwrap(), &[false, true, true, false]);
        // a bool byte other than 0 or 1 is damage, not "true"
        let e = read_mask_bytes(&npy("|b1", "False", "(2,)", &[1, 2]), "m.npy").unwrap_err();
        assert!(e.to_string().contains("element 1 is the byte 0x02"), "{e}");
        // any number type: nonzero = true
        let m3 = read_mask_bytes(
            &npy(
                "<i8",
                "False",
                "(3,)",
                &[[0u8; 8], [1; 8], [0x80; 8]].concat(),
            ),
            "m",
        )
        .unwrap();
        assert_eq!(m3.as_slice().unwrap(), &[false, true, true]);
        let m4 = read_mask_bytes(&npy("|u1", "False", "(2,)", &[0, 7]), "m").unwrap();
        assert_eq!(m4.as_slice().unwrap(), &[false, true]);
        // other dtypes are named, with what a mask may be
        let e = read_mask_bytes(&npy("<c8", "False", "(1,)", &[0; 8]), "m.npy").unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("'<c8' (complex64)") && msg.contains("'|b1'"),
            "{msg}"
        );
        // sizes are checked against the bytes present, as for float32
        let e = read_mask_bytes(&npy("|b1", "False", "(3,)", &[1, 0]), "m.npy").unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
        // the float32 reader still refuses a bool array by name
        expect_err(&npy("|b1", "False", "(2,)", &[1, 0]), "(bool)");
    }

    #[test]
    fn every_number_type_is_read_as_keras_casts_it() {
        let f = |descr: &str, data: &[u8]| {
            read_any_bytes(&npy(descr, "False", "(2,)", data), "x.npy").unwrap()
        };
        let ints = |descr: &str, data: &[u8]| match f(descr, data) {
            NpyArray::Int(a) => a.into_raw_vec_and_offset().0,
            other => panic!("{descr}: {other:?}"),
        };
        let fl = |descr: &str, data: &[u8]| match f(descr, data) {
            NpyArray::F32(a) => a.into_raw_vec_and_offset().0,
            other => panic!("{descr}: {other:?}"),
        };
        assert_eq!(ints("|i1", &[0xff, 5]), [-1, 5]);
        assert_eq!(ints("|u1", &[0xff, 5]), [255, 5]);
        assert_eq!(ints("<i2", &[0xff, 0xff, 2, 1]), [-1, 258]);
        assert_eq!(ints("<u2", &[0xff, 0xff, 2, 1]), [65535, 258]);
        assert_eq!(ints("<i4", &[[0xff; 4], [3, 0, 0, 0]].concat()), [-1, 3]);
        assert_eq!(
            ints("<u4", &[[0xff; 4], [3, 0, 0, 0]].concat()),
            [4294967295, 3]
        );
        let big = (1i64 << 60) + 1; // not a float64: read exactly
        assert_eq!(
            ints("<i8", &[big.to_le_bytes(), (-2i64).to_le_bytes()].concat()),
            [big, -2]
        );
        assert_eq!(
            ints("<u8", &[big.to_le_bytes(), 2u64.to_le_bytes()].concat()),
            [big, 2]
        );
        let e = read_any_bytes(
            &npy("<u8", "False", "(2,)", &[[0; 8], [0xff; 8]].concat()),
            "x.npy",
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .contains("uint64 element 1 is 18446744073709551615"),
            "{e}"
        );
        let h = [half::f16::from_f32(0.5), half::f16::from_f32(-3.0)];
        assert_eq!(
            fl("<f2", &[h[0].to_le_bytes(), h[1].to_le_bytes()].concat()),
            [0.5, -3.0]
        );
        // float64 rounds to the nearest float32, as tf.cast does
        let x = 0.1f64;
        assert_eq!(
            fl("<f8", &[x.to_le_bytes(), 1e300f64.to_le_bytes()].concat()),
            [0.1f32, f32::INFINITY]
        );
        // big-endian and complex stay refused, by name
        let e = read_any_bytes(&npy(">i8", "False", "(1,)", &[0; 8]), "x.npy").unwrap_err();
        assert!(e.to_string().contains("big-endian int64"), "{e}");
        let e = read_any_bytes(&npy("<c16", "False", "(1,)", &[0; 16]), "x.npy").unwrap_err();
        assert!(e.to_string().contains("complex128"), "{e}");
        // sizes are checked per dtype
        let e = read_any_bytes(&npy("<f2", "False", "(3,)", &[0; 4]), "x.npy").unwrap_err();
        assert!(e.to_string().contains("truncated"), "{e}");
    }

    #[test]
    fn npz_round_trip_and_hostile_archives() {
        let a = Array::from_shape_fn((2, 3), |(i, j)| (i * 3 + j) as f32).into_dyn();
        let b = ArrayD::from_elem(IxDyn(&[4]), -1.5f32);
        let bytes = npz_bytes(
            &[("output_0".into(), a.view()), ("output_1".into(), b.view())],
            "y.npz",
        )
        .unwrap();
        let back = read_npz_bytes(&bytes, "y.npz").unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0], ("output_0".to_string(), NpyArray::F32(a)));
        assert_eq!(back[1], ("output_1".to_string(), NpyArray::F32(b)));
        // every truncation is an error, never a panic
        for cut in 0..bytes.len() {
            let _ = read_npz_bytes(&bytes[..cut], "cut.npz");
        }
        assert!(read_npz_bytes(&bytes[..bytes.len() / 2], "cut.npz").is_err());
        // a member that is not .npy is named
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        zip.start_file(
            "notes.txt",
            zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored),
        )
        .unwrap();
        std::io::Write::write_all(&mut zip, b"hi").unwrap();
        let other = zip.finish().unwrap().into_inner();
        let e = read_npz_bytes(&other, "o.npz").unwrap_err();
        assert!(e.to_string().contains("o.npz:notes.txt"), "{e}");
        assert!(read_npz_bytes(b"not a zip", "z.npz").is_err());
    }

    #[test]
    fn missing_file_is_io_error() {
        let e = read_path(Path::new("/nonexistent/dir/x.npy")).unwrap_err();
        assert!(matches!(e, Error::Io { .. }));
    }
}
