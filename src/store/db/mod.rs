//! The metadata database, whichever engine holds it: SQLite in a file beside the data (the
//! default) or PostgreSQL shared by many instances.

pub mod pg;
pub mod value;
