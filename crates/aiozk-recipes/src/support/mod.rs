//! What the recipes share, one concern a file:
//! * `naming`: unique ids and the `<label>-<guid>-<sequence>` node names;
//! * `in_session`: retries within one session (ownership recipes, for which an expiry
//!   ends what they hold);
//! * `across_expiry`: retries across session expiry, reconnect notices, node cleanup
//!   (observation recipes, which outlive a session);
//! * `task`: background tasks that stop when dropped, and deadlines.

pub(crate) mod across_expiry;
pub(crate) mod in_session;
pub(crate) mod naming;
pub(crate) mod task;
