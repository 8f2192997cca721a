//! The GPU path: Keras's LSTM as WGSL compute shaders on wgpu.
//!
//! * [`GpuContext`] (`context.rs`): adapter choice, device, error capture;
//! * [`kernels`] (`kernels.rs`): the WGSL sources, layouts and pipelines, built once;
//! * `scheduler.rs`: one encoder, one compute pass, one submit per call;
//! * `state.rs`: h/c buffers that stay on the GPU between calls.

pub(crate) mod context;
pub mod gemm;
pub mod kernels;
pub(crate) mod model;
pub(crate) mod scheduler;
pub(crate) mod state;

pub use context::{
    AdapterSummary, DEFAULT_SCRATCH_BUDGET, GpuContext, GpuOptions, GpuStats, KernelChoice,
    LOOP_BUDGET, list_adapters,
};
pub(crate) use scheduler::GpuLstm;
