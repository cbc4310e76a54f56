use clap::Parser;

/// A search allocates and frees its tables, filters and fronts (a few megabytes) each time;
/// glibc's allocator hands large blocks back to the system and faults their pages in again on
/// the next search. With mimalloc a search on the default space takes 2-5% less time (8% on
/// the smallest problems), measured on `bench_search`, which uses it too. Built without its
/// transparent huge pages (`no_thp`): where the system grants them on request, the first
/// search after an idle second faulted them in at 70-105 ms instead of 15-35 ms (two devices;
/// the kernel compacts memory for each one), and searches in between ran no faster.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    flash_server::cli::run(flash_server::cli::Cli::parse())
}
