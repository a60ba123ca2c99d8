//! Issue #8, hardening and operations: the connection front against hostile clients, graceful
//! shutdown, crash safety, `nmr fsck`, backup and restore, metrics and health; and (issue #15)
//! the modes of the files nmr creates.

mod backup;
mod crash;
mod files;
mod front;
mod fsck;
mod observe;
mod shutdown;
