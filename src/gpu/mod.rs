//! The GPU path: Keras models as WGSL compute shaders on wgpu.
//!
//! * [`GpuContext`] (`context.rs`): adapter choice, device, per-call error scopes, buffer
//!   helpers and work counters;
//! * [`kernels`] (`kernels.rs`): the WGSL sources, layouts and pipelines, built once;
//! * [`gemm`] (`gemm.rs`): the dispatch plan of the tiled GEMM;
//! * `executor.rs`: runs a plan — one encoder, one submit per call, the one place that
//!   splits big calls;
//! * `ops/`: the GPU half of each layer kind;
//! * `state.rs`: recurrent states that stay on the GPU between calls;
//! * [`options`] (`options.rs`): per-call choices and what a call reports.

pub(crate) mod context;
pub(crate) mod executor;
pub mod gemm;
pub mod kernels;
pub(crate) mod ops;
pub mod options;
pub(crate) mod state;

pub use context::{AdapterSummary, GpuContext, GpuOptions, GpuStats, LOOP_BUDGET, list_adapters};
pub use options::{CallOptions, CallReport, DEFAULT_SCRATCH_BUDGET, KernelChoice};
