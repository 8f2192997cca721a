//! The one integration-test binary (wgpu links once). Modules:
//! fixtures (Keras oracle), keras_vectors (Keras's own unit-test numbers), props (proptest
//! invariants), errors (typed errors), gpu_vs_cpu (random configs on both paths), stateful
//! (GPU state across calls), shaders (naga validation), cli (the binary), sizes (user sizes:
//! checked products, the host-memory budget, errors that name the field, a closed stdout).

mod common;

mod activations;
mod bad_inputs;
mod bench;
mod cli;
mod errors;
mod fixtures;
mod fuzz_corpus;
mod gpu_vs_cpu;
mod keras_vectors;
mod models;
mod precision;
mod props;
mod serving;
mod shaders;
mod sizes;
mod stateful;
