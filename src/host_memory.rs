//! The one checked path for host (CPU) memory that user-given sizes drive.
//!
//! Every array whose size comes from outside (a batch size, timesteps, features, `units`, a
//! shape in a file or a fixture) is sized here before anything is allocated or computed:
//!
//! 1. [`checked_elems`]: the product of the dimensions. A product (or its byte size) past
//!    `isize::MAX`, the most one allocation or one ndarray array can hold, is
//!    [`Error::SizeOverflow`] naming the array and its shape — never a wrapped number.
//! 2. [`HostBytes`] and [`check_host_bytes`]: the bytes a whole operation needs, summed over
//!    its arrays, against a process-wide budget ([`host_memory_budget`]). Over it is
//!    [`Error::HostMemory`], returned before the operation starts.
//! 3. [`zeros`], [`filled_vec`], [`vec_with_capacity`], [`to_owned`]: the allocation itself,
//!    checked against the budget and asked of the allocator with `try_reserve`, so that a
//!    refusal is [`Error::HostAllocation`], not an abort.
//!
//! # The budget
//!
//! By default three quarters of the machine's memory: the smaller of `MemTotal` in
//! `/proc/meminfo` and a cgroup memory limit, when they can be read; else 16 GiB
//! ([`FALLBACK_HOST_MEMORY_BUDGET`]). The environment variable
//! `WGPU_LSTM_HOST_MEMORY_BUDGET` ([`HOST_MEMORY_BUDGET_ENV`]) replaces that default: a byte
//! count, optionally with a binary suffix `K`, `M`, `G` or `T` (`8G`, `512MiB`), read once
//! per process; a value that is not a byte count makes every checked allocation fail with an
//! [`Error::Config`] naming the variable. [`set_host_memory_budget`] overrides both for the
//! whole process.
//!
//! The budget bounds what one operation asks for, not what the process holds in total: it
//! turns a typo'd batch size into an error message instead of an out-of-memory kill.
//!
//! ```
//! use wgpu_lstm::{Error, host_memory};
//! // A (B, U) state for B = 2^40 rows is refused before anything is allocated.
//! let e = host_memory::zeros::<f32, _>("state h (B, U)", (1usize << 40, 64)).unwrap_err();
//! assert!(matches!(e, Error::HostMemory { .. }));
//! // A product that overflows is refused as such.
//! let e = host_memory::checked_elems("inputs (B, T, D)", &[usize::MAX / 2, 3, 1]).unwrap_err();
//! assert!(matches!(e, Error::SizeOverflow { .. }));
//! ```

use std::sync::{Mutex, OnceLock};

use ndarray::{Array, ArrayView, Dimension, IntoDimension};

use crate::error::{Error, Result};

/// The environment variable that sets the default host-memory budget (read once per
/// process).
///
/// ```
/// assert_eq!(wgpu_lstm::host_memory::HOST_MEMORY_BUDGET_ENV, "WGPU_LSTM_HOST_MEMORY_BUDGET");
/// ```
pub const HOST_MEMORY_BUDGET_ENV: &str = "WGPU_LSTM_HOST_MEMORY_BUDGET";

/// The default budget when the machine's memory cannot be read: 16 GiB.
///
/// ```
/// assert_eq!(wgpu_lstm::host_memory::FALLBACK_HOST_MEMORY_BUDGET, 16 << 30);
/// ```
pub const FALLBACK_HOST_MEMORY_BUDGET: u64 = 16 << 30;

static OVERRIDE: Mutex<Option<u64>> = Mutex::new(None);
static DEFAULT: OnceLock<std::result::Result<u64, String>> = OnceLock::new();

fn override_slot() -> std::sync::MutexGuard<'static, Option<u64>> {
    // The slot holds a plain number: a panic elsewhere cannot leave it half-written.
    OVERRIDE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Sets the host-memory budget of the whole process, in bytes (it overrides the default and
/// `WGPU_LSTM_HOST_MEMORY_BUDGET`). `0` refuses every checked allocation.
///
/// ```no_run
/// // allow single operations of up to 64 GiB on a large host
/// wgpu_lstm::host_memory::set_host_memory_budget(64 << 30);
/// assert_eq!(wgpu_lstm::host_memory::host_memory_budget().unwrap(), 64 << 30);
/// ```
pub fn set_host_memory_budget(bytes: u64) {
    *override_slot() = Some(bytes);
}

/// Drops a budget set with [`set_host_memory_budget`]: the default applies again.
///
/// ```no_run
/// use wgpu_lstm::host_memory::*;
/// set_host_memory_budget(1 << 20);
/// clear_host_memory_budget();
/// assert_eq!(host_memory_budget().unwrap(), default_host_memory_budget().unwrap());
/// ```
pub fn clear_host_memory_budget() {
    *override_slot() = None;
}

/// The budget in force, in bytes: the one set with [`set_host_memory_budget`], else
/// [`default_host_memory_budget`].
///
/// ```
/// let budget = wgpu_lstm::host_memory::host_memory_budget().unwrap();
/// assert!(budget > 0);
/// ```
pub fn host_memory_budget() -> Result<u64> {
    if let Some(b) = *override_slot() {
        return Ok(b);
    }
    default_host_memory_budget()
}

/// The default budget: `WGPU_LSTM_HOST_MEMORY_BUDGET` when set, else three quarters of
/// [`physical_memory_bytes`], else [`FALLBACK_HOST_MEMORY_BUDGET`]. An environment value that
/// is not a byte count is an [`Error::Config`] naming the variable.
///
/// ```
/// let d = wgpu_lstm::host_memory::default_host_memory_budget().unwrap();
/// if std::env::var_os(wgpu_lstm::host_memory::HOST_MEMORY_BUDGET_ENV).is_none() {
///     if let Some(m) = wgpu_lstm::host_memory::physical_memory_bytes() {
///         assert_eq!(d, m / 4 * 3);
///     }
/// }
/// ```
pub fn default_host_memory_budget() -> Result<u64> {
    DEFAULT
        .get_or_init(|| match std::env::var(HOST_MEMORY_BUDGET_ENV) {
            Err(std::env::VarError::NotPresent) => {
                Ok(physical_memory_bytes().map_or(FALLBACK_HOST_MEMORY_BUDGET, |m| m / 4 * 3))
            }
            Err(std::env::VarError::NotUnicode(v)) => Err(format!(
                "{v:?} is not a byte count (e.g. 8589934592, 8G, 512M)"
            )),
            Ok(v) => parse_bytes(&v)
                .ok_or_else(|| format!("`{v}` is not a byte count (e.g. 8589934592, 8G, 512M)")),
        })
        .clone()
        .map_err(|reason| Error::config(HOST_MEMORY_BUDGET_ENV, reason))
}

/// Parses a byte count: digits, optionally followed by a binary suffix `K`, `M`, `G`, `T`
/// (case-insensitive, optionally with `iB` or `B`). `None` when it is not one or overflows.
///
/// ```
/// use wgpu_lstm::host_memory::parse_bytes;
/// assert_eq!(parse_bytes("4096"), Some(4096));
/// assert_eq!(parse_bytes(" 8G "), Some(8 << 30));
/// assert_eq!(parse_bytes("512MiB"), Some(512 << 20));
/// assert_eq!(parse_bytes("lots"), None);
/// assert_eq!(parse_bytes("99999999999T"), None);
/// ```
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    let n: u64 = s[..digits].parse().ok()?;
    let suffix = s[digits..].trim().to_ascii_lowercase();
    let unit = suffix
        .strip_suffix("ib")
        .or_else(|| suffix.strip_suffix('b'))
        .unwrap_or(&suffix);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

/// The memory this process may use, in bytes, when it can be read: the smaller of
/// `MemTotal` (`/proc/meminfo`) and the cgroup memory limit (v2 `memory.max`, v1
/// `memory.limit_in_bytes`). `None` elsewhere.
///
/// ```
/// if let Some(m) = wgpu_lstm::host_memory::physical_memory_bytes() {
///     assert!(m > 0);
/// }
/// ```
pub fn physical_memory_bytes() -> Option<u64> {
    let mem_total = std::fs::read_to_string("/proc/meminfo").ok().and_then(|t| {
        t.lines()
            .find_map(|l| l.strip_prefix("MemTotal:"))
            .and_then(|v| v.trim().strip_suffix("kB"))
            .and_then(|kb| kb.trim().parse::<u64>().ok())
            .and_then(|kb| kb.checked_mul(1024))
    });
    let cgroup = [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ]
    .iter()
    .filter_map(|p| std::fs::read_to_string(p).ok())
    .filter_map(|t| t.trim().parse::<u64>().ok())
    .min();
    match (mem_total, cgroup) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
    .filter(|&m| m > 0)
}

fn overflow(what: &str, dims: &[usize]) -> Error {
    Error::SizeOverflow {
        what: what.to_string(),
        dims: dims.to_vec(),
    }
}

/// The number of elements of an array of shape `dims`, checked: the product of the non-zero
/// dimensions must not pass `isize::MAX` (what ndarray and the allocator require, even for
/// an empty array). Overflow is an [`Error::SizeOverflow`] naming `what` and `dims`.
///
/// ```
/// use wgpu_lstm::host_memory::checked_elems;
/// assert_eq!(checked_elems("x", &[2, 3, 4]).unwrap(), 24);
/// assert_eq!(checked_elems("x", &[0, 5]).unwrap(), 0);
/// assert!(checked_elems("recurrent_kernel (U, 4U)", &[1 << 62, 1 << 62]).is_err());
/// ```
pub fn checked_elems(what: &str, dims: &[usize]) -> Result<usize> {
    let mut nonzero: usize = 1;
    for &d in dims.iter().filter(|&&d| d != 0) {
        nonzero = nonzero
            .checked_mul(d)
            .filter(|&n| n <= isize::MAX as usize)
            .ok_or_else(|| overflow(what, dims))?;
    }
    Ok(if dims.contains(&0) { 0 } else { nonzero })
}

/// The bytes of an array of `T` of shape `dims`, checked as [`checked_elems`] (the byte size
/// must not pass `isize::MAX` either).
///
/// ```
/// use wgpu_lstm::host_memory::checked_bytes;
/// assert_eq!(checked_bytes::<f32>("x", &[2, 3]).unwrap(), 24);
/// assert!(checked_bytes::<f32>("x", &[1 << 62]).is_err());
/// ```
pub fn checked_bytes<T>(what: &str, dims: &[usize]) -> Result<usize> {
    checked_elems(what, dims)?
        .checked_mul(std::mem::size_of::<T>())
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or_else(|| overflow(what, dims))
}

/// Checks that `bytes` of host memory for `what` are within the budget: over it is an
/// [`Error::HostMemory`] naming `what`, the bytes and the budget.
///
/// ```
/// use wgpu_lstm::{Error, host_memory::check_host_bytes};
/// assert!(check_host_bytes("a few floats", 64).is_ok());
/// let e = check_host_bytes("a few exabytes", 1 << 70).unwrap_err();
/// assert!(matches!(e, Error::HostMemory { .. }));
/// ```
pub fn check_host_bytes(what: &str, bytes: u128) -> Result<()> {
    let budget = host_memory_budget()?;
    if bytes > u128::from(budget) {
        return Err(Error::HostMemory {
            what: what.to_string(),
            bytes,
            budget,
        });
    }
    Ok(())
}

/// The host memory one operation will need, summed over its arrays, checked once against
/// the budget before the operation starts. The error names the operation and its largest
/// array.
///
/// ```
/// use wgpu_lstm::{Error, host_memory::HostBytes};
/// let mut need = HostBytes::new("a call on inputs (2, 3, 4)");
/// need.array::<f32>("inputs copy (B, T, D)", &[2, 3, 4])?;
/// need.array::<f32>("input projection (B, T, 4U)", &[2, 3, 16])?;
/// assert_eq!(need.total(), 4 * (24 + 96));
/// need.check()?;
///
/// let mut huge = HostBytes::new("a call on inputs (2^40, 1, 1)");
/// huge.array::<f32>("input projection (B, T, 4U)", &[1 << 40, 1, 4])?;
/// let e = huge.check().unwrap_err();
/// assert!(matches!(e, Error::HostMemory { .. }));
/// assert!(e.to_string().contains("input projection (B, T, 4U)"));
/// # Ok::<(), wgpu_lstm::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostBytes {
    what: String,
    total: u128,
    largest: Option<(String, Vec<usize>, u128)>,
}

impl HostBytes {
    /// An empty tally for the operation `what`.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::host_memory::HostBytes::new("nothing").total(), 0);
    /// ```
    pub fn new(what: impl Into<String>) -> Self {
        HostBytes {
            what: what.into(),
            total: 0,
            largest: None,
        }
    }

    /// Adds an array of `T` of shape `dims` called `name`; an overflowing shape is an
    /// [`Error::SizeOverflow`] naming the operation and the array.
    ///
    /// ```
    /// let mut n = wgpu_lstm::host_memory::HostBytes::new("op");
    /// n.array::<f64>("work", &[3, 5]).unwrap();
    /// assert_eq!(n.total(), 120);
    /// assert!(n.array::<f32>("huge", &[usize::MAX, 2]).is_err());
    /// ```
    pub fn array<T>(&mut self, name: &str, dims: &[usize]) -> Result<&mut Self> {
        let bytes = checked_bytes::<T>(&format!("{}: {name}", self.what), dims)? as u128;
        self.total += bytes;
        if self.largest.as_ref().is_none_or(|l| bytes > l.2) {
            self.largest = Some((name.to_string(), dims.to_vec(), bytes));
        }
        Ok(self)
    }

    /// Adds everything another tally counted (its largest array included).
    ///
    /// ```
    /// use wgpu_lstm::host_memory::HostBytes;
    /// let mut a = HostBytes::new("model call");
    /// a.array::<f32>("inputs", &[4]).unwrap();
    /// let mut b = HostBytes::new("one layer");
    /// b.array::<f32>("output", &[8]).unwrap();
    /// a.absorb(b);
    /// assert_eq!(a.total(), 48);
    /// ```
    pub fn absorb(&mut self, other: HostBytes) -> &mut Self {
        self.total += other.total;
        if let Some(l) = other.largest
            && self.largest.as_ref().is_none_or(|m| l.2 > m.2)
        {
            self.largest = Some(l);
        }
        self
    }

    /// The bytes counted so far.
    ///
    /// ```
    /// let mut n = wgpu_lstm::host_memory::HostBytes::new("op");
    /// n.array::<u8>("flags", &[7]).unwrap();
    /// assert_eq!(n.total(), 7);
    /// ```
    pub fn total(&self) -> u128 {
        self.total
    }

    /// Checks the total against the budget ([`check_host_bytes`]).
    ///
    /// ```
    /// let mut n = wgpu_lstm::host_memory::HostBytes::new("op");
    /// n.array::<f32>("x", &[10]).unwrap();
    /// n.check().unwrap();
    /// ```
    pub fn check(&self) -> Result<()> {
        let what = match &self.largest {
            Some((name, dims, bytes)) => format!(
                "{} (largest part: {name} of shape {dims:?}, {bytes} bytes)",
                self.what
            ),
            None => self.what.clone(),
        };
        check_host_bytes(&what, self.total)
    }
}

/// A `Vec` with room for `n` values of `T`: the bytes are checked ([`checked_bytes`],
/// [`check_host_bytes`]) and reserved with `try_reserve_exact`, so a refusal is an error.
///
/// ```
/// let v = wgpu_lstm::host_memory::vec_with_capacity::<f32>("leaves", 100).unwrap();
/// assert!(v.capacity() >= 100 && v.is_empty());
/// assert!(wgpu_lstm::host_memory::vec_with_capacity::<f32>("leaves", 1 << 60).is_err());
/// ```
pub fn vec_with_capacity<T>(what: &str, n: usize) -> Result<Vec<T>> {
    let bytes = checked_bytes::<T>(what, &[n])?;
    check_host_bytes(what, bytes as u128)?;
    let mut v = Vec::new();
    v.try_reserve_exact(n).map_err(|_| Error::HostAllocation {
        what: what.to_string(),
        bytes: bytes as u128,
    })?;
    Ok(v)
}

/// A `Vec` of `n` copies of `value`, through [`vec_with_capacity`].
///
/// ```
/// let v = wgpu_lstm::host_memory::filled_vec("mask", 3, true).unwrap();
/// assert_eq!(v, [true, true, true]);
/// ```
pub fn filled_vec<T: Clone>(what: &str, n: usize, value: T) -> Result<Vec<T>> {
    let mut v = vec_with_capacity(what, n)?;
    v.resize(n, value);
    Ok(v)
}

/// An array of `shape` filled with `A::default()` (zeros for numbers, `false` for bools),
/// checked and allocated through [`filled_vec`].
///
/// ```
/// use wgpu_lstm::host_memory::zeros;
/// let a = zeros::<f32, _>("state h (B, U)", (2, 3)).unwrap();
/// assert_eq!(a.dim(), (2, 3));
/// assert!(zeros::<f32, _>("state h (B, U)", (usize::MAX / 2, 4)).is_err());
/// ```
pub fn zeros<A: Clone + Default, Sh: IntoDimension>(
    what: &str,
    shape: Sh,
) -> Result<Array<A, Sh::Dim>> {
    let dim = shape.into_dimension();
    let n = checked_elems(what, dim.slice())?;
    let v = filled_vec(what, n, A::default())?;
    let dims = dim.slice().to_vec();
    Array::from_shape_vec(dim, v).map_err(|_| overflow(what, &dims))
}

/// An owned copy of a view (any layout, broadcast views included: the copy has the view's
/// logical size), checked and allocated through [`vec_with_capacity`].
///
/// ```
/// use ndarray::Array3;
/// use wgpu_lstm::host_memory::to_owned;
/// let one = Array3::<f32>::ones((1, 1, 2));
/// let copy = to_owned("inputs", &one.broadcast((3, 1, 2)).unwrap()).unwrap();
/// assert_eq!(copy.dim(), (3, 1, 2));
/// let huge = one.broadcast((1usize << 40, 1, 2)).unwrap();
/// assert!(to_owned("inputs", &huge).is_err());
/// ```
pub fn to_owned<A: Clone, D: Dimension>(
    what: &str,
    view: &ArrayView<'_, A, D>,
) -> Result<Array<A, D>> {
    let n = checked_elems(what, view.shape())?;
    let mut v = vec_with_capacity(what, n)?;
    match view.as_slice() {
        Some(s) => v.extend_from_slice(s),
        None => v.extend(view.iter().cloned()),
    }
    Array::from_shape_vec(view.raw_dim(), v).map_err(|_| overflow(what, view.shape()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_overflow_as_typed_errors() {
        for dims in [
            &[usize::MAX, 2][..],
            &[1 << 32, 1 << 32],
            &[(isize::MAX as usize) + 1],
            &[0, usize::MAX, usize::MAX],
        ] {
            let e = checked_elems("x", dims).unwrap_err();
            assert!(matches!(e, Error::SizeOverflow { .. }), "{dims:?}: {e:?}");
        }
        assert_eq!(checked_elems("x", &[]).unwrap(), 1);
        assert_eq!(checked_elems("x", &[0, 1 << 40]).unwrap(), 0);
        // the byte size overflows even though the element count does not
        let e = checked_bytes::<f32>("x", &[isize::MAX as usize / 2]).unwrap_err();
        assert!(matches!(e, Error::SizeOverflow { .. }));
    }

    #[test]
    fn allocations_over_the_budget_are_refused_before_allocating() {
        // 2^62 bytes (4 EiB) is over any budget a real machine's memory gives
        let e = zeros::<f32, _>("state", (1usize << 30, 1usize << 30)).unwrap_err();
        assert!(matches!(e, Error::HostMemory { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.starts_with("state needs 4611686018427387904 bytes"),
            "{msg}"
        );
        let e = vec_with_capacity::<u64>("leaves", 1 << 50).unwrap_err();
        assert!(matches!(e, Error::HostMemory { .. }), "{e:?}");
    }

    #[test]
    fn host_bytes_names_the_largest_part() {
        let mut n = HostBytes::new("op");
        n.array::<f32>("small", &[4]).unwrap();
        n.array::<f32>("big", &[1 << 31, 1 << 20]).unwrap();
        n.array::<f32>("medium", &[1 << 20]).unwrap();
        let msg = n.check().unwrap_err().to_string();
        assert!(
            msg.contains("largest part: big of shape [2147483648, 1048576]"),
            "{msg}"
        );
        let e = n.array::<f32>("absurd", &[usize::MAX, 3]).unwrap_err();
        assert!(e.to_string().starts_with("op: absurd: shape"), "{e}");
    }
}
