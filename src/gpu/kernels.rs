//! The WGSL kernels: shader sources, shader modules, bind-group layouts (built once per
//! context) and compute pipelines (built once per distinct set of `override` constants and
//! cached).

use std::collections::HashMap;
use std::sync::Mutex;

use crate::config::{CellKind, LstmConfig};

/// `shaders/activation.wgsl`: the activations, prepended to kernels that use them.
pub const ACTIVATION_WGSL: &str = include_str!("../../shaders/activation.wgsl");
/// `shaders/activation_layer.wgsl`: the Activation layer and the softmax pass (needs
/// [`ACTIVATION_WGSL`]).
pub const ACTIVATION_LAYER_WGSL: &str = include_str!("../../shaders/activation_layer.wgsl");
/// `shaders/input_projection.wgsl`: the input-projection GEMM.
pub const INPUT_PROJECTION_WGSL: &str = include_str!("../../shaders/input_projection.wgsl");
/// `shaders/lstm_step.wgsl`: the fused per-timestep kernel (needs [`ACTIVATION_WGSL`]).
pub const LSTM_STEP_WGSL: &str = include_str!("../../shaders/lstm_step.wgsl");
/// `shaders/lstm_step_common.wgsl`: what both per-step kernels share (constants, the Step
/// record, bindings, the element-wise update of one unit).
pub const LSTM_STEP_COMMON_WGSL: &str = include_str!("../../shaders/lstm_step_common.wgsl");
/// `shaders/lstm_step_subgroup.wgsl`: the step kernel with its k-split reduced by subgroup
/// shuffles (needs [`ACTIVATION_WGSL`] and the device feature `SUBGROUP`).
pub const LSTM_STEP_SUBGROUP_WGSL: &str = include_str!("../../shaders/lstm_step_subgroup.wgsl");
/// `shaders/recurrent_f32.wgsl`: binding 1 of the step kernel, f32 weights.
pub const RECURRENT_F32_WGSL: &str = include_str!("../../shaders/recurrent_f32.wgsl");
/// `shaders/recurrent_f16.wgsl`: binding 1 of the step kernel, f16 weights (opt-in).
pub const RECURRENT_F16_WGSL: &str = include_str!("../../shaders/recurrent_f16.wgsl");
/// `shaders/lstm_sequence.wgsl`: the persistent kernel (all timesteps in one dispatch).
pub const LSTM_SEQUENCE_WGSL: &str = include_str!("../../shaders/lstm_sequence.wgsl");
/// `shaders/masking.wgsl`: Keras's Masking layer.
pub const MASKING_WGSL: &str = include_str!("../../shaders/masking.wgsl");
/// `shaders/merge.wgsl`: Bidirectional's sum / mul / ave merge.
pub const MERGE_WGSL: &str = include_str!("../../shaders/merge.wgsl");
/// `shaders/conv1d.wgsl`: Keras's Conv1D (needs [`ACTIVATION_WGSL`]).
pub const CONV1D_WGSL: &str = include_str!("../../shaders/conv1d.wgsl");
/// `shaders/pooling.wgsl`: Keras's MaxPooling1D / AveragePooling1D.
pub const POOLING_WGSL: &str = include_str!("../../shaders/pooling.wgsl");
/// `shaders/global_pooling.wgsl`: Keras's GlobalMaxPooling1D / GlobalAveragePooling1D.
pub const GLOBAL_POOLING_WGSL: &str = include_str!("../../shaders/global_pooling.wgsl");
/// `shaders/padding.wgsl`: Keras's ZeroPadding1D / Cropping1D.
pub const PADDING_WGSL: &str = include_str!("../../shaders/padding.wgsl");
/// `shaders/merge_layers.wgsl`: the element-wise merge layers (Add, Multiply, …) and their
/// merged masks.
pub const MERGE_LAYERS_WGSL: &str = include_str!("../../shaders/merge_layers.wgsl");
/// `shaders/mask_ops.wgsl`: Keras 3's mask ops (NotEqual, Any, LogicalOr, …) and the block
/// copy of Concatenate.
pub const MASK_OPS_WGSL: &str = include_str!("../../shaders/mask_ops.wgsl");
/// `shaders/embedding.wgsl`: Keras's Embedding (table lookup, mask_zero).
pub const EMBEDDING_WGSL: &str = include_str!("../../shaders/embedding.wgsl");
/// `shaders/layout.wgsl`: a strided copy (Permute, RepeatVector, channels_first Flatten).
pub const LAYOUT_WGSL: &str = include_str!("../../shaders/layout.wgsl");
/// `shaders/batch_normalization.wgsl`: Keras's BatchNormalization at inference.
pub const BATCH_NORMALIZATION_WGSL: &str = include_str!("../../shaders/batch_normalization.wgsl");
/// `shaders/layer_normalization.wgsl`: Keras's LayerNormalization (chunked statistics).
pub const LAYER_NORMALIZATION_WGSL: &str = include_str!("../../shaders/layer_normalization.wgsl");
/// `shaders/dot.wgsl`: the Dot layer.
pub const DOT_WGSL: &str = include_str!("../../shaders/dot.wgsl");

/// The full source of the input projection: activation functions, then the GEMM.
///
/// ```
/// assert!(wgpu_lstm::gpu::kernels::input_projection_source().contains("fn input_projection("));
/// ```
pub fn input_projection_source() -> String {
    format!("{ACTIVATION_WGSL}\n{INPUT_PROJECTION_WGSL}")
}

/// The full source of the step kernel: (`enable f16;` for f16 weights,) the activation
/// functions, the recurrent-kernel binding of the chosen precision, the shared step
/// declarations (`lstm_step_common.wgsl`), then the kernel.
///
/// ```
/// let src = wgpu_lstm::gpu::kernels::lstm_step_source(false);
/// assert!(src.contains("fn act(") && src.contains("fn lstm_step(") && !src.contains("enable f16"));
/// assert!(wgpu_lstm::gpu::kernels::lstm_step_source(true).starts_with("enable f16;"));
/// ```
pub fn lstm_step_source(f16_weights: bool) -> String {
    per_step_source(f16_weights, LSTM_STEP_WGSL)
}

/// A per-step kernel composed: (`enable f16;`,) activations, the recurrent-kernel binding of
/// the chosen precision, the shared step declarations, then the kernel itself.
fn per_step_source(f16_weights: bool, kernel: &str) -> String {
    let (enable, r) = if f16_weights {
        ("enable f16;\n", RECURRENT_F16_WGSL)
    } else {
        ("", RECURRENT_F32_WGSL)
    };
    format!("{enable}{ACTIVATION_WGSL}\n{r}\n{LSTM_STEP_COMMON_WGSL}\n{kernel}")
}

/// The full source of the subgroup step kernel, composed like [`lstm_step_source`].
///
/// ```
/// let src = wgpu_lstm::gpu::kernels::lstm_step_subgroup_source(false);
/// assert!(src.contains("fn lstm_step_subgroup(") && src.contains("subgroupShuffleXor"));
/// ```
pub fn lstm_step_subgroup_source(f16_weights: bool) -> String {
    per_step_source(f16_weights, LSTM_STEP_SUBGROUP_WGSL)
}

/// The full source of the persistent kernel, composed like [`lstm_step_source`].
///
/// ```
/// assert!(wgpu_lstm::gpu::kernels::lstm_sequence_source(false).contains("fn lstm_sequence("));
/// ```
pub fn lstm_sequence_source(f16_weights: bool) -> String {
    let r = if f16_weights {
        RECURRENT_F16_WGSL
    } else {
        RECURRENT_F32_WGSL
    };
    let enable = if f16_weights { "enable f16;\n" } else { "" };
    format!("{enable}{ACTIVATION_WGSL}\n{r}\n{LSTM_SEQUENCE_WGSL}")
}

/// The k-split of the persistent kernel for a workgroup of `wg` invocations: the most
/// invocations per unit (a power of two, at most 32) such that all units of a row fit one
/// workgroup.
///
/// ```
/// use wgpu_lstm::gpu::kernels::sequence_ksplit;
/// assert_eq!(sequence_ksplit(128, 256), 2);
/// assert_eq!(sequence_ksplit(256, 256), 1);
/// assert_eq!(sequence_ksplit(5, 256), 32);
/// assert_eq!(sequence_ksplit(128, 1024), 8);
/// ```
pub fn sequence_ksplit(units: usize, wg: u32) -> u32 {
    let mut ks = 1usize;
    while ks < 32 && units * ks * 2 <= wg as usize {
        ks *= 2;
    }
    ks as u32
}

/// The persistent kernel's workgroup size for `units`: enough invocations for a 32-way
/// k-split of every unit (`32·U` rounded up to a power of two), at least 256, at most the
/// device's `max_wg` ([`crate::gpu::GpuContext::sequence_workgroup_size`]).
///
/// ```
/// use wgpu_lstm::gpu::kernels::sequence_workgroup;
/// assert_eq!(sequence_workgroup(5, 1024), 256);
/// assert_eq!(sequence_workgroup(16, 1024), 512);
/// assert_eq!(sequence_workgroup(128, 1024), 1024);
/// assert_eq!(sequence_workgroup(128, 256), 256);
/// ```
pub fn sequence_workgroup(units: usize, max_wg: u32) -> u32 {
    ((units.max(1) * 32).next_power_of_two() as u32).clamp(256, max_wg.max(256))
}

/// How many slices of the recurrent kernel one invocation of the persistent kernel holds in
/// its private array when they all fit (`RQ` in lstm_sequence.wgsl).
pub const SEQUENCE_REGISTER_SLICES: usize = 16;

/// Whether the persistent kernel holds R in registers for `units` at k-split `ks`: each
/// invocation's ceil(U / KS) slices fit [`SEQUENCE_REGISTER_SLICES`].
///
/// ```
/// use wgpu_lstm::gpu::kernels::sequence_registers;
/// assert!(sequence_registers(128, 8));   // 16 slices per invocation
/// assert!(!sequence_registers(256, 4));  // 64
/// ```
pub fn sequence_registers(units: usize, ks: u32) -> bool {
    units.div_ceil(ks as usize) <= SEQUENCE_REGISTER_SLICES
}

/// Largest `units` the persistent kernel takes (h of one row in workgroup memory, one
/// invocation per unit at least).
pub const SEQUENCE_MAX_UNITS: usize = 256;

/// Every kernel source as (name, WGSL), as the device compiles them, for validation.
///
/// ```
/// assert!(wgpu_lstm::gpu::kernels::all_sources().len() >= 11);
/// ```
pub fn all_sources() -> Vec<(&'static str, String)> {
    vec![
        ("activation.wgsl", ACTIVATION_WGSL.to_string()),
        (
            "activation.wgsl + input_projection.wgsl",
            input_projection_source(),
        ),
        (
            "activation.wgsl + recurrent_f32.wgsl + lstm_step_common.wgsl + lstm_step.wgsl",
            lstm_step_source(false),
        ),
        (
            "enable f16; activation.wgsl + recurrent_f16.wgsl + lstm_step_common.wgsl + lstm_step.wgsl",
            lstm_step_source(true),
        ),
        (
            "activation.wgsl + recurrent_f32.wgsl + lstm_sequence.wgsl",
            lstm_sequence_source(false),
        ),
        (
            "enable f16; activation.wgsl + recurrent_f16.wgsl + lstm_sequence.wgsl",
            lstm_sequence_source(true),
        ),
        (
            "activation.wgsl + recurrent_f32.wgsl + lstm_step_common.wgsl + lstm_step_subgroup.wgsl",
            lstm_step_subgroup_source(false),
        ),
        (
            "enable f16; activation.wgsl + recurrent_f16.wgsl + lstm_step_common.wgsl + lstm_step_subgroup.wgsl",
            lstm_step_subgroup_source(true),
        ),
        ("masking.wgsl", MASKING_WGSL.to_string()),
        (
            "activation.wgsl + activation_layer.wgsl",
            format!("{ACTIVATION_WGSL}\n{ACTIVATION_LAYER_WGSL}"),
        ),
        ("merge.wgsl", MERGE_WGSL.to_string()),
        (
            "activation.wgsl + conv1d.wgsl",
            format!("{ACTIVATION_WGSL}\n{CONV1D_WGSL}"),
        ),
        ("pooling.wgsl", POOLING_WGSL.to_string()),
        ("global_pooling.wgsl", GLOBAL_POOLING_WGSL.to_string()),
        ("padding.wgsl", PADDING_WGSL.to_string()),
        ("merge_layers.wgsl", MERGE_LAYERS_WGSL.to_string()),
        ("mask_ops.wgsl", MASK_OPS_WGSL.to_string()),
        ("embedding.wgsl", EMBEDDING_WGSL.to_string()),
        ("layout.wgsl", LAYOUT_WGSL.to_string()),
        (
            "batch_normalization.wgsl",
            BATCH_NORMALIZATION_WGSL.to_string(),
        ),
        (
            "layer_normalization.wgsl",
            LAYER_NORMALIZATION_WGSL.to_string(),
        ),
        ("dot.wgsl", DOT_WGSL.to_string()),
    ]
}

/// Size of one per-step uniform record (`Step` in lstm_step.wgsl).
pub(crate) const STEP_RECORD_BYTES: u64 = 64;
/// Workgroup size of the step kernel (`WG`).
pub(crate) const STEP_WG: u32 = 256;

/// The k-split of the step kernel for a (rows, units) step: how many invocations share one
/// unit's recurrent dot product. Enough workgroups to spread a small batch over the GPU
/// (about 64 × 256 invocations), never more slices than units, at most 32.
///
/// ```
/// use wgpu_lstm::gpu::kernels::step_ksplit;
/// assert_eq!(step_ksplit(256, 1024), 1);   // large: one invocation per unit
/// assert_eq!(step_ksplit(1, 128), 32);      // small_seq: 32 invocations per unit
/// assert_eq!(step_ksplit(1, 5), 4);         // never more slices than units (power of two)
/// ```
pub fn step_ksplit(rows: usize, units: usize) -> u32 {
    let target = 64 * 256;
    let work = rows.max(1) * units.max(1);
    let mut ks = 1usize;
    while ks < 32 && work * ks < target && ks * 2 <= units {
        ks *= 2;
    }
    ks as u32
}
/// Tile of the input projection (`TILE`).
pub(crate) const PROJ_TILE: u32 = 64;

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
    pub out_t: u32,
    pub out_stride: u32,
    pub out_offset: u32,
    pub c_off: u32,
    pub pad: [u32; 4],
}

/// The persistent kernel's uniform record (`Seq` in lstm_sequence.wgsl), same size as
/// [`StepRecord`] so both kernels share one bind-group layout.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct SeqRecord {
    pub batch: u32,
    pub steps: u32,
    pub units: u32,
    pub has_mask: u32,
    pub h_read: u32,
    pub h_write: u32,
    pub out_stride: u32,
    pub out_offset: u32,
    pub flip: u32,
    pub c_off: u32,
    pub first: u32,
    pub k0: u32,
    pub k1: u32,
    pub pad: [u32; 3],
}

/// The masking params uniform.
#[repr(C)]
#[derive(Debug, Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct MaskParams {
    pub rows: u32,
    pub dim: u32,
    pub mask_value: f32,
    pub chunks: u32,
}

/// Features one invocation of masking.wgsl scans (`CHUNK`).
pub(crate) const MASK_CHUNK: u32 = 4096;

/// Workgroups (x, y, z) of 64 invocations covering `n` invocations with at most `wg_max`
/// along each dimension: the dispatch of masking.wgsl and merge.wgsl (invocation
/// i = x + 64·gx·(y + gy·z)). `None` when even that cannot cover `n`.
///
/// ```
/// use wgpu_lstm::gpu::kernels::grid_1d;
/// assert_eq!(grid_1d(100, 65_535), Some((2, 1, 1)));
/// assert_eq!(grid_1d(64 * 65_536, 65_535), Some((65_535, 2, 1)));
/// assert_eq!(grid_1d(1000, 3), Some((3, 3, 2)));
/// assert_eq!(grid_1d(2000, 3), None);
/// ```
pub fn grid_1d(n: u64, wg_max: u32) -> Option<(u32, u32, u32)> {
    let w = wg_max.max(1) as u64;
    let groups = n.div_ceil(64).max(1);
    let gx = groups.min(w);
    let rows = groups.div_ceil(gx);
    let gy = rows.min(w);
    let gz = rows.div_ceil(gy);
    (gz <= w).then_some((gx as u32, gy as u32, gz as u32))
}

/// The input-projection dims uniform.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct ProjDims {
    pub m: u32,
    pub n: u32,
    pub k: u32,
    pub m0: u32,
    pub n0: u32,
    pub k0: u32,
    pub k1: u32,
    /// [`PROJ_ACCUMULATE`] | [`PROJ_FINISH`]
    pub flags: u32,
}

/// `Dims.flags` bit: add to the partial sums already in Z (a K chunk after the first).
pub(crate) const PROJ_ACCUMULATE: u32 = 1;
/// `Dims.flags` bit: add the bias and apply the activation (the last K chunk).
pub(crate) const PROJ_FINISH: u32 = 2;
/// Size of one `Dims` record of input_projection.wgsl.
pub(crate) const PROJ_DIMS_BYTES: u64 = 32;

/// The recurrent kernels' `CELL` override of a layer's cell: 0 LSTM, 1 GRU with
/// `reset_after=True`, 2 GRU with `reset_after=False` (its update phase), 3 SimpleRNN.
pub(crate) fn cell_code(cell: CellKind) -> u32 {
    match cell {
        CellKind::Lstm => 0,
        CellKind::Gru { reset_after: true } => 1,
        CellKind::Gru { reset_after: false } => 2,
        CellKind::SimpleRnn => 3,
    }
}

/// `CELL` of a `reset_after=False` GRU's first phase (r ⊙ h).
pub(crate) const CELL_GRU_RESET_PHASE: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct StepKey {
    /// The recurrent kernels' `CELL` override ([`cell_code`]).
    cell: u32,
    act: u32,
    rec_act: u32,
    return_sequences: bool,
    zero_output_for_mask: bool,
    ks: u32,
    f16: bool,
    kind: RecurrentKind,
}

/// Which recurrent kernel a pipeline runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum RecurrentKind {
    /// lstm_step.wgsl: one dispatch per step, k-split reduced in workgroup memory.
    Step,
    /// lstm_step_subgroup.wgsl: one dispatch per step, k-split reduced by subgroup shuffles.
    StepSubgroup,
    /// lstm_sequence.wgsl: one dispatch for all steps (with the layer's go_backwards, the
    /// workgroup size and how many slices of R each invocation holds in registers, 0 = none).
    Sequence {
        go_backwards: bool,
        wg: u32,
        regs: u32,
    },
}

/// A compute kernel with an automatic bind-group layout (binding `i` of group 0 is the `i`-th
/// buffer a bind group gives it): what a layer's GPU op builds once and records with.
#[derive(Debug, Clone)]
pub(crate) struct Kernel {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
}

/// The key of a cached [`Kernel`]: module name, entry point, override constants (as bits).
type KernelKey = (&'static str, &'static str, Vec<(&'static str, u64)>);

/// Shader modules and bind-group layouts, made once per [`crate::gpu::GpuContext`].
pub(crate) struct Kernels {
    /// Modules of the layers' kernels by name, and their pipelines (see [`Kernels::kernel`]).
    modules: Mutex<HashMap<&'static str, wgpu::ShaderModule>>,
    kernels: Mutex<HashMap<KernelKey, Kernel>>,
    pub proj_layout: wgpu::BindGroupLayout,
    pub step_layout: wgpu::BindGroupLayout,
    pub mask_layout: wgpu::BindGroupLayout,
    pub merge_layout: wgpu::BindGroupLayout,
    proj_pipeline_layout: wgpu::PipelineLayout,
    step_pipeline_layout: wgpu::PipelineLayout,
    mask_pipeline_layout: wgpu::PipelineLayout,
    merge_pipeline_layout: wgpu::PipelineLayout,
    proj_module: wgpu::ShaderModule,
    step_module: wgpu::ShaderModule,
    step_module_f16: Mutex<Option<wgpu::ShaderModule>>,
    seq_modules: Mutex<HashMap<bool, wgpu::ShaderModule>>,
    subgroup_modules: Mutex<HashMap<bool, wgpu::ShaderModule>>,
    mask_module: wgpu::ShaderModule,
    merge_module: wgpu::ShaderModule,
    proj_pipelines: Mutex<HashMap<u32, wgpu::ComputePipeline>>,
    step_pipelines: Mutex<HashMap<StepKey, wgpu::ComputePipeline>>,
    mask_pipeline: Mutex<Option<[wgpu::ComputePipeline; 2]>>,
    merge_pipelines: Mutex<HashMap<u32, wgpu::ComputePipeline>>,
}

fn pipeline(
    device: &wgpu::Device,
    label: &str,
    layout: &wgpu::PipelineLayout,
    module: &wgpu::ShaderModule,
    constants: &[(&str, f64)],
) -> wgpu::ComputePipeline {
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(label),
        layout: Some(layout),
        module,
        entry_point: Some(label),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants,
            zero_initialize_workgroup_memory: false,
        },
        cache: None,
    })
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
                uniform_entry(4, true, PROJ_DIMS_BYTES),
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
        let mask_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("masking"),
            entries: &[
                storage_entry(0, false),
                storage_entry(1, false),
                uniform_entry(2, false, 16),
            ],
        });
        let merge_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("merge"),
            entries: &[
                storage_entry(0, true),
                storage_entry(1, true),
                storage_entry(2, false),
                uniform_entry(3, false, 16),
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
        let mask_pipeline_layout = pipeline_layout("masking", &mask_layout);
        let merge_pipeline_layout = pipeline_layout("merge", &merge_layout);
        let module = |label: &str, src: String| {
            device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(src.into()),
            })
        };
        Kernels {
            modules: Mutex::new(HashMap::new()),
            kernels: Mutex::new(HashMap::new()),
            proj_module: module("input_projection.wgsl", input_projection_source()),
            step_module: module("lstm_step.wgsl", lstm_step_source(false)),
            step_module_f16: Mutex::new(None),
            seq_modules: Mutex::new(HashMap::new()),
            subgroup_modules: Mutex::new(HashMap::new()),
            mask_module: module("masking.wgsl", MASKING_WGSL.to_string()),
            merge_module: module("merge.wgsl", MERGE_WGSL.to_string()),
            proj_layout,
            step_layout,
            mask_layout,
            merge_layout,
            proj_pipeline_layout,
            step_pipeline_layout,
            mask_pipeline_layout,
            merge_pipeline_layout,
            proj_pipelines: Mutex::new(HashMap::new()),
            step_pipelines: Mutex::new(HashMap::new()),
            mask_pipeline: Mutex::new(None),
            merge_pipelines: Mutex::new(HashMap::new()),
        }
    }

    /// A layer's kernel: the module `name` (its WGSL from `source`, compiled on first use),
    /// entry point `entry`, specialised with override `constants`; its bind-group layout is
    /// derived from the shader. Built once per distinct key, then shared.
    pub fn kernel(
        &self,
        device: &wgpu::Device,
        name: &'static str,
        source: impl FnOnce() -> String,
        entry: &'static str,
        constants: &[(&'static str, f64)],
    ) -> Kernel {
        let key: KernelKey = (
            name,
            entry,
            constants.iter().map(|(k, v)| (*k, v.to_bits())).collect(),
        );
        let mut kernels = self.kernels.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = kernels.get(&key) {
            return k.clone();
        }
        let module = {
            let mut modules = self.modules.lock().unwrap_or_else(|p| p.into_inner());
            modules
                .entry(name)
                .or_insert_with(|| {
                    device.create_shader_module(wgpu::ShaderModuleDescriptor {
                        label: Some(name),
                        source: wgpu::ShaderSource::Wgsl(source().into()),
                    })
                })
                .clone()
        };
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants,
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        let layout = pipeline.get_bind_group_layout(0);
        let k = Kernel { pipeline, layout };
        kernels.insert(key, k.clone());
        k
    }

    /// The masking pipelines, `masking_any` then `masking_zero` (built on first use, then
    /// shared).
    pub fn mask_pipelines(&self, device: &wgpu::Device) -> [wgpu::ComputePipeline; 2] {
        let mut slot = self.mask_pipeline.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert_with(|| {
            ["masking_any", "masking_zero"].map(|entry| {
                pipeline(
                    device,
                    entry,
                    &self.mask_pipeline_layout,
                    &self.mask_module,
                    &[],
                )
            })
        })
        .clone()
    }

    /// The merge pipeline for a mode (0 sum, 1 mul, 2 ave).
    pub fn merge_pipeline(&self, device: &wgpu::Device, mode: u32) -> wgpu::ComputePipeline {
        let mut cache = self
            .merge_pipelines
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        cache
            .entry(mode)
            .or_insert_with(|| {
                pipeline(
                    device,
                    "merge",
                    &self.merge_pipeline_layout,
                    &self.merge_module,
                    &[("MODE", mode as f64)],
                )
            })
            .clone()
    }

    /// The input-projection GEMM with an activation code (linear = 7 for an LSTM), built on
    /// first use, then shared.
    pub fn proj_pipeline(&self, device: &wgpu::Device, act: u32) -> wgpu::ComputePipeline {
        let mut cache = self
            .proj_pipelines
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        cache
            .entry(act)
            .or_insert_with(|| {
                pipeline(
                    device,
                    "input_projection",
                    &self.proj_pipeline_layout,
                    &self.proj_module,
                    &[("ACT", act as f64)],
                )
            })
            .clone()
    }

    /// The step pipeline specialised for a layer's cell, activations, output flags and
    /// k-split (built on first use per combination, then shared).
    pub fn step_pipeline(
        &self,
        device: &wgpu::Device,
        config: &LstmConfig,
        ks: u32,
        f16: bool,
    ) -> wgpu::ComputePipeline {
        let cell = cell_code(config.cell);
        self.recurrent_pipeline(device, config, cell, ks, f16, RecurrentKind::Step)
    }

    /// The first phase of a `reset_after=False` GRU's step (`CELL` 4: r ⊙ h into the c
    /// buffer), on the workgroup-memory or the subgroup step kernel.
    pub fn reset_phase_pipeline(
        &self,
        device: &wgpu::Device,
        config: &LstmConfig,
        ks: u32,
        f16: bool,
        subgroup: bool,
    ) -> wgpu::ComputePipeline {
        let kind = if subgroup {
            RecurrentKind::StepSubgroup
        } else {
            RecurrentKind::Step
        };
        self.recurrent_pipeline(device, config, CELL_GRU_RESET_PHASE, ks, f16, kind)
    }

    /// The subgroup step pipeline (lstm_step_subgroup.wgsl); only on devices with SUBGROUP,
    /// `ks` at most the adapter's smallest subgroup size (callers check).
    pub fn step_subgroup_pipeline(
        &self,
        device: &wgpu::Device,
        config: &LstmConfig,
        ks: u32,
        f16: bool,
    ) -> wgpu::ComputePipeline {
        let cell = cell_code(config.cell);
        self.recurrent_pipeline(device, config, cell, ks, f16, RecurrentKind::StepSubgroup)
    }

    /// The persistent pipeline (lstm_sequence.wgsl) for a layer, k-split, precision,
    /// workgroup size and register slices per invocation (0: R read from memory).
    pub fn sequence_pipeline(
        &self,
        device: &wgpu::Device,
        config: &LstmConfig,
        (ks, wg, regs): (u32, u32, u32),
        f16: bool,
    ) -> wgpu::ComputePipeline {
        let kind = RecurrentKind::Sequence {
            go_backwards: config.go_backwards,
            wg,
            regs,
        };
        self.recurrent_pipeline(device, config, cell_code(config.cell), ks, f16, kind)
    }

    fn recurrent_pipeline(
        &self,
        device: &wgpu::Device,
        config: &LstmConfig,
        cell: u32,
        ks: u32,
        f16: bool,
        kind: RecurrentKind,
    ) -> wgpu::ComputePipeline {
        let key = StepKey {
            cell,
            act: config.activation.code(),
            rec_act: config.recurrent_activation.code(),
            return_sequences: config.return_sequences,
            zero_output_for_mask: config.zero_output_for_mask,
            ks,
            f16,
            kind,
        };
        let make = |label: &str, src: String| {
            device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(src.into()),
            })
        };
        // Modules other than the f32 step kernel are made on first use (the f16 ones exist
        // only on devices with SHADER_F16; callers check), then shared.
        let module = match kind {
            RecurrentKind::Step if !f16 => self.step_module.clone(),
            RecurrentKind::Step => {
                let mut slot = self
                    .step_module_f16
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                slot.get_or_insert_with(|| make("lstm_step.wgsl (f16)", lstm_step_source(true)))
                    .clone()
            }
            RecurrentKind::Sequence { .. } => {
                let mut map = self.seq_modules.lock().unwrap_or_else(|p| p.into_inner());
                map.entry(f16)
                    .or_insert_with(|| make("lstm_sequence.wgsl", lstm_sequence_source(f16)))
                    .clone()
            }
            RecurrentKind::StepSubgroup => {
                let mut map = self
                    .subgroup_modules
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                map.entry(f16)
                    .or_insert_with(|| {
                        make("lstm_step_subgroup.wgsl", lstm_step_subgroup_source(f16))
                    })
                    .clone()
            }
        };
        let mut cache = self
            .step_pipelines
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        cache
            .entry(key)
            .or_insert_with(|| {
                let flag = |b: bool| if b { 1.0 } else { 0.0 };
                let mut constants = vec![
                    ("ACT", key.act as f64),
                    ("REC_ACT", key.rec_act as f64),
                    ("RETURN_SEQUENCES", flag(key.return_sequences)),
                    ("ZERO_OUTPUT_FOR_MASK", flag(key.zero_output_for_mask)),
                    ("KS", key.ks as f64),
                    ("CELL", key.cell as f64),
                ];
                let entry = match kind {
                    RecurrentKind::Sequence {
                        go_backwards,
                        wg,
                        regs,
                    } => {
                        constants.push(("GO_BACKWARDS", flag(go_backwards)));
                        constants.push(("WG", wg as f64));
                        constants.push(("R_REGS", flag(regs > 0)));
                        constants.push(("RQN", regs.max(1) as f64));
                        "lstm_sequence"
                    }
                    RecurrentKind::Step => "lstm_step",
                    RecurrentKind::StepSubgroup => "lstm_step_subgroup",
                };
                pipeline(
                    device,
                    entry,
                    &self.step_pipeline_layout,
                    &module,
                    &constants,
                )
            })
            .clone()
    }
}

/// Checks a Rust `#[repr(C)]` record against the WGSL struct it mirrors: the same size, and
/// every field not named `pad…` at the same offset with the same size, in the same order
/// (the test behind [`assert_mirrors`]).
#[cfg(test)]
pub(crate) fn check_mirror(src: &str, wgsl: &str, rust_size: usize, rust: &[(&str, usize, usize)]) {
    let module = naga::front::wgsl::parse_str(src)
        .unwrap_or_else(|e| panic!("{wgsl}: {}", e.emit_to_string(src)));
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).expect("layouts");
    let ty = module
        .types
        .iter()
        .find(|(_, t)| t.name.as_deref() == Some(wgsl))
        .unwrap_or_else(|| panic!("no struct {wgsl} in the source"))
        .1;
    let naga::TypeInner::Struct { members, span } = &ty.inner else {
        panic!("{wgsl} is not a struct")
    };
    assert_eq!(*span as usize, rust_size, "{wgsl}: WGSL size vs Rust size");
    let not_pad = |n: &str| !n.starts_with("pad");
    let w: Vec<(String, usize, usize)> = members
        .iter()
        .filter_map(|m| {
            let name = m.name.clone().unwrap_or_default();
            not_pad(&name).then(|| (name, m.offset as usize, layouter[m.ty].size as usize))
        })
        .collect();
    let r: Vec<(String, usize, usize)> = rust
        .iter()
        .filter(|(n, _, _)| not_pad(n))
        .map(|&(n, o, s)| (n.to_string(), o, s))
        .collect();
    assert_eq!(
        r, w,
        "{wgsl}: Rust fields (name, offset, size) vs WGSL members"
    );
}

/// Asserts that the Rust record `$t` mirrors WGSL struct `$wgsl` in `$src`, field by field
/// (names, offsets, sizes) and in total size; list every Rust field but padding.
#[cfg(test)]
macro_rules! assert_mirrors {
    ($t:ty, $src:expr, $wgsl:literal, [$($f:ident),* $(,)?]) => {{
        let z: $t = bytemuck::Zeroable::zeroed();
        let fields = [$((
            stringify!($f),
            std::mem::offset_of!($t, $f),
            std::mem::size_of_val(&z.$f),
        )),*];
        $crate::gpu::kernels::check_mirror(&$src, $wgsl, std::mem::size_of::<$t>(), &fields);
    }};
}
#[cfg(test)]
pub(crate) use assert_mirrors;

#[cfg(test)]
mod mirror_tests {
    use super::*;

    #[test]
    fn records_mirror_their_wgsl_structs() {
        assert_mirrors!(
            StepRecord,
            lstm_step_source(false),
            "Step",
            [
                batch, steps, units, has_mask, k, t_in, h_read, h_write, out_t, out_stride,
                out_offset, c_off
            ]
        );
        assert_mirrors!(
            SeqRecord,
            lstm_sequence_source(false),
            "Seq",
            [
                batch, steps, units, has_mask, h_read, h_write, out_stride, out_offset, flip,
                c_off, first, k0, k1
            ]
        );
        assert_mirrors!(
            MaskParams,
            MASKING_WGSL,
            "Params",
            [rows, dim, mask_value, chunks]
        );
        assert_mirrors!(
            ProjDims,
            input_projection_source(),
            "Dims",
            [m, n, k, m0, n0, k0, k1, flags]
        );
        assert_eq!(std::mem::size_of::<ProjDims>() as u64, PROJ_DIMS_BYTES);
        assert_eq!(std::mem::size_of::<StepRecord>() as u64, STEP_RECORD_BYTES);
        assert_eq!(std::mem::size_of::<SeqRecord>() as u64, STEP_RECORD_BYTES);
    }

    /// The Rust constants that mirror WGSL constants hold the shader's values.
    #[test]
    fn constants_mirror_the_shaders() {
        let konst = |src: &str, name: &str| -> u32 {
            let module = naga::front::wgsl::parse_str(src).expect("parses");
            let c = module
                .constants
                .iter()
                .find(|(_, c)| c.name.as_deref() == Some(name))
                .unwrap_or_else(|| panic!("no const {name}"))
                .1;
            match module.global_expressions[c.init] {
                naga::Expression::Literal(naga::Literal::U32(v)) => v,
                naga::Expression::Literal(naga::Literal::I32(v)) => v as u32,
                naga::Expression::Literal(naga::Literal::AbstractInt(v)) => v as u32,
                ref other => panic!("{name}: {other:?}"),
            }
        };
        assert_eq!(konst(&input_projection_source(), "TILE"), PROJ_TILE);
        assert_eq!(konst(MASKING_WGSL, "CHUNK"), MASK_CHUNK);
    }
}
