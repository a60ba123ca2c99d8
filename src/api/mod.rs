//! The npm registry's endpoints, one file per family: what each route in the routing table
//! (`http::routes`) runs once the caller has been checked.

pub mod access;
pub mod audit;
pub mod document;
pub mod health;
pub mod org;
pub mod packument;
pub mod publish;
pub mod revision;
pub mod search;
pub mod star;
pub mod tags;
pub mod tarball;
pub mod team;
pub mod user;
