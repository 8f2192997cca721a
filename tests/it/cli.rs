//! The command-line tool: exit codes, typed-error messages, describe's numbers.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wgpu-lstm"))
}

fn describe_gives_keras_parameter_counts() {
    for (units, dim, want) in [(4, 3, 128), (32, 1, 4352), (128, 32, 82432), (3, 4, 96)] {
        let out = bin()
            .args([
                "describe",
                "--units",
                &units.to_string(),
                "--input-dim",
                &dim.to_string(),
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(text.contains(&format!("parameters: {want}")), "{text}");
    }
    let out = bin()
        .args([
            "describe",
            "--units",
            "8",
            "--input-dim",
            "2",
            "--batch",
            "5",
            "--timesteps",
            "7",
            "--stateful",
            "--return-sequences",
            "--return-state",
            "--no-bias",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("parameters: 320"), "{text}");
    assert!(
        text.contains("(5, 7, 8)") && text.contains("stateful=True"),
        "{text}"
    );
}

fn errors_exit_2_with_a_message_and_no_panic() {
    let out = bin()
        .args([
            "describe",
            "--units",
            "4",
            "--input-dim",
            "3",
            "--activation",
            "tahn",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.starts_with("error: unknown activation `tahn`"), "{err}");
    assert!(!err.contains("panicked"));
    let out = bin()
        .args(["conformance", "/nonexistent/dir"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

fn conformance_reports_every_fixture_and_fails_on_broken_files() {
    let dir = tempdir();
    let src = crate::common::fixtures_dir();
    for f in [
        "k3_default.json",
        "k2_act_tanh_hard_sigmoid.json",
        "k3_stacked.json",
    ] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let out = bin()
        .args(["conformance", dir.to_str().unwrap(), "--device", "cpu"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.lines().filter(|l| l.starts_with("ok ")).count(),
        3,
        "{text}"
    );
    assert_eq!(text.lines().last().unwrap(), "3 passed, 0 failed", "{text}");
    assert!(out.status.success());
    // a fixture that does not parse is reported as failed, never skipped, and fails the run
    std::fs::write(dir.join("zz_broken.json"), "{ not json").unwrap();
    let out = bin()
        .args(["conformance", dir.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines().any(|l| l.starts_with("FAIL zz_broken")),
        "{text}"
    );
    assert_eq!(text.lines().last().unwrap(), "3 passed, 1 failed");
    assert_eq!(out.status.code(), Some(1));
}

fn tempdir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!(
        "wgpu-lstm-cli-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn demo_model() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/sine_forecaster.keras")
}

fn describe_a_model_file_lists_layers_shapes_and_params() {
    let out = bin()
        .args(["describe", demo_model().to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("lstm (LSTM)") && text.contains("dense (Dense)"),
        "{text}"
    );
    assert!(
        text.contains("(B, T, 32)") && text.contains("4352") && text.contains("Total params: 4385"),
        "{text}"
    );
}

fn run_reads_npy_writes_npy_and_matches_keras() {
    let dir = tempdir();
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("demo/sine_forecaster.expected.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let x = wgpu_lstm::conformance::json_array(&expected["input"], "input").unwrap();
    let want =
        wgpu_lstm::conformance::json_array(&expected["predict_output"], "predict_output").unwrap();
    let (xin, yout) = (dir.join("x.npy"), dir.join("y.npy"));
    wgpu_lstm::keras::write_npy_f32(&xin, &x.view()).unwrap();
    let mut devices = vec!["cpu"];
    if crate::common::gpu().is_some() {
        devices.push("gpu");
    }
    for dev in devices {
        let out = bin()
            .args([
                "run",
                demo_model().to_str().unwrap(),
                "--input",
                xin.to_str().unwrap(),
                "--output",
                yout.to_str().unwrap(),
                "--device",
                dev,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let y = wgpu_lstm::keras::read_npy_f32(&yout).unwrap();
        let tol = if dev == "cpu" { 1e-5 } else { 1e-4 };
        assert!(crate::common::max_abs(&y, &want) <= tol, "{dev}");
    }
    // without --output: shape and a preview
    let out = bin()
        .args([
            "run",
            demo_model().to_str().unwrap(),
            "--input",
            xin.to_str().unwrap(),
            "--device",
            "cpu",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("output shape [1, 200, 1]"), "{text}");
}

fn run_gives_typed_errors_for_bad_npy_and_shapes() {
    let dir = tempdir();
    // float64 .npy: refused by name, exit 2, no panic
    let f64_npy = dir.join("x64.npy");
    let header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2, 1), }";
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    let pad = 64 - (10 + header.len() + 1) % 64;
    let full = format!("{header}{}\n", " ".repeat(pad));
    bytes.extend_from_slice(&(full.len() as u16).to_le_bytes());
    bytes.extend_from_slice(full.as_bytes());
    bytes.extend_from_slice(&[0u8; 16]);
    std::fs::write(&f64_npy, bytes).unwrap();
    let out = bin()
        .args([
            "run",
            demo_model().to_str().unwrap(),
            "--input",
            f64_npy.to_str().unwrap(),
            "--device",
            "cpu",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("<f8") && err.contains("x64.npy") && !err.contains("panicked"),
        "{err}"
    );
    // wrong rank: (2, 3) instead of (B, T, 1)
    let rank2 = dir.join("r2.npy");
    wgpu_lstm::keras::write_npy_f32(
        &rank2,
        &ndarray::Array2::<f32>::zeros((2, 3)).into_dyn().view(),
    )
    .unwrap();
    let out = bin()
        .args([
            "run",
            demo_model().to_str().unwrap(),
            "--input",
            rank2.to_str().unwrap(),
            "--device",
            "cpu",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("inputs") && err.contains("(B, T, 1)"), "{err}");
    // a missing model file names the file
    let out = bin()
        .args([
            "run",
            "/nonexistent/m.keras",
            "--input",
            rank2.to_str().unwrap(),
            "--device",
            "cpu",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("/nonexistent/m.keras")
    );
}

fn the_demo_runs() {
    let dev = if crate::common::gpu().is_some() {
        "gpu"
    } else {
        "cpu"
    };
    let out = bin()
        .args(["demo", "--steps", "12", "--device", dev])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("Total params: 4385") && text.contains("model MSE"),
        "{text}"
    );
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    vec![
        crate::common::test(
            "cli::describe_gives_keras_parameter_counts",
            describe_gives_keras_parameter_counts,
        ),
        crate::common::test(
            "cli::errors_exit_2_with_a_message_and_no_panic",
            errors_exit_2_with_a_message_and_no_panic,
        ),
        crate::common::test(
            "cli::conformance_reports_every_fixture_and_fails_on_broken_files",
            conformance_reports_every_fixture_and_fails_on_broken_files,
        ),
        crate::common::test(
            "cli::describe_a_model_file_lists_layers_shapes_and_params",
            describe_a_model_file_lists_layers_shapes_and_params,
        ),
        crate::common::gpu_test(
            "cli::run_reads_npy_writes_npy_and_matches_keras",
            run_reads_npy_writes_npy_and_matches_keras,
        ),
        crate::common::test(
            "cli::run_gives_typed_errors_for_bad_npy_and_shapes",
            run_gives_typed_errors_for_bad_npy_and_shapes,
        ),
        crate::common::gpu_test("cli::the_demo_runs", the_demo_runs),
    ]
}
