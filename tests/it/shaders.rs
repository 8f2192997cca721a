//! Every WGSL source parses and validates with naga, as the device will compile it, and
//! every source as composed — each override specialisation the crate uses, f16 and subgroup
//! variants included — translates to SPIR-V, MSL and HLSL, what wgpu does on Vulkan, Metal
//! and DX12: a shader that would fail on a Mac or on Windows fails here first.

use naga::valid::{Capabilities, ModuleInfo, ValidationFlags, Validator};

fn every_shader_validates_with_naga() {
    for (name, src) in wgpu_lstm::gpu::kernels::all_sources() {
        let module = naga::front::wgsl::parse_str(&src)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&src)));
        let mut v = naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        );
        v.validate(&module)
            .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(&src)));
    }
}

/// Each shader in shaders/ is covered by `all_sources` (no file left unvalidated).
fn every_shader_file_is_validated() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    let names: Vec<String> = wgpu_lstm::gpu::kernels::all_sources()
        .into_iter()
        .map(|(n, _)| n.to_string())
        .collect();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let f = e.file_name().to_string_lossy().into_owned();
        assert!(names.iter().any(|n| n.contains(&f)), "{f} is not validated");
    }
}

fn parse_and_validate(name: &str, src: &str) -> (naga::Module, ModuleInfo) {
    let module = naga::front::wgsl::parse_str(src)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
    let info = Validator::new(ValidationFlags::all(), Capabilities::all())
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(src)));
    (module, info)
}

/// The values one override takes across the crate's pipelines: both values of a bool; every
/// code of the activation, mode, op and cell enums (the shaders switch on them); the k-splits,
/// workgroup sizes and register counts the recurrent kernels pick.
fn override_values(name: &str, ty: &naga::TypeInner) -> Vec<f64> {
    if matches!(ty, naga::TypeInner::Scalar(s) if s.kind == naga::ScalarKind::Bool) {
        return vec![0.0, 1.0];
    }
    match name {
        "ACT" | "REC_ACT" => (0..wgpu_lstm::Activation::ALL.len() as u32 + 1)
            .map(f64::from)
            .collect(),
        "MODE" | "OP" => (0..24).map(f64::from).collect(),
        "KS" => vec![1.0, 2.0, 4.0, 8.0, 32.0],
        // the recurrent kernels' cell: LSTM, GRU (both forms, two phases), SimpleRNN
        "CELL" => (0..5).map(f64::from).collect(),
        "WG" => vec![64.0, 256.0, 1024.0],
        "RQN" => vec![1.0, 16.0],
        _ => Vec::new(),
    }
}

/// Every specialisation to translate: the defaults, then each override alone through its
/// values (the others at their defaults).
fn specialisations(module: &naga::Module) -> Vec<Vec<(String, f64)>> {
    let mut out = vec![Vec::new()];
    for (_, o) in module.overrides.iter() {
        let Some(name) = &o.name else { continue };
        let ty = &module.types[o.ty].inner;
        for v in override_values(name, ty) {
            out.push(vec![(name.clone(), v)]);
        }
    }
    out
}

/// Each composed source, each entry point, each specialisation: SPIR-V 1.3 (Vulkan), MSL 2.4
/// (Metal), HLSL shader model 6.2 (DX12, 16-bit types for the f16 kernels).
fn every_pipeline_translates_to_spirv_msl_and_hlsl() {
    let mut translated = 0usize;
    for (name, src) in wgpu_lstm::gpu::kernels::all_sources() {
        let (module, info) = parse_and_validate(name, &src);
        for spec in specialisations(&module) {
            let mut constants = naga::back::PipelineConstants::default();
            for (k, v) in &spec {
                constants.insert(k.clone(), *v);
            }
            for ep in &module.entry_points {
                let stage = ep.stage;
                let what = format!("{name} entry `{}` with {spec:?}", ep.name);
                let (m, i) = naga::back::pipeline_constants::process_overrides(
                    &module,
                    &info,
                    Some((stage, &ep.name)),
                    &constants,
                )
                .unwrap_or_else(|e| panic!("{what}: overrides: {e}"));
                let spv_opts = naga::back::spv::Options {
                    lang_version: (1, 3),
                    ..Default::default()
                };
                naga::back::spv::write_vec(
                    &m,
                    &i,
                    &spv_opts,
                    Some(&naga::back::spv::PipelineOptions {
                        shader_stage: stage,
                        entry_point: ep.name.clone(),
                    }),
                )
                .unwrap_or_else(|e| panic!("{what}: SPIR-V: {e}"));
                let msl_opts = naga::back::msl::Options {
                    lang_version: (2, 4),
                    ..Default::default()
                };
                naga::back::msl::write_string(
                    &m,
                    &i,
                    &msl_opts,
                    &naga::back::msl::PipelineOptions {
                        entry_point: Some((stage, ep.name.clone())),
                        ..Default::default()
                    },
                )
                .unwrap_or_else(|e| panic!("{what}: MSL: {e}"));
                let hlsl_opts = naga::back::hlsl::Options {
                    shader_model: naga::back::hlsl::ShaderModel::V6_2,
                    ..Default::default()
                };
                let hlsl_pipeline = naga::back::hlsl::PipelineOptions {
                    entry_point: Some((stage, ep.name.clone())),
                };
                let mut out = String::new();
                naga::back::hlsl::Writer::new(&mut out, &hlsl_opts, &hlsl_pipeline)
                    .write(&m, &i, None)
                    .unwrap_or_else(|e| panic!("{what}: HLSL: {e}"));
                translated += 1;
            }
        }
    }
    // every source has at least one entry point and one specialisation
    assert!(translated >= wgpu_lstm::gpu::kernels::all_sources().len());
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    vec![
        crate::common::test(
            "shaders::every_shader_validates_with_naga",
            every_shader_validates_with_naga,
        ),
        crate::common::test(
            "shaders::every_shader_file_is_validated",
            every_shader_file_is_validated,
        ),
        crate::common::test(
            "shaders::every_pipeline_translates_to_spirv_msl_and_hlsl",
            every_pipeline_translates_to_spirv_msl_and_hlsl,
        ),
    ]
}
