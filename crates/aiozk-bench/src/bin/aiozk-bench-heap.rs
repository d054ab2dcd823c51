//! `aiozk-bench` with an allocator that counts heap bytes: the harness runs the memory
//! workloads (sessions, watches) with it, so that memory per item is exact.

use std::alloc::System;

use cap::Cap;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

fn heap() -> usize {
    ALLOCATOR.allocated()
}

fn main() {
    aiozk_bench::sys::set_heap_counter(heap);
    std::process::exit(aiozk_bench::cli::main());
}
