//! `aiozk-bench`: the harness (`run`) and the Rust clients' workloads (`client`).

fn main() {
    std::process::exit(aiozk_bench::cli::main());
}
