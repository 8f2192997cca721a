//! Every WGSL source parses and validates with naga, as the device will compile it.

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
    ]
}
