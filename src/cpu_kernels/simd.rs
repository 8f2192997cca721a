//! The vector units the CPU kernels run on, behind one small trait: AVX-512F, AVX2 + FMA and
//! a portable form (fixed-size arrays the compiler vectorises for the target's baseline: SSE2
//! on x86-64, NEON on aarch64, where `f32::mul_add` is one `fmla`).
//!
//! Every operation is `#[inline(always)]` and `unsafe` (the intrinsics need their CPU
//! feature): the generic kernels are instantiated inside a `#[target_feature]` entry point of
//! each ISA (see `gemm.rs` and `lstm.rs`), which is only called after the feature was
//! detected at run time.
//!
//! [`Simd::exp`] is [`crate::activation`]'s branch-free `exp_finite`, operation for
//! operation (separate multiplies and adds, no FMA contraction), so the vector sigmoid and
//! tanh equal the scalar ones bit for bit (tested in `lstm.rs`).

/// One vector ISA: `LANES` f32 lanes in a `V`.
///
/// # Safety
/// Every method needs the ISA's CPU features; callers run them only after detecting them.
pub(crate) trait Simd: Copy + Send + Sync + 'static {
    /// f32 lanes per vector.
    const LANES: usize;
    /// One vector.
    type V: Copy;
    unsafe fn splat(x: f32) -> Self::V;
    /// Unaligned load of `LANES` floats.
    unsafe fn load(p: *const f32) -> Self::V;
    /// Unaligned store of `LANES` floats.
    unsafe fn store(p: *mut f32, v: Self::V);
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V;
    unsafe fn div(a: Self::V, b: Self::V) -> Self::V;
    /// `a·b + c`, fused where the ISA has an FMA.
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V;
    /// `x.clamp(lo, hi)` for finite `x`.
    unsafe fn clamp(x: Self::V, lo: f32, hi: f32) -> Self::V;
    /// `|x|`.
    unsafe fn abs(x: Self::V) -> Self::V;
    /// `-x` (the sign bit flipped).
    unsafe fn neg(x: Self::V) -> Self::V;
    /// `mag` with the sign of `sign`.
    unsafe fn copysign(mag: Self::V, sign: Self::V) -> Self::V;
    /// `2^n` for integral `n` in [-127, 128] (`f32::from_bits(((n as i32 + 127) as u32) << 23)`).
    unsafe fn pow2i(n: Self::V) -> Self::V;
    /// Whether every lane is finite.
    unsafe fn all_finite(x: Self::V) -> bool;

    /// [`crate::activation::exp_finite`], lane by lane, bit for bit.
    #[inline(always)]
    unsafe fn exp(x: Self::V) -> Self::V {
        unsafe {
            let (m, a) = (Self::mul, Self::add);
            let s = Self::splat;
            const ROUND: f32 = 12_582_912.0;
            let x = Self::clamp(x, -87.0, 88.0);
            let n = Self::sub(a(m(x, s(std::f32::consts::LOG2_E)), s(ROUND)), s(ROUND));
            let r = Self::sub(Self::sub(x, m(n, s(0.693_359_4))), m(n, s(-2.121_944_4e-4)));
            let p = a(m(s(1.987_569_1e-4), r), s(1.398_199_9e-3));
            let p = a(m(p, r), s(8.333_452e-3));
            let p = a(m(p, r), s(4.166_579_6e-2));
            let p = a(m(p, r), s(1.666_666_5e-1));
            let p = a(m(p, r), s(0.5));
            let e = a(a(m(m(p, r), r), r), s(1.0));
            m(e, Self::pow2i(n))
        }
    }

    /// `1 / (1 + exp(-x))` (`sigmoid_finite`).
    #[inline(always)]
    unsafe fn sigmoid(x: Self::V) -> Self::V {
        unsafe {
            let one = Self::splat(1.0);
            Self::div(one, Self::add(one, Self::exp(Self::neg(x))))
        }
    }

    /// `((1 - e) / (1 + e)).copysign(x)` with `e = exp(-2|x|)` (`tanh_finite`).
    #[inline(always)]
    unsafe fn tanh(x: Self::V) -> Self::V {
        unsafe {
            let one = Self::splat(1.0);
            let e = Self::exp(Self::mul(Self::splat(-2.0), Self::abs(x)));
            Self::copysign(Self::div(Self::sub(one, e), Self::add(one, e)), x)
        }
    }
}

/// The portable form: `[f32; 8]` handled lane by lane, vectorised by the compiler.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Portable;

/// Lanes of [`Portable`].
const PL: usize = 8;

#[inline(always)]
fn lanes(f: impl Fn(usize) -> f32) -> [f32; PL] {
    std::array::from_fn(f)
}

impl Simd for Portable {
    const LANES: usize = PL;
    type V = [f32; PL];
    #[inline(always)]
    unsafe fn splat(x: f32) -> Self::V {
        [x; PL]
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> Self::V {
        // SAFETY: the caller hands a pointer to LANES readable floats.
        unsafe { std::ptr::read_unaligned(p as *const [f32; PL]) }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: Self::V) {
        // SAFETY: the caller hands a pointer to LANES writable floats.
        unsafe { std::ptr::write_unaligned(p as *mut [f32; PL], v) }
    }
    #[inline(always)]
    unsafe fn add(a: Self::V, b: Self::V) -> Self::V {
        lanes(|i| a[i] + b[i])
    }
    #[inline(always)]
    unsafe fn sub(a: Self::V, b: Self::V) -> Self::V {
        lanes(|i| a[i] - b[i])
    }
    #[inline(always)]
    unsafe fn mul(a: Self::V, b: Self::V) -> Self::V {
        lanes(|i| a[i] * b[i])
    }
    #[inline(always)]
    unsafe fn div(a: Self::V, b: Self::V) -> Self::V {
        lanes(|i| a[i] / b[i])
    }
    #[inline(always)]
    unsafe fn fma(a: Self::V, b: Self::V, c: Self::V) -> Self::V {
        // aarch64 has FMA in its baseline (one `fmla`); elsewhere the portable form must not
        // call the software `fmaf`.
        #[cfg(target_arch = "aarch64")]
        {
            lanes(|i| a[i].mul_add(b[i], c[i]))
        }
        #[cfg(not(target_arch = "aarch64"))]
        {
            lanes(|i| a[i] * b[i] + c[i])
        }
    }
    #[inline(always)]
    unsafe fn clamp(x: Self::V, lo: f32, hi: f32) -> Self::V {
        lanes(|i| x[i].clamp(lo, hi))
    }
    #[inline(always)]
    unsafe fn abs(x: Self::V) -> Self::V {
        lanes(|i| x[i].abs())
    }
    #[inline(always)]
    unsafe fn neg(x: Self::V) -> Self::V {
        lanes(|i| -x[i])
    }
    #[inline(always)]
    unsafe fn copysign(mag: Self::V, sign: Self::V) -> Self::V {
        lanes(|i| mag[i].copysign(sign[i]))
    }
    #[inline(always)]
    unsafe fn pow2i(n: Self::V) -> Self::V {
        lanes(|i| f32::from_bits(((n[i] as i32 + 127) as u32) << 23))
    }
    #[inline(always)]
    unsafe fn all_finite(x: Self::V) -> bool {
        x.iter().all(|v| v.is_finite())
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::Simd;
    use std::arch::x86_64::*;

    /// AVX2 + FMA: 8 lanes.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Avx2;

    // SAFETY (every method): the caller runs these only where AVX2 and FMA were detected.
    impl Simd for Avx2 {
        const LANES: usize = 8;
        type V = __m256;
        #[inline(always)]
        unsafe fn splat(x: f32) -> __m256 {
            unsafe { _mm256_set1_ps(x) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m256 {
            unsafe { _mm256_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m256) {
            unsafe { _mm256_storeu_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn add(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_add_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn sub(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_sub_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn mul(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_mul_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn div(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_div_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn fma(a: __m256, b: __m256, c: __m256) -> __m256 {
            unsafe { _mm256_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        unsafe fn clamp(x: __m256, lo: f32, hi: f32) -> __m256 {
            unsafe { _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(lo)), _mm256_set1_ps(hi)) }
        }
        #[inline(always)]
        unsafe fn abs(x: __m256) -> __m256 {
            unsafe { _mm256_andnot_ps(_mm256_set1_ps(-0.0), x) }
        }
        #[inline(always)]
        unsafe fn neg(x: __m256) -> __m256 {
            unsafe { _mm256_xor_ps(_mm256_set1_ps(-0.0), x) }
        }
        #[inline(always)]
        unsafe fn copysign(mag: __m256, sign: __m256) -> __m256 {
            unsafe {
                let m = _mm256_set1_ps(-0.0);
                _mm256_or_ps(_mm256_andnot_ps(m, mag), _mm256_and_ps(m, sign))
            }
        }
        #[inline(always)]
        unsafe fn pow2i(n: __m256) -> __m256 {
            unsafe {
                let i = _mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127));
                _mm256_castsi256_ps(_mm256_slli_epi32::<23>(i))
            }
        }
        #[inline(always)]
        unsafe fn all_finite(x: __m256) -> bool {
            unsafe {
                let ok = _mm256_cmp_ps::<_CMP_LT_OQ>(Self::abs(x), _mm256_set1_ps(f32::INFINITY));
                _mm256_movemask_ps(ok) == 0xff
            }
        }
    }

    /// AVX-512F: 16 lanes.
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Avx512;

    // SAFETY (every method): the caller runs these only where AVX-512F was detected.
    impl Simd for Avx512 {
        const LANES: usize = 16;
        type V = __m512;
        #[inline(always)]
        unsafe fn splat(x: f32) -> __m512 {
            unsafe { _mm512_set1_ps(x) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m512 {
            unsafe { _mm512_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m512) {
            unsafe { _mm512_storeu_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn add(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_add_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn sub(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_sub_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn mul(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_mul_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn div(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_div_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn fma(a: __m512, b: __m512, c: __m512) -> __m512 {
            unsafe { _mm512_fmadd_ps(a, b, c) }
        }
        #[inline(always)]
        unsafe fn clamp(x: __m512, lo: f32, hi: f32) -> __m512 {
            unsafe { _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(lo)), _mm512_set1_ps(hi)) }
        }
        #[inline(always)]
        unsafe fn abs(x: __m512) -> __m512 {
            unsafe {
                _mm512_castsi512_ps(_mm512_and_si512(
                    _mm512_castps_si512(x),
                    _mm512_set1_epi32(0x7fff_ffff),
                ))
            }
        }
        #[inline(always)]
        unsafe fn neg(x: __m512) -> __m512 {
            unsafe {
                _mm512_castsi512_ps(_mm512_xor_si512(
                    _mm512_castps_si512(x),
                    _mm512_set1_epi32(i32::MIN),
                ))
            }
        }
        #[inline(always)]
        unsafe fn copysign(mag: __m512, sign: __m512) -> __m512 {
            unsafe {
                let m = _mm512_set1_epi32(i32::MIN);
                let a = _mm512_andnot_si512(m, _mm512_castps_si512(mag));
                let b = _mm512_and_si512(m, _mm512_castps_si512(sign));
                _mm512_castsi512_ps(_mm512_or_si512(a, b))
            }
        }
        #[inline(always)]
        unsafe fn pow2i(n: __m512) -> __m512 {
            unsafe {
                let i = _mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127));
                _mm512_castsi512_ps(_mm512_slli_epi32::<23>(i))
            }
        }
        #[inline(always)]
        unsafe fn all_finite(x: __m512) -> bool {
            unsafe {
                _mm512_cmp_ps_mask::<_CMP_LT_OQ>(Self::abs(x), _mm512_set1_ps(f32::INFINITY))
                    == 0xffff
            }
        }
    }
}
