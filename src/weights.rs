//! [`LstmWeights`]: `kernel`, `recurrent_kernel`, `bias` in Keras layout, and Keras's default
//! initializers for layers built without weights.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::config::LstmConfig;
use crate::error::{Error, Result};

/// The weights of one LSTM layer, exactly as Keras's `layer.get_weights()` returns them.
///
/// * `kernel` (D, 4U): input weights;
/// * `recurrent_kernel` (U, 4U): hidden-state weights;
/// * `bias` (4U) or `None` when `use_bias=False`.
///
/// The 4U axis is four blocks of U columns in gate order **i, f, c, o**.
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
        if u == 0 || g != 4 * u {
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
        let g = 4 * units;
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
    /// let w = LstmWeights::keras_default(3, &LstmConfig::new(4), 0);
    /// assert!(w.check(&LstmConfig::new(4)).is_ok());
    /// assert!(w.check(&LstmConfig::new(5)).is_err());
    /// ```
    pub fn check(&self, config: &LstmConfig) -> Result<()> {
        let u = config.units;
        if self.units() != u {
            return Err(Error::shape(
                "recurrent_kernel",
                format!("({u}, {}) for units = {u}", 4 * u),
                self.recurrent_kernel.shape(),
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
    /// let w = wgpu_lstm::LstmWeights::keras_default(7, &wgpu_lstm::LstmConfig::new(2), 1);
    /// assert_eq!(w.input_dim(), 7);
    /// ```
    pub fn input_dim(&self) -> usize {
        self.kernel.nrows()
    }

    /// Hidden size U.
    ///
    /// ```
    /// let w = wgpu_lstm::LstmWeights::keras_default(7, &wgpu_lstm::LstmConfig::new(2), 1);
    /// assert_eq!(w.units(), 2);
    /// ```
    pub fn units(&self) -> usize {
        self.recurrent_kernel.nrows()
    }

    /// The bias, or zeros when the layer has none (what the kernels add).
    ///
    /// ```
    /// let cfg = wgpu_lstm::LstmConfig { use_bias: false, ..wgpu_lstm::LstmConfig::new(2) };
    /// let w = wgpu_lstm::LstmWeights::keras_default(1, &cfg, 0);
    /// assert_eq!(w.bias_or_zeros().sum(), 0.0);
    /// ```
    pub fn bias_or_zeros(&self) -> Array1<f32> {
        self.bias
            .clone()
            .unwrap_or_else(|| Array1::zeros(4 * self.units()))
    }

    /// Views of the three arrays (bias as zeros when absent is not implied: `None` stays).
    ///
    /// ```
    /// let w = wgpu_lstm::LstmWeights::keras_default(3, &wgpu_lstm::LstmConfig::new(4), 0);
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
    /// let w = wgpu_lstm::LstmWeights::keras_default(3, &wgpu_lstm::LstmConfig::new(4), 0);
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
    /// orthogonal, `bias` zeros with the forget block set to 1 when `unit_forget_bias`.
    ///
    /// The distributions are Keras's; the random numbers are this crate's own (a Keras seed
    /// does not reproduce Keras's draws).
    ///
    /// ```
    /// use wgpu_lstm::{LstmConfig, LstmWeights};
    /// let w = LstmWeights::keras_default(3, &LstmConfig::new(4), 42);
    /// let b = w.bias.unwrap();
    /// assert_eq!(b[4], 1.0); // forget gate block [U, 2U)
    /// assert_eq!(b[0], 0.0);
    /// // orthogonal: rows of the recurrent kernel are orthonormal
    /// let r = &w.recurrent_kernel;
    /// let gram = r.dot(&r.t());
    /// assert!((gram[[0, 0]] - 1.0).abs() < 1e-5 && gram[[0, 1]].abs() < 1e-5);
    /// ```
    pub fn keras_default(input_dim: usize, config: &LstmConfig, seed: u64) -> Self {
        let u = config.units;
        let g = 4 * u;
        let mut rng = StdRng::seed_from_u64(seed);
        let limit = (6.0 / (input_dim + g) as f64).sqrt();
        let kernel =
            Array2::from_shape_fn((input_dim, g), |_| rng.random_range(-limit..limit) as f32);
        let recurrent_kernel = orthogonal(u, g, &mut rng);
        let bias = config.use_bias.then(|| {
            Array1::from_shape_fn(g, |j| {
                if config.unit_forget_bias && (u..2 * u).contains(&j) {
                    1.0
                } else {
                    0.0
                }
            })
        });
        LstmWeights {
            kernel,
            recurrent_kernel,
            bias,
        }
    }
}

/// Keras's `Orthogonal` initializer for a (rows, cols) matrix: a normal matrix made
/// orthonormal (Gram–Schmidt on the longer side, which is what QR with sign correction gives).
fn orthogonal(rows: usize, cols: usize, rng: &mut StdRng) -> Array2<f32> {
    // Work on vectors of the longer length n; there are m <= n of them.
    let (m, n) = (rows.min(cols), rows.max(cols));
    let mut vecs: Vec<Vec<f64>> = Vec::with_capacity(m);
    while vecs.len() < m {
        let mut v: Vec<f64> = (0..n).map(|_| standard_normal(rng)).collect();
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
    Array2::from_shape_fn((rows, cols), |(r, c)| {
        if rows <= cols {
            vecs[r][c] as f32
        } else {
            vecs[c][r] as f32
        }
    })
}

/// One draw of N(0, 1) (Box–Muller).
fn standard_normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}
