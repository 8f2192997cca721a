#![no_main]
//! `legacy_h5`: see fuzz/bodies.rs and FUZZING.md.

use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    common::init();
    common::bodies::legacy_h5(data);
});
