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

/// mimalloc's `mi_option_purge_delay` (mimalloc.h; libmimalloc-sys names no constant for it).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Keeps the memory searches free for the next search: mimalloc hands freed memory back to the
/// system after a second (`purge_delay`), so a search that follows a second or more of idle
/// faulted its pages in again, huge pages that the kernel may compact memory to grant. The
/// demo's search (a fresh server, seconds after it touched a search's memory at start) took
/// 10.0-32.5 ms in 8 runs here (two over 16 ms); never purging, 10.0-11.0 ms, its time in a
/// warm loop. The memory held is the most the process had in use at once: at start the server
/// touches 64 MB for searches (`services::searching::prepared`), and keeps it.
fn keep_freed_memory() {
    // SAFETY: called first in `main`, before any other thread starts (the option setter is
    // not thread safe); -1 is mimalloc's documented value for "never purge".
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, -1) }
}

fn main() -> std::process::ExitCode {
    keep_freed_memory();
    flash_server::cli::run(flash_server::cli::Cli::parse())
}

#[cfg(test)]
mod tests {
    /// `PURGE_DELAY` is mimalloc's purge delay: a child process started with
    /// `MIMALLOC_PURGE_DELAY` set reads that value back through it.
    #[test]
    fn the_option_set_is_the_purge_delay() {
        if std::env::var_os("FLASH_READ_PURGE_DELAY").is_some() {
            // SAFETY: a read, in the child, which sets no option.
            let delay = unsafe { libmimalloc_sys::mi_option_get(super::PURGE_DELAY) };
            println!("purge delay {delay}");
            return;
        }
        let out = std::process::Command::new(std::env::current_exe().expect("the test binary"))
            .args([
                "tests::the_option_set_is_the_purge_delay",
                "--exact",
                "--nocapture",
            ])
            .env("FLASH_READ_PURGE_DELAY", "1")
            .env("MIMALLOC_PURGE_DELAY", "777")
            .output()
            .expect("the child test runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{stdout}");
        assert!(stdout.contains("purge delay 777"), "{stdout}");
    }
}
