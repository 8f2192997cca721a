//! Load a Keras `.keras` file and run it — on the GPU when there is one, else on the CPU.
//!
//! ```sh
//! cargo run --release --example run_keras -- demo/sine_forecaster.keras
//! ```

use wgpu_lstm::{Device, model::Model};

fn main() -> Result<(), wgpu_lstm::Error> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or("demo/sine_forecaster.keras".into());
    let device = Device::gpu().unwrap_or(Device::Cpu);
    let mut model = Model::load(path.as_ref(), &device)?;
    print!("{}", model.summary());
    let x = ndarray::Array3::from_shape_fn((1, 50, model.input_dim()), |(_, t, _)| {
        (t as f32 * 0.07).sin()
    });
    for (i, y) in model.predict(x.view())?.iter().enumerate() {
        println!(
            "output {i} {:?} on {}: last value {:?}",
            y.shape(),
            device.name(),
            y.iter().last()
        );
    }
    Ok(())
}
