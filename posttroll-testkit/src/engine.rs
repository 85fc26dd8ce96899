//! The ZMTP engine the tests run on, picked by the environment: one
//! conformance suite for every engine.
//!
//! posttroll serves the wire backends `unsecure_zmq` and `secure_zmq` with
//! one of two engines, chosen by the config key `engine`: `libzmq` (the C
//! library) or `purerust` (omq). The tests that exercise a real engine
//! build their configurations through [`with_test_engine`] (the fixture's
//! and [`loopback_multicast`](crate::loopback_multicast)'s configurations
//! do), so that the same suite runs on either engine:
//!
//! ```text
//! POSTTROLL_ENGINE=purerust cargo test --workspace --all-features
//! POSTTROLL_ENGINE=libzmq   cargo test --workspace --all-features
//! ```
//!
//! Without `POSTTROLL_ENGINE` the configurations keep `engine` unset: the
//! registry's default (purerust where it is compiled in, else libzmq).
//! Both engines must be compiled into `posttroll` for a run to pick either
//! (`--all-features`). Each engine-following test checks the engine it
//! actually ran on with [`assert_test_engine`], so that a misconfigured run
//! shows.

use posttroll::{Config, Context};

/// The environment variable naming the engine of a test run (the same
/// variable the library's configuration reads for the `engine` key).
pub const ENGINE_VAR: &str = "POSTTROLL_ENGINE";

/// The engines a test run may name in [`ENGINE_VAR`].
pub const ENGINES: &[&str] = &["libzmq", "purerust"];

/// The engine this test run is to use: the value of `POSTTROLL_ENGINE`, or
/// `None` when it is unset or empty (the registry's default).
///
/// # Panics
///
/// When `POSTTROLL_ENGINE` names no known engine (see [`ENGINES`]), or is
/// not Unicode: a misconfigured test run stops at once with a message naming
/// the value, rather than running every test on an engine nobody chose.
///
/// # Examples
///
/// ```
/// use posttroll_testkit::engine::{engine_from_env, ENGINES};
///
/// if let Some(engine) = engine_from_env() {
///     assert!(ENGINES.contains(&engine.as_str()));
/// }
/// ```
pub fn engine_from_env() -> Option<String> {
    let value = match std::env::var(ENGINE_VAR) {
        Ok(value) => value,
        Err(std::env::VarError::NotPresent) => return None,
        Err(std::env::VarError::NotUnicode(raw)) => {
            panic!(
                "{ENGINE_VAR} is not Unicode ({raw:?}); set it to one of {ENGINES:?} or unset it"
            )
        }
    };
    match parse_engine(&value) {
        Ok(engine) => engine,
        Err(message) => panic!("{message}"),
    }
}

/// The engine `value` (of `POSTTROLL_ENGINE`) names: `None` when empty, an
/// error naming the value when it is no known engine.
fn parse_engine(value: &str) -> Result<Option<String>, String> {
    let engine = value.trim();
    if engine.is_empty() {
        Ok(None)
    } else if ENGINES.contains(&engine) {
        Ok(Some(engine.to_owned()))
    } else {
        Err(format!(
            "{ENGINE_VAR}={value:?} names no engine the tests know: set it to one of \
             {ENGINES:?} (or unset it for the registry's default)"
        ))
    }
}

/// `config` with its `engine` set to [`engine_from_env`] when it is unset;
/// an engine the configuration names already is kept (tests pinned to one
/// engine on purpose stay pinned).
///
/// # Panics
///
/// As [`engine_from_env`], on a bad `POSTTROLL_ENGINE`.
///
/// # Examples
///
/// ```
/// use posttroll::Config;
/// use posttroll_testkit::engine::{engine_from_env, with_test_engine};
///
/// let config = with_test_engine(Config::default());
/// assert_eq!(config.engine, engine_from_env());
///
/// let pinned = Config { engine: Some("libzmq".into()), ..Config::default() };
/// assert_eq!(with_test_engine(pinned).engine.as_deref(), Some("libzmq"));
/// ```
pub fn with_test_engine(config: Config) -> Config {
    if config.engine.is_some() {
        return config;
    }
    Config {
        engine: engine_from_env(),
        ..config
    }
}

/// Checks that `ctx` (on `unsecure_zmq` or `secure_zmq`) runs on the engine
/// of this test run: the one `POSTTROLL_ENGINE` names, or, when unset, one
/// of the known [`ENGINES`]. Returns the engine's name.
///
/// # Panics
///
/// When the context runs on another engine, naming both, so that a test run
/// that meant one engine and got another fails instead of passing on the
/// wrong one.
///
/// # Examples
///
/// ```no_run
/// use posttroll::{Config, Context};
/// use posttroll_testkit::engine::{assert_test_engine, with_test_engine};
///
/// let ctx = Context::new(with_test_engine(Config::default())).unwrap();
/// let engine = assert_test_engine(&ctx);
/// println!("running on {engine}");
/// ```
pub fn assert_test_engine(ctx: &Context) -> String {
    let actual = ctx.transport().engine().to_owned();
    match engine_from_env() {
        Some(expected) => assert_eq!(
            actual,
            expected,
            "the context ({} backend) runs on the engine {actual:?}, but {ENGINE_VAR} asks for \
             {expected:?}",
            ctx.backend_name()
        ),
        None => assert!(
            ENGINES.contains(&actual.as_str()),
            "the context ({} backend) runs on {actual:?}, not on one of the ZMTP engines \
             {ENGINES:?}",
            ctx.backend_name()
        ),
    }
    actual
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_engines_are_accepted_and_others_named_in_the_error() {
        assert_eq!(parse_engine("libzmq"), Ok(Some("libzmq".to_owned())));
        assert_eq!(parse_engine(" purerust\n"), Ok(Some("purerust".to_owned())));
        assert_eq!(parse_engine(""), Ok(None));
        let err = parse_engine("zeromq").unwrap_err();
        assert!(err.contains("POSTTROLL_ENGINE=\"zeromq\""), "{err}");
        assert!(err.contains("libzmq") && err.contains("purerust"), "{err}");
    }

    #[test]
    fn a_pinned_engine_is_kept() {
        let pinned = Config {
            engine: Some("libzmq".into()),
            ..Config::default()
        };
        assert_eq!(with_test_engine(pinned).engine.as_deref(), Some("libzmq"));
        assert_eq!(
            with_test_engine(Config::default()).engine,
            engine_from_env()
        );
    }
}
