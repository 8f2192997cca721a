//! [`LstmWeights`]: `kernel`, `recurrent_kernel`, `bias` in Keras layout (of an LSTM, a GRU
//! or a SimpleRNN), and Keras's default initializers for layers built without weights.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::config::{CellKind, LstmConfig};
use crate::error::{Error, Result};
use crate::host_memory;

/// The weights of one LSTM layer, exactly as Keras's `layer.get_weights()` returns them.
///
/// * `kernel` (D, 4U): input weights;
/// * `recurrent_kernel` (U, 4U): hidden-state weights;
/// * `bias` (4U) or `None` when `use_bias=False`.
///
/// The 4U axis is four blocks of U columns in gate order **i, f, c, o**.
///
/// The same struct holds a GRU's and a SimpleRNN's weights ([`LstmWeights::new_for`]): a GRU
/// has three blocks **z, r, h** (kernel (D, 3U), recurrent kernel (U, 3U)) and a bias of 3U,
/// or with `reset_after=True` Keras's (2, 3U) flattened row by row to 6U — the input bias
/// then the recurrent bias; a SimpleRNN has one block (U columns) and a bias of U.
///
/// ```
/// use ndarray::{Array1, Array2};
/// use wgpu_lstm::LstmWeights;
/// let w = LstmWeights::new(Array2::zeros((3, 16)), Array2::zeros((4, 16)), Some(Array1::zeros(16))).unwrap();
/// assert_eq!((w.input_dim(), w.units()), (3, 4));
/// assert!(LstmWeights::new(Array2::zeros((3, 16)), Array2::zeros((4, 12)), None).is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct LstmWeights {
    /// (D, 4U) input weights, gate blocks i, f, c, o.
    pub kernel: Array2<f32>,
    /// (U, 4U) recurrent weights, gate blocks i, f, c, o.
    pub recurrent_kernel: Array2<f32>,
    /// (4U) bias, gate blocks i, f, c, o; `None` for `use_bias=False`.
    pub bias: Option<Array1<f32>>,
    /// The CPU kernels' packed form of these arrays and their work space, made at the first
    /// CPU call and kept (made again if an array is replaced; after changing values in place,
    /// build the weights anew). Not part of equality; a clone starts empty.
    pub(crate) cpu_pack: crate::cpu_kernels::LstmPack,
}

impl LstmWeights {
    /// Takes the three arrays and checks they fit together: `recurrent_kernel` is (U, 4U),
    /// `kernel` is (D, 4U) and `bias` is (4U). A mismatch names the array, the expected and
    /// the given shape.
    ///
    /// ```
    /// use ndarray::Array2;
    /// let err = wgpu_lstm::LstmWeights::new(Array2::zeros((3, 16)), Array2::zeros((4, 20)), None).unwrap_err();
    /// assert!(err.to_string().starts_with("recurrent_kernel: expected shape (U, 4U)"));
    /// ```
    pub fn new(
        kernel: Array2<f32>,
        recurrent_kernel: Array2<f32>,
        bias: Option<Array1<f32>>,
    ) -> Result<Self> {
        let (u, g) = recurrent_kernel.dim();
        if u == 0 || u.checked_mul(4) != Some(g) {
            return Err(Error::shape(
                "recurrent_kernel",
                "(U, 4U) with U >= 1",
                recurrent_kernel.shape(),
            ));
        }
        if kernel.ncols() != g || kernel.nrows() == 0 {
            return Err(Error::shape(
                "kernel",
                format!("(D, {g}) with D >= 1 (4U for U = {u})"),
                kernel.shape(),
            ));
        }
        if let Some(b) = &bias
            && b.len() != g
        {
            return Err(Error::shape("bias", format!("({g})"), b.shape()));
        }
        Ok(LstmWeights {
            kernel,
            recurrent_kernel,
            bias,
            cpu_pack: Default::default(),
        })
    }

    /// The weights of a layer of `cell` ([`CellKind`]): `recurrent_kernel` (U, G·U) with G the
    /// cell's gate blocks, `kernel` (D, G·U), `bias` of [`CellKind::bias_len`] elements (a
    /// GRU with `reset_after=True`: Keras's (2, 3U) flattened, input bias first). A mismatch
    /// names the array, the expected and the given shape.
    ///
    /// ```
    /// use ndarray::{Array1, Array2};
    /// use wgpu_lstm::{CellKind, LstmWeights};
    /// let gru = CellKind::Gru { reset_after: true };
    /// let w = LstmWeights::new_for(gru, Array2::zeros((3, 12)), Array2::zeros((4, 12)), Some(Array1::zeros(24))).unwrap();
    /// assert_eq!(w.units(), 4);
    /// assert!(LstmWeights::new_for(gru, Array2::zeros((3, 12)), Array2::zeros((4, 12)), Some(Array1::zeros(12))).is_err());
    /// ```
    pub fn new_for(
        cell: CellKind,
        kernel: Array2<f32>,
        recurrent_kernel: Array2<f32>,
        bias: Option<Array1<f32>>,
    ) -> Result<Self> {
        let n = cell.gates();
        let (u, g) = recurrent_kernel.dim();
        let blocks = match n {
            4 => "4U",
            3 => "3U",
            _ => "U",
        };
        if u == 0 || u.checked_mul(n) != Some(g) {
            return Err(Error::shape(
                "recurrent_kernel",
                format!("(U, {blocks}) with U >= 1 for a {}", cell.class_name()),
                recurrent_kernel.shape(),
            ));
        }
        if kernel.ncols() != g || kernel.nrows() == 0 {
            return Err(Error::shape(
                "kernel",
                format!("(D, {g}) with D >= 1 ({blocks} for U = {u})"),
                kernel.shape(),
            ));
        }
        if let Some(b) = &bias
            && b.len() != cell.bias_len(u)
        {
            let want = match cell {
                CellKind::Gru { reset_after: true } => format!("(2, {g}) (reset_after=True)"),
                _ => format!("({g})"),
            };
            return Err(Error::shape("bias", want, b.shape()));
        }
        Ok(LstmWeights {
            kernel,
            recurrent_kernel,
            bias,
            cpu_pack: Default::default(),
        })
    }

    /// Builds weights from row-major slices, as read from a file or a GPU buffer.
    ///
    /// ```
    /// let w = wgpu_lstm::LstmWeights::from_slices(2, 1, &[0.0; 8], &[0.0; 4], Some(&[0.0; 4])).unwrap();
    /// assert_eq!(w.kernel.dim(), (2, 4));
    /// ```
    pub fn from_slices(
        input_dim: usize,
        units: usize,
        kernel: &[f32],
        recurrent_kernel: &[f32],
        bias: Option<&[f32]>,
    ) -> Result<Self> {
        let g = units
            .checked_mul(4)
            .ok_or_else(|| Error::config("units", format!("{units} is too large: 4U overflows")))?;
        let k = Array2::from_shape_vec((input_dim, g), kernel.to_vec())
            .map_err(|_| Error::shape("kernel", format!("({input_dim}, {g})"), &[kernel.len()]))?;
        let r = Array2::from_shape_vec((units, g), recurrent_kernel.to_vec()).map_err(|_| {
            Error::shape(
                "recurrent_kernel",
                format!("({units}, {g})"),
                &[recurrent_kernel.len()],
            )
        })?;
        let b = bias.map(|b| Array1::from(b.to_vec()));
        Self::new(k, r, b)
    }

    /// Checks these weights against a configuration: units and `use_bias` must agree.
    ///
    /// ```
    /// use wgpu_lstm::{LstmConfig, LstmWeights};
    /// let w = LstmWeights::keras_default(3, &LstmConfig::new(4), 0).unwrap();
    /// assert!(w.check(&LstmConfig::new(4)).is_ok());
    /// assert!(w.check(&LstmConfig::new(5)).is_err());
    /// ```
    pub fn check(&self, config: &LstmConfig) -> Result<()> {
        let u = config.units;
        let cell = config.cell;
        let g = cell.gates().saturating_mul(u);
        if self.units() != u || self.recurrent_kernel.ncols() != g || self.kernel.ncols() != g {
            return Err(Error::shape(
                "recurrent_kernel",
                format!("({u}, {g}) for {}(units = {u})", cell.class_name()),
                self.recurrent_kernel.shape(),
            ));
        }
        if let Some(b) = &self.bias
            && b.len() != cell.bias_len(u)
        {
            return Err(Error::shape(
                "bias",
                format!(
                    "({}) for {}(units = {u})",
                    cell.bias_len(u),
                    cell.class_name()
                ),
                b.shape(),
            ));
        }
        match (&self.bias, config.use_bias) {
            (None, true) => Err(Error::config(
                "use_bias",
                "is true but the weights have no bias",
            )),
            (Some(_), false) => Err(Error::config(
                "use_bias",
                "is false but the weights have a bias",
            )),
            _ => Ok(()),
        }
    }

    /// Input feature size D.
    ///
    /// ```
    /// let w = wgpu_lstm::LstmWeights::keras_default(7, &wgpu_lstm::LstmConfig::new(2), 1).unwrap();
    /// assert_eq!(w.input_dim(), 7);
    /// ```
    pub fn input_dim(&self) -> usize {
        self.kernel.nrows()
    }

    /// Hidden size U.
    ///
    /// ```
    /// let w = wgpu_lstm::LstmWeights::keras_default(7, &wgpu_lstm::LstmConfig::new(2), 1).unwrap();
    /// assert_eq!(w.units(), 2);
    /// ```
    pub fn units(&self) -> usize {
        self.recurrent_kernel.nrows()
    }

    /// Bytes of the packed form the CPU kernels keep with these weights: 0 until their first
    /// CPU call, then the kernel and recurrent kernel re-arranged in panels of the ISA's
    /// vector width (made once, reused by every later call and step).
    ///
    /// ```
    /// use wgpu_lstm::{cpu, LstmConfig, LstmWeights};
    /// let cfg = LstmConfig::new(4);
    /// let w = LstmWeights::keras_default(3, &cfg, 0).unwrap();
    /// assert_eq!(w.cpu_packed_bytes(), 0);
    /// let mut st = cpu::StepState::zeros(1, 4).unwrap();
    /// cpu::run_sequence(&cfg, &w, ndarray::Array3::zeros((1, 2, 3)).view(), None, &mut st).unwrap();
    /// assert!(w.cpu_packed_bytes() >= 4 * (3 + 4) * 16);
    /// ```
    pub fn cpu_packed_bytes(&self) -> usize {
        self.cpu_pack.packed_bytes(self)
    }

    /// The bias, or zeros when the layer has none (what the kernels add).
    ///
    /// ```
    /// let cfg = wgpu_lstm::LstmConfig { use_bias: false, ..wgpu_lstm::LstmConfig::new(2) };
    /// let w = wgpu_lstm::LstmWeights::keras_default(1, &cfg, 0).unwrap();
    /// assert_eq!(w.bias_or_zeros().sum(), 0.0);
    /// ```
    pub fn bias_or_zeros(&self) -> Array1<f32> {
        self.bias
            .clone()
            .unwrap_or_else(|| Array1::zeros(self.recurrent_kernel.ncols()))
    }

    /// Views of the three arrays (bias as zeros when absent is not implied: `None` stays).
    ///
    /// ```
    /// let w = wgpu_lstm::LstmWeights::keras_default(3, &wgpu_lstm::LstmConfig::new(4), 0).unwrap();
    /// let (k, r, b) = w.views();
    /// assert_eq!((k.dim(), r.dim(), b.map(|b| b.len())), ((3, 16), (4, 16), Some(16)));
    /// ```
    pub fn views(
        &self,
    ) -> (
        ArrayView2<'_, f32>,
        ArrayView2<'_, f32>,
        Option<ArrayView1<'_, f32>>,
    ) {
        (
            self.kernel.view(),
            self.recurrent_kernel.view(),
            self.bias.as_ref().map(|b| b.view()),
        )
    }

    /// The same weights with the recurrent kernel rounded to f16 and back: the CPU twin of
    /// [`crate::Precision::F16Weights`] on the GPU.
    ///
    /// ```
    /// let w = wgpu_lstm::LstmWeights::keras_default(3, &wgpu_lstm::LstmConfig::new(4), 0).unwrap();
    /// let h = w.with_f16_recurrent_kernel();
    /// let d = (&w.recurrent_kernel - &h.recurrent_kernel).mapv(f32::abs);
    /// assert!(d.iter().all(|&e| e <= 1e-3));
    /// ```
    pub fn with_f16_recurrent_kernel(&self) -> Self {
        LstmWeights {
            recurrent_kernel: self
                .recurrent_kernel
                .mapv(|v| half::f16::from_f32(v).to_f32()),
            ..self.clone()
        }
    }

    /// Keras's default initialisation, seeded: `kernel` glorot_uniform, `recurrent_kernel`
    /// orthogonal, `bias` zeros with the forget block set to 1 when `unit_forget_bias` (LSTM;
    /// a GRU's or SimpleRNN's bias is all zeros, of the cell's [`CellKind::bias_len`]).
    ///
    /// The distributions are Keras's; the random numbers are this crate's own (a Keras seed
    /// does not reproduce Keras's draws). The orthogonal matrix is Haar-distributed, as
    /// Keras's (Gram–Schmidt of a normal matrix, `O(U³)` work), while that work is at most
    /// 2³² (`units ≤ 1024`); above, where Gram–Schmidt would take minutes to hours, it is a
    /// random orthogonal matrix of `O(U·4U·log U)` work: rows exactly orthonormal and dense,
    /// though not Haar-distributed (see `orthogonal` in the source).
    ///
    /// The configuration is validated, `input_dim` must be at least 1, and the host memory
    /// the weights and the initializer's work space need is checked against the budget
    /// ([`crate::host_memory`]) before anything is drawn: a size too large for the machine is
    /// an error, not an abort.
    ///
    /// ```
    /// use wgpu_lstm::{Error, LstmConfig, LstmWeights};
    /// let w = LstmWeights::keras_default(3, &LstmConfig::new(4), 42).unwrap();
    /// let b = w.bias.unwrap();
    /// assert_eq!(b[4], 1.0); // forget gate block [U, 2U)
    /// assert_eq!(b[0], 0.0);
    /// // orthogonal: rows of the recurrent kernel are orthonormal
    /// let r = &w.recurrent_kernel;
    /// let gram = r.dot(&r.t());
    /// assert!((gram[[0, 0]] - 1.0).abs() < 1e-5 && gram[[0, 1]].abs() < 1e-5);
    /// // LSTM(2^20) needs 16 TiB of recurrent kernel: refused before any work
    /// let e = LstmWeights::keras_default(3, &LstmConfig::new(1 << 20), 0).unwrap_err();
    /// assert!(matches!(e, Error::HostMemory { .. }));
    /// ```
    pub fn keras_default(input_dim: usize, config: &LstmConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        if input_dim == 0 {
            return Err(Error::config("input_dim", "must be at least 1, got 0"));
        }
        default_init_bytes(input_dim, config)?.check()?;
        let u = config.units;
        let g = config.cell.gates() * u;
        let what = format!(
            "default weights of {}(units={u}) on input_dim={input_dim} features",
            config.class_name()
        );
        let mut rng = StdRng::seed_from_u64(seed);
        // as f64, an exact count for any size that passed the checks above
        let limit = (6.0 / (input_dim as f64 + g as f64)).sqrt();
        let mut kernel = host_memory::zeros::<f32, _>(&format!("{what}: kernel"), (input_dim, g))?;
        kernel
            .iter_mut()
            .for_each(|v| *v = rng.random_range(-limit..limit) as f32);
        let recurrent_kernel = orthogonal(u, g, &mut rng, &what)?;
        let bias = if config.use_bias {
            let mut b =
                host_memory::zeros::<f32, _>(&format!("{what}: bias"), config.cell.bias_len(u))?;
            if config.unit_forget_bias && config.cell == CellKind::Lstm {
                b.slice_mut(ndarray::s![u..2 * u]).fill(1.0);
            }
            Some(b)
        } else {
            None
        };
        Ok(LstmWeights {
            kernel,
            recurrent_kernel,
            bias,
            cpu_pack: Default::default(),
        })
    }
}

/// Layers of Givens rotations of the large-size orthogonal initializer beyond `log2(n)`.
const EXTRA_GIVENS_LAYERS: usize = 4;

/// The largest Gram–Schmidt work (`min² · max` of the matrix) done for a Haar-distributed
/// orthogonal matrix: 2³², LSTM(1024)'s recurrent kernel (1024, 4096).
const MAX_GRAM_SCHMIDT_WORK: u128 = 1 << 32;

/// Layers of rotations the large-size initializer uses for vectors of length `n`.
fn givens_layers(n: usize) -> usize {
    (usize::BITS - n.max(2).leading_zeros()) as usize + EXTRA_GIVENS_LAYERS
}

/// The host memory [`LstmWeights::keras_default`] needs: the three f32 arrays and the
/// orthogonal initializer's f64 work space (and its rotation tables for large sizes).
pub(crate) fn default_init_bytes(
    input_dim: usize,
    config: &LstmConfig,
) -> Result<host_memory::HostBytes> {
    config.validate()?;
    let u = config.units;
    let g = config.cell.gates() * u;
    let mut need = host_memory::HostBytes::new(format!(
        "default weights of {}(units={u}) on input_dim={input_dim} features",
        config.class_name()
    ));
    need.array::<f32>("kernel (D, G·U)", &[input_dim, g])?
        .array::<f32>("recurrent_kernel (U, G·U)", &[u, g])?
        .array::<f32>("bias", &[config.cell.bias_len(u)])?
        .array::<f64>("recurrent_kernel work space in f64 (U, G·U)", &[u, g])?;
    if (u as u128) * (u as u128) * (g as u128) > MAX_GRAM_SCHMIDT_WORK {
        need.array::<(usize, usize, f64, f64)>(
            "orthogonal initializer rotations",
            &[givens_layers(g), g / 2],
        )?
        .array::<usize>("orthogonal initializer permutation", &[g])?;
    }
    Ok(need)
}

/// Keras's `Orthogonal` initializer for a (rows, cols) matrix. `what` names the weights in
/// errors; the caller has checked the memory ([`default_init_bytes`]).
///
/// Small sizes (Gram–Schmidt work `m²·n ≤ 2³²`, m ≤ n the shorter and longer side): a
/// normal matrix made orthonormal by Gram–Schmidt on the longer side, which is what QR with
/// sign correction gives — Haar-distributed, as in Keras.
///
/// Larger sizes: `m` signed unit vectors `±e_j` (distinct random `j`) of length `n`, each
/// sent through the same random orthogonal map `G = G_1 ⋯ G_L`, where every layer `G_k`
/// rotates the coordinates in pairs (a random perfect matching, a uniform random angle per
/// pair) and `L = log2(n) + 4`. The images of orthonormal vectors under an orthogonal map
/// are orthonormal, so the rows are exactly orthonormal (in f64, then rounded to f32); the
/// support of each row doubles per layer, so they are dense. The work is `3·L·m·n` — a few
/// seconds where Gram–Schmidt would need hours.
fn orthogonal(rows: usize, cols: usize, rng: &mut StdRng, what: &str) -> Result<Array2<f32>> {
    // Work on vectors of the longer length n; there are m <= n of them.
    let (m, n) = (rows.min(cols), rows.max(cols));
    let work_what = format!("{what}: orthogonal initializer work space");
    let mut vecs = if (m as u128) * (m as u128) * (n as u128) <= MAX_GRAM_SCHMIDT_WORK {
        gram_schmidt(m, n, rng, &work_what)?
    } else {
        givens_network(m, n, rng, &work_what)?
    };
    let mut out = host_memory::zeros::<f32, _>(&format!("{what}: recurrent_kernel"), (rows, cols))?;
    for (i, v) in vecs.drain(..).enumerate() {
        for (j, x) in v.into_iter().enumerate() {
            if rows <= cols {
                out[[i, j]] = x as f32;
            } else {
                out[[j, i]] = x as f32;
            }
        }
    }
    Ok(out)
}

/// `m` orthonormal vectors of length `n`, Haar-distributed: Gram–Schmidt on normal draws.
fn gram_schmidt(m: usize, n: usize, rng: &mut StdRng, what: &str) -> Result<Vec<Vec<f64>>> {
    let mut vecs: Vec<Vec<f64>> = host_memory::vec_with_capacity(what, m)?;
    while vecs.len() < m {
        let mut v: Vec<f64> = host_memory::vec_with_capacity(what, n)?;
        v.extend((0..n).map(|_| standard_normal(rng)));
        for q in &vecs {
            let d: f64 = v.iter().zip(q).map(|(a, b)| a * b).sum();
            v.iter_mut().zip(q).for_each(|(a, b)| *a -= d * b);
        }
        let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
        if norm > 1e-8 {
            v.iter_mut().for_each(|a| *a /= norm);
            vecs.push(v);
        }
    }
    Ok(vecs)
}

/// `m` orthonormal, dense vectors of length `n` in `O(m·n·log n)`: see [`orthogonal`].
fn givens_network(m: usize, n: usize, rng: &mut StdRng, what: &str) -> Result<Vec<Vec<f64>>> {
    use rayon::prelude::*;
    let mut perm: Vec<usize> = host_memory::vec_with_capacity(what, n)?;
    perm.extend(0..n);
    let shuffle = |perm: &mut [usize], rng: &mut StdRng| {
        for i in (1..perm.len()).rev() {
            perm.swap(i, rng.random_range(0..=i));
        }
    };
    // the starting vectors: ±e_j for the first m entries of a random permutation
    shuffle(&mut perm, rng);
    let starts: Vec<(usize, f64)> = perm[..m]
        .iter()
        .map(|&j| (j, if rng.random::<bool>() { 1.0 } else { -1.0 }))
        .collect();
    let layers = givens_layers(n);
    let mut rotations: Vec<(usize, usize, f64, f64)> =
        host_memory::vec_with_capacity(what, layers * (n / 2))?;
    for _ in 0..layers {
        shuffle(&mut perm, rng);
        for pair in perm.chunks_exact(2) {
            let angle = rng.random_range(0.0..std::f64::consts::TAU);
            rotations.push((pair[0], pair[1], angle.cos(), angle.sin()));
        }
    }
    let mut vecs: Vec<Vec<f64>> = host_memory::vec_with_capacity(what, m)?;
    for _ in 0..m {
        vecs.push(host_memory::filled_vec(what, n, 0.0)?);
    }
    vecs.par_iter_mut()
        .zip(starts.par_iter())
        .for_each(|(v, &(j, sign))| {
            v[j] = sign;
            for &(p, q, c, s) in &rotations {
                let (a, b) = (v[p], v[q]);
                v[p] = c * a - s * b;
                v[q] = s * a + c * b;
            }
        });
    Ok(vecs)
}

/// One draw of N(0, 1) (Box–Muller).
fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Max |R·Rᵀ − I| of the rows of a (rows ≤ cols) matrix, or of the columns otherwise.
    fn orthonormality_error(r: &Array2<f32>) -> f64 {
        let r = r.mapv(f64::from);
        let gram = if r.nrows() <= r.ncols() {
            r.dot(&r.t())
        } else {
            r.t().dot(&r)
        };
        gram.indexed_iter()
            .map(|((i, j), &v)| (v - if i == j { 1.0 } else { 0.0 }).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn the_large_size_initializer_is_orthonormal_dense_and_seeded() {
        for (rows, cols) in [(40, 160), (160, 40), (7, 7), (33, 132)] {
            let (m, n) = (rows.min(cols), rows.max(cols));
            let mut rng = StdRng::seed_from_u64(5);
            let vecs = givens_network(m, n, &mut rng, "t").unwrap();
            let r = Array2::from_shape_fn((m, n), |(i, j)| vecs[i][j] as f32);
            assert!(orthonormality_error(&r) < 1e-5, "({rows}, {cols})");
            let zeros = r.iter().filter(|&&v| v == 0.0).count();
            assert!(zeros * 50 < r.len(), "({rows}, {cols}): {zeros} zeros");
            let again = givens_network(m, n, &mut StdRng::seed_from_u64(5), "t").unwrap();
            assert_eq!(vecs, again);
        }
    }

    #[test]
    fn both_initializers_through_orthogonal() {
        // (40, 160) takes Gram–Schmidt, (1100, 4400) the rotations (its GS work passes 2^32)
        for (rows, cols) in [(40, 160), (1100, 4400)] {
            let r = orthogonal(rows, cols, &mut StdRng::seed_from_u64(1), "t").unwrap();
            assert_eq!(r.dim(), (rows, cols));
            if rows < 100 {
                assert!(orthonormality_error(&r) < 1e-5);
            } else {
                // a sample of row pairs (the full Gram matrix is slow unoptimised)
                for (a, b) in [(0, 0), (0, 1), (17, 1099), (550, 550), (3, 900)] {
                    let d: f64 = r
                        .row(a)
                        .iter()
                        .zip(r.row(b))
                        .map(|(x, y)| f64::from(*x) * f64::from(*y))
                        .sum();
                    let want = if a == b { 1.0 } else { 0.0 };
                    assert!((d - want).abs() < 1e-5, "rows {a}, {b}: {d}");
                }
            }
        }
    }

    #[test]
    fn sizes_are_checked_before_any_work() {
        use crate::error::Error;
        let e = LstmWeights::keras_default(1, &LstmConfig::new(100_000), 0).unwrap_err();
        assert!(matches!(e, Error::HostMemory { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("units=100000") && msg.contains("recurrent_kernel"),
            "{msg}"
        );
        let e = LstmWeights::keras_default(usize::MAX / 8, &LstmConfig::new(4), 0).unwrap_err();
        assert!(matches!(e, Error::SizeOverflow { .. }), "{e:?}");
        let e = LstmWeights::keras_default(1, &LstmConfig::new(1 << 62), 0).unwrap_err();
        assert!(
            matches!(&e, Error::Config { field, .. } if field == "units"),
            "{e:?}"
        );
        let e = LstmWeights::keras_default(0, &LstmConfig::new(4), 0).unwrap_err();
        assert!(
            matches!(&e, Error::Config { field, .. } if field == "input_dim"),
            "{e:?}"
        );
        // a (U, 4U) recurrent kernel with 4U past usize::MAX is refused by shape
        let r = Array2::<f32>::zeros((usize::MAX / 2, 0));
        assert!(LstmWeights::new(Array2::zeros((1, 4)), r, None).is_err());
        assert!(LstmWeights::from_slices(1, usize::MAX / 2, &[], &[], None).is_err());
    }
}
