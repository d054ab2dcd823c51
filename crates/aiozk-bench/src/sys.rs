//! Process figures read from the kernel: CPU time, resident memory, heap bytes.

use std::sync::OnceLock;
use std::time::Duration;

/// CPU time (user + system) of this whole process, every thread included.
pub fn process_cpu() -> Duration {
    cpu_time::ProcessTime::try_now().map_or(Duration::ZERO, |t| t.as_duration())
}

/// A `kB` field of `/proc/self/status` (`VmRSS`, `VmHWM`), in bytes.
pub fn status_bytes(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Resident memory now.
pub fn rss() -> u64 {
    status_bytes("VmRSS")
}

/// Peak resident memory.
pub fn peak_rss() -> u64 {
    status_bytes("VmHWM")
}

/// CPU time (user + system, in clock ticks) of another process, from `/proc/<pid>/stat`.
pub fn proc_cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may contain spaces: fields are counted after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of the file (utime, stime) are 12 and 13 after the state field.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 on Linux in practice).
pub fn clock_ticks() -> u64 {
    static TICKS: OnceLock<u64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
            .unwrap_or(100)
    })
}

/// Heap bytes in use, when the binary counts them (`aiozk-bench-heap`).
static HEAP: OnceLock<fn() -> usize> = OnceLock::new();

/// Installs the heap counter (called by the counting binary before anything else).
pub fn set_heap_counter(counter: fn() -> usize) {
    let _ = HEAP.set(counter);
}

/// Heap bytes in use, if counted.
pub fn heap() -> Option<usize> {
    HEAP.get().map(|f| f())
}
