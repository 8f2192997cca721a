//! Panels and the register-blocked micro-kernel every CPU product goes through.
//!
//! A **panel** is `4·W` columns of a (K, N) matrix stored row by row, `W` = the ISA's lanes:
//! row `k` of the panel is four vectors. The micro-kernel [`tile`] multiplies `MR` rows of
//! `A` (each a pointer to K contiguous floats) by one panel, keeping the `MR × 4` vector
//! accumulators in registers for the whole K loop; what happens to them afterwards (store,
//! bias, activation, the LSTM cell update) is the caller's epilogue.
//!
//! * [`Packed`] holds a matrix re-arranged once into contiguous panels with any column
//!   order: the LSTM packs its kernels with the four gates of `W` units side by side, so
//!   one tile's accumulators are exactly the i, f, c, o pre-activations of those units.
//! * A row-major (K, N) matrix already *is* a sequence of panels read with row stride N
//!   (Dense's and Conv1D's kernels): [`matmul_rows`] reads them in place and packs only the
//!   last, partial panel (into a small reused buffer).

use super::simd::Simd;

/// f32 storage aligned to 64 bytes (one cache line, one AVX-512 vector).
#[derive(Debug, Default)]
pub(crate) struct AlignedBuf {
    raw: Vec<f32>,
    offset: usize,
    len: usize,
}

impl AlignedBuf {
    /// `len` zeros (counted as one workspace allocation).
    pub(crate) fn zeros(what: &str, len: usize) -> crate::Result<Self> {
        let raw = crate::host_memory::filled_vec(what, len.saturating_add(16), 0.0f32)?;
        super::count_allocation();
        let offset = raw.as_ptr().align_offset(64).min(15);
        Ok(AlignedBuf { raw, offset, len })
    }

    /// Grows to at least `len` floats (allocating only when it is too short); the contents
    /// are unspecified afterwards.
    pub(crate) fn ensure(&mut self, what: &str, len: usize) -> crate::Result<()> {
        if self.len < len {
            *self = AlignedBuf::zeros(what, len)?;
        }
        Ok(())
    }

    pub(crate) fn as_slice(&self) -> &[f32] {
        &self.raw[self.offset..self.offset + self.len]
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [f32] {
        &mut self.raw[self.offset..self.offset + self.len]
    }

    pub(crate) fn as_ptr(&self) -> *const f32 {
        self.as_slice().as_ptr()
    }

    pub(crate) fn as_mut_ptr(&mut self) -> *mut f32 {
        self.as_mut_slice().as_mut_ptr()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// A (K, N) matrix packed once into contiguous panels of `G·lanes` columns each (G gate
/// blocks: 4, the GRU's 3, the SimpleRNN's 1).
#[derive(Debug)]
pub(crate) struct Packed {
    buf: AlignedBuf,
    /// Rows K.
    pub(crate) k: usize,
    /// Panels.
    pub(crate) panels: usize,
    /// Floats per panel row: G·W (G = 4 but for the GRU's 3 and the SimpleRNN's 1 gates).
    nr: usize,
}

impl Packed {
    /// Packs `src` (K, N): packed column `c` (0 ≤ c < GW) of panel `p` is `src[:, col(p, c)]`,
    /// or zeros where `col` says `None`.
    pub(crate) fn new_gates(
        src: ndarray::ArrayView2<'_, f32>,
        panels: usize,
        lanes: usize,
        gates: usize,
        col: impl Fn(usize, usize) -> Option<usize>,
    ) -> crate::Result<Self> {
        let k = src.nrows();
        let nr = gates * lanes;
        let len = crate::host_memory::checked_elems("packed weights", &[panels, k, nr])?;
        let mut buf = AlignedBuf::zeros("packed weights", len)?;
        let dst = buf.as_mut_slice();
        for p in 0..panels {
            for c in 0..nr {
                if let Some(j) = col(p, c) {
                    let column = src.column(j);
                    let base = p * k * nr + c;
                    for (kk, v) in column.iter().enumerate() {
                        dst[base + kk * nr] = *v;
                    }
                }
            }
        }
        Ok(Packed { buf, k, panels, nr })
    }

    /// Panel `p`: K rows of GW floats.
    pub(crate) fn panel(&self, p: usize) -> *const f32 {
        debug_assert!(p < self.panels);
        // in bounds: p < panels, the buffer holds panels·K·GW floats
        self.buf.as_slice()[p * self.k * self.nr..].as_ptr()
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.buf.len() * 4
    }
}

/// `MR × G` accumulators (G = 4 gates but for the GRU's 3 and the SimpleRNN's 1): `acc[r][g] = Σ_k a[r][k] · b[k·stride + g·W ..][..W]`, for
/// `k < kdim`. `a[r]` points at K contiguous floats; `b` at a panel whose rows are `stride`
/// floats apart (4W for a [`Packed`] panel, N for a row-major matrix read in place).
///
/// Every accumulator is one FMA chain over k in order, whatever `MR` is: a row's result does
/// not depend on which rows share its block (so not on the team size nor on how a call
/// splits its rows), and equals a one-row tile's bit for bit.
///
/// # Safety
/// The ISA's features are present; every pointer covers what is read.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // the gate index g runs over several arrays at once
pub(crate) unsafe fn tile<S: Simd, const MR: usize, const G: usize>(
    kdim: usize,
    a: &[*const f32; MR],
    b: *const f32,
    stride: usize,
) -> [[S::V; G]; MR] {
    let w = S::LANES;
    unsafe {
        let z = S::splat(0.0);
        let mut acc = [[z; G]; MR];
        for kk in 0..kdim {
            let p = b.add(kk * stride);
            let mut bv = [z; G];
            for g in 0..G {
                bv[g] = S::load(p.add(g * w));
            }
            for r in 0..MR {
                let x = S::splat(*a[r].add(kk));
                for g in 0..G {
                    acc[r][g] = S::fma(x, bv[g], acc[r][g]);
                }
            }
        }
        acc
    }
}

/// Runs `f` with the accumulators of [`tile`] for `rows` (1 ..= `MR_MAX`) rows, picking the
/// instantiation: `a` holds the row pointers (only the first `rows` are read).
///
/// # Safety
/// As [`tile`].
#[inline(always)]
pub(crate) unsafe fn tile_dyn<S: Simd, const MR_MAX: usize, const G: usize>(
    rows: usize,
    kdim: usize,
    a: &[*const f32; MR_MAX],
    b: *const f32,
    stride: usize,
    mut f: impl FnMut(usize, &[S::V; G]),
) {
    macro_rules! go {
        ($n:literal) => {{
            let mut p = [std::ptr::null::<f32>(); $n];
            p.copy_from_slice(&a[..$n]);
            let acc = unsafe { tile::<S, $n, G>(kdim, &p, b, stride) };
            for (r, v) in acc.iter().enumerate() {
                f(r, v);
            }
        }};
    }
    debug_assert!(rows >= 1 && rows <= MR_MAX && MR_MAX <= 6);
    match rows {
        1 => go!(1),
        2 => go!(2),
        3 => go!(3),
        4 => go!(4),
        5 => go!(5),
        _ => go!(6),
    }
}

/// Rows per micro-tile for an ISA of `lanes` lanes: 6 with 32 vector registers (AVX-512,
/// NEON: 24 accumulators), 3 with 16 (AVX2: 12 accumulators), 4 for the portable form.
pub(crate) fn rows_per_tile(isa: super::Isa) -> usize {
    match isa {
        super::Isa::Avx512 => 6,
        super::Isa::Avx2 => 3,
        super::Isa::Portable => 4,
    }
}

/// A (K, N) row-major matrix read in place as panels (row stride `ldb` floats), its last,
/// partial panel copied into `edge` (K rows of 4W floats, zero-padded).
pub(crate) struct InPlace {
    pub b: *const f32,
    pub ldb: usize,
    pub n: usize,
    pub k: usize,
    /// Whole panels.
    pub full: usize,
    /// The packed partial panel, when N is no multiple of 4W.
    pub edge: Option<*const f32>,
}

/// Item (`panel p`, rows `m0 .. m0 + rows`) of `C (+)= A·B` with B read in place: row `m` of
/// A at `a + m·lda`, of C at `c + m·ldc`.
///
/// # Safety
/// The ISA's features are present; the pointers cover what is read and written, and no other
/// thread writes these rows and columns of C.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub(crate) unsafe fn product_item<S: Simd, const MR: usize>(
    b: &InPlace,
    p: usize,
    m0: usize,
    rows: usize,
    a: *const f32,
    lda: usize,
    c: *mut f32,
    ldc: usize,
    accumulate: bool,
) {
    let w = S::LANES;
    let nr = 4 * w;
    let (bp, stride, cols) = if p < b.full {
        // SAFETY: column p·nr lies inside b's rows
        (unsafe { b.b.add(p * nr) }, b.ldb, nr)
    } else {
        (
            b.edge.expect("a partial panel is packed"),
            nr,
            b.n - b.full * nr,
        )
    };
    let mut ap = [std::ptr::null::<f32>(); MR];
    for (r, slot) in ap.iter_mut().enumerate().take(rows) {
        *slot = unsafe { a.add((m0 + r) * lda) };
    }
    unsafe {
        tile_dyn::<S, MR, 4>(
            rows,
            b.k,
            &ap,
            bp,
            stride,
            #[inline(always)]
            |r, acc| {
                let dst = c.add((m0 + r) * ldc + p * nr);
                if cols == nr {
                    for (g, v) in acc.iter().enumerate() {
                        let d = dst.add(g * w);
                        let y = if accumulate {
                            S::add(S::load(d), *v)
                        } else {
                            *v
                        };
                        S::store(d, y);
                    }
                } else {
                    let mut vals = [0.0f32; 64];
                    for (g, v) in acc.iter().enumerate() {
                        S::store(vals[g * w..].as_mut_ptr(), *v);
                    }
                    for (j, v) in vals.iter().enumerate().take(cols) {
                        let d = dst.add(j);
                        *d = if accumulate { *d + *v } else { *v };
                    }
                }
            },
        );
    }
}

std::thread_local! {
    /// The packed partial panel of [`product`], reused from call to call.
    static EDGE: std::cell::RefCell<AlignedBuf> = std::cell::RefCell::new(AlignedBuf::default());
}

/// Multiply-adds one work item of a product aims at (a few µs: the claim of an item and the
/// cache traffic of its panel stay small beside it).
pub(crate) const ITEM_MACS: usize = 1 << 17;

/// `c = a·b`, or `c += a·b` with `accumulate`, on the CPU kernels of the ISA in force and a
/// team of threads, when every operand's rows are contiguous (unit column stride, positive
/// row stride); returns `Ok(false)`, having done nothing, otherwise. Shapes are the caller's
/// to check: (m, k)·(k, n) into (m, n), k ≥ 1.
pub(crate) fn product(
    a: ndarray::ArrayView2<'_, f32>,
    b: ndarray::ArrayView2<'_, f32>,
    mut c: ndarray::ArrayViewMut2<'_, f32>,
    accumulate: bool,
) -> crate::Result<bool> {
    let (m, k) = a.dim();
    let n = b.ncols();
    let contiguous = |s: &[isize], ncols: usize| ncols <= 1 || s[1] == 1;
    if !(contiguous(a.strides(), k)
        && contiguous(b.strides(), n)
        && contiguous(c.strides(), n)
        && a.strides()[0] > 0
        && b.strides()[0] > 0
        && c.strides()[0] > 0)
    {
        return Ok(false);
    }
    let isa = super::current_isa();
    let w = isa.lanes();
    let nr = 4 * w;
    let mr = rows_per_tile(isa);
    let full = n / nr;
    let edge_cols = n - full * nr;
    let (lda, ldb, ldc) = (
        a.strides()[0] as usize,
        b.strides()[0] as usize,
        c.strides()[0] as usize,
    );
    EDGE.with(|edge| -> crate::Result<bool> {
        let mut edge = edge.borrow_mut();
        if edge_cols > 0 {
            edge.ensure("product edge panel", k * nr)?;
            let e = edge.as_mut_slice();
            for kk in 0..k {
                for cc in 0..nr {
                    e[kk * nr + cc] = if cc < edge_cols {
                        b[[kk, full * nr + cc]]
                    } else {
                        0.0
                    };
                }
            }
        }
        let spec = InPlace {
            b: b.as_ptr(),
            ldb,
            n,
            k,
            full,
            edge: (edge_cols > 0).then(|| edge.as_ptr()),
        };
        let panels = full + usize::from(edge_cols > 0);
        let rows_per_item = (ITEM_MACS / (k * nr).max(1)).div_ceil(mr).max(1) * mr;
        let groups = m.div_ceil(rows_per_item);
        let items = panels * groups;
        let macs = m.saturating_mul(n).saturating_mul(k);
        let members = super::team_size(macs, macs, items);
        let job = Job {
            spec: &spec,
            a: a.as_ptr(),
            lda,
            c: c.as_mut_ptr(),
            ldc,
            m,
            mr,
            groups,
            rows_per_item,
            accumulate,
            isa,
        };
        let team = super::team::Team::new(members);
        team.run(1, &|_| items, &|_, i| {
            // SAFETY: the ISA is supported (current_isa); items write disjoint blocks of c
            unsafe { job.item(i) }
        });
        Ok(true)
    })
}

/// One product's shared description for its team.
struct Job<'a> {
    spec: &'a InPlace,
    a: *const f32,
    lda: usize,
    c: *mut f32,
    ldc: usize,
    m: usize,
    mr: usize,
    groups: usize,
    rows_per_item: usize,
    accumulate: bool,
    isa: super::Isa,
}

// SAFETY: items write disjoint blocks of c; the rest is read only.
unsafe impl Sync for Job<'_> {}

impl Job<'_> {
    /// Item `i`: panel `i / groups`, rows of group `i % groups`, in row blocks.
    unsafe fn item(&self, i: usize) {
        let (p, g) = (i / self.groups, i % self.groups);
        let end = ((g + 1) * self.rows_per_item).min(self.m);
        let mut m0 = g * self.rows_per_item;
        while m0 < end {
            let rows = self.mr.min(end - m0);
            unsafe {
                match self.isa {
                    #[cfg(target_arch = "x86_64")]
                    super::Isa::Avx512 => item_avx512(self, p, m0, rows),
                    #[cfg(target_arch = "x86_64")]
                    super::Isa::Avx2 => item_avx2(self, p, m0, rows),
                    _ => item_portable(self, p, m0, rows),
                }
            }
            m0 += rows;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn item_avx512(j: &Job<'_>, p: usize, m0: usize, rows: usize) {
    unsafe {
        product_item::<super::simd::Avx512, 6>(
            j.spec,
            p,
            m0,
            rows,
            j.a,
            j.lda,
            j.c,
            j.ldc,
            j.accumulate,
        )
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn item_avx2(j: &Job<'_>, p: usize, m0: usize, rows: usize) {
    unsafe {
        product_item::<super::simd::Avx2, 3>(
            j.spec,
            p,
            m0,
            rows,
            j.a,
            j.lda,
            j.c,
            j.ldc,
            j.accumulate,
        )
    }
}

unsafe fn item_portable(j: &Job<'_>, p: usize, m0: usize, rows: usize) {
    unsafe {
        product_item::<super::simd::Portable, 4>(
            j.spec,
            p,
            m0,
            rows,
            j.a,
            j.lda,
            j.c,
            j.ldc,
            j.accumulate,
        )
    }
}
