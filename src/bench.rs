//! Benchmarks over the shared grid (written next).
