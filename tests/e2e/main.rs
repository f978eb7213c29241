//! End-to-end tests: the real `errtally` binary on real files, compared with
//! independently known truth (the corpus generator's tally, or lines the
//! test wrote itself).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod backfill;
mod container;
mod daemon;
mod daemon_support;
mod dashboards;
mod deploy;
mod docs;
mod examples;
mod faults;
mod faults_support;
mod globs;
mod golden;
mod history;
mod kubernetes;
mod model;
mod package;
mod path_labels;
mod prometheus_live;
mod readme;
mod rotated_while_down;
mod scan;
mod sdk;
mod slow_clients;
mod split;
mod state_dir;
mod status_examples;
mod status_page;
mod support;
mod truncation;
mod webconfig;
