//! Progress bars on standard error, only when it is a terminal.

use std::io::IsTerminal as _;

use indicatif::{ProgressBar, ProgressStyle};

/// Below this many nodes no bar is shown: the work is over too soon to need one.
pub const THRESHOLD: u64 = 200;

/// A bar for `total` steps labelled `what`, or `None` when standard error is not a terminal
/// or the job is small.
pub fn bar(total: u64, what: &str) -> Option<ProgressBar> {
    if total < THRESHOLD || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = ProgressBar::new(total);
    let style = ProgressStyle::with_template(
        "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} nodes ({per_sec}, ETA {eta})",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(what.to_owned());
    Some(bar)
}
