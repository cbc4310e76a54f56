//! Times two builds of the search against each other in one process: the working tree's
//! (`new`) and a committed revision's (`base`), alternated search by search (A B, then B A)
//! on the problems `bench_search --write-problem` wrote. The machine's speed moves 10-50%
//! within seconds, so two whole runs taken apart cannot tell a few percent; pairs taken
//! milliseconds apart can. Prints, per problem, both medians and the median of the pairs'
//! ratios (new over base), then the median ratio over the problems.
//!
//! Run by scripts/ab-search.sh.

/// The allocator the server runs with, as `bench_search` uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Times the working tree's search against a revision's, alternated search by search.
#[derive(clap::Parser)]
struct Args {
    /// The problems `bench_search --write-problem` wrote.
    problems: std::path::PathBuf,
    /// Pairs of searches per problem.
    #[arg(long, default_value_t = 21, value_parser = clap::value_parser!(u32).range(1..))]
    runs: u32,
    /// Only the problem of this name.
    #[arg(long)]
    only: Option<String>,
    /// Time the problems with this confidence.
    #[arg(long)]
    confidence: Option<f64>,
}

fn main() {
    let Args {
        problems: path,
        runs,
        only,
        confidence,
    } = clap::Parser::parse();
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("read the problems"))
            .expect("the problems' JSON");
    let new_space = flash_core::space::Space::default_space();
    let base_space = flash_core_base::space::Space::default_space();
    let mut ratios = Vec::new();
    println!(
        "{:40} {:>9} {:>9} {:>7}",
        "problem", "base ms", "new ms", "ratio"
    );
    for entry in doc["problems"].as_array().expect("problems") {
        let name = entry["name"].as_str().expect("name");
        if only.as_ref().is_some_and(|o| o != name) {
            continue;
        }
        let mut problem = entry["problem"].clone();
        if let Some(p) = confidence {
            problem["confidence"] = p.into();
        }
        let new: flash_core::search::SearchProblem =
            serde_json::from_value(problem.clone()).expect("a problem the new build reads");
        let base: flash_core_base::search::SearchProblem =
            serde_json::from_value(problem).expect("a problem the base build reads");
        let time_new = || {
            let r = flash_core::search::search(new_space, &new).expect("search");
            r.elapsed_ms
        };
        let time_base = || {
            let r = flash_core_base::search::search(base_space, &base).expect("search");
            r.elapsed_ms
        };
        // A search of each first: the first search of a process also computes the space's
        // cell features.
        time_new();
        time_base();
        let (mut a, mut b, mut pairs) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..runs {
            let (x, y) = if i % 2 == 0 {
                let x = time_base();
                (x, time_new())
            } else {
                let y = time_new();
                (time_base(), y)
            };
            a.push(x);
            b.push(y);
            pairs.push(y / x);
        }
        let ratio = median(pairs);
        ratios.push(ratio);
        println!("{name:40} {:9.3} {:9.3} {ratio:7.3}", median(a), median(b));
    }
    if ratios.is_empty() {
        eprintln!("no problem is named {}", only.unwrap_or_default());
        std::process::exit(2);
    }
    println!(
        "median ratio over {} problems: {:.3}",
        ratios.len(),
        median(ratios)
    );
}
