//! Criterion benchmarks over the shared grid (see BENCHMARKS.md): cpu/<config>, gpu/<config>.
fn main() {}
