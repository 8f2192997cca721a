//! [`Device`]: where a layer runs — the CPU reference path or a GPU context.

use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::GpuContext;

/// Where a layer runs.
///
/// ```
/// use wgpu_lstm::Device;
/// let cpu = Device::Cpu;
/// assert_eq!(cpu.name(), "cpu");
/// assert!(Device::from_name("tpu").is_err());
/// ```
#[derive(Debug, Clone)]
pub enum Device {
    /// The CPU reference path (ndarray).
    Cpu,
    /// A GPU through wgpu.
    Gpu(Arc<GpuContext>),
}

impl Device {
    /// The default GPU (see [`GpuContext::new`]).
    ///
    /// ```no_run
    /// let gpu = wgpu_lstm::Device::gpu().expect("a GPU adapter");
    /// ```
    pub fn gpu() -> Result<Device> {
        Ok(Device::Gpu(GpuContext::new()?))
    }

    /// `"cpu"` → [`Device::Cpu`], `"gpu"` → [`Device::gpu`]; anything else is an error.
    ///
    /// ```
    /// assert!(matches!(wgpu_lstm::Device::from_name("cpu"), Ok(wgpu_lstm::Device::Cpu)));
    /// ```
    pub fn from_name(name: &str) -> Result<Device> {
        match name {
            "cpu" => Ok(Device::Cpu),
            "gpu" => Device::gpu(),
            other => Err(Error::config(
                "device",
                format!("`{other}` is not one of cpu, gpu"),
            )),
        }
    }

    /// `"cpu"` or the GPU adapter's name.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::Device::Cpu.name(), "cpu");
    /// ```
    pub fn name(&self) -> String {
        match self {
            Device::Cpu => "cpu".into(),
            Device::Gpu(ctx) => ctx.adapter_name().to_string(),
        }
    }
}
