use clap::Parser;

fn main() -> std::process::ExitCode {
    flash_server::cli::run(flash_server::cli::Cli::parse())
}
