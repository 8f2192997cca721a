//! The LSTM on the CPU: weights packed once per layer, then per call
//!
//! ```text
//! for each chunk of Tc steps (Z in a reused buffer of at most Z_CHUNK_BYTES):
//!     projection phase:  Z[t, b, tile] = x[b, t]·K[:, tile] + bias[tile]     (all t of the chunk)
//!     for each step k:   per (row block, unit tile), in registers:
//!                        acc = h[k]·R[:, tile]; pre = acc + Z[k, b, tile]
//!                        i, f, g, o = σ, σ, tanh, σ of pre;  c' = f·c + i·g;  h' = o·tanh(c')
//!                        → c, h[k+1], hold, output   (one barrier per step)
//! ```
//!
//! A **tile** is `W` units (the ISA's lanes): its packed panel holds, for every row of the
//! kernel, the i, f, c and o columns of those units side by side, so the micro-kernel's four
//! accumulators of a row are exactly the four gates of `W` units and the cell update runs on
//! them before anything is written back. h is double-buffered (every tile reads all of
//! `h[k]`), so one barrier per step orders the steps. Work items are (row block, tile) pairs,
//! shared by a [`super::team::Team`]; for batch 1 the tiles alone split the step over the
//! cores (each core keeps its half of the panels in its own cache, call after call).
//!
//! **Row mode.** With enough rows for every member of the team (half a row block each or
//! more), the rows are split instead: a member runs its group of rows through the whole call
//! (their projection, then every step over every tile) with no barrier at all, since the
//! rows of a batch never meet. A member that is descheduled then delays the call once, not
//! every step.
//!
//! Arithmetic: the dot products run in a different order than `gemm`'s (FMA per k, two
//! chains for one row), the rest is the reference's: `Z = x·K + b` then `pre = h·R + Z`, the
//! activations of `activation.rs` (vector sigmoid / tanh bit-identical to `sigmoid_finite` /
//! `tanh_finite` while the tile's pre-activations and c are finite, else the exact scalar
//! cell, as the reference does per row), `c' = f·c + i·g` without FMA contraction.
//!
//! **GRU and SimpleRNN** run on the same code with G gate blocks per panel instead of four
//! (G = 3: z, r, h̃; G = 1): the micro-kernel keeps G accumulators per row, and the step's
//! epilogue ([`other_cell`]) is their cell — for a GRU with `reset_after` the recurrent
//! product of h̃ stays separate from r exactly as Keras keeps it (`r ⊙ (h·R_h + b_h)`), the
//! recurrent bias b_h packed beside the input bias. A GRU with `reset_after=False` needs r
//! before its candidate's recurrent product (`(r ⊙ h)·R_h`): its steps take two phases
//! (two barriers) each, [`gru_zr_block`] (h·[R_z R_r] → z, r ⊙ h) then [`gru_h_block`]
//! ((r ⊙ h)·R_h → h~, h'), its recurrent kernel packed as those two parts. The projection phase, the team, row mode and the work space
//! are shared unchanged (a GRU's or SimpleRNN's c buffer is unused).

use std::sync::{Arc, Mutex};

use ndarray::{Array3, ArrayView2, ArrayView3, ArrayViewMut2};

use super::gemm::{AlignedBuf, Packed, rows_per_tile, tile_dyn};
use super::simd::{Portable, Simd};
use super::team::Team;
use super::{Isa, count_pack, team_size};
use crate::activation::Activation;
use crate::config::{CellKind, LstmConfig};
use crate::error::Result;
use crate::weights::LstmWeights;

/// The projection buffer holds at most this many bytes (at least one step's).
const Z_CHUNK_BYTES: usize = 16 << 20;

/// Where an array's data lives and how it is laid out: a packed form is valid for the arrays
/// it was made from while these are unchanged.
/// A sample of the values (61 spread over each array) guards against new arrays that land
/// at a freed one's address with its shape.
type Fingerprint = [(usize, usize, isize, isize, u64); 3];

fn fingerprint(w: &LstmWeights) -> Fingerprint {
    fn one<D: ndarray::Dimension>(
        a: &ndarray::ArrayBase<impl ndarray::Data<Elem = f32>, D>,
    ) -> (usize, usize, isize, isize, u64) {
        let s = a.strides();
        let mut h = 0xcbf2_9ce4_8422_2325u64;
        if let Some(v) = a.as_slice_memory_order() {
            let step = (v.len() / 61).max(1);
            for x in v.iter().step_by(step).chain(v.last()) {
                h = (h ^ u64::from(x.to_bits())).wrapping_mul(0x100_0000_01b3);
            }
        }
        (
            a.as_ptr() as usize,
            a.len(),
            s.first().copied().unwrap_or(0),
            s.get(1).copied().unwrap_or(0) ^ (a.shape()[0] as isize) << 32,
            h,
        )
    }
    [
        one(&w.kernel),
        one(&w.recurrent_kernel),
        w.bias.as_ref().map_or((0, 0, 0, 0, 0), one),
    ]
}

/// One LSTM's weights packed for one ISA: the kernel (D rows) and the recurrent kernel (U
/// rows) as panels of one unit tile each (i, f, c, o of `W` units), the bias in the same
/// column order.
#[derive(Debug)]
pub(crate) struct PackedLstm {
    isa: Isa,
    /// Gate blocks G: 4 (LSTM), 3 (GRU), 1 (SimpleRNN).
    gates: usize,
    units: usize,
    input_dim: usize,
    tiles: usize,
    kernel: Packed,
    /// The recurrent kernel; a GRU with `reset_after=False`: its z and r blocks only (G = 2).
    recurrent: Packed,
    /// A GRU with `reset_after=False`: R_h (G = 1), multiplied by r ⊙ h in a second phase.
    recurrent_h: Option<Packed>,
    bias: AlignedBuf,
    /// A GRU with `reset_after`: its recurrent bias b_h, in the bias's layout (else zeros).
    rbias: AlignedBuf,
    from: Fingerprint,
}

impl PackedLstm {
    /// Packs `w` for `isa` (counted in [`super::KernelStats::packs`]).
    pub(crate) fn new(w: &LstmWeights, isa: Isa, reset_before: bool) -> Result<Self> {
        let lanes = isa.lanes();
        let units = w.units();
        let gates = w.recurrent_kernel.ncols() / units.max(1);
        let tiles = units.div_ceil(lanes);
        // packed column c of tile p: gate c / W, unit p·W + c % W
        let col = |p: usize, c: usize| {
            let unit = p * lanes + c % lanes;
            (unit < units).then_some((c / lanes) * units + unit)
        };
        let kernel = Packed::new_gates(w.kernel.view(), tiles, lanes, gates, col)?;
        let rk = w.recurrent_kernel.view();
        let (recurrent, recurrent_h) = if reset_before {
            let h_col = |p: usize, c: usize| col(p, c).map(|j| j + 2 * units);
            (
                Packed::new_gates(rk, tiles, lanes, 2, col)?,
                Some(Packed::new_gates(rk, tiles, lanes, 1, h_col)?),
            )
        } else {
            (Packed::new_gates(rk, tiles, lanes, gates, col)?, None)
        };
        let n = tiles * gates * lanes;
        let mut bias = AlignedBuf::zeros("packed bias", n)?;
        let mut rbias = AlignedBuf::zeros("packed recurrent bias", n)?;
        if let Some(b) = &w.bias {
            // a GRU with reset_after holds (2, 3U): the input bias, then the recurrent one
            let g = gates * units;
            for (dst, off) in [(&mut bias, 0), (&mut rbias, g)] {
                if off + g > b.len() {
                    continue;
                }
                let dst = dst.as_mut_slice();
                for p in 0..tiles {
                    for c in 0..gates * lanes {
                        if let Some(j) = col(p, c) {
                            dst[p * gates * lanes + c] = b[off + j];
                        }
                    }
                }
            }
        }
        count_pack();
        Ok(PackedLstm {
            isa,
            gates,
            units,
            input_dim: w.input_dim(),
            tiles,
            kernel,
            recurrent,
            recurrent_h,
            bias,
            rbias,
            from: fingerprint(w),
        })
    }

    /// Bytes of packed weights.
    pub(crate) fn bytes(&self) -> usize {
        self.kernel.bytes()
            + self.recurrent.bytes()
            + self.recurrent_h.as_ref().map_or(0, Packed::bytes)
            + (self.bias.len() + self.rbias.len()) * 4
    }
}

/// The per-call buffers, kept from call to call: the projection chunk, h (two), c, hold.
#[derive(Debug, Default)]
struct Workspace {
    z: AlignedBuf,
    h: [AlignedBuf; 2],
    c: AlignedBuf,
    hold: AlignedBuf,
    /// A GRU with `reset_after=False`: r ⊙ h of the step.
    rh: AlignedBuf,
}

/// What an LSTM's weights keep for the CPU: their packed form (made at the first CPU call,
/// for the ISA in force, and again only when an array or the ISA changes) and the call work
/// space. Cloning gives an empty one; equality ignores it.
#[derive(Default)]
pub(crate) struct LstmPack {
    packed: Mutex<Option<Arc<PackedLstm>>>,
    work: Mutex<Workspace>,
}

impl LstmPack {
    /// Bytes of packed weights held for `weights` (0 before the first CPU call or when held
    /// for other arrays).
    pub(crate) fn packed_bytes(&self, weights: &LstmWeights) -> usize {
        let held = self.packed.lock().unwrap_or_else(|e| e.into_inner());
        held.as_ref()
            .filter(|p| p.from == fingerprint(weights))
            .map_or(0, |p| p.bytes())
    }

    /// The packed form of `weights` for `isa`, made now if the held one is for other arrays
    /// or another ISA.
    fn get(&self, weights: &LstmWeights, isa: Isa, reset_before: bool) -> Result<Arc<PackedLstm>> {
        let mut held = self.packed.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = held.as_ref()
            && p.isa == isa
            && p.recurrent_h.is_some() == reset_before
            && p.from == fingerprint(weights)
        {
            return Ok(p.clone());
        }
        let p = Arc::new(PackedLstm::new(weights, isa, reset_before)?);
        *held = Some(p.clone());
        Ok(p)
    }
}

impl Clone for LstmPack {
    fn clone(&self) -> Self {
        LstmPack::default()
    }
}

impl PartialEq for LstmPack {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for LstmPack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LstmPack")
    }
}

/// The state rows a call reads and writes: h, c and hold, each (B, U).
pub(crate) struct StateViews<'a> {
    pub h: ArrayViewMut2<'a, f32>,
    pub c: ArrayViewMut2<'a, f32>,
    pub hold: ArrayViewMut2<'a, f32>,
}

/// The whole call: `x` (B, T, D), `mask` (B, T), the state in `st` (h0, c0 on entry; h_T,
/// c_T and the final hold on return). Returns (B, T, U) with return_sequences, else
/// (B, 1, U). Shapes are the caller's to check (`cpu::run_sequence` does).
pub(crate) fn run_sequence(
    config: &LstmConfig,
    weights: &LstmWeights,
    x: ArrayView3<'_, f32>,
    mask: Option<ArrayView2<'_, bool>>,
    st: StateViews<'_>,
) -> Result<Array3<f32>> {
    let reset_before = config.cell == (CellKind::Gru { reset_after: false });
    let isa = super::current_isa();
    let pack = &weights.cpu_pack;
    let pk = pack.get(weights, isa, reset_before)?;
    let (b, t, d) = x.dim();
    let u = config.units;
    debug_assert_eq!((pk.units, pk.input_dim), (u, d));
    let out_steps = if config.return_sequences { t } else { 1 };
    let mut out = crate::host_memory::zeros::<f32, _>("output (B, T, U)", (b, out_steps, u))?;
    if b == 0 || t == 0 {
        return Ok(out);
    }
    let x = x.as_standard_layout();
    let w = isa.lanes();
    let tiles = pk.tiles;
    let gates = pk.gates;
    let lstm = config.cell == CellKind::Lstm;
    let zs = tiles * gates * w;
    let hs = tiles * w;
    let step_bytes = b.saturating_mul(zs).saturating_mul(4);
    let tc = super::forced_chunk_steps()
        .unwrap_or(Z_CHUNK_BYTES / step_bytes.max(1))
        .clamp(1, t);
    let chunks = t.div_ceil(tc);
    let mut guard = pack.work.lock().unwrap_or_else(|e| e.into_inner());
    let ws = &mut *guard;
    ws.z.ensure("LSTM projection chunk", tc * b * zs)?;
    for (i, hb) in ws.h.iter_mut().enumerate() {
        hb.ensure(if i == 0 { "LSTM h" } else { "LSTM h'" }, b * hs)?;
    }
    ws.c.ensure("LSTM c", b * hs)?;
    ws.hold.ensure("LSTM hold", b * hs)?;
    if reset_before {
        ws.rh.ensure("GRU r ⊙ h", b * hs)?;
    }
    {
        let (h0, c0, hold) = (
            ws.h[0].as_mut_slice(),
            ws.c.as_mut_slice(),
            ws.hold.as_mut_slice(),
        );
        hold[..b * hs].fill(0.0);
        for row in 0..b {
            for j in 0..hs {
                let (hv, cv) = if j < u {
                    (st.h[[row, j]], if lstm { st.c[[row, j]] } else { 0.0 })
                } else {
                    (0.0, 0.0)
                };
                h0[row * hs + j] = hv;
                c0[row * hs + j] = cv;
            }
        }
    }
    let mr = rows_per_tile(isa);
    let act = config.activation;
    let ract = config.recurrent_activation;
    let mut call = Call {
        row_groups: 0,
        pk: &pk,
        b,
        t,
        d,
        u,
        tiles,
        mr,
        proj_rows: (super::gemm::ITEM_MACS / (d * gates * w * mr).max(1)).max(1) * mr,
        tc,
        x: x.as_ptr(),
        mask,
        z: ws.z.as_mut_ptr(),
        zs,
        h: [ws.h[0].as_mut_ptr(), ws.h[1].as_mut_ptr()],
        hs,
        c: ws.c.as_mut_ptr(),
        hold: ws.hold.as_mut_ptr(),
        rh: ws.rh.as_mut_ptr(),
        two_phase: reset_before,
        out: out.as_mut_ptr(),
        out_rs: out_steps * u,
        return_sequences: config.return_sequences,
        go_backwards: config.go_backwards,
        zero_output_for_mask: config.zero_output_for_mask,
        act,
        ract,
        fast: act == Activation::Tanh
            && (ract == Activation::Sigmoid || config.cell == CellKind::SimpleRnn),
    };
    let step_items = b.div_ceil(mr) * tiles;
    let step_macs = b.saturating_mul(u).saturating_mul(gates * u);
    let total =
        t.saturating_mul(step_macs.saturating_add(b.saturating_mul(d).saturating_mul(gates * u)));
    let members = team_size(step_macs, total, step_items);
    // Enough rows for every member to own half a row block or more: split the rows, not the
    // units. A member then runs its rows' whole sequence (projection and steps) with no
    // barrier at all: the rows of a batch never meet. Else the units of every step are
    // shared, one barrier per step.
    // (half a row block per member or more: fewer rows read all of R on every member)
    if members > 1 && b >= members * mr.div_ceil(2) {
        call.row_groups = members;
    }
    let team = Team::new(members);
    let step_phases = if reset_before { 2 } else { 1 };
    let phases = if call.row_groups > 0 {
        1
    } else {
        chunks + t * step_phases
    };
    let call = call;
    let items = |q: usize| call.items(q);
    let work = |q: usize, i: usize| {
        // SAFETY: the ISA was checked supported (current_isa), the call's pointers cover its
        // buffers, and the team gives every (phase, item) to one thread, after the previous
        // phase finished.
        unsafe { call.item(q, i) }
    };
    team.run(phases, &items, &work);
    let hf = ws.h[t % 2].as_slice();
    let (cf, holdf) = (ws.c.as_slice(), ws.hold.as_slice());
    let StateViews {
        mut h,
        mut c,
        hold: mut hold_out,
    } = st;
    for row in 0..b {
        for j in 0..u {
            h[[row, j]] = hf[row * hs + j];
            if lstm {
                c[[row, j]] = cf[row * hs + j];
            }
            hold_out[[row, j]] = holdf[row * hs + j];
        }
    }
    Ok(out)
}

/// Everything the items of one call share (raw pointers: the team's threads write disjoint
/// parts of the buffers, phase after phase).
struct Call<'a> {
    /// Row mode: this many groups of row blocks, each run through the whole call by one
    /// member in one phase; 0 = phases of projection and steps shared by unit tiles.
    row_groups: usize,
    pk: &'a PackedLstm,
    b: usize,
    t: usize,
    d: usize,
    u: usize,
    tiles: usize,
    mr: usize,
    /// Rows per projection item (whole row blocks).
    proj_rows: usize,
    /// Steps per projection chunk.
    tc: usize,
    x: *const f32,
    mask: Option<ArrayView2<'a, bool>>,
    z: *mut f32,
    /// Floats per row of Z (tiles·GW).
    zs: usize,
    h: [*mut f32; 2],
    /// Floats per row of h, c, hold (tiles·W).
    hs: usize,
    /// c; a GRU with `reset_after=False`: z of the step (from its first phase).
    c: *mut f32,
    hold: *mut f32,
    /// A GRU with `reset_after=False`: r ⊙ h of the step (from its first phase).
    rh: *mut f32,
    /// A GRU with `reset_after=False`: two phases per step, z and r (and r ⊙ h), then the
    /// candidate's product (r ⊙ h)·R_h and the cell.
    two_phase: bool,
    out: *mut f32,
    out_rs: usize,
    return_sequences: bool,
    go_backwards: bool,
    zero_output_for_mask: bool,
    act: Activation,
    ract: Activation,
    fast: bool,
}

// SAFETY: the raw pointers are only written at disjoint places by different threads within a
// phase, and phases are ordered by the team's barrier (see `item`).
unsafe impl Sync for Call<'_> {}

enum Phase {
    /// Row mode: the whole call, one item per row group.
    Rows,
    /// The projection of chunk `c`.
    Project(usize),
    /// Step `k` in processing order, its phase (0; 0 or 1 with `two_phase`).
    Step(usize, usize),
}

impl Call<'_> {
    fn phase(&self, q: usize) -> Phase {
        if self.row_groups > 0 {
            return Phase::Rows;
        }
        let sp = if self.two_phase { 2 } else { 1 };
        let per = self.tc * sp + 1;
        let (c, r) = (q / per, q % per);
        if r == 0 {
            Phase::Project(c)
        } else {
            Phase::Step(c * self.tc + (r - 1) / sp, (r - 1) % sp)
        }
    }

    /// Steps in chunk `c`.
    fn chunk_len(&self, c: usize) -> usize {
        self.tc.min(self.t - c * self.tc)
    }

    fn items(&self, q: usize) -> usize {
        match self.phase(q) {
            Phase::Rows => self.row_groups,
            Phase::Project(c) => (self.chunk_len(c) * self.b).div_ceil(self.proj_rows) * self.tiles,
            Phase::Step(..) => self.b.div_ceil(self.mr) * self.tiles,
        }
    }

    fn t_in(&self, k: usize) -> usize {
        if self.go_backwards { self.t - 1 - k } else { k }
    }

    /// Item `i` of phase `q` on the call's ISA.
    ///
    /// # Safety
    /// See `run_sequence`.
    unsafe fn item(&self, q: usize, i: usize) {
        unsafe {
            match self.pk.isa {
                #[cfg(target_arch = "x86_64")]
                Isa::Avx512 => item_avx512(self, q, i),
                #[cfg(target_arch = "x86_64")]
                Isa::Avx2 => item_avx2(self, q, i),
                #[cfg(not(target_arch = "x86_64"))]
                Isa::Avx512 | Isa::Avx2 => item_generic::<Portable, 4>(self, q, i),
                Isa::Portable => item_generic::<Portable, 4>(self, q, i),
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn item_avx512(call: &Call<'_>, q: usize, i: usize) {
    unsafe { item_generic::<super::simd::Avx512, 6>(call, q, i) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn item_avx2(call: &Call<'_>, q: usize, i: usize) {
    unsafe { item_generic::<super::simd::Avx2, 3>(call, q, i) }
}

#[inline(always)]
unsafe fn item_generic<S: Simd, const MR: usize>(call: &Call<'_>, q: usize, i: usize) {
    unsafe {
        match call.pk.gates {
            1 => item_gates::<S, MR, 1>(call, q, i),
            3 => item_gates::<S, MR, 3>(call, q, i),
            _ => item_gates::<S, MR, 4>(call, q, i),
        }
    }
}

#[inline(always)]
unsafe fn item_gates<S: Simd, const MR: usize, const G: usize>(
    call: &Call<'_>,
    q: usize,
    i: usize,
) {
    unsafe {
        match call.phase(q) {
            Phase::Project(c) => project::<S, MR, G>(call, c, i),
            Phase::Step(k, part) if call.two_phase => {
                let blocks = call.b.div_ceil(MR);
                let (tile, rb) = (i / blocks, i % blocks);
                let b0 = rb * MR;
                let n = MR.min(call.b - b0);
                if part == 0 {
                    gru_zr_block::<S, MR>(call, k, tile, b0, n)
                } else {
                    gru_h_block::<S, MR>(call, k, tile, b0, n)
                }
            }
            Phase::Step(k, _) => step_rows::<S, MR, G>(call, k, i),
            Phase::Rows => rows_whole::<S, MR, G>(call, i),
        }
    }
}

/// Row mode, item `g`: rows `B·g/G .. B·(g+1)/G` (the groups differ by one row at most)
/// through the whole call, chunk by chunk: their projection, then their steps (per step
/// every tile, and per tile every block of MR rows of the group, so that a panel serves the
/// group's rows in a row).
#[inline(always)]
unsafe fn rows_whole<S: Simd, const MR: usize, const G: usize>(call: &Call<'_>, g: usize) {
    let groups = call.row_groups;
    let (r0, r1) = (call.b * g / groups, call.b * (g + 1) / groups);
    let chunks = call.t.div_ceil(call.tc);
    for c in 0..chunks {
        let len = call.chunk_len(c);
        for tile in 0..call.tiles {
            for tl in 0..len {
                let mut bi = r0;
                while bi < r1 {
                    let n = MR.min(r1 - bi);
                    unsafe { project_block::<S, MR, G>(call, c, tile, tl * call.b + bi, n) };
                    bi += n;
                }
            }
        }
        for tl in 0..len {
            let k = c * call.tc + tl;
            for part in 0..if call.two_phase { 2 } else { 1 } {
                for tile in 0..call.tiles {
                    let mut bi = r0;
                    while bi < r1 {
                        let n = MR.min(r1 - bi);
                        unsafe {
                            match (call.two_phase, part) {
                                (false, _) => step_block::<S, MR, G>(call, k, tile, bi, n),
                                (true, 0) => gru_zr_block::<S, MR>(call, k, tile, bi, n),
                                _ => gru_h_block::<S, MR>(call, k, tile, bi, n),
                            }
                        };
                        bi += n;
                    }
                }
            }
        }
    }
}

/// Projection item `i` of chunk `c`: a group of rows (step, batch row) of the chunk × one
/// tile, in blocks of MR rows.
#[inline(always)]
unsafe fn project<S: Simd, const MR: usize, const G: usize>(call: &Call<'_>, c: usize, i: usize) {
    let rows = call.chunk_len(c) * call.b;
    let groups = rows.div_ceil(call.proj_rows);
    let (tile, g) = (i / groups, i % groups);
    let end = ((g + 1) * call.proj_rows).min(rows);
    let mut r0 = g * call.proj_rows;
    while r0 < end {
        let n = MR.min(end - r0);
        unsafe { project_block::<S, MR, G>(call, c, tile, r0, n) };
        r0 += n;
    }
}

/// Rows `r0 .. r0 + n` (n ≤ MR) of chunk `c`'s projection, tile `tile`.
#[inline(always)]
unsafe fn project_block<S: Simd, const MR: usize, const G: usize>(
    call: &Call<'_>,
    c: usize,
    tile: usize,
    r0: usize,
    n: usize,
) {
    let w = S::LANES;
    let mut a = [std::ptr::null::<f32>(); MR];
    for (r, slot) in a.iter_mut().enumerate().take(n) {
        let (tl, bi) = ((r0 + r) / call.b, (r0 + r) % call.b);
        let t_in = call.t_in(c * call.tc + tl);
        // SAFETY: bi < B, t_in < T: a row of x
        *slot = unsafe { call.x.add((bi * call.t + t_in) * call.d) };
    }
    unsafe {
        let panel = call.pk.kernel.panel(tile);
        let bias = call.pk.bias.as_ptr().add(tile * G * w);
        tile_dyn::<S, MR, G>(
            n,
            call.d,
            &a,
            panel,
            G * w,
            #[inline(always)]
            |r, acc| {
                let dst = call.z.add((r0 + r) * call.zs + tile * G * w);
                for (g, v) in acc.iter().enumerate() {
                    S::store(dst.add(g * w), S::add(*v, S::load(bias.add(g * w))));
                }
            },
        );
    }
}

/// Step `k`, item `i`: row block `i % blocks` × unit tile `i / blocks`.
#[inline(always)]
unsafe fn step_rows<S: Simd, const MR: usize, const G: usize>(call: &Call<'_>, k: usize, i: usize) {
    let blocks = call.b.div_ceil(MR);
    let (tile, rb) = (i / blocks, i % blocks);
    let b0 = rb * MR;
    unsafe { step_block::<S, MR, G>(call, k, tile, b0, MR.min(call.b - b0)) }
}

/// Step `k` for rows `b0 .. b0 + n` (n ≤ MR) × one tile of W units — the recurrent product
/// in registers, then the cell update of those units (the LSTM's, a GRU's or a SimpleRNN's,
/// by `G`).
#[inline(always)]
#[allow(clippy::needless_range_loop)] // the lane index j runs over four gate arrays at once
unsafe fn step_block<S: Simd, const MR: usize, const G: usize>(
    call: &Call<'_>,
    k: usize,
    tile: usize,
    b0: usize,
    n: usize,
) {
    let w = S::LANES;
    let (hp, hn) = (call.h[k % 2], call.h[(k + 1) % 2]);
    let mut a = [std::ptr::null::<f32>(); MR];
    for (r, slot) in a.iter_mut().enumerate().take(n) {
        // SAFETY: row b0 + r < B of h
        *slot = unsafe { hp.add((b0 + r) * call.hs) };
    }
    let t_in = call.t_in(k);
    let tl = k % call.tc;
    let lanes = w.min(call.u - tile * w);
    let write_out = call.return_sequences || k + 1 == call.t;
    let out_col = if call.return_sequences { k * call.u } else { 0 } + tile * w;
    unsafe {
        let panel = call.pk.recurrent.panel(tile);
        let rbias = call.pk.rbias.as_ptr().add(tile * G * w);
        tile_dyn::<S, MR, G>(
            n,
            call.u,
            &a,
            panel,
            G * w,
            #[inline(always)]
            |r, acc| {
                let bi = b0 + r;
                let off = bi * call.hs + tile * w;
                let (cp, hpp, hnp, holdp) = (
                    call.c.add(off),
                    hp.add(off),
                    hn.add(off),
                    call.hold.add(off),
                );
                let outp = call.out.add(bi * call.out_rs + out_col);
                let valid = call.mask.is_none_or(|m| m[[bi, t_in]]);
                if !valid {
                    S::store(hnp, S::load(hpp));
                    if write_out {
                        if call.zero_output_for_mask {
                            std::ptr::write_bytes(outp, 0, lanes);
                        } else {
                            std::ptr::copy_nonoverlapping(holdp, outp, lanes);
                        }
                    }
                    return;
                }
                let zp = call.z.add((tl * call.b + bi) * call.zs + tile * G * w);
                if G != 4 {
                    let h_new = other_cell::<S, G>(call, acc, zp, rbias, hpp, lanes);
                    S::store(hnp, h_new);
                    S::store(holdp, h_new);
                    if write_out {
                        if lanes == w {
                            S::store(outp, h_new);
                        } else {
                            std::ptr::copy_nonoverlapping(hnp, outp, lanes);
                        }
                    }
                    return;
                }
                // (no closures here: a closure would not inherit the caller's target features,
                // and the intrinsics in it would become calls)
                let pre: [S::V; 4] = [
                    S::add(acc[0], S::load(zp)),
                    S::add(acc[1], S::load(zp.add(w))),
                    S::add(acc[2], S::load(zp.add(2 * w))),
                    S::add(acc[3], S::load(zp.add(3 * w))),
                ];
                let cv = S::load(cp);
                if call.fast
                    && S::all_finite(pre[0])
                    && S::all_finite(pre[1])
                    && S::all_finite(pre[2])
                    && S::all_finite(pre[3])
                    && S::all_finite(cv)
                {
                    let ig = S::sigmoid(pre[0]);
                    let fg = S::sigmoid(pre[1]);
                    let gg = S::tanh(pre[2]);
                    let og = S::sigmoid(pre[3]);
                    let c_new = S::add(S::mul(fg, cv), S::mul(ig, gg));
                    let h_new = S::mul(og, S::tanh(c_new));
                    S::store(cp, c_new);
                    S::store(hnp, h_new);
                    S::store(holdp, h_new);
                    if write_out {
                        if lanes == w {
                            S::store(outp, h_new);
                        } else {
                            std::ptr::copy_nonoverlapping(hnp, outp, lanes);
                        }
                    }
                    return;
                }
                // the exact cell, unit by unit (other activations, or NaN / ±∞ about)
                let mut z4 = [[0.0f32; 16]; 4];
                for g in 0..4 {
                    S::store(z4[g].as_mut_ptr(), pre[g]);
                }
                for j in 0..lanes {
                    let (c_new, h_new) = cell(
                        [z4[0][j], z4[1][j], z4[2][j], z4[3][j]],
                        *cp.add(j),
                        call.act,
                        call.ract,
                    );
                    *cp.add(j) = c_new;
                    *hnp.add(j) = h_new;
                    *holdp.add(j) = h_new;
                    if write_out {
                        *outp.add(j) = h_new;
                    }
                }
            },
        );
    }
}

/// The GRU (`reset_after`, G = 3) or SimpleRNN (G = 1) update of one tile of one row from
/// its recurrent products `acc` (h·R, tile columns), the projection at `zp` (x·K + b), the
/// recurrent bias at `rbias` and h at `hp`: h'. Keras's order (`cell::gru_cell`): the
/// recurrent product with its bias, then added to the projection. Vector sigmoid / tanh (bit
/// for bit the scalar fast paths) while every activation's input is finite, else the exact
/// scalar cell lane by lane (`cell::gru_cell` / `simple_rnn_cell`'s arithmetic; other
/// activations, NaN / ±∞).
#[inline(always)]
unsafe fn other_cell<S: Simd, const G: usize>(
    call: &Call<'_>,
    acc: &[S::V; G],
    zp: *const f32,
    rbias: *const f32,
    hp: *const f32,
    lanes: usize,
) -> S::V {
    let w = S::LANES;
    unsafe {
        let mut x = [S::splat(0.0); G];
        let mut rec = [S::splat(0.0); G];
        for g in 0..G {
            x[g] = S::load(zp.add(g * w));
            rec[g] = S::add(acc[g], S::load(rbias.add(g * w)));
        }
        let h = S::load(hp);
        if G == 1 {
            let pre = S::add(x[0], rec[0]);
            if call.fast && S::all_finite(pre) {
                return S::tanh(pre);
            }
        } else if call.fast {
            let pz = S::add(x[0], rec[0]);
            let pr = S::add(x[1], rec[1]);
            if S::all_finite(pz) && S::all_finite(pr) {
                let z = S::sigmoid(pz);
                let rg = S::sigmoid(pr);
                let ph = S::add(x[2], S::mul(rg, rec[2]));
                if S::all_finite(ph) {
                    let hh = S::tanh(ph);
                    return S::add(S::mul(z, h), S::mul(S::sub(S::splat(1.0), z), hh));
                }
            }
        }
        // the exact cell, unit by unit
        let mut xs = [[0.0f32; 16]; G];
        let mut rs = [[0.0f32; 16]; G];
        let mut hs = [0.0f32; 16];
        for g in 0..G {
            S::store(xs[g].as_mut_ptr(), x[g]);
            S::store(rs[g].as_mut_ptr(), rec[g]);
        }
        S::store(hs.as_mut_ptr(), h);
        let mut out = [0.0f32; 16];
        for j in 0..lanes {
            out[j] = if G == 1 {
                call.act.apply(xs[0][j] + rs[0][j])
            } else {
                gru_unit(
                    [xs[0][j], xs[1 % G][j], xs[2 % G][j]],
                    [rs[0][j], rs[1 % G][j], rs[2 % G][j]],
                    hs[j],
                    call.act,
                    call.ract,
                )
            };
        }
        S::load(out.as_ptr())
    }
}

/// A GRU with `reset_after=False`, step `k`'s first phase for rows `b0 .. b0 + n` × one
/// tile: h·[R_z R_r] in registers, z = ract(x_z + ·) and r = ract(x_r + ·) (Keras's
/// `cell::gru_cell` order), z kept in the c buffer and r ⊙ h in `rh` for the second phase.
/// Masked rows are left to the second phase.
#[inline(always)]
unsafe fn gru_zr_block<S: Simd, const MR: usize>(
    call: &Call<'_>,
    k: usize,
    tile: usize,
    b0: usize,
    n: usize,
) {
    let w = S::LANES;
    let hp = call.h[k % 2];
    let mut a = [std::ptr::null::<f32>(); MR];
    for (r, slot) in a.iter_mut().enumerate().take(n) {
        // SAFETY: row b0 + r < B of h
        *slot = unsafe { hp.add((b0 + r) * call.hs) };
    }
    let t_in = call.t_in(k);
    let tl = k % call.tc;
    unsafe {
        let panel = call.pk.recurrent.panel(tile);
        tile_dyn::<S, MR, 2>(
            n,
            call.u,
            &a,
            panel,
            2 * w,
            #[inline(always)]
            |r, acc| {
                let bi = b0 + r;
                if !call.mask.is_none_or(|m| m[[bi, t_in]]) {
                    return;
                }
                let off = bi * call.hs + tile * w;
                let zp = call.z.add((tl * call.b + bi) * call.zs + tile * 3 * w);
                let pz = S::add(S::load(zp), acc[0]);
                let pr = S::add(S::load(zp.add(w)), acc[1]);
                let h = S::load(hp.add(off));
                let (zg, rg) = if call.fast && S::all_finite(pz) && S::all_finite(pr) {
                    (S::sigmoid(pz), S::sigmoid(pr))
                } else {
                    let (mut a0, mut a1) = ([0.0f32; 16], [0.0f32; 16]);
                    S::store(a0.as_mut_ptr(), pz);
                    S::store(a1.as_mut_ptr(), pr);
                    for j in 0..w {
                        a0[j] = call.ract.apply(a0[j]);
                        a1[j] = call.ract.apply(a1[j]);
                    }
                    (S::load(a0.as_ptr()), S::load(a1.as_ptr()))
                };
                S::store(call.c.add(off), zg);
                S::store(call.rh.add(off), S::mul(rg, h));
            },
        );
    }
}

/// A GRU with `reset_after=False`, step `k`'s second phase for rows `b0 .. b0 + n` × one
/// tile: (r ⊙ h)·R_h in registers, h~ = act(x_h + ·), h' = z·h + (1 − z)·h~; masked rows
/// as [`step_block`].
#[inline(always)]
unsafe fn gru_h_block<S: Simd, const MR: usize>(
    call: &Call<'_>,
    k: usize,
    tile: usize,
    b0: usize,
    n: usize,
) {
    let w = S::LANES;
    let (hp, hn) = (call.h[k % 2], call.h[(k + 1) % 2]);
    let mut a = [std::ptr::null::<f32>(); MR];
    for (r, slot) in a.iter_mut().enumerate().take(n) {
        // SAFETY: row b0 + r < B of rh
        *slot = unsafe { call.rh.add((b0 + r) * call.hs) };
    }
    let t_in = call.t_in(k);
    let tl = k % call.tc;
    let lanes = w.min(call.u - tile * w);
    let write_out = call.return_sequences || k + 1 == call.t;
    let out_col = if call.return_sequences { k * call.u } else { 0 } + tile * w;
    let Some(rh_panel) = call.pk.recurrent_h.as_ref() else {
        return;
    };
    unsafe {
        let panel = rh_panel.panel(tile);
        tile_dyn::<S, MR, 1>(
            n,
            call.u,
            &a,
            panel,
            w,
            #[inline(always)]
            |r, acc| {
                let bi = b0 + r;
                let off = bi * call.hs + tile * w;
                let (hpp, hnp, holdp) = (hp.add(off), hn.add(off), call.hold.add(off));
                let outp = call.out.add(bi * call.out_rs + out_col);
                if !call.mask.is_none_or(|m| m[[bi, t_in]]) {
                    S::store(hnp, S::load(hpp));
                    if write_out {
                        if call.zero_output_for_mask {
                            std::ptr::write_bytes(outp, 0, lanes);
                        } else {
                            std::ptr::copy_nonoverlapping(holdp, outp, lanes);
                        }
                    }
                    return;
                }
                let zp = call.z.add((tl * call.b + bi) * call.zs + tile * 3 * w);
                let ph = S::add(S::load(zp.add(2 * w)), acc[0]);
                let hh = if call.fast && S::all_finite(ph) {
                    S::tanh(ph)
                } else {
                    let mut a0 = [0.0f32; 16];
                    S::store(a0.as_mut_ptr(), ph);
                    for v in a0.iter_mut().take(w) {
                        *v = call.act.apply(*v);
                    }
                    S::load(a0.as_ptr())
                };
                let zg = S::load(call.c.add(off));
                let h_new = S::add(
                    S::mul(zg, S::load(hpp)),
                    S::mul(S::sub(S::splat(1.0), zg), hh),
                );
                S::store(hnp, h_new);
                S::store(holdp, h_new);
                if write_out {
                    if lanes == w {
                        S::store(outp, h_new);
                    } else {
                        std::ptr::copy_nonoverlapping(hnp, outp, lanes);
                    }
                }
            },
        );
    }
}

/// The exact GRU cell of one unit with `reset_after` (`cell::gru_cell`, the same arithmetic;
/// not imported from there, which imports this module).
#[inline(always)]
fn gru_unit(x: [f32; 3], rec: [f32; 3], h: f32, act: Activation, ract: Activation) -> f32 {
    let z = ract.apply(x[0] + rec[0]);
    let r = ract.apply(x[1] + rec[1]);
    let hh = act.apply(x[2] + r * rec[2]);
    z * h + (1.0 - z) * hh
}

/// The exact LSTM cell of one unit (`cpu::lstm_cell`).
#[inline(always)]
fn cell(z4: [f32; 4], c: f32, act: Activation, ract: Activation) -> (f32, f32) {
    let (i, f, g, o) = (
        ract.apply(z4[0]),
        ract.apply(z4[1]),
        act.apply(z4[2]),
        ract.apply(z4[3]),
    );
    let c_new = f * c + i * g;
    (c_new, o * act.apply(c_new))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::activation::{sigmoid_finite, tanh_finite};

    /// The vector sigmoid and tanh of every ISA this CPU has equal the scalar fast paths
    /// bit for bit over [-90, 90] (and ±∞ for tanh).
    #[test]
    fn vector_activations_equal_the_scalar_fast_paths() {
        fn sweep<S: Simd>() {
            let w = S::LANES;
            let mut xs: Vec<f32> = (-1_800_000..=1_800_000).map(|i| i as f32 * 5e-5).collect();
            xs.extend([f32::INFINITY, f32::NEG_INFINITY, 0.0, -0.0, 1e-30, -1e-30]);
            while !xs.len().is_multiple_of(w) {
                xs.push(0.5);
            }
            let mut s = vec![0.0f32; w];
            let mut th = vec![0.0f32; w];
            for chunk in xs.chunks(w) {
                unsafe {
                    let v = S::load(chunk.as_ptr());
                    S::store(s.as_mut_ptr(), S::sigmoid(v));
                    S::store(th.as_mut_ptr(), S::tanh(v));
                }
                for (j, x) in chunk.iter().enumerate() {
                    assert_eq!(th[j].to_bits(), tanh_finite(*x).to_bits(), "tanh({x})");
                    if x.is_finite() {
                        assert_eq!(s[j].to_bits(), sigmoid_finite(*x).to_bits(), "sigmoid({x})");
                    }
                }
            }
        }
        sweep::<Portable>();
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2,fma")]
            fn avx2() {
                sweep::<super::super::simd::Avx2>()
            }
            #[target_feature(enable = "avx512f")]
            fn avx512() {
                sweep::<super::super::simd::Avx512>()
            }
            if Isa::Avx2.supported() {
                unsafe { avx2() }
            }
            if Isa::Avx512.supported() {
                unsafe { avx512() }
            }
        }
    }
}
