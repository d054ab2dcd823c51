//! Locks, leases, semaphores and elections.
