//! Placeholder until the watch workload lands.

use super::Ctx;

pub(crate) const BASE: &str = "/proof/watch";

pub(crate) async fn run(_ctx: &Ctx) {}
