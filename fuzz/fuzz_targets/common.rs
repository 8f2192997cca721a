//! Shared by every fuzz target: the bodies (fuzz/bodies.rs) and the panic hook.

#[allow(dead_code)]
pub mod bodies {
    include!("../bodies.rs");
}

use std::collections::HashSet;
use std::sync::{Mutex, Once};

/// libfuzzer-sys installs a panic hook that aborts on *every* panic, even one that is
/// caught. wgpu-lstm deliberately runs each call into the HDF5 reader (`hdf5-pure`) under
/// `catch_unwind` (src/keras/hdf5.rs) and turns its panics into errors, so such a panic is
/// not a failure of the API. This hook does not abort; it prints each panic location once
/// (so the caught `hdf5-pure` panics are visible in the log). A panic that escapes the
/// target body is still a crash: libfuzzer-sys's own `catch_unwind` around the body aborts.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
        std::panic::set_hook(Box::new(|info| {
            let loc = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
            if seen.get_or_insert_with(HashSet::new).insert(loc.clone()) {
                let msg = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                eprintln!("FUZZ-PANIC (first at this location) {loc}: {msg}");
            }
        }));
    });
}
