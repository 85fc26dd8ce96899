//! `Config::load()` reads the process environment.
//!
//! This binary holds a single test on purpose: it changes the process
//! environment, which no other test in the same process may race with.

use posttroll_core::Config;

#[test]
fn load_reads_posttroll_variables_from_the_process_environment() {
    let folder = std::env::temp_dir().join(format!(
        "posttroll-config-process-env-{}",
        std::process::id()
    ));
    let vars = [
        ("POSTTROLL_NAMESERVER_PORT", "5590"),
        ("POSTTROLL_BACKEND", "secure_zmq"),
        (
            "POSTTROLL_AUTHORIZED_CLIENT_ADDRESSES",
            "['10.0.0.1', 'host']",
        ),
        ("POSTTROLL_TCP_KEEPALIVE", "1"),
        ("PYTROLL_MC_TTL", "4"),
    ];
    for (name, value) in vars {
        std::env::set_var(name, value);
    }
    // Keep the machine's own config files out of the test: a missing root
    // folder and a missing main path are skipped.
    std::env::set_var("POSTTROLL_ROOT_CONFIG", folder.join("root"));
    std::env::set_var("POSTTROLL_CONFIG", folder.join("main.yaml"));
    let old_home = std::env::var_os("HOME");
    std::env::set_var("HOME", folder.join("home"));

    let result = Config::load();

    for (name, _) in vars {
        std::env::remove_var(name);
    }
    std::env::remove_var("POSTTROLL_ROOT_CONFIG");
    std::env::remove_var("POSTTROLL_CONFIG");
    match old_home {
        Some(home) => std::env::set_var("HOME", home),
        None => std::env::remove_var("HOME"),
    }

    let config = match result {
        Ok(config) => config,
        Err(error) => panic!("Config::load() failed: {error}"),
    };
    assert_eq!(config.nameserver_port, 5590);
    assert_eq!(config.backend, "secure_zmq");
    assert_eq!(config.authorized_client_addresses, ["10.0.0.1", "host"]);
    assert_eq!(config.tcp_keepalive, Some(1));
    assert_eq!(config.mc_ttl, 4);
    assert_eq!(config.broadcast_port, Config::default().broadcast_port);
}
