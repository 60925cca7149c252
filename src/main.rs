//! The `windlass` command-line tool. All logic lives in the library; this
//! file only hands the process over to the CLI layer.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
