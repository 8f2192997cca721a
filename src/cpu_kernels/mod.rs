//! The CPU path's compute kernels: weights packed once in the layout the micro-kernel reads,
//! a register-blocked micro-kernel for each vector unit (chosen at run time), the LSTM
//! recurrence with its cell update fused into the recurrent product per tile, and a team of
//! threads with one barrier per step.
//!
//! | piece | what |
//! |---|---|
//! | `simd.rs` | the vector ISAs behind one trait (AVX-512F, AVX2 + FMA, portable; the portable form is NEON code on aarch64) and the vector `exp` / sigmoid / tanh, bit-identical to the scalar fast paths |
//! | `gemm.rs` | panels, the `MR × G` vector micro-kernel (G gate blocks), the in-place product of Dense and Conv1D |
//! | `team.rs` | the work-sharing team (phases of items, one barrier per phase) |
//! | `lstm.rs` | the packed LSTM, GRU and SimpleRNN (`LstmPack`) and the fused sequence loop |
//!
//! The ISA is the widest the CPU has ([`Isa::detected`]); [`with_options`] forces another one
//! or a team size for the calls a closure makes on this thread (tests run every path the CPU
//! has this way), and the environment variables `WGPU_LSTM_CPU_ISA` (`avx512`, `avx2`,
//! `portable`) and `WGPU_LSTM_CPU_THREADS` (a team size for every call, however small)
//! set the defaults for a whole process (benchmarks).
//!
//! ```
//! use wgpu_lstm::cpu_kernels::{self, Isa, KernelOptions};
//! assert!(Isa::available().contains(&Isa::Portable));
//! let isa = cpu_kernels::with_options(KernelOptions { isa: Some(Isa::Portable), ..Default::default() }, || {
//!     cpu_kernels::current_isa()
//! })
//! .unwrap();
//! assert_eq!(isa, Isa::Portable);
//! ```

use std::cell::Cell;
use std::sync::OnceLock;

pub(crate) mod gemm;
pub(crate) mod lstm;
pub(crate) mod simd;
pub(crate) mod team;

pub(crate) use lstm::LstmPack;

/// A vector instruction set the CPU kernels can run on.
///
/// ```
/// use wgpu_lstm::cpu_kernels::Isa;
/// assert_eq!(Isa::Portable.lanes(), 8);
/// assert!(Isa::available().contains(&Isa::detected()));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Isa {
    /// AVX-512F (x86-64): 16 f32 lanes, 32 vector registers.
    Avx512,
    /// AVX2 with FMA (x86-64): 8 lanes, 16 registers.
    Avx2,
    /// Plain Rust over 8-lane arrays, vectorised by the compiler for the target's baseline
    /// (SSE2 on x86-64; NEON with fused multiply-adds on aarch64).
    Portable,
}

impl Isa {
    /// f32 lanes per vector.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::cpu_kernels::Isa::Avx512.lanes(), 16);
    /// ```
    pub fn lanes(self) -> usize {
        match self {
            Isa::Avx512 => 16,
            Isa::Avx2 | Isa::Portable => 8,
        }
    }

    /// A short name (`avx512`, `avx2`, `portable`).
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::cpu_kernels::Isa::Avx2.name(), "avx2");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "avx512",
            Isa::Avx2 => "avx2",
            Isa::Portable => "portable",
        }
    }

    /// Whether this CPU runs it.
    ///
    /// ```
    /// assert!(wgpu_lstm::cpu_kernels::Isa::Portable.supported());
    /// ```
    pub fn supported(self) -> bool {
        match self {
            Isa::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => {
                std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
            }
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => std::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Every ISA this CPU runs, widest first.
    ///
    /// ```
    /// let all = wgpu_lstm::cpu_kernels::Isa::available();
    /// assert_eq!(all.last(), Some(&wgpu_lstm::cpu_kernels::Isa::Portable));
    /// ```
    pub fn available() -> Vec<Isa> {
        [Isa::Avx512, Isa::Avx2, Isa::Portable]
            .into_iter()
            .filter(|i| i.supported())
            .collect()
    }

    /// The widest ISA this CPU runs, narrowed by `WGPU_LSTM_CPU_ISA` when that names a
    /// supported one (read once per process).
    ///
    /// ```
    /// assert!(wgpu_lstm::cpu_kernels::Isa::detected().supported());
    /// ```
    pub fn detected() -> Isa {
        static ISA: OnceLock<Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            let widest = Isa::available()[0];
            match std::env::var("WGPU_LSTM_CPU_ISA").ok().as_deref() {
                Some(name) => Isa::from_name(name)
                    .filter(|i| i.supported())
                    .unwrap_or(widest),
                None => widest,
            }
        })
    }

    /// The ISA a name means (`avx512`, `avx2`, `portable`).
    ///
    /// ```
    /// use wgpu_lstm::cpu_kernels::Isa;
    /// assert_eq!(Isa::from_name("avx2"), Some(Isa::Avx2));
    /// assert_eq!(Isa::from_name("sse9"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Isa> {
        [Isa::Avx512, Isa::Avx2, Isa::Portable]
            .into_iter()
            .find(|i| i.name() == name.trim())
    }
}

/// Per-thread choices for the CPU kernels (see [`with_options`]); `None` = the default.
///
/// ```
/// let o = wgpu_lstm::cpu_kernels::KernelOptions::default();
/// assert!(o.isa.is_none() && o.threads.is_none() && o.chunk_steps.is_none());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelOptions {
    /// The ISA (default: [`Isa::detected`]).
    pub isa: Option<Isa>,
    /// Threads per call (default: chosen from the work and the number of cores); at least 1.
    pub threads: Option<usize>,
    /// Timesteps per input-projection chunk of an LSTM call (default: as many as fit
    /// 16 MiB of projection); at least 1. Tests make it small to cross chunk boundaries.
    pub chunk_steps: Option<usize>,
}

thread_local! {
    static OPTIONS: Cell<KernelOptions> = const {
        Cell::new(KernelOptions { isa: None, threads: None, chunk_steps: None })
    };
    static STATS: Cell<KernelStats> = const { Cell::new(KernelStats { packs: 0, allocations: 0 }) };
}

/// Runs `f` with `options` in force for the CPU kernels on this thread (restored afterwards,
/// also when `f` panics). An ISA this CPU lacks is an [`crate::Error::Unsupported`].
///
/// ```
/// use wgpu_lstm::cpu_kernels::{with_options, KernelOptions};
/// let n = with_options(KernelOptions { threads: Some(1), ..Default::default() }, || 7).unwrap();
/// assert_eq!(n, 7);
/// ```
pub fn with_options<R>(options: KernelOptions, f: impl FnOnce() -> R) -> crate::Result<R> {
    if let Some(isa) = options.isa
        && !isa.supported()
    {
        return Err(crate::Error::Unsupported(format!(
            "the CPU kernels for {} need CPU features this machine lacks",
            isa.name()
        )));
    }
    struct Restore(KernelOptions);
    impl Drop for Restore {
        fn drop(&mut self) {
            OPTIONS.with(|o| o.set(self.0));
        }
    }
    let _restore = Restore(OPTIONS.with(|o| o.replace(options)));
    Ok(f())
}

/// The ISA the CPU kernels use on this thread now.
///
/// ```
/// assert!(wgpu_lstm::cpu_kernels::current_isa().supported());
/// ```
pub fn current_isa() -> Isa {
    OPTIONS.with(|o| o.get().isa).unwrap_or_else(Isa::detected)
}

/// The projection chunk forced on this thread, if any.
pub(crate) fn forced_chunk_steps() -> Option<usize> {
    OPTIONS.with(|o| o.get().chunk_steps).map(|t| t.max(1))
}

/// The team size forced on this thread ([`with_options`]), else by `WGPU_LSTM_CPU_THREADS`
/// (read once per process), if any.
pub(crate) fn forced_threads() -> Option<usize> {
    static ENV: OnceLock<Option<usize>> = OnceLock::new();
    OPTIONS
        .with(|o| o.get().threads)
        .or_else(|| {
            *ENV.get_or_init(|| {
                std::env::var("WGPU_LSTM_CPU_THREADS")
                    .ok()
                    .and_then(|v| v.trim().parse().ok())
            })
        })
        .map(|t: usize| t.max(1))
}

/// What the CPU kernels did on this thread: weight packings and work-space allocations
/// (buffers that grow, counted when they do). A warm layer called again with inputs no
/// larger than before adds to neither: the test of "no allocation per call once warm".
///
/// ```
/// use wgpu_lstm::{cpu_kernels, Lstm, LstmConfig};
/// let mut l = Lstm::with_default_weights(LstmConfig::new(8), 3, 0).unwrap();
/// let x = ndarray::Array3::<f32>::ones((2, 5, 3));
/// l.forward(x.view()).unwrap();
/// let warm = cpu_kernels::thread_stats();
/// l.forward(x.view()).unwrap();
/// assert_eq!(cpu_kernels::thread_stats(), warm);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelStats {
    /// Weight packings (one per layer and ISA, at its first CPU call).
    pub packs: u64,
    /// Work-space allocations (packed weights, projection chunk, states; per growth).
    pub allocations: u64,
}

/// This thread's [`KernelStats`] so far.
///
/// ```
/// let s = wgpu_lstm::cpu_kernels::thread_stats();
/// assert!(s.packs <= s.allocations);
/// ```
pub fn thread_stats() -> KernelStats {
    STATS.with(|s| s.get())
}

pub(crate) fn count_allocation() {
    STATS.with(|s| {
        let mut v = s.get();
        v.allocations += 1;
        s.set(v);
    });
}

pub(crate) fn count_pack() {
    STATS.with(|s| {
        let mut v = s.get();
        v.packs += 1;
        s.set(v);
    });
}

/// The team size for a call whose phases do `step_work` multiply-adds each (between two
/// barriers), `total_work` in all, in `items` items per phase: one thread below 32 K
/// multiply-adds per phase (a barrier costs more than it saves) or 128 K in all (a few µs on
/// one core: handing work to a helper and waiting for it to leave cost more), else one per
/// core.
pub(crate) fn team_size(step_work: usize, total_work: usize, items: usize) -> usize {
    if let Some(t) = forced_threads() {
        return t.min(team::MAX_MEMBERS);
    }
    if step_work < (1 << 15) || total_work < (1 << 17) {
        return 1;
    }
    cores().min(items.max(1)).min(team::MAX_MEMBERS)
}

/// What the CPU path runs on this thread now: the ISA and the most threads a call uses
/// (what `wgpu-lstm bench` reports as the CPU's "driver").
///
/// ```
/// let d = wgpu_lstm::cpu_kernels::describe();
/// assert!(d.starts_with("cpu kernels "), "{d}");
/// ```
pub fn describe() -> String {
    let threads = forced_threads().map_or_else(
        || format!("up to {} threads", cores().min(team::MAX_MEMBERS)),
        |t| format!("{t} threads (forced)"),
    );
    format!("cpu kernels {}, {threads}", current_isa().name())
}

/// The cores this process may use (`std::thread::available_parallelism`, read once).
pub(crate) fn cores() -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}
