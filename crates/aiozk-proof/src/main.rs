//! `aiozk-proof`: seeded fault-injection runs; see the crate documentation.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::from(aiozk_proof::main())
}
