//! `outpost`: see the crate documentation of `outpost_cli` and `docs/getting-started.md`.

fn main() -> std::process::ExitCode {
    outpost_cli::main()
}
