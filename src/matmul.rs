//! The CPU path's matrix products `a·b` (Dense, Conv1D, the reference LSTM's projection).
//!
//! When the rows of `a`, `b` and the output are contiguous (the usual case: Keras kernels are
//! row-major (K, N)), the product runs on the crate's own micro-kernel
//! ([`crate::cpu_kernels`]: the widest vector unit present, `b` read in place as panels of
//! four vectors, `MR × 4` accumulators in registers) shared over the cores by a team (panels
//! × row groups). Other layouts go through the `gemm` crate, split over the cores by output
//! columns (or rows, whichever side is longer) when the product is big enough to pay for it.
//!
//! Either way every element's dot product is computed by one thread in one order, so the
//! result does not depend on the number of threads.

use ndarray::{Array2, ArrayView2, ArrayViewMut2};
use rayon::prelude::*;

/// Products smaller than this many multiply-adds run on the calling thread (a fork-join costs
/// a few µs; a 128 × 512 vector-matrix product takes about as long).
const PARALLEL_MIN_MACS: usize = 1 << 19;

/// The narrowest column block given to one thread.
const MIN_COLS_PER_THREAD: usize = 64;

/// `a·b` as a new standard-layout array.
///
/// ```
/// use ndarray::array;
/// let a = array![[1.0f32, 2.0], [3.0, 4.0]];
/// let b = array![[5.0f32, 6.0, 7.0], [8.0, 9.0, 10.0]];
/// let c = wgpu_lstm::matmul::matmul(a.view(), b.view());
/// assert_eq!(c, a.dot(&b));
/// ```
pub fn matmul(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    let mut c = Array2::zeros((a.nrows(), b.ncols()));
    matmul_into(a, b, c.view_mut());
    c
}

/// `a·b` through the `gemm` crate only (the reference path, independent of the crate's own
/// kernels).
pub(crate) fn matmul_gemm(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>) -> Array2<f32> {
    let mut c = Array2::zeros((a.nrows(), b.ncols()));
    if a.ncols() > 0 {
        product_gemm(a, b, c.view_mut(), false);
    }
    c
}

/// `c = a·b`, overwriting `c` (any strides; shapes (m, k)·(k, n) → (m, n)).
///
/// # Panics
/// When the shapes do not chain; the crate's callers check shapes before they get here.
///
/// ```
/// use ndarray::{array, Array2};
/// let a = array![[1.0f32, 2.0]];
/// let b = array![[3.0f32], [4.0]];
/// let mut c = Array2::<f32>::from_elem((1, 1), f32::NAN);
/// wgpu_lstm::matmul::matmul_into(a.view(), b.view(), c.view_mut());
/// assert_eq!(c[[0, 0]], 11.0);
/// ```
pub fn matmul_into(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>, c: ArrayViewMut2<'_, f32>) {
    product(a, b, c, false);
}

/// `c += a·b` (any strides; shapes (m, k)·(k, n) → (m, n)): the product is added to what
/// `c` holds, in one pass.
///
/// # Panics
/// When the shapes do not chain; the crate's callers check shapes before they get here.
///
/// ```
/// use ndarray::array;
/// let a = array![[1.0f32, 2.0]];
/// let b = array![[3.0f32], [4.0]];
/// let mut c = array![[0.5f32]];
/// wgpu_lstm::matmul::matmul_acc(a.view(), b.view(), c.view_mut());
/// assert_eq!(c[[0, 0]], 11.5);
/// ```
pub fn matmul_acc(a: ArrayView2<'_, f32>, b: ArrayView2<'_, f32>, c: ArrayViewMut2<'_, f32>) {
    product(a, b, c, true);
}

/// `c = a·b`, or `c += a·b` with `accumulate`.
fn product(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    mut c: ArrayViewMut2<'_, f32>,
    accumulate: bool,
) {
    let (m, k) = a.dim();
    let (k2, n) = b.dim();
    assert!(
        k == k2 && c.dim() == (m, n),
        "matmul shapes: ({m}, {k})·({k2}, {n}) into {:?}",
        c.dim()
    );
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            c.fill(0.0);
        }
        return;
    }
    // a failed work-space allocation (only the small edge panel) takes the gemm path
    if let Ok(true) = crate::cpu_kernels::gemm::product(a, b, c.view_mut(), accumulate) {
        return;
    }
    product_gemm(a, b, c, accumulate);
}

/// `c (+)= a·b` through the `gemm` crate, split over the cores (any strides).
pub(crate) fn product_gemm(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    c: ArrayViewMut2<'_, f32>,
    accumulate: bool,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    if m == 0 || n == 0 {
        return;
    }
    // Split the longer side of c: columns (b and c by columns), or rows (a and c by rows).
    let by_rows = m > n;
    let len = if by_rows { m } else { n };
    let threads = rayon::current_num_threads();
    let blocks = if m * n * k < PARALLEL_MIN_MACS {
        1
    } else {
        threads.min(len / MIN_COLS_PER_THREAD).max(1)
    };
    if blocks == 1 {
        gemm_serial(a, b, c, accumulate);
        return;
    }
    // Blocks that are multiples of 16 (whole SIMD registers) except the last.
    let width = len.div_ceil(blocks).next_multiple_of(16);
    let axis = ndarray::Axis(if by_rows { 0 } else { 1 });
    let mut parts: Vec<(
        ArrayView2<'_, f32>,
        ArrayView2<'_, f32>,
        ArrayViewMut2<'_, f32>,
    )> = Vec::new();
    let mut rest_c = c;
    let (mut rest_a, mut rest_b) = (a, b);
    while rest_c.len_of(axis) > 0 {
        let w = width.min(rest_c.len_of(axis));
        let (cl, cr) = rest_c.split_at(axis, w);
        if by_rows {
            let (al, ar) = rest_a.split_at(axis, w);
            parts.push((al, b, cl));
            rest_a = ar;
        } else {
            let (bl, br) = rest_b.split_at(axis, w);
            parts.push((a, bl, cl));
            rest_b = br;
        }
        rest_c = cr;
    }
    parts
        .into_par_iter()
        .for_each(|(al, bl, cl)| gemm_serial(al, bl, cl, accumulate));
}

/// One `gemm` call on the calling thread.
fn gemm_serial(
    a: ArrayView2<'_, f32>,
    b: ArrayView2<'_, f32>,
    mut c: ArrayViewMut2<'_, f32>,
    accumulate: bool,
) {
    let (m, k) = a.dim();
    let n = b.ncols();
    let [a_rs, a_cs] = [a.strides()[0], a.strides()[1]];
    let [b_rs, b_cs] = [b.strides()[0], b.strides()[1]];
    let [c_rs, c_cs] = [c.strides()[0], c.strides()[1]];
    // SAFETY: the pointers and strides come from live ndarray views of exactly these shapes
    // (checked by the caller), and `c` is borrowed mutably, so it does not alias `a` or `b`.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            c.as_mut_ptr(),
            c_cs,
            c_rs,
            accumulate,
            a.as_ptr(),
            a_cs,
            a_rs,
            b.as_ptr(),
            b_cs,
            b_rs,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array2, s};

    fn seq(m: usize, n: usize, seed: u32) -> Array2<f32> {
        Array2::from_shape_fn((m, n), |(i, j)| {
            let v = (i as u32 * 131 + j as u32 * 71 + seed).wrapping_mul(2_654_435_761);
            (v >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
    }

    /// Serial, parallel, odd widths and strided views all equal ndarray's own product.
    #[test]
    fn equals_ndarray_dot_for_every_split_and_layout() {
        for (m, k, n) in [
            (1, 1, 1),
            (3, 0, 5),
            (1, 512, 2048),
            (2, 300, 1000),
            (64, 256, 1024),
            (7, 33, 129),
            (130, 70, 301),
            (2048, 512, 1),
            (1024, 256, 64),
        ] {
            let a = seq(m, k, 1);
            let b = seq(k, n, 2);
            let want = a.dot(&b);
            for isa in crate::cpu_kernels::Isa::available() {
                for threads in [None, Some(2)] {
                    let o = crate::cpu_kernels::KernelOptions {
                        isa: Some(isa),
                        threads,
                        chunk_steps: None,
                    };
                    let got = crate::cpu_kernels::with_options(o, || {
                        let mut acc = Array2::<f32>::from_elem((m, n), 0.25);
                        matmul_acc(a.view(), b.view(), acc.view_mut());
                        (matmul(a.view(), b.view()), acc)
                    })
                    .unwrap();
                    let err = (&got.0 - &want)
                        .iter()
                        .chain((&got.1 - &want - 0.25f32).iter())
                        .fold(0.0f32, |e, v| e.max(v.abs()));
                    assert!(
                        err <= 1e-4 * (k as f32).sqrt().max(1.0),
                        "{isa:?} {threads:?} ({m},{k},{n}): {err}"
                    );
                }
            }
            let got = matmul(a.view(), b.view());
            let err = (&got - &want).iter().fold(0.0f32, |e, v| e.max(v.abs()));
            assert!(
                err <= 1e-4 * (k as f32).sqrt().max(1.0),
                "({m},{k},{n}): {err}"
            );
            // transposed / sliced operands and a strided output
            let at = a.t().to_owned();
            let bt = b.t().to_owned();
            let mut big = Array2::<f32>::from_elem((m, 2 * n), f32::NAN);
            matmul_into(at.t(), bt.t(), big.slice_mut(s![.., ..;2]));
            let err = (&big.slice(s![.., ..;2]) - &want)
                .iter()
                .fold(0.0f32, |e, v| e.max(v.abs()));
            assert!(
                err <= 1e-4 * (k as f32).sqrt().max(1.0),
                "strided ({m},{k},{n}): {err}"
            );
            assert!(
                big.slice(s![.., 1..;2]).iter().all(|v| v.is_nan()),
                "wrote outside c"
            );
        }
    }
}
