//! posttroll in Rust: the messaging system of the pytroll community.
//!
//! This facade re-exports [`posttroll_core`]: the wire-exact [`Message`]
//! codec and the [`Config`]. The high-level publisher/subscriber API and the
//! backends are added on top of it.

pub use posttroll_core::*;
