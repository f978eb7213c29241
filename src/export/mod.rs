//! What people and Prometheus read: the metric families ([`metrics`]), the
//! HTTP endpoints and how they are served and protected ([`http`]), and the
//! status page at `/` ([`status_page`]) with the daemon state it shows
//! ([`status`]).
//!
//! Everything here reads shared state that the inputs publish into; nothing
//! here reads logs.

pub mod http;
pub mod metrics;
pub mod status;
pub mod status_page;
