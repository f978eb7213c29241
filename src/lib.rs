//! errtally counts the catalogued Stytch B2B 404 errors found in JSON logs.
//!
//! Data flow: bytes -> [`frame`] (complete lines) -> [`scan`] (each record's
//! `error_type`) -> [`scan::Tally`] (per-type counts) -> reports and metrics.
//! The [`catalog`] says which error types are known and what to do about them.

pub mod batch;
pub mod catalog;
pub mod checkpoint;
pub mod cli;
pub mod config;
pub mod corpus;
pub mod daemon;
pub mod demo;
pub mod frame;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod report;
pub mod scan;
pub mod status;
pub mod tail;
