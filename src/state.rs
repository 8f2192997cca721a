//! [`LstmState`]: the recurrent state (h, c) of an LSTM for a batch of rows — what a stateful
//! layer carries between calls, what `initial_state` sets, what `return_state` returns.
//!
//! A GRU or SimpleRNN has one state, h: its `LstmState` has a `c` of shape (B, 0) — no
//! elements — so the serving API (`Model::row_states`, `set_row_states`, `states`) keeps one
//! type for every recurrent layer, and code that handles c handles nothing for those cells.

use ndarray::Array2;

use crate::error::Result;
use crate::host_memory::{self, HostBytes};

/// The recurrent state of a layer: h and c, each (B, U) — for a GRU or SimpleRNN, h (B, U)
/// and an empty c (B, 0) ([`LstmState::zeros_for`]).
///
/// ```
/// let s = wgpu_lstm::LstmState::zeros(2, 8).unwrap();
/// assert_eq!(s.h.dim(), (2, 8));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LstmState {
    /// Hidden state h (B, U) — also the last valid output.
    pub h: Array2<f32>,
    /// Cell state c (B, U); (B, 0) for cells without one (GRU, SimpleRNN).
    pub c: Array2<f32>,
}

impl LstmState {
    /// Zero state for `batch` rows of `units`. Both arrays are checked against the
    /// host-memory budget ([`crate::host_memory`]) first: a size the machine cannot hold is
    /// an error, not an abort.
    ///
    /// ```
    /// use wgpu_lstm::{Error, LstmState};
    /// assert_eq!(LstmState::zeros(1, 3).unwrap().c.sum(), 0.0);
    /// assert!(matches!(LstmState::zeros(usize::MAX / 2, 4), Err(Error::SizeOverflow { .. })));
    /// assert!(matches!(LstmState::zeros(1 << 40, 64), Err(Error::HostMemory { .. })));
    /// ```
    pub fn zeros(batch: usize, units: usize) -> Result<Self> {
        state_bytes(batch, units)?.check()?;
        Ok(LstmState {
            h: host_memory::zeros("state h (B, U)", (batch, units))?,
            c: host_memory::zeros("state c (B, U)", (batch, units))?,
        })
    }

    /// Zero state for `batch` rows of a layer of `cell`: c is (B, U) for an LSTM, (B, 0) for
    /// a GRU or SimpleRNN. Checked against the host-memory budget first, as
    /// [`LstmState::zeros`].
    ///
    /// ```
    /// use wgpu_lstm::{CellKind, LstmState};
    /// let s = LstmState::zeros_for(2, 3, CellKind::SimpleRnn).unwrap();
    /// assert_eq!((s.h.dim(), s.c.dim()), ((2, 3), (2, 0)));
    /// ```
    pub fn zeros_for(batch: usize, units: usize, cell: crate::config::CellKind) -> Result<Self> {
        if cell.has_c() {
            return Self::zeros(batch, units);
        }
        let mut need = HostBytes::new(format!("a state of {batch} rows of {units} units"));
        need.array::<f32>("h (B, U)", &[batch, units])?;
        need.check()?;
        Ok(LstmState {
            h: host_memory::zeros("state h (B, U)", (batch, units))?,
            c: Array2::zeros((batch, 0)),
        })
    }

    /// Batch size B.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::LstmState::zeros(5, 3).unwrap().batch(), 5);
    /// ```
    pub fn batch(&self) -> usize {
        self.h.nrows()
    }
}

/// The host memory of one state, h and c (B, U) each.
pub(crate) fn state_bytes(batch: usize, units: usize) -> Result<HostBytes> {
    let mut need = HostBytes::new(format!("a state of {batch} rows of {units} units"));
    need.array::<f32>("h, c (2, B, U)", &[2, batch, units])?;
    Ok(need)
}
