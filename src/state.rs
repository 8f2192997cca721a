//! [`LstmState`]: the recurrent state (h, c) of an LSTM for a batch of rows — what a stateful
//! layer carries between calls, what `initial_state` sets, what `return_state` returns.

use ndarray::Array2;

/// The recurrent state of a layer: h and c, each (B, U).
///
/// ```
/// let s = wgpu_lstm::LstmState::zeros(2, 8);
/// assert_eq!(s.h.dim(), (2, 8));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LstmState {
    /// Hidden state h (B, U) — also the last valid output.
    pub h: Array2<f32>,
    /// Cell state c (B, U).
    pub c: Array2<f32>,
}

impl LstmState {
    /// Zero state for `batch` rows of `units`.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::LstmState::zeros(1, 3).c.sum(), 0.0);
    /// ```
    pub fn zeros(batch: usize, units: usize) -> Self {
        LstmState {
            h: Array2::zeros((batch, units)),
            c: Array2::zeros((batch, units)),
        }
    }

    /// Batch size B.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::LstmState::zeros(5, 3).batch(), 5);
    /// ```
    pub fn batch(&self) -> usize {
        self.h.nrows()
    }
}
