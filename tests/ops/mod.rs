//! Issue #8, hardening and operations: the connection front against hostile clients, graceful
//! shutdown, crash safety, `nmr fsck`, backup and restore, metrics and health.

mod backup;
mod crash;
mod front;
mod fsck;
mod observe;
mod shutdown;
