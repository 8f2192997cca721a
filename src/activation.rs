//! Keras's element-wise activations, looked up by Keras name, and the Keras flavour that
//! decides which `hard_sigmoid` a name means.
//!
//! The formulas follow `SCHEMA.md` §4.1 (read from the Keras 3.15.1 and tf-keras 2.21
//! sources). [`Activation::apply`] is the CPU definition; `shaders/activation.wgsl` has the
//! GPU twin, switch arm for switch arm, selected by [`Activation::code`].

use crate::error::{Error, Result};

/// Which Keras wrote the model: it decides what `hard_sigmoid` means and which names exist.
///
/// ```
/// use wgpu_lstm::KerasFlavour;
/// assert_eq!(KerasFlavour::from_keras_version("2.21.0").unwrap(), KerasFlavour::Keras2);
/// assert_eq!(KerasFlavour::from_keras_version("3.15.1").unwrap(), KerasFlavour::Keras3);
/// assert_eq!(KerasFlavour::from_keras_api("tf_keras2").unwrap(), KerasFlavour::Keras2);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KerasFlavour {
    /// Keras 3 (`keras` ≥ 3): `hard_sigmoid(x) = clip(x/6 + 0.5, 0, 1)`.
    #[default]
    Keras3,
    /// Keras 2 (`tf.keras` / `tf_keras` 2.x): `hard_sigmoid(x) = clip(0.2x + 0.5, 0, 1)`.
    Keras2,
}

impl KerasFlavour {
    /// The flavour of a `keras_version` string as saved in model files (`"3.15.1"`, `"2.21.0"`).
    ///
    /// ```
    /// use wgpu_lstm::KerasFlavour;
    /// assert!(KerasFlavour::from_keras_version("banana").is_err());
    /// ```
    pub fn from_keras_version(version: &str) -> Result<Self> {
        let major = version.trim().split('.').next().unwrap_or("");
        match major {
            "3" => Ok(KerasFlavour::Keras3),
            "2" => Ok(KerasFlavour::Keras2),
            _ => Err(Error::config(
                "keras_version",
                format!("`{version}` is neither a Keras 2.x nor a Keras 3.x version"),
            )),
        }
    }

    /// The flavour of a fixture's `keras_api` field (`"keras3"` or `"tf_keras2"`).
    ///
    /// ```
    /// use wgpu_lstm::KerasFlavour;
    /// assert_eq!(KerasFlavour::from_keras_api("keras3").unwrap(), KerasFlavour::Keras3);
    /// ```
    pub fn from_keras_api(api: &str) -> Result<Self> {
        match api {
            "keras3" => Ok(KerasFlavour::Keras3),
            "tf_keras2" | "keras2" => Ok(KerasFlavour::Keras2),
            _ => Err(Error::config(
                "keras_api",
                format!("`{api}` is not one of keras3, tf_keras2"),
            )),
        }
    }

    /// A short human name (`"Keras 3"`, `"Keras 2 (tf_keras)"`).
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::KerasFlavour::Keras3.name(), "Keras 3");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            KerasFlavour::Keras3 => "Keras 3",
            KerasFlavour::Keras2 => "Keras 2 (tf_keras)",
        }
    }
}

/// An element-wise Keras activation.
///
/// The discriminant is the code the WGSL kernels switch on (see [`Activation::code`]).
///
/// ```
/// use wgpu_lstm::{Activation, KerasFlavour};
/// let hs3 = Activation::from_keras_name("hard_sigmoid", KerasFlavour::Keras3).unwrap();
/// let hs2 = Activation::from_keras_name("hard_sigmoid", KerasFlavour::Keras2).unwrap();
/// assert_eq!(hs3.apply(1.0), 1.0 / 6.0 + 0.5);
/// assert_eq!(hs2.apply(1.0), 0.7);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Activation {
    /// `tanh(x)`
    Tanh = 0,
    /// `1 / (1 + e^-x)`
    Sigmoid = 1,
    /// Keras 3 `hard_sigmoid`: `clip(x/6 + 0.5, 0, 1)`
    HardSigmoid = 2,
    /// Keras 2 `hard_sigmoid`: `clip(0.2x + 0.5, 0, 1)`
    HardSigmoidKeras2 = 3,
    /// `max(x, 0)`
    Relu = 4,
    /// `min(max(x, 0), 6)`
    Relu6 = 5,
    /// `x` if `x > 0` else `0.2x`
    LeakyRelu = 6,
    /// `x`
    Linear = 7,
    /// `x / (1 + |x|)`
    Softsign = 8,
    /// `ln(1 + e^x)`
    Softplus = 9,
    /// `e^x`
    Exponential = 10,
    /// `x` if `x > 0` else `e^x - 1`
    Elu = 11,
    /// `λx` if `x > 0` else `λα(e^x - 1)`
    Selu = 12,
    /// exact `0.5x(1 + erf(x/√2))`
    Gelu = 13,
    /// `x·sigmoid(x)` (Keras 3 `silu`, Keras 2 `swish`)
    Silu = 14,
    /// `x·tanh(softplus(x))`
    Mish = 15,
    /// `max(x,0) + (e^min(x,0) - 1)` (α = 1)
    Celu = 16,
    /// `x · relu6(x + 3) / 6`
    HardSilu = 17,
    /// `clip(x, -1, 1)`
    HardTanh = 18,
    /// `x` if `|x| > 0.5` else 0
    HardShrink = 19,
    /// `x ∓ 0.5` outside ±0.5, else 0
    SoftShrink = 20,
    /// `x - tanh(x)`
    TanhShrink = 21,
    /// `(x + √(x² + 4)) / 2`
    Squareplus = 22,
    /// 0, `(x+1)²/4`, `x` on `(-∞,-1]`, `(-1,1)`, `[1,∞)`
    SparsePlus = 23,
    /// 0, `(x+1)/2`, 1 on `(-∞,-1]`, `(-1,1)`, `[1,∞)`
    SparseSigmoid = 24,
    /// `ln(sigmoid(x)) = -softplus(-x)`
    LogSigmoid = 25,
}

/// SELU's λ = 1.0507009873554805 (as f32).
const SELU_LAMBDA: f32 = 1.050_701;
/// SELU's λ·α = 1.7580993408473769 (as f32, TF's constant).
const SELU_LAMBDA_ALPHA: f32 = 1.758_099_3;

/// Names both flavours accept, with the activation they mean (hard_sigmoid resolved apart).
const SHARED: &[(&str, Activation)] = &[
    ("tanh", Activation::Tanh),
    ("sigmoid", Activation::Sigmoid),
    ("relu", Activation::Relu),
    ("relu6", Activation::Relu6),
    ("leaky_relu", Activation::LeakyRelu),
    ("linear", Activation::Linear),
    ("softsign", Activation::Softsign),
    ("softplus", Activation::Softplus),
    ("exponential", Activation::Exponential),
    ("elu", Activation::Elu),
    ("selu", Activation::Selu),
    ("gelu", Activation::Gelu),
    ("silu", Activation::Silu),
    ("swish", Activation::Silu),
    ("mish", Activation::Mish),
];

/// Names only Keras 3 accepts.
const KERAS3_ONLY: &[(&str, Activation)] = &[
    ("celu", Activation::Celu),
    ("hard_silu", Activation::HardSilu),
    ("hard_swish", Activation::HardSilu),
    ("hard_tanh", Activation::HardTanh),
    ("hard_shrink", Activation::HardShrink),
    ("soft_shrink", Activation::SoftShrink),
    ("tanh_shrink", Activation::TanhShrink),
    ("squareplus", Activation::Squareplus),
    ("sparse_plus", Activation::SparsePlus),
    ("sparse_sigmoid", Activation::SparseSigmoid),
    ("log_sigmoid", Activation::LogSigmoid),
];

impl Activation {
    /// Every activation, in code order.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::Activation::ALL.len(), 26);
    /// ```
    pub const ALL: [Activation; 26] = [
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::HardSigmoid,
        Activation::HardSigmoidKeras2,
        Activation::Relu,
        Activation::Relu6,
        Activation::LeakyRelu,
        Activation::Linear,
        Activation::Softsign,
        Activation::Softplus,
        Activation::Exponential,
        Activation::Elu,
        Activation::Selu,
        Activation::Gelu,
        Activation::Silu,
        Activation::Mish,
        Activation::Celu,
        Activation::HardSilu,
        Activation::HardTanh,
        Activation::HardShrink,
        Activation::SoftShrink,
        Activation::TanhShrink,
        Activation::Squareplus,
        Activation::SparsePlus,
        Activation::SparseSigmoid,
        Activation::LogSigmoid,
    ];

    /// Looks an activation up by its Keras name, as `keras.activations.get(name)` would for
    /// the given flavour. Aliases are accepted (`swish`/`silu`, `hard_swish`/`hard_silu`).
    ///
    /// An unknown name (or a Keras-3-only name under Keras 2) is an
    /// [`Error::UnknownActivation`] that lists the names that flavour knows.
    ///
    /// ```
    /// use wgpu_lstm::{Activation, KerasFlavour};
    /// assert_eq!(Activation::from_keras_name("swish", KerasFlavour::Keras3).unwrap(), Activation::Silu);
    /// assert!(Activation::from_keras_name("celu", KerasFlavour::Keras2).is_err());
    /// assert!(Activation::from_keras_name("softmax", KerasFlavour::Keras3).is_err());
    /// ```
    pub fn from_keras_name(name: &str, flavour: KerasFlavour) -> Result<Self> {
        if name == "hard_sigmoid" {
            return Ok(match flavour {
                KerasFlavour::Keras3 => Activation::HardSigmoid,
                KerasFlavour::Keras2 => Activation::HardSigmoidKeras2,
            });
        }
        let keras3 = flavour == KerasFlavour::Keras3;
        SHARED
            .iter()
            .chain(KERAS3_ONLY.iter().filter(|_| keras3))
            .find(|(n, _)| *n == name)
            .map(|(_, a)| *a)
            .ok_or_else(|| Error::UnknownActivation {
                name: name.to_string(),
                flavour: flavour.name().to_string(),
                known: Self::known_names(flavour).join(", "),
            })
    }

    /// Every name [`Activation::from_keras_name`] accepts for a flavour, aliases included.
    ///
    /// ```
    /// use wgpu_lstm::{Activation, KerasFlavour};
    /// assert!(Activation::known_names(KerasFlavour::Keras2).contains(&"hard_sigmoid"));
    /// ```
    pub fn known_names(flavour: KerasFlavour) -> Vec<&'static str> {
        let mut names: Vec<&str> = vec!["hard_sigmoid"];
        names.extend(SHARED.iter().map(|(n, _)| *n));
        if flavour == KerasFlavour::Keras3 {
            names.extend(KERAS3_ONLY.iter().map(|(n, _)| *n));
        }
        names
    }

    /// The name Keras stores for this activation (Keras 3 spelling; `hard_sigmoid` for both
    /// hard sigmoids).
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::Activation::Silu.keras_name(), "silu");
    /// ```
    pub fn keras_name(self) -> &'static str {
        match self {
            Activation::HardSigmoid | Activation::HardSigmoidKeras2 => "hard_sigmoid",
            other => SHARED
                .iter()
                .chain(KERAS3_ONLY.iter())
                .find(|(_, a)| *a == other)
                .map(|(n, _)| *n)
                .unwrap_or("?"),
        }
    }

    /// The formula, for `describe`.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::Activation::Linear.formula(), "x");
    /// ```
    pub fn formula(self) -> &'static str {
        match self {
            Activation::Tanh => "tanh(x)",
            Activation::Sigmoid => "1 / (1 + exp(-x))",
            Activation::HardSigmoid => "clip(x/6 + 0.5, 0, 1)",
            Activation::HardSigmoidKeras2 => "clip(0.2x + 0.5, 0, 1)",
            Activation::Relu => "max(x, 0)",
            Activation::Relu6 => "min(max(x, 0), 6)",
            Activation::LeakyRelu => "x if x > 0 else 0.2x",
            Activation::Linear => "x",
            Activation::Softsign => "x / (1 + |x|)",
            Activation::Softplus => "ln(1 + exp(x))",
            Activation::Exponential => "exp(x)",
            Activation::Elu => "x if x > 0 else exp(x) - 1",
            Activation::Selu => "1.0507x if x > 0 else 1.7581(exp(x) - 1)",
            Activation::Gelu => "0.5x(1 + erf(x/sqrt(2)))",
            Activation::Silu => "x * sigmoid(x)",
            Activation::Mish => "x * tanh(softplus(x))",
            Activation::Celu => "max(x, 0) + exp(min(x, 0)) - 1",
            Activation::HardSilu => "x * relu6(x + 3) / 6",
            Activation::HardTanh => "clip(x, -1, 1)",
            Activation::HardShrink => "x if |x| > 0.5 else 0",
            Activation::SoftShrink => "x - 0.5 if x > 0.5, x + 0.5 if x < -0.5, else 0",
            Activation::TanhShrink => "x - tanh(x)",
            Activation::Squareplus => "(x + sqrt(x^2 + 4)) / 2",
            Activation::SparsePlus => "0 if x <= -1, (x+1)^2/4 if |x| < 1, x if x >= 1",
            Activation::SparseSigmoid => "0 if x <= -1, (x+1)/2 if |x| < 1, 1 if x >= 1",
            Activation::LogSigmoid => "-softplus(-x)",
        }
    }

    /// The code the WGSL kernels switch on (`override` constants `ACT` / `REC_ACT`).
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::Activation::Tanh.code(), 0);
    /// ```
    pub fn code(self) -> u32 {
        self as u32
    }

    /// Applies the activation to one value (f32, as Keras computes it).
    ///
    /// Written as the twin of `act()` in `shaders/activation.wgsl`: same arms, same clamps.
    ///
    /// ```
    /// use wgpu_lstm::Activation;
    /// assert_eq!(Activation::Relu.apply(-2.0), 0.0);
    /// assert!((Activation::Gelu.apply(1.0) - 0.841_344_7).abs() < 1e-6);
    /// ```
    pub fn apply(self, x: f32) -> f32 {
        // NaN in, NaN out, for every activation (TensorFlow's kernels propagate it; Rust's
        // `max`/`clamp` would not all do so).
        if x.is_nan() {
            // Keras 3's shrinks are `where(|x| > t, ...)`: NaN fails the test and gives 0
            return match self {
                Activation::HardShrink | Activation::SoftShrink => 0.0,
                _ => x,
            };
        }
        match self {
            Activation::Tanh => tanh(x),
            Activation::Sigmoid => sigmoid(x),
            Activation::HardSigmoid => (x / 6.0 + 0.5).clamp(0.0, 1.0),
            Activation::HardSigmoidKeras2 => (0.2 * x + 0.5).clamp(0.0, 1.0),
            Activation::Relu => x.max(0.0),
            Activation::Relu6 => x.clamp(0.0, 6.0),
            Activation::LeakyRelu => {
                if x > 0.0 {
                    x
                } else {
                    0.2 * x
                }
            }
            Activation::Linear => x,
            Activation::Softsign => x / (1.0 + x.abs()),
            Activation::Softplus => softplus(x),
            Activation::Exponential => x.exp(),
            Activation::Elu => {
                if x > 0.0 {
                    x
                } else {
                    x.exp() - 1.0
                }
            }
            Activation::Selu => {
                if x > 0.0 {
                    SELU_LAMBDA * x
                } else {
                    SELU_LAMBDA_ALPHA * (x.exp() - 1.0)
                }
            }
            Activation::Gelu => 0.5 * x * (1.0 + libm::erff(x * std::f32::consts::FRAC_1_SQRT_2)),
            Activation::Silu => x * sigmoid(x),
            Activation::Mish => x * softplus(x).tanh(),
            Activation::Celu => x.max(0.0) + (x.min(0.0).exp() - 1.0),
            Activation::HardSilu => x * (x + 3.0).clamp(0.0, 6.0) / 6.0,
            Activation::HardTanh => x.clamp(-1.0, 1.0),
            Activation::HardShrink => {
                if x.abs() > 0.5 {
                    x
                } else {
                    0.0
                }
            }
            Activation::SoftShrink => {
                if x > 0.5 {
                    x - 0.5
                } else if x < -0.5 {
                    x + 0.5
                } else {
                    0.0
                }
            }
            Activation::TanhShrink => x - x.tanh(),
            Activation::Squareplus => (x + (x * x + 4.0).sqrt()) / 2.0,
            Activation::SparsePlus => {
                if x <= -1.0 {
                    0.0
                } else if x >= 1.0 {
                    x
                } else {
                    (x + 1.0) * (x + 1.0) / 4.0
                }
            }
            Activation::SparseSigmoid => {
                if x <= -1.0 {
                    0.0
                } else if x >= 1.0 {
                    1.0
                } else {
                    (x + 1.0) / 2.0
                }
            }
            Activation::LogSigmoid => -softplus(-x),
        }
    }
}

/// tanh through one `exp`: `(1 - e) / (1 + e)` with `e = exp(-2|x|)`, the sign put back.
/// About 4× faster than `f32::tanh` (glibc's goes through `expm1f`), and within 2e-7 of the
/// f64 tanh everywhere (the test below sweeps it): the CPU path's budget against Keras is
/// 1e-5.
fn tanh(x: f32) -> f32 {
    tanh_with(x, f32::exp)
}

/// `(1 - e) / (1 + e)` with `e = exp(-2|x|)`, the sign put back, for either `exp`.
#[inline(always)]
fn tanh_with(x: f32, exp: impl Fn(f32) -> f32) -> f32 {
    let e = exp(-2.0 * x.abs());
    ((1.0 - e) / (1.0 + e)).copysign(x)
}

/// `exp` for finite `x`, branch-free so that a loop over a slice vectorises (Cephes `expf`:
/// `x = n·ln2 + r`, a degree-7 polynomial for `e^r`, `2^n` from the exponent bits). The
/// argument is clamped to [-87, 88] (results past that are 0 and ∞ to within 2e-38 / as far
/// as a sigmoid or tanh can tell); NaN and infinite arguments are the caller's business.
/// Relative error within 3e-7 of the f64 exp (tested).
#[inline(always)]
pub(crate) fn exp_finite(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const ROUND: f32 = 12_582_912.0; // 1.5·2^23: adding and subtracting rounds to an integer
    let x = x.clamp(-87.0, 88.0);
    let n = (x * LOG2E + ROUND) - ROUND;
    let r = x - n * 0.693_359_4 - n * -2.121_944_4e-4;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let e = p * r * r + r + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// [`exp_finite`]'s sigmoid, for finite `x`; within 2e-7 of the f64 sigmoid (tested).
#[inline(always)]
pub(crate) fn sigmoid_finite(x: f32) -> f32 {
    1.0 / (1.0 + exp_finite(-x))
}

/// [`exp_finite`]'s tanh, for `x` that is not NaN; within 2e-7 of the f64 tanh (tested).
#[inline(always)]
pub(crate) fn tanh_finite(x: f32) -> f32 {
    tanh_with(x, exp_finite)
}

fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + (-x).exp())
}

/// `ln(1 + e^x)`, computed without overflow (TF's kernel returns x or e^x far out).
fn softplus(x: f32) -> f32 {
    if x > 15.0 {
        x
    } else if x < -15.0 {
        x.exp()
    } else {
        x.exp().ln_1p()
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Activation::HardSigmoidKeras2 => f.write_str("hard_sigmoid (Keras 2)"),
            Activation::HardSigmoid => f.write_str("hard_sigmoid (Keras 3)"),
            other => f.write_str(other.keras_name()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_branch_free_exp_sigmoid_and_tanh_match_f64() {
        let (mut e_rel, mut s_abs, mut t_abs) = (0.0f64, 0.0f64, 0.0f64);
        for i in -1_740_000..=1_760_000 {
            let x = i as f32 * 5e-5; // [-87, 88]
            let xd = x as f64;
            e_rel = e_rel.max(((exp_finite(x) as f64) - xd.exp()).abs() / xd.exp());
            s_abs = s_abs.max((sigmoid_finite(x) as f64 - 1.0 / (1.0 + (-xd).exp())).abs());
            t_abs = t_abs.max((tanh_finite(x) as f64 - xd.tanh()).abs());
        }
        assert!(e_rel <= 3e-7, "exp relative error {e_rel}");
        assert!(s_abs <= 2e-7, "sigmoid abs error {s_abs}");
        assert!(t_abs <= 2e-7, "tanh abs error {t_abs}");
        assert_eq!(tanh_finite(f32::INFINITY), 1.0);
        assert_eq!(sigmoid_finite(1e30), 1.0);
        assert!(sigmoid_finite(-1e30) < 1e-37);
    }

    #[test]
    fn the_one_exp_tanh_is_within_2e_7_of_f64_tanh() {
        let mut worst = (0.0f64, 0.0f32);
        for i in -400_000..=400_000 {
            let x = i as f32 * 5e-5; // [-20, 20] in steps of 5e-5
            let err = (tanh(x) as f64 - (x as f64).tanh()).abs();
            if err > worst.0 {
                worst = (err, x);
            }
        }
        assert!(
            worst.0 <= 2e-7,
            "max abs error {} at x = {}",
            worst.0,
            worst.1
        );
        assert_eq!(tanh(f32::INFINITY), 1.0);
        assert_eq!(tanh(f32::NEG_INFINITY), -1.0);
        assert_eq!(tanh(-0.0).to_bits(), (-0.0f32).to_bits());
        assert_eq!(tanh(1e-30), 0.0); // absolute, not relative, accuracy near 0
    }

    #[test]
    fn every_activation_round_trips_through_its_name() {
        for a in Activation::ALL {
            let flavour = if a == Activation::HardSigmoidKeras2 {
                KerasFlavour::Keras2
            } else {
                KerasFlavour::Keras3
            };
            assert_eq!(
                Activation::from_keras_name(a.keras_name(), flavour).unwrap(),
                a
            );
            assert_eq!(Activation::ALL[a.code() as usize], a);
        }
    }

    #[test]
    fn unknown_name_lists_known_ones() {
        let e = Activation::from_keras_name("softmax", KerasFlavour::Keras2).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("softmax") && msg.contains("swish") && !msg.contains("celu"));
    }

    #[test]
    fn large_inputs_stay_finite() {
        for a in Activation::ALL {
            for x in [-1e30f32, -100.0, 100.0, 1e30] {
                let y = a.apply(x);
                if a != Activation::Exponential {
                    assert!(!y.is_nan(), "{a} at {x} gave NaN");
                }
            }
        }
    }
}
