//! The thin binary: parse, run, exit from one place.
use std::process::ExitCode;

fn main() -> ExitCode {
    autosd::cli::main()
}
