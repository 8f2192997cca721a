//! The command-line tool: exit codes, typed-error messages, describe's numbers.

use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wgpu-lstm"))
}

#[test]
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

#[test]
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

#[test]
fn conformance_reports_every_fixture_and_fails_on_unsupported_kinds() {
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
        2,
        "{text}"
    );
    // 'stacked' is reported as failed with a reason until multi-layer models exist, never skipped
    let last = text.lines().last().unwrap();
    assert!(
        last == "2 passed, 1 failed" || last == "3 passed, 0 failed",
        "{text}"
    );
    assert_eq!(out.status.success(), last.ends_with(" 0 failed"));
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
