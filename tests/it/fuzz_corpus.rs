//! Replays the fuzz targets' regression corpus (`fuzz/corpus/<target>/`, see FUZZING.md)
//! through the very bodies the cargo-fuzz targets run (`fuzz/bodies.rs`), as plain
//! functions: no nightly, no libFuzzer. Every file must return (errors are fine) without a
//! panic, and within a time limit (a hang fails the test instead of stalling CI).

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod bodies {
    include!("../../fuzz/bodies.rs");
}

/// Per file; the whole corpus replays in well under a second in a debug build.
const LIMIT: Duration = Duration::from_secs(10);

fn corpus_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus")
}

fn files_of(target: &str) -> Vec<PathBuf> {
    let dir = corpus_root().join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn body_of(target: &str) -> bodies::Body {
    bodies::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|(_, f)| *f)
        .unwrap_or_else(|| panic!("no fuzz target `{target}`"))
}

/// Runs every corpus file of `target` on its own thread, so that a panic or a hang is
/// reported with the file's name.
fn replay(target: &str) {
    let body = body_of(target);
    let files = files_of(target);
    assert!(!files.is_empty(), "fuzz/corpus/{target} is empty");
    let mut failures = Vec::new();
    for path in &files {
        let bytes = std::fs::read(path).expect("read corpus file");
        let (tx, rx) = mpsc::channel();
        let start = Instant::now();
        std::thread::Builder::new()
            .name(format!("{target}:{}", path.display()))
            .spawn(move || {
                body(&bytes);
                let _ = tx.send(());
            })
            .expect("spawn replay thread");
        match rx.recv_timeout(LIMIT) {
            Ok(()) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                failures.push(format!("{}: panicked", path.display()));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                failures.push(format!(
                    "{}: still running after {:?}",
                    path.display(),
                    start.elapsed()
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "fuzz/corpus/{target}: {} of {} files failed (reproduce with `cargo +nightly fuzz run {target} FILE` in fuzz/):\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

fn corpus_folders_match_targets() {
    let mut dirs: Vec<String> = std::fs::read_dir(corpus_root())
        .expect("fuzz/corpus")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    dirs.sort();
    let mut targets: Vec<String> = bodies::TARGETS.iter().map(|(n, _)| n.to_string()).collect();
    targets.sort();
    assert_eq!(dirs, targets);
}

fn keras_archive() {
    replay("keras_archive");
}

fn legacy_h5() {
    replay("legacy_h5");
}

fn weights_h5() {
    replay("weights_h5");
}

fn npy() {
    replay("npy");
}

fn model_config() {
    replay("model_config");
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    vec![
        crate::common::test(
            "fuzz_corpus::corpus_folders_match_targets",
            corpus_folders_match_targets,
        ),
        crate::common::test("fuzz_corpus::keras_archive", keras_archive),
        crate::common::test("fuzz_corpus::legacy_h5", legacy_h5),
        crate::common::test("fuzz_corpus::weights_h5", weights_h5),
        crate::common::test("fuzz_corpus::npy", npy),
        crate::common::test("fuzz_corpus::model_config", model_config),
    ]
}
