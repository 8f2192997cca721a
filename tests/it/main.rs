//! The one integration-test binary (wgpu links once). Modules:
//! fixtures (Keras oracle), keras_vectors (Keras's own unit-test numbers), props (proptest
//! invariants), errors (typed errors), gpu_vs_cpu (random configs on both paths), stateful
//! (GPU state across calls), shaders (naga validation), cli (the binary), hostile_hdf5 (chunked
//! HDF5 datasets: h5py's layouts load, hostile chunk indexes fail fast and small).

mod common;

mod activations;
mod bad_inputs;
mod bench;
mod cli;
mod errors;
mod fixtures;
mod fuzz_corpus;
mod gpu_vs_cpu;
mod hostile_hdf5;
mod keras_vectors;
mod models;
mod precision;
mod props;
mod serving;
mod shaders;
mod stateful;
