//! The `floe` binary. As PID 1 it is the whole appliance; as an ordinary
//! process it is hosted mode (`floe serve`). This first version only answers
//! `--version`; roles arrive with the storage and server crates.
#![forbid(unsafe_code)]

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("--version") | Some("version") => {
            println!("floe {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("floe: unknown command '{other}'; this build knows: --version");
            ExitCode::from(2)
        }
        None => {
            eprintln!("usage: floe --version");
            ExitCode::from(2)
        }
    }
}
