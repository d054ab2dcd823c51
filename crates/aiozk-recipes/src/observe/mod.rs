//! Watchers, barriers, parties, counters, caches and queues.
