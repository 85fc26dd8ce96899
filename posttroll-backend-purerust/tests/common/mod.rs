//! Helpers shared by the test binaries of the pure-Rust engine.

#![allow(dead_code, unused_imports, clippy::unwrap_used, clippy::expect_used)]

use posttroll_backend_purerust::PureRustTransport;
use posttroll_core::Config;
// The helpers shared with the libzmq engine's tests live in the suite.
pub use posttroll_testkit::conformance::{
    ep, next_data, number_of, numbered, sample_frames, sync, topics, unique, DEADLINE, PROBE,
};

// The logs of this binary, captured.
pub use posttroll_testkit::logs::{logs, wait_for_log};

pub fn transport() -> PureRustTransport {
    logs();
    PureRustTransport::new(&Config::default()).unwrap()
}

pub fn transport_with(config: &Config) -> PureRustTransport {
    logs();
    PureRustTransport::new(config).unwrap()
}

pub fn free_port() -> u16 {
    posttroll_testkit::ports::free_tcp_port()
}
