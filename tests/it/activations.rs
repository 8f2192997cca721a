//! Every activation on the GPU (the `act()` of shaders/activation.wgsl, run by a tiny test
//! kernel) against its CPU twin `Activation::apply`, over a dense grid and extreme values.

use wgpu::util::DeviceExt;
use wgpu_lstm::Activation;
use wgpu_lstm::gpu::kernels::ACTIVATION_WGSL;

use crate::common::{assert_no_gpu_errors, gpu};

const PROBE: &str = r#"
override CODE: u32 = 0u;
@group(0) @binding(0) var<storage, read> xs: array<f32>;
@group(0) @binding(1) var<storage, read_write> ys: array<f32>;
@compute @workgroup_size(64)
fn probe(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x < arrayLength(&xs)) {
        ys[gid.x] = act(CODE, xs[gid.x]);
    }
}
"#;

fn grid() -> Vec<f32> {
    let mut xs: Vec<f32> = (-4000..=4000).map(|i| i as f32 * 0.0125).collect();
    xs.extend([
        -1e30, -1e6, -1000.0, -88.8, -3.0, -2.5, -1.0, -0.5, 0.0, 0.5, 1.0, 2.5, 3.0, 88.8, 1000.0,
        1e6, 1e30,
    ]);
    xs
}

/// Runs `act(code, x)` for every x on the GPU.
fn gpu_eval(ctx: &wgpu_lstm::gpu::GpuContext, code: u32, xs: &[f32]) -> Vec<f32> {
    let device = ctx.device();
    let src = format!("{ACTIVATION_WGSL}\n{PROBE}");
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("activation probe"),
        source: wgpu::ShaderSource::Wgsl(src.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: None,
        layout: None,
        module: &module,
        entry_point: Some("probe"),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants: &[("CODE", code as f64)],
            zero_initialize_workgroup_memory: false,
        },
        cache: None,
    });
    let bytes = (xs.len() * 4) as u64;
    let xb = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: None,
        contents: bytemuck::cast_slice(xs),
        usage: wgpu::BufferUsages::STORAGE,
    });
    let yb = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: bytes,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let rb = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: bytes,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let bg = device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: None,
        layout: &pipeline.get_bind_group_layout(0),
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: xb.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: yb.as_entire_binding(),
            },
        ],
    });
    let mut enc = device.create_command_encoder(&Default::default());
    {
        let mut pass = enc.begin_compute_pass(&Default::default());
        pass.set_pipeline(&pipeline);
        pass.set_bind_group(0, &bg, &[]);
        pass.dispatch_workgroups((xs.len() as u32).div_ceil(64), 1, 1);
    }
    enc.copy_buffer_to_buffer(&yb, 0, &rb, 0, bytes);
    ctx.queue().submit([enc.finish()]);
    rb.slice(..).map_async(wgpu::MapMode::Read, |r| r.unwrap());
    device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    bytemuck::cast_slice(&rb.slice(..).get_mapped_range().unwrap()).to_vec()
}

fn every_activation_matches_its_cpu_twin() {
    let Some(ctx) = gpu() else { return };
    let xs = grid();
    let mut report = Vec::new();
    for a in Activation::ALL {
        let ys = gpu_eval(&ctx, a.code(), &xs);
        let mut worst = (0.0f32, 0.0f32);
        for (&x, &g) in xs.iter().zip(&ys) {
            let c = a.apply(x);
            if c == g || (c.is_nan() && g.is_nan()) {
                continue;
            }
            assert!(!g.is_nan(), "{a}({x}) is NaN on the GPU (CPU {c})");
            // exp is the one builtin with a loose precision rule in Vulkan/WGSL:
            // 3 + 2·|x| ULP (lavapipe uses that room: 3.2e-6 relative at x = 46).
            let e = if a == Activation::Exponential {
                // (denormal results may flush to zero: relative to at least 1e-30)
                (g - c).abs() / c.abs().max(1e-30) / ((3.0 + 2.0 * x.abs()) * f32::EPSILON) * 2e-6
            } else {
                (g - c).abs() / c.abs().max(1.0)
            };
            if e > worst.0 {
                worst = (e, x);
            }
        }
        report.push((a, worst));
    }
    let text: Vec<String> = report
        .iter()
        .map(|(a, (e, x))| format!("{a}: {e:.2e} at x = {x}"))
        .collect();
    eprintln!("{}", text.join("\n"));
    // 2e-6: a few ULP of the transcendental builtins (tanh near 0 is absolute on lavapipe:
    // mish(-50) = -9.6e-21 comes out as -1.5e-6).
    for (a, (e, x)) in report {
        assert!(
            e <= 2e-6,
            "{a}: GPU differs from CPU by {e:.3e} (relative to max(1,|y|)) at x = {x}"
        );
    }
    assert_no_gpu_errors(&ctx);
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    vec![crate::common::gpu_test(
        "activations::every_activation_matches_its_cpu_twin",
        every_activation_matches_its_cpu_twin,
    )]
}
