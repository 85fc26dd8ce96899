//! The suites of posttroll that span crates and processes, beside this
//! file, one `[[test]]` each in `Cargo.toml`:
//!
//! - `interop_python.rs`, `secure_interop_python.rs`: with the Python
//!   reference (posttroll 1.16.0 in the interpreter `PTRS_PYTHON` names,
//!   e.g. the `.venv` of `scripts/setup-python.sh`), plain and CURVE;
//! - `liveness.rs`: slow joiners, connection events and the heartbeat
//!   alarm, through a black-holing proxy and with the reference's
//!   subscriber;
//! - `nameserver_flood.rs`: fault injection, clients that never read
//!   their replies against the nameserver's ports;
//! - `examples.rs`: the facade's examples run end to end as child
//!   processes (`cargo test -p posttroll -p posttroll-tests` builds them;
//!   without them the suite says so and skips, or fails under `CI`, as
//!   the Python interop suites do without Python).
//!
//! Each crate's own tests stay in that crate. The suites run on the engine
//! `POSTTROLL_ENGINE` names, among those compiled in by this crate's
//! features (the facade's: `purerust`, `inproc`, `zmq`, `secure-zmq`).
//!
//! This library is empty but for a check that every suite here is listed
//! in `Cargo.toml` (`autotests` is off), so that none is silently left out.

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn every_suite_is_a_test_target() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
        let listed: Vec<String> = manifest
            .lines()
            .filter_map(|line| line.trim().strip_prefix("path = "))
            .map(|path| path.trim_matches('"').to_owned())
            .collect();
        let mut suites = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            if name.ends_with(".rs") && name != "lib.rs" {
                suites.push(name);
            }
        }
        assert!(!suites.is_empty());
        for suite in suites {
            assert!(
                listed.contains(&suite),
                "{suite} is not a [[test]] in tests/Cargo.toml: it would never run"
            );
        }
    }
}
