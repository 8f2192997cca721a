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
    assert!(text.contains("output 0 shape [1, 200, 1]"), "{text}");
}

fn run_gives_typed_errors_for_bad_npy_and_shapes() {
    let dir = tempdir();
    // complex64 .npy: refused by name, exit 2, no panic
    let f64_npy = dir.join("x64.npy");
    let header = "{'descr': '<c8', 'fortran_order': False, 'shape': (1, 2, 1), }";
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
        err.contains("<c8") && err.contains("x64.npy") && !err.contains("panicked"),
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

fn zoo_dir() -> std::path::PathBuf {
    crate::zoo::zoo_dir()
}

fn case_json(case: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(zoo_dir().join(case).join("case.json")).unwrap()).unwrap()
}

/// A fresh directory for one test (the harness runs tests on several threads).
fn tempdir_for(tag: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("wgpu-lstm-cli-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// One zoo case per architecture family: int32 and int64 token ids (mask_zero), a mask
/// given to the call, several inputs, several outputs, the two Sequentials that end in a
/// layer returning several tensors, stateful streams over several calls (a reset between
/// them), nested models, convolutions, normalisations, activations, both Keras versions
/// and both file formats.
const CLI_ZOO: &[&str] = &[
    "lstm_dense__k2_h5",
    "text_clf_maskzero__k3_keras",
    "embedding_int64__k2_h5",
    "explicit_mask_lstm__k3_keras",
    "explicit_mask_bilstm_gap__k2_h5",
    "multi_input_concat__k2_keras",
    "mask_concat_two_masks__k3_keras",
    "seq2seq_inference__k3_h5",
    "bidir_return_state__k2_keras",
    "seq_ends_return_state__k3_keras",
    "seq_ends_bidir_merge_none__k3_keras",
    "stateful_stream__k2_keras",
    "stateful_stacked_bidir__k3_keras",
    "conv_bn_bilstm__k3_h5",
    "tagger_timedistributed__k2_keras",
    "autoencoder_repeatvector__k3_h5",
    "nested_functional__k2_keras",
    "layernorm__k3_keras",
    "act_elementwise_chain__k2_h5",
    "padding_cropping__k3_keras",
];

/// Runs a zoo case through `wgpu-lstm run` call by call — each call one invocation, a
/// stateful stream carried from call to call by `--state-out` / `--state-in` and reset by
/// leaving `--state-in` out — and compares every output with Keras's: |Δ| within `tol` of
/// max(1, |y|).
fn run_zoo_case_through_the_binary(case: &str, dev: &str, tol: f32) {
    let dir = zoo_dir().join(case);
    let meta = case_json(case);
    let tmp = tempdir_for(&format!("{case}-{dev}"));
    let calls = meta["calls"].as_array().unwrap();
    let stateful = calls.len() > 1;
    let mut state: Option<std::path::PathBuf> = None;
    for (k, call) in calls.iter().enumerate() {
        let outs = call["outputs"].as_array().unwrap();
        let mut cmd = bin();
        cmd.arg("run")
            .arg(dir.join(meta["model"].as_str().unwrap()))
            .args(["--device", dev]);
        for f in call["inputs"].as_array().unwrap() {
            cmd.arg("--input").arg(dir.join(f.as_str().unwrap()));
        }
        if let Some(m) = call["mask"].as_str() {
            cmd.arg("--mask").arg(dir.join(m));
        }
        if call["reset_states_before"] == true {
            state = None;
        }
        if let Some(s) = &state {
            cmd.arg("--state-in").arg(s);
        }
        let next_state = tmp.join(format!("state{k}.npz"));
        if stateful {
            cmd.arg("--state-out").arg(&next_state);
        }
        // single-output models alternate between .npy and .npz
        let npy = outs.len() == 1 && k % 2 == 0;
        let y = tmp.join(if npy { "y.npy" } else { "y.npz" });
        cmd.arg("--output").arg(&y);
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{case} call {k} on {dev}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let got: Vec<ndarray::ArrayD<f32>> = if npy {
            vec![wgpu_lstm::keras::read_npy_f32(&y).unwrap()]
        } else {
            let members = wgpu_lstm::keras::read_npz(&y).unwrap();
            members
                .into_iter()
                .enumerate()
                .map(|(i, (name, a))| {
                    assert_eq!(name, format!("output_{i}"), "{case}: member order");
                    match a {
                        wgpu_lstm::keras::NpyArray::F32(a) => a,
                        other => panic!("{case}: output {i} is {other:?}"),
                    }
                })
                .collect()
        };
        assert_eq!(got.len(), outs.len(), "{case} call {k}: number of outputs");
        for (i, (g, f)) in got.iter().zip(outs).enumerate() {
            // a float16/bfloat16 model: its float32 twin's output (as the zoo test holds it)
            let f = call["f32_reference_outputs"].get(i).unwrap_or(f);
            let want = wgpu_lstm::keras::read_npy_f32(&dir.join(f.as_str().unwrap())).unwrap();
            assert_eq!(g.shape(), want.shape(), "{case} call {k} output {i}");
            let worst = g
                .iter()
                .zip(&want)
                .map(|(a, b)| (a - b).abs() / b.abs().max(1.0))
                .fold(
                    0.0f32,
                    |m, d| if d.is_nan() { f32::INFINITY } else { m.max(d) },
                );
            assert!(
                worst <= tol,
                "{case} call {k} output {i} on {dev}: |Δ| / max(1, |y|) = {worst:e} > {tol:e}"
            );
        }
        state = stateful.then_some(next_state);
    }
}

/// Every zoo case the crate runs (all but the refused ones and those using a class not
/// built yet), through the binary.
fn every_runnable_zoo_case(dev: &str, tol: f32) {
    let cases = crate::zoo::runnable_case_names();
    // the named cases cover every CLI feature: if one stops being runnable, say so
    for c in CLI_ZOO {
        assert!(
            cases.iter().any(|k| k == c),
            "{c} is no longer a runnable zoo case"
        );
    }
    for case in &cases {
        run_zoo_case_through_the_binary(case, dev, tol);
    }
}

fn run_matches_keras_on_the_zoo_on_the_cpu() {
    every_runnable_zoo_case("cpu", 1e-5);
}

fn run_matches_keras_on_the_zoo_on_the_gpu() {
    every_runnable_zoo_case("gpu", 1e-4);
}

/// Runs the binary; returns (exit code, stdout, stderr).
fn run_bin(args: &[&std::ffi::OsStr]) -> (Option<i32>, String, String) {
    let out = bin().args(args).output().unwrap();
    (
        out.status.code(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn run_refuses_what_it_cannot_do_by_name() {
    let tmp = tempdir_for("refusals");
    let os = |s: &str| std::ffi::OsString::from(s);
    let zoo = |case: &str, f: &str| zoo_dir().join(case).join(f).into_os_string();
    let run = |v: Vec<std::ffi::OsString>| {
        let refs: Vec<&std::ffi::OsStr> = v.iter().map(|s| s.as_os_str()).collect();
        run_bin(&refs)
    };
    let expect_error = |v: Vec<std::ffi::OsString>, needles: &[&str]| {
        let (code, _, err) = run(v);
        assert_eq!(code, Some(2), "{err}");
        assert!(!err.contains("panicked"), "{err}");
        for n in needles {
            assert!(err.contains(n), "`{n}` not in: {err}");
        }
    };
    // a .npy for a model with several outputs: refused before anything runs
    let s2s = "seq2seq_inference__k3_h5";
    expect_error(
        vec![
            os("run"),
            zoo(s2s, "model.h5"),
            os("--input"),
            zoo(s2s, "call0_input_0.npy"),
            os("--input"),
            zoo(s2s, "call0_input_1.npy"),
            os("--device"),
            os("cpu"),
            os("--output"),
            tmp.join("y.npy").into_os_string(),
        ],
        &["3 outputs", ".npz"],
    );
    assert!(!tmp.join("y.npy").exists());
    // one input for a model with two
    expect_error(
        vec![
            os("run"),
            zoo(s2s, "model.h5"),
            os("--input"),
            zoo(s2s, "call0_input_0.npy"),
            os("--device"),
            os("cpu"),
        ],
        &[
            "takes 2 input(s)",
            "encoder_input",
            "decoder_input",
            "got 1",
        ],
    );
    // a bool array as an input, and more masks than inputs
    let em = "explicit_mask_lstm__k3_keras";
    expect_error(
        vec![
            os("run"),
            zoo(em, "model.keras"),
            os("--input"),
            zoo(em, "call0_mask.npy"),
            os("--device"),
            os("cpu"),
        ],
        &["call0_mask.npy", "bool", "--mask"],
    );
    expect_error(
        vec![
            os("run"),
            zoo(em, "model.keras"),
            os("--input"),
            zoo(em, "call0_input_0.npy"),
            os("--mask"),
            zoo(em, "call0_mask.npy"),
            os("--mask"),
            zoo(em, "call0_mask.npy"),
            os("--device"),
            os("cpu"),
        ],
        &["2 masks", "1 input"],
    );
    // states for a stateless model
    expect_error(
        vec![
            os("run"),
            zoo(em, "model.keras"),
            os("--input"),
            zoo(em, "call0_input_0.npy"),
            os("--device"),
            os("cpu"),
            os("--state-out"),
            tmp.join("s.npz").into_os_string(),
        ],
        &["state-out", "no stateful layer"],
    );
    // a stateful model built for batch 2 refuses batch 3, as Keras does
    let x3 = tmp.join("x3.npy");
    wgpu_lstm::keras::write_npy_f32(&x3, &ndarray::ArrayD::<f32>::zeros(vec![3, 4, 3]).view())
        .unwrap();
    expect_error(
        vec![
            os("run"),
            zoo("stateful_stream__k3_keras", "model.keras"),
            os("--input"),
            x3.clone().into_os_string(),
            os("--device"),
            os("cpu"),
        ],
        &["batch size 2", "batch size 3"],
    );
    // a state file of another batch size than the model's
    let st = tmp.join("st3.npz");
    let z = ndarray::ArrayD::<f32>::zeros(vec![3, 6]);
    wgpu_lstm::keras::write_npz(
        &st,
        &[
            ("state_0_h".into(), z.view()),
            ("state_0_c".into(), z.view()),
        ],
    )
    .unwrap();
    expect_error(
        vec![
            os("run"),
            zoo("stateful_stream__k3_keras", "model.keras"),
            os("--input"),
            zoo("stateful_stream__k3_keras", "call0_input_0.npy"),
            os("--device"),
            os("cpu"),
            os("--state-in"),
            st.into_os_string(),
        ],
        &["batch size 2", "batch size 3"],
    );
    // state files that do not fit the model: h without c, a member that is no state
    let s2 = ndarray::ArrayD::<f32>::zeros(vec![2, 6]);
    let h_only = tmp.join("h_only.npz");
    wgpu_lstm::keras::write_npz(&h_only, &[("state_0_h".into(), s2.view())]).unwrap();
    let extra = tmp.join("extra.npz");
    wgpu_lstm::keras::write_npz(
        &extra,
        &[
            ("state_0_h".into(), s2.view()),
            ("state_0_c".into(), s2.view()),
            ("bogus".into(), s2.view()),
        ],
    )
    .unwrap();
    for (file, needles) in [
        (&h_only, &["state_0_h and state_0_c go together"][..]),
        (&extra, &["`bogus`", "not a state of this model"][..]),
    ] {
        let mut needles = needles.to_vec();
        let name = file.display().to_string();
        needles.push(&name);
        expect_error(
            vec![
                os("run"),
                zoo("stateful_stream__k3_keras", "model.keras"),
                os("--input"),
                zoo("stateful_stream__k3_keras", "call0_input_0.npy"),
                os("--device"),
                os("cpu"),
                os("--state-in"),
                file.clone().into_os_string(),
            ],
            &needles,
        );
    }
    // an output file that is neither .npy nor .npz, refused before anything runs
    expect_error(
        vec![
            os("run"),
            zoo(em, "model.keras"),
            os("--input"),
            zoo(em, "call0_input_0.npy"),
            os("--device"),
            os("cpu"),
            os("--output"),
            tmp.join("y.txt").into_os_string(),
        ],
        &["y.txt", "write a .npz or a .npy file"],
    );
    assert!(!tmp.join("y.txt").exists());
    // an unsupported model: one error naming the file and every unsupported layer
    let custom = zoo("custom_layer__k2_h5", "model.h5");
    expect_error(
        vec![
            os("run"),
            custom.clone(),
            os("--input"),
            zoo("custom_layer__k2_h5", "call0_input_0.npy"),
            os("--device"),
            os("cpu"),
        ],
        &[
            custom.to_str().unwrap(),
            "`attention_pool` (",
            "AttentionPool",
        ],
    );
}

fn describe_prints_every_layer_even_of_models_it_cannot_run() {
    let os = |s: &str| std::ffi::OsString::from(s);
    let zoo = |case: &str, f: &str| zoo_dir().join(case).join(f).into_os_string();
    let describe = |case: &str, f: &str| {
        let a = [os("describe"), zoo(case, f)];
        let refs: Vec<&std::ffi::OsStr> = a.iter().map(|s| s.as_os_str()).collect();
        run_bin(&refs)
    };
    // a stateful model: its fixed batch size in every shape
    let (code, text, err) = describe("stateful_stream__k3_keras", "model.keras");
    assert_eq!(code, Some(0), "{err}");
    for want in [
        "lstm (LSTM)",
        "(2, None, 6)",
        "240",
        "dense (Dense)",
        "(2, None, 1)",
        "Total params: 247",
        "batch size 2",
    ] {
        assert!(text.contains(want), "`{want}` not in:\n{text}");
    }
    // weightless layers, several outputs, fixed T
    let (code, text, _) = describe("bidir_return_state__k2_keras", "model.keras");
    assert_eq!(code, Some(0));
    assert!(
        text.contains("[(None, 8), (None, 4), (None, 4), (None, 4), (None, 4)]"),
        "{text}"
    );
    // a model with a layer this crate cannot run: the whole table, the layer marked, the
    // reason with the file's name; exit 0 (the description succeeded)
    let (code, text, err) = describe("lambda_layer__k3_keras", "model.keras");
    assert_eq!(code, Some(0), "{err}");
    let lambda_row = text
        .lines()
        .find(|l| l.starts_with("lambda (Lambda)"))
        .unwrap();
    assert!(lambda_row.contains("UNSUPPORTED"), "{text}");
    assert!(
        text.contains("lstm (LSTM)")
            && text.contains("(None, 6, 5)")
            && text.contains("dense (Dense)"),
        "{text}"
    );
    assert!(text.contains("Total params: 186"), "{text}");
    assert!(
        text.contains("cannot run:") && text.contains("lambda_layer__k3_keras/model.keras"),
        "{text}"
    );
    // not a model file: exit 2
    let (code, _, err) = describe("lstm_dense__k2_h5", "call0_input_0.npy");
    assert_eq!(code, Some(2));
    assert!(err.contains("call0_input_0.npy"), "{err}");
}

fn run_device_all_compares_the_gpu_with_the_cpu() {
    let case = "seq2seq_inference__k2_keras";
    let zoo = |f: &str| zoo_dir().join(case).join(f);
    let out = bin()
        .arg("run")
        .arg(zoo("model.keras"))
        .arg("--input")
        .arg(zoo("call0_input_0.npy"))
        .arg("--input")
        .arg(zoo("call0_input_1.npy"))
        .args(["--device", "all"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for i in 0..3 {
        let line = text
            .lines()
            .find(|l| l.starts_with(&format!("output {i}: max |gpu - cpu| = ")))
            .unwrap_or_else(|| panic!("{text}"));
        let v: f32 = line
            .trim_start_matches(&format!("output {i}: max |gpu - cpu| = "))
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!(v <= 1e-4, "{line}");
    }
}

/// `--input` takes a single .npz holding every input, by the model's input names.
fn run_takes_an_npz_of_inputs() {
    let case = "seq2seq_inference__k3_keras";
    let dir = zoo_dir().join(case);
    let tmp = tempdir_for("npz-inputs");
    let read = |f: &str| wgpu_lstm::keras::read_npy_f32(&dir.join(f)).unwrap();
    let (a, b) = (read("call0_input_0.npy"), read("call0_input_1.npy"));
    let meta = case_json(case);
    let names: Vec<String> = meta["inputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect();
    // written in the opposite order: matched by name
    let x = tmp.join("x.npz");
    wgpu_lstm::keras::write_npz(
        &x,
        &[(names[1].clone(), b.view()), (names[0].clone(), a.view())],
    )
    .unwrap();
    let y = tmp.join("y.npz");
    let out = bin()
        .arg("run")
        .arg(dir.join("model.keras"))
        .arg("--input")
        .arg(&x)
        .args(["--device", "cpu", "--output"])
        .arg(&y)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got = wgpu_lstm::keras::read_npz(&y).unwrap();
    let want = read("call0_output_0.npy");
    match &got[0].1 {
        wgpu_lstm::keras::NpyArray::F32(g) => assert!(crate::common::max_abs(g, &want) <= 1e-5),
        other => panic!("{other:?}"),
    }
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
        crate::common::test(
            "cli::run_matches_keras_on_the_zoo_on_the_cpu",
            run_matches_keras_on_the_zoo_on_the_cpu,
        ),
        crate::common::gpu_test(
            "cli::run_matches_keras_on_the_zoo_on_the_gpu",
            run_matches_keras_on_the_zoo_on_the_gpu,
        ),
        crate::common::test(
            "cli::run_refuses_what_it_cannot_do_by_name",
            run_refuses_what_it_cannot_do_by_name,
        ),
        crate::common::test(
            "cli::describe_prints_every_layer_even_of_models_it_cannot_run",
            describe_prints_every_layer_even_of_models_it_cannot_run,
        ),
        crate::common::gpu_test(
            "cli::run_device_all_compares_the_gpu_with_the_cpu",
            run_device_all_compares_the_gpu_with_the_cpu,
        ),
        crate::common::test(
            "cli::run_takes_an_npz_of_inputs",
            run_takes_an_npz_of_inputs,
        ),
    ]
}
