//! The service's ONNX exports load and run in ONNX Runtime through `ort`: output [1, classes],
//! finite values, for specs of both spaces.

use flash_agent::runtime::{self, Provider, Runtime};
use flash_core::{ArchSpec, Space, onnx};

#[test]
fn exported_specs_run_with_the_right_output_shape() {
    let library = runtime::locate_library_here(false).unwrap_or_else(|e| panic!("{e}"));
    let rt = Runtime::load(&library).unwrap();
    let example = ArchSpec::from_json(
        r#"{"space":"flash-densenet","input_shape":[3,32,32],"num_classes":10,"cells":[{"width":32,"depth":8,"tc":16},{"width":64,"depth":8,"tc":32},{"width":128,"depth":8,"tc":64}]}"#,
    )
    .unwrap();
    let mut specs = vec![example];
    for space in Space::all() {
        specs.extend(space.sample_uniform(3, 4));
    }
    for spec in specs {
        let bytes = onnx::export_spec(&spec);
        let mut model = rt.model(&bytes, 1, Provider::Cpu).unwrap();
        let (shape, values) = model.first_output().unwrap();
        assert_eq!(shape, [1, spec.num_classes as i64], "{}", spec.id());
        assert!(values.iter().all(|v| v.is_finite()), "{}", spec.id());
    }
}
