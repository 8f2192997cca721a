//! Per-call choices for the GPU executor ([`CallOptions`]) and what a call reports back
//! ([`CallReport`]). They travel with each call, never as settings on the shared
//! [`crate::gpu::GpuContext`], so threads sharing a context cannot change each other's calls.

/// Which recurrent kernel an LSTM uses.
///
/// ```
/// assert_eq!(wgpu_lstm::gpu::KernelChoice::default(), wgpu_lstm::gpu::KernelChoice::Auto);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KernelChoice {
    /// By shape: the persistent kernel for units ≤ 256, else one dispatch per timestep (with
    /// subgroup shuffles where the device has them).
    #[default]
    Auto,
    /// Always one dispatch per timestep, the k-split reduced in workgroup memory
    /// (`lstm_step.wgsl`).
    PerStep,
    /// Always one dispatch per timestep, the k-split reduced by subgroup shuffles
    /// (`lstm_step_subgroup.wgsl`) where the device has `SUBGROUP`, else as `PerStep`.
    PerStepSubgroup,
    /// The persistent kernel (`lstm_sequence.wgsl`) wherever it applies (units ≤ 256).
    Persistent,
}

/// Default budget for the GPU memory one call's tensors and scratch may take: 256 MiB.
pub const DEFAULT_SCRATCH_BUDGET: u64 = 256 << 20;

/// Choices for one call on the GPU. [`CallOptions::default`] is what `call` / `predict` use.
///
/// ```
/// use wgpu_lstm::gpu::{CallOptions, KernelChoice};
/// let opts = CallOptions { kernel: KernelChoice::PerStep, ..CallOptions::default() };
/// assert_eq!(opts.scratch_budget, wgpu_lstm::gpu::DEFAULT_SCRATCH_BUDGET);
/// assert!(!opts.poison && !opts.gpu_timing);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallOptions {
    /// The recurrent kernel (default [`KernelChoice::Auto`]).
    pub kernel: KernelChoice,
    /// GPU memory the call's tensors and scratch may take (default
    /// [`DEFAULT_SCRATCH_BUDGET`]): a call that needs more, or more than one storage binding
    /// of the device, is split over batch rows (and over time where the model allows) with
    /// identical results.
    pub scratch_budget: u64,
    /// Debugging aid for tests: fill every output and scratch buffer with NaN before the call,
    /// so an element a kernel fails to write shows up as NaN instead of a stale value.
    pub poison: bool,
    /// Bracket the call's compute passes with timestamp queries (where the adapter has
    /// `TIMESTAMP_QUERY`); the time is in [`CallReport::gpu_time_ns`].
    pub gpu_timing: bool,
}

impl Default for CallOptions {
    fn default() -> Self {
        CallOptions {
            kernel: KernelChoice::Auto,
            scratch_budget: DEFAULT_SCRATCH_BUDGET,
            poison: false,
            gpu_timing: false,
        }
    }
}

/// What the last GPU call of a layer or model did.
///
/// ```
/// let r = wgpu_lstm::gpu::CallReport::default();
/// assert_eq!(r.parts, 0);
/// assert!(r.gpu_time_ns.is_none());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallReport {
    /// The recurrent kernel the call's last LSTM dispatched: `"persistent"`, `"per-step"`,
    /// `"per-step-subgroup"`, or `""` when it ran none.
    pub kernel: &'static str,
    /// How many submits the call was split into (1 when it fit).
    pub parts: usize,
    /// GPU time of the call's compute passes in nanoseconds (summed over its parts), with
    /// [`CallOptions::gpu_timing`] on a device that has timestamp queries.
    pub gpu_time_ns: Option<u64>,
    /// Compute dispatches recorded.
    pub dispatches: u64,
}
