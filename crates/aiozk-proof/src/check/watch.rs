//! Placeholder until the watch workload lands.

use super::{Input, Report};

pub(crate) fn check(_input: &Input<'_>, _report: &mut Report) {}
