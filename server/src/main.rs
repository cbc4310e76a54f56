use clap::Parser;

/// A search allocates and frees its tables, filters and fronts (a few megabytes) each time;
/// glibc's allocator hands large blocks back to the system and faults their pages in again on
/// the next search. With mimalloc a search on the default space takes 2-5% less time (8% on
/// the smallest problems), measured on `bench_search`, which uses it too. Its transparent huge
/// pages stay on: without them (`no_thp`) a process's first search no longer paid for the
/// kernel compacting memory to grant them (70-105 ms there against 15-35 ms, two devices), but
/// every later search ran 3-14% slower (whole `bench_search` runs alternated). The server
/// touches a search's memory as it starts instead (`services::searching::prepared`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    flash_server::cli::run(flash_server::cli::Cli::parse())
}
