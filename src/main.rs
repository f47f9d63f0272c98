//! The `redress` binary: wiring only. The commands live in `redress_adapters::cli`.

fn main() -> std::process::ExitCode {
    redress_adapters::cli::main()
}
