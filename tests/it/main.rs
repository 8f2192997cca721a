//! The one integration-test binary (wgpu links once), with its own harness
//! (libtest-mimic): plain tests, GPU tests, and the suite that runs the same checks over
//! every executor — the CPU and the GPU with each recurrent kernel and precision — as tract
//! runs one op suite over every implementation. Without a GPU adapter, GPU tests show as
//! ignored (never as passed) outside CI, and fail inside CI with the adapters found.
//!
//! Modules: fixtures (Keras oracle), keras_vectors (Keras's own unit-test numbers), props
//! (proptest invariants), errors (typed errors), gpu_vs_cpu (random configs on both paths),
//! stateful (GPU state across calls), shaders (naga validation), cli (the binary), serving,
//! reliability, models, model_files (whole files vs Keras's own summaries), precision, bench, bad_inputs, fuzz_corpus, activations, zoo (real
//! Keras models end to end), sizes (user
//! sizes: checked products, the host-memory budget, errors that name the field, a closed
//! stdout), hostile_hdf5 (chunked HDF5 datasets: h5py's layouts load, hostile chunk indexes
//! fail fast and small).

mod common;

mod activations;
mod bad_inputs;
mod bench;
mod cli;
mod cpu_kernels;
mod errors;
mod fixtures;
mod fuzz_corpus;
mod gpu_vs_cpu;
mod gru;
mod hostile_hdf5;
mod keras_vectors;
mod layers;
mod layers_act;
mod layers_conv;
mod layers_dot;
mod layers_merge;
mod layers_shape;
mod model_files;
mod models;
mod precision;
mod props;
mod reliability;
mod serving;
mod shaders;
mod sizes;
mod stateful;
mod zoo;

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    if hostile_hdf5::is_child() {
        // a child load measures its own memory: list nothing that starts a GPU
        libtest_mimic::run(&args, hostile_hdf5::tests()).exit();
    }
    let trials: Vec<libtest_mimic::Trial> = [
        activations::tests(),
        bad_inputs::tests(),
        bench::tests(),
        cli::tests(),
        cpu_kernels::tests(),
        errors::tests(),
        fixtures::tests(),
        fuzz_corpus::tests(),
        gpu_vs_cpu::tests(),
        gru::tests(),
        hostile_hdf5::tests(),
        keras_vectors::tests(),
        layers::tests(),
        layers_act::tests(),
        layers_dot::tests(),
        layers_conv::tests(),
        layers_merge::tests(),
        layers_shape::tests(),
        model_files::tests(),
        models::tests(),
        precision::tests(),
        props::tests(),
        reliability::tests(),
        serving::tests(),
        shaders::tests(),
        sizes::tests(),
        stateful::tests(),
        zoo::tests(),
    ]
    .into_iter()
    .flatten()
    .collect();
    libtest_mimic::run(&args, trials).exit();
}
