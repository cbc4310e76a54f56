//! Writes exported ONNX models to a directory, for checking them with the ONNX tools:
//!
//!     cargo run -p flash-core --example export_samples -- DIR [N]
//!
//! DIR gets the README's example spec; for every space of CIFAR-sized input, N (default 4) specs
//! sampled with seed 1 and the spec whose every cell is the grid's last (the largest); for the
//! ImageNet-sized spaces (whose largest networks run to gigabytes), the smallest spec; and a small
//! graph using every exported operator.

use flash_core::ir::every_operator;
use flash_core::onnx::{DEFAULT_SEED, export, export_spec};
use flash_core::space::{ArchSpec, Space};

const EXAMPLE: &str = r#"{"space":"flash-densenet","input_shape":[3,32,32],"num_classes":10,"cells":[{"width":32,"depth":8,"tc":16},{"width":64,"depth":8,"tc":32},{"width":128,"depth":8,"tc":64}]}"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = std::path::PathBuf::from(args.next().ok_or("usage: export_samples DIR [N]")?);
    let n: usize = args.next().map_or(Ok(4), |s| s.parse())?;
    std::fs::create_dir_all(&dir)?;

    let mut models = vec![(
        "example".to_string(),
        export_spec(&ArchSpec::from_json(EXAMPLE)?),
    )];
    for space in Space::all() {
        let name = space.name;
        let cell = |i: u64| vec![space.cell_at(i); space.num_cells];
        if space.input_shape[1] <= 64 {
            for (i, spec) in space.sample_uniform(n, 1).iter().enumerate() {
                models.push((format!("{name}-sample{i}"), export_spec(spec)));
            }
            let largest = space.spec(cell(space.cell_choices() - 1));
            models.push((format!("{name}-largest"), export_spec(&largest)));
        } else {
            models.push((
                format!("{name}-smallest"),
                export_spec(&space.spec(cell(0))),
            ));
        }
    }
    models.push(("all_ops".into(), export(&every_operator(), DEFAULT_SEED)));

    for (name, bytes) in models {
        let path = dir.join(format!("{name}.onnx"));
        std::fs::write(&path, &bytes)?;
        println!("{} ({} bytes)", path.display(), bytes.len());
    }
    Ok(())
}
