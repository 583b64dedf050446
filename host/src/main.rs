use std::process::ExitCode;

fn main() -> ExitCode {
    regent_host::cli::main()
}
