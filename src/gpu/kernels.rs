//! The WGSL kernels: shader sources, shader modules, bind-group layouts (built once per
//! context) and compute pipelines (built once per distinct set of `override` constants and
//! cached).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::config::LstmConfig;

/// `shaders/activation.wgsl`: the activations, prepended to kernels that use them.
pub const ACTIVATION_WGSL: &str = include_str!("../../shaders/activation.wgsl");
/// `shaders/input_projection.wgsl`: the input-projection GEMM.
pub const INPUT_PROJECTION_WGSL: &str = include_str!("../../shaders/input_projection.wgsl");
/// `shaders/lstm_step.wgsl`: the fused per-timestep kernel (needs [`ACTIVATION_WGSL`]).
pub const LSTM_STEP_WGSL: &str = include_str!("../../shaders/lstm_step.wgsl");

/// The full source of the step kernel: activation functions, then the kernel.
///
/// ```
/// let src = wgpu_lstm::gpu::kernels::lstm_step_source();
/// assert!(src.contains("fn act(") && src.contains("fn lstm_step("));
/// ```
pub fn lstm_step_source() -> String {
    format!("{ACTIVATION_WGSL}\n{LSTM_STEP_WGSL}")
}

/// Every kernel source as (name, WGSL), as the device compiles them, for validation.
///
/// ```
/// assert_eq!(wgpu_lstm::gpu::kernels::all_sources().len(), 3);
/// ```
pub fn all_sources() -> Vec<(&'static str, String)> {
    vec![
        ("activation.wgsl", ACTIVATION_WGSL.to_string()),
        ("input_projection.wgsl", INPUT_PROJECTION_WGSL.to_string()),
        ("activation.wgsl + lstm_step.wgsl", lstm_step_source()),
    ]
}

/// Size of one per-step uniform record (`Step` in lstm_step.wgsl).
pub(crate) const STEP_RECORD_BYTES: u64 = 32;
/// Workgroup size of the step kernel (`WG`).
pub(crate) const STEP_WG: u32 = 64;
/// Tile of the input projection (`TILE`).
pub(crate) const PROJ_TILE: u32 = 16;

/// The per-step uniform record.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct StepRecord {
    pub batch: u32,
    pub steps: u32,
    pub units: u32,
    pub has_mask: u32,
    pub k: u32,
    pub t_in: u32,
    pub h_read: u32,
    pub h_write: u32,
}

/// The input-projection dims uniform.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct ProjDims {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub pad: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct StepKey {
    act: u32,
    rec_act: u32,
    return_sequences: bool,
    zero_output_for_mask: bool,
}

/// Shader modules and bind-group layouts, made once per [`crate::gpu::GpuContext`].
pub(crate) struct Kernels {
    pub proj_layout: wgpu::BindGroupLayout,
    pub step_layout: wgpu::BindGroupLayout,
    proj_pipeline_layout: wgpu::PipelineLayout,
    step_pipeline_layout: wgpu::PipelineLayout,
    proj_module: wgpu::ShaderModule,
    step_module: wgpu::ShaderModule,
    proj_pipeline: Mutex<Option<wgpu::ComputePipeline>>,
    step_pipelines: Mutex<HashMap<StepKey, wgpu::ComputePipeline>>,
}

fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

fn uniform_entry(binding: u32, dynamic: bool, size: u64) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: dynamic,
            min_binding_size: wgpu::BufferSize::new(size),
        },
        count: None,
    }
}

impl Kernels {
    pub fn new(device: &wgpu::Device) -> Self {
        let proj_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("input_projection"),
            entries: &[
                storage_entry(0, true),
                storage_entry(1, true),
                storage_entry(2, true),
                storage_entry(3, false),
                uniform_entry(4, false, 16),
            ],
        });
        let step_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("lstm_step"),
            entries: &[
                storage_entry(0, true),
                storage_entry(1, true),
                storage_entry(2, true),
                storage_entry(3, false),
                storage_entry(4, false),
                storage_entry(5, false),
                storage_entry(6, false),
                uniform_entry(7, true, STEP_RECORD_BYTES),
            ],
        });
        let pipeline_layout = |label, layout| {
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some(label),
                bind_group_layouts: &[Some(layout)],
                immediate_size: 0,
            })
        };
        let proj_pipeline_layout = pipeline_layout("input_projection", &proj_layout);
        let step_pipeline_layout = pipeline_layout("lstm_step", &step_layout);
        let proj_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("input_projection.wgsl"),
            source: wgpu::ShaderSource::Wgsl(INPUT_PROJECTION_WGSL.into()),
        });
        let step_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("lstm_step.wgsl"),
            source: wgpu::ShaderSource::Wgsl(lstm_step_source().into()),
        });
        Kernels {
            proj_layout,
            step_layout,
            proj_pipeline_layout,
            step_pipeline_layout,
            proj_module,
            step_module,
            proj_pipeline: Mutex::new(None),
            step_pipelines: Mutex::new(HashMap::new()),
        }
    }

    /// The input-projection pipeline (built on first use, then shared).
    pub fn proj_pipeline(&self, device: &wgpu::Device) -> wgpu::ComputePipeline {
        let mut slot = self.proj_pipeline.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert_with(|| {
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("input_projection"),
                layout: Some(&self.proj_pipeline_layout),
                module: &self.proj_module,
                entry_point: Some("input_projection"),
                compilation_options: Default::default(),
                cache: None,
            })
        })
        .clone()
    }

    /// The step pipeline specialised for a layer's activations and output flags.
    pub fn step_pipeline(
        &self,
        device: &wgpu::Device,
        config: &LstmConfig,
    ) -> wgpu::ComputePipeline {
        let key = StepKey {
            act: config.activation.code(),
            rec_act: config.recurrent_activation.code(),
            return_sequences: config.return_sequences,
            zero_output_for_mask: config.zero_output_for_mask,
        };
        let mut cache = self
            .step_pipelines
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        cache
            .entry(key)
            .or_insert_with(|| {
                let constants = [
                    ("ACT", key.act as f64),
                    ("REC_ACT", key.rec_act as f64),
                    (
                        "RETURN_SEQUENCES",
                        if key.return_sequences { 1.0 } else { 0.0 },
                    ),
                    (
                        "ZERO_OUTPUT_FOR_MASK",
                        if key.zero_output_for_mask { 1.0 } else { 0.0 },
                    ),
                    ("WG", STEP_WG as f64),
                ];
                device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                    label: Some("lstm_step"),
                    layout: Some(&self.step_pipeline_layout),
                    module: &self.step_module,
                    entry_point: Some("lstm_step"),
                    compilation_options: wgpu::PipelineCompilationOptions {
                        constants: &constants,
                        zero_initialize_workgroup_memory: false,
                    },
                    cache: None,
                })
            })
            .clone()
    }
}
