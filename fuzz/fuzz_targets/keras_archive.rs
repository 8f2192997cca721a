#![no_main]
//! `keras_archive`: see fuzz/bodies.rs and FUZZING.md.

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    common::init();
    common::bodies::keras_archive(data);
});
