//! Test fixtures for posttroll, for this workspace's tests and for
//! applications built on posttroll.
//!
//! - [`bench`](mod@bench): the `TARGET|...` lines the benchmarks print for each
//!   measured target, which `scripts/bench.sh` gathers into a table.
//! - [`engine`]: the ZMTP engine of a test run, from `POSTTROLL_ENGINE`
//!   ([`engine_from_env`], [`with_test_engine`], [`assert_test_engine`]):
//!   the same tests run on the `libzmq` and the `purerust` engine.
//! - [`ports`]: free TCP and UDP ports ([`free_tcp_port`],
//!   [`free_tcp_ports`], [`free_udp_port`]).
//! - [`multicast`]: loopback-only multicast settings
//!   ([`unique_multicast_group`], [`loopback_multicast`]). Tests never
//!   multicast anywhere but on loopback, with a TTL of 0.
//! - [`fixture`]: a running nameserver on free ports ([`NameServerFixture`],
//!   and [`blocking::NameServerFixture`] for plain `#[test]`s).
//! - [`recorder`]: the reference's `patched_publisher` in Rust shape: a
//!   [`Recorder`] sees every frame the publishers of an isolated in-process
//!   network send ([`recording_context`]).
//! - [`patched`]: the same two for code that takes no context: the global
//!   context becomes a recording or scripted one while a guard lives
//!   ([`patched::patched_publisher`], [`patched::patched_subscriber_recv`]).
//! - [`scripted`]: the reference's `patched_subscriber_recv` in Rust shape:
//!   a real subscriber whose `recv` yields exactly the given messages
//!   ([`scripted_subscriber`], [`blocking::scripted_subscriber`]).
//! - [`conformance`]: one behaviour suite for every ZMTP engine: transport
//!   tests written once against [`posttroll::backend::Transport`], which each engine's
//!   tests call with its own transport.
//! - [`python`]: the Python reference (posttroll 1.16.0) for interop tests:
//!   finding the interpreter ([`python::require`]) and running peers
//!   ([`python::PythonProcess`]).
//!
//! # Examples
//!
//! A publisher announcing itself is found through a nameserver, all in
//! process:
//!
//! ```
//! use std::time::Duration;
//! use posttroll::publisher::NoisyPublisher;
//! use posttroll_testkit::{FixtureOptions, NameServerFixture};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let ns = NameServerFixture::start(FixtureOptions::default()).await?;
//! let publisher = NoisyPublisher::builder("my_service")
//!     .context(ns.context().clone())
//!     .nameservers(ns.announce_to())
//!     .start()
//!     .await?;
//! let found = ns.wait_for_service("my_service", Duration::from_secs(5)).await?;
//! assert_eq!(found[0].uri(), publisher.announced_uri());
//! publisher.stop().await?;
//! ns.stop().await;
//! # Ok::<(), posttroll::Error>(())
//! # }).unwrap();
//! ```

pub mod bench;
pub mod blocking;
pub mod conformance;
pub mod curve_keys;
pub mod engine;
pub mod fixture;
pub mod multicast;
pub mod patched;
pub mod peers;
pub mod ports;
pub mod proxy;
pub mod python;
pub mod recorder;
pub mod scripted;

pub use curve_keys::CurveKeys;
pub use engine::{assert_test_engine, engine_from_env, with_test_engine};
pub use fixture::{inproc_config, FixtureBackend, FixtureOptions, NameServerFixture};
pub use multicast::{loopback_multicast, unique_multicast_group};
pub use ports::{free_tcp_port, free_tcp_ports, free_udp_port};
pub use recorder::{recording_context, Recorder};
pub use scripted::scripted_subscriber;
