//! [`ConfigLoader`]: the layers of the configuration, merged with figment.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use figment::providers::Serialized;
use figment::value::{Dict, Value};
use figment::Figment;
use serde::Serialize;

use super::error::{ConfigError, ConfigWarning};
use super::literal::{self, Literal};
use super::Config;

/// Every config key, as in [`Config`]'s fields.
const KEYS: &[&str] = &[
    "backend",
    "engine",
    "nameserver_port",
    "secure_zmq_nameserver_port",
    "address_publish_port",
    "broadcast_port",
    "mc_group",
    "mc_ttl",
    "multicast_interface",
    "pub_min_port",
    "pub_max_port",
    "tcp_keepalive",
    "tcp_keepalive_cnt",
    "tcp_keepalive_idle",
    "tcp_keepalive_intvl",
    "message_version",
    "authorized_client_addresses",
    "server_secret_key_file",
    "clients_public_keys_directory",
    "client_secret_key_file",
    "server_public_key_file",
    "own_ip",
    "max_message_size",
    "subscriber_queue_bytes",
    "zmtp_heartbeat_interval",
    "zmtp_heartbeat_timeout",
];

/// The keys that want an integer (and so also take a string of digits).
const INTEGER_KEYS: &[&str] = &[
    "nameserver_port",
    "secure_zmq_nameserver_port",
    "address_publish_port",
    "broadcast_port",
    "mc_ttl",
    "pub_min_port",
    "pub_max_port",
    "tcp_keepalive",
    "tcp_keepalive_cnt",
    "tcp_keepalive_idle",
    "tcp_keepalive_intvl",
    "max_message_size",
    "subscriber_queue_bytes",
];

/// The prefix of the environment variables.
const ENV_PREFIX: &str = "POSTTROLL_";

/// `POSTTROLL_*` variables that are not keys but are known (donfig's).
const RESERVED_VARIABLES: &[&str] = &[
    "POSTTROLL_CONFIG",
    "POSTTROLL_ROOT_CONFIG",
    "POSTTROLL_INTERNAL_INHERIT_CONFIG",
];

/// Legacy environment variables and the keys they set.
const LEGACY_VARIABLES: &[(&str, &str)] = &[
    ("NAMESERVER_PORT", "nameserver_port"),
    ("PYTROLL_MC_GROUP", "mc_group"),
    ("PYTROLL_MC_TTL", "mc_ttl"),
];

/// The system-wide config folder when `POSTTROLL_ROOT_CONFIG` is not set.
const DEFAULT_ROOT_CONFIG: &str = "/etc/posttroll";

/// The config file extensions looked for in folders.
const EXTENSIONS: &[&str] = &["json", "yaml", "yml"];

/// Builds a [`Config`] from explicit sources: environment variables, config
/// files and overrides. A new loader has none of them, so tests can build a
/// configuration without touching the process environment or the machine's
/// files.
///
/// Layers, lowest priority first: defaults, legacy environment variables,
/// config files (standard ones, then those given with [`file`](Self::file),
/// each in the order found), `POSTTROLL_*` environment variables, overrides
/// ([`set`](Self::set)). See the [module documentation](super) for how each
/// is read.
///
/// # Examples
///
/// ```
/// use posttroll_core::config::{ConfigLoader, ConfigWarning};
///
/// let loaded = ConfigLoader::new()
///     .env_vars([
///         ("POSTTROLL_AUTHORIZED_CLIENT_ADDRESSES".into(), "['10.0.0.1', 'host']".into()),
///         ("NAMESERVER_PORT".into(), "5560".into()),
///     ])
///     .load()?;
/// assert_eq!(loaded.config.authorized_client_addresses, ["10.0.0.1", "host"]);
/// assert_eq!(loaded.config.nameserver_port, 5560);
/// assert_eq!(
///     loaded.warnings,
///     [ConfigWarning::Deprecated {
///         old: "NAMESERVER_PORT".into(),
///         new: "POSTTROLL_NAMESERVER_PORT".into(),
///     }]
/// );
/// # Ok::<(), posttroll_core::config::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct ConfigLoader {
    /// The environment, in order; a later entry of a name wins.
    env: Vec<(String, String)>,
    /// Whether to read the standard config paths.
    standard_files: bool,
    /// Explicit config files or folders.
    files: Vec<PathBuf>,
    /// Overrides: key and value, or why the value did not serialize.
    overrides: Vec<(String, Result<Value, String>)>,
}

/// The result of [`ConfigLoader::load`].
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// What was worth a warning, in the order found (each was also logged
    /// with `tracing::warn!`).
    pub warnings: Vec<ConfigWarning>,
}

impl ConfigLoader {
    /// A loader with no sources: loading it gives the defaults.
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll_core::config::{Config, ConfigLoader};
    ///
    /// assert_eq!(ConfigLoader::new().load()?.config, Config::default());
    /// # Ok::<(), posttroll_core::config::ConfigError>(())
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds environment variables (name, value). They are read as the
    /// process environment would be: `POSTTROLL_*`, the legacy names, and
    /// (for [`standard_files`](Self::standard_files)) `POSTTROLL_CONFIG`,
    /// `POSTTROLL_ROOT_CONFIG` and `HOME`. A later entry of the same name
    /// wins.
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll_core::config::ConfigLoader;
    ///
    /// let loaded = ConfigLoader::new()
    ///     .env_vars([("POSTTROLL_TCP_KEEPALIVE".to_string(), "1".to_string())])
    ///     .load()?;
    /// assert_eq!(loaded.config.tcp_keepalive, Some(1));
    /// # Ok::<(), posttroll_core::config::ConfigError>(())
    /// ```
    pub fn env_vars<I>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (String, String)>,
    {
        self.env.extend(vars);
        self
    }

    /// Adds the process environment (names and values that are not UTF-8
    /// are converted lossily).
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll_core::config::ConfigLoader;
    ///
    /// let loader = ConfigLoader::new().process_env();
    /// ```
    pub fn process_env(mut self) -> Self {
        self.env.extend(std::env::vars_os().map(|(name, value)| {
            (
                name.to_string_lossy().into_owned(),
                value.to_string_lossy().into_owned(),
            )
        }));
        self
    }

    /// Reads the standard config paths, as donfig does, taken from this
    /// loader's environment when [`load`](Self::load) runs:
    /// `$POSTTROLL_ROOT_CONFIG` (else `/etc/posttroll`), then
    /// `$HOME/.config/posttroll` (when `HOME` is set), then
    /// `$POSTTROLL_CONFIG` (a folder or a file). Paths that do not exist are
    /// skipped.
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll_core::config::ConfigLoader;
    ///
    /// let folder = std::env::temp_dir().join("posttroll-doc-no-such-folder");
    /// let loaded = ConfigLoader::new()
    ///     .env_vars([("POSTTROLL_ROOT_CONFIG".into(), folder.display().to_string())])
    ///     .standard_files()
    ///     .load()?;
    /// assert_eq!(loaded.config.nameserver_port, 5557);
    /// # Ok::<(), posttroll_core::config::ConfigError>(())
    /// ```
    pub fn standard_files(mut self) -> Self {
        self.standard_files = true;
        self
    }

    /// Adds a config file, or a folder whose `*.json`, `*.yaml` and `*.yml`
    /// files are read in name order. It must exist. Files are YAML (JSON
    /// when the name ends in `.json`) with a mapping at the top.
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll_core::config::ConfigLoader;
    ///
    /// let path = std::env::temp_dir().join(format!("posttroll-doc-{}.yaml", std::process::id()));
    /// std::fs::write(&path, "nameserver_port: 5561\nmc_group: 239.0.0.1\n")?;
    /// let loaded = ConfigLoader::new().file(&path).load();
    /// std::fs::remove_file(&path)?;
    /// assert_eq!(loaded?.config.nameserver_port, 5561);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn file(mut self, path: impl Into<PathBuf>) -> Self {
        self.files.push(path.into());
        self
    }

    /// Sets `key` to `value` above every other source. An unknown key or a
    /// value that does not fit is reported by [`load`](Self::load).
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll_core::config::ConfigLoader;
    ///
    /// let loaded = ConfigLoader::new()
    ///     .env_vars([("POSTTROLL_BACKEND".into(), "secure_zmq".into())])
    ///     .set("backend", "unsecure_zmq")
    ///     .set("own_ip", Some("10.1.2.3"))
    ///     .load()?;
    /// assert_eq!(loaded.config.backend, "unsecure_zmq");
    /// assert_eq!(loaded.config.own_ip.as_deref(), Some("10.1.2.3"));
    /// assert!(ConfigLoader::new().set("no_such_key", 1).load().is_err());
    /// # Ok::<(), posttroll_core::config::ConfigError>(())
    /// ```
    pub fn set(mut self, key: &str, value: impl Serialize) -> Self {
        let value = Value::serialize(value).map_err(|error| error.to_string());
        self.overrides.push((key.to_string(), value));
        self
    }

    /// Reads every source and merges them into a [`Config`], logging each
    /// warning with `tracing::warn!` as it is found.
    ///
    /// # Errors
    ///
    /// A config file or folder that exists (or was given with
    /// [`file`](Self::file)) but cannot be read; a malformed config file; a
    /// value that does not fit its key; an unknown key given to
    /// [`set`](Self::set). See [`ConfigError`].
    ///
    /// # Examples
    ///
    /// ```
    /// use posttroll_core::config::{ConfigError, ConfigLoader};
    ///
    /// let error = ConfigLoader::new()
    ///     .env_vars([("POSTTROLL_NAMESERVER_PORT".into(), "high".into())])
    ///     .load()
    ///     .unwrap_err();
    /// assert!(matches!(error, ConfigError::InvalidValue { .. }));
    /// ```
    pub fn load(&self) -> Result<Loaded, ConfigError> {
        let env: BTreeMap<&str, &str> = self
            .env
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_str()))
            .collect();
        let mut warnings = Vec::new();
        let mut figment = Figment::from(Serialized::defaults(Config::default()));

        // Legacy variables: below the files, as the reference uses them as
        // the fallback of `config.get`.
        let mut legacy = Dict::new();
        for (old, key) in LEGACY_VARIABLES {
            if let Some(raw) = env.get(old) {
                warn(
                    &mut warnings,
                    ConfigWarning::Deprecated {
                        old: (*old).to_string(),
                        new: variable_name(key),
                    },
                );
                let origin = format!("environment variable {old}");
                let value = checked(key, Value::from(raw.to_string()), &origin, Some(raw))?;
                legacy.insert((*key).to_string(), value);
            }
        }
        figment = figment.merge(Serialized::defaults(legacy));

        let mut paths = Vec::new();
        if self.standard_files {
            for path in standard_paths(&env) {
                collect_path(&path, false, &mut paths)?;
            }
        }
        for path in &self.files {
            collect_path(path, true, &mut paths)?;
        }
        for path in &paths {
            let layer = read_file(path, &mut warnings)?;
            figment = figment.merge(Serialized::defaults(layer));
        }

        let mut env_layer = Dict::new();
        for (name, raw) in &env {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if RESERVED_VARIABLES.contains(name) {
                continue;
            }
            let key = rest.to_lowercase();
            if !KEYS.contains(&key.as_str()) {
                warn(
                    &mut warnings,
                    ConfigWarning::UnknownVariable {
                        name: (*name).to_string(),
                        suggestion: closest_key(&key).map(variable_name),
                    },
                );
                continue;
            }
            let value = literal::parse(raw)
                .map(Literal::into_value)
                .unwrap_or_else(|| Value::from(raw.to_string()));
            let origin = format!("environment variable {name}");
            let value = checked(&key, value, &origin, Some(raw))?;
            env_layer.insert(key, value);
        }
        figment = figment.merge(Serialized::defaults(env_layer));

        let mut override_layer = Dict::new();
        for (key, value) in &self.overrides {
            if !KEYS.contains(&key.as_str()) {
                return Err(ConfigError::UnknownKey {
                    key: key.clone(),
                    suggestion: closest_key(key).map(str::to_string),
                });
            }
            let value = value.clone().map_err(|message| ConfigError::Serialize {
                key: key.clone(),
                message,
            })?;
            let value = checked(key, value, "an explicit override", None)?;
            override_layer.insert(key.clone(), value);
        }
        figment = figment.merge(Serialized::defaults(override_layer));

        let config = figment
            .extract::<Config>()
            .map_err(|error| ConfigError::Merge {
                message: error.to_string(),
            })?;
        Ok(Loaded { config, warnings })
    }
}

/// Records a warning and logs it.
fn warn(warnings: &mut Vec<ConfigWarning>, warning: ConfigWarning) {
    tracing::warn!("{warning}");
    warnings.push(warning);
}

/// `POSTTROLL_<KEY>`.
fn variable_name(key: &str) -> String {
    format!("{ENV_PREFIX}{}", key.to_uppercase())
}

/// The known key closest to `name`, if it is close enough to be a likely
/// typo.
fn closest_key(name: &str) -> Option<&'static str> {
    KEYS.iter()
        .map(|key| (strsim::normalized_levenshtein(name, key), *key))
        .filter(|(similarity, _)| *similarity >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, key)| key)
}

/// Reads `text` as Python's `int()` does: surrounding whitespace, an
/// optional sign, digits with single `_` between them.
fn python_int(text: &str) -> Option<i128> {
    let text = text.trim();
    let (negative, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let magnitude: i128 = digits.replace('_', "").parse().ok()?;
    Some(if negative { -magnitude } else { magnitude })
}

/// Turns a string of digits into a number where `key` wants an integer, then
/// checks that the value fits the key's type.
fn checked(key: &str, value: Value, origin: &str, raw: Option<&str>) -> Result<Value, ConfigError> {
    let value = match value {
        Value::String(tag, text) if INTEGER_KEYS.contains(&key) => match python_int(&text) {
            Some(number) => Value::Num(tag, literal::int_to_num(number)),
            None => Value::String(tag, text),
        },
        other => other,
    };
    let probe = Figment::from(Serialized::defaults(Config::default()))
        .merge(Serialized::default(key, &value));
    match probe.extract::<Config>() {
        Ok(_) => Ok(value),
        Err(error) => Err(ConfigError::InvalidValue {
            key: key.to_string(),
            origin: origin.to_string(),
            value: match raw {
                Some(raw) => format!("{raw:?}"),
                None => render(&value),
            },
            reason: reason(key, &error),
        }),
    }
}

/// Why a value does not fit `key`, in words.
fn reason(key: &str, error: &figment::Error) -> String {
    use figment::error::Kind;
    let found = match &error.kind {
        _ if error.path.len() > 1 => return format!("an item of the list: {}", error.kind),
        Kind::InvalidType(actual, _) | Kind::InvalidValue(actual, _) => match actual.to_string() {
            option if option == "option" => "None".to_string(),
            actual => actual,
        },
        other => return other.to_string(),
    };
    let expected = match key {
        "mc_ttl" => "an integer from 0 to 255",
        "pub_max_port" => "an integer from 0 to 4294967295",
        "tcp_keepalive" | "tcp_keepalive_cnt" | "tcp_keepalive_idle" | "tcp_keepalive_intvl" => {
            "an integer from -2147483648 to 2147483647, or None"
        }
        "max_message_size" | "subscriber_queue_bytes" => "a whole number of bytes",
        "zmtp_heartbeat_interval" | "zmtp_heartbeat_timeout" => "a number of seconds",
        key if INTEGER_KEYS.contains(&key) => "an integer from 0 to 65535",
        "backend" | "mc_group" => "a string",
        "authorized_client_addresses" => "a list of strings",
        "server_secret_key_file"
        | "clients_public_keys_directory"
        | "client_secret_key_file"
        | "server_public_key_file" => "a path (a string), or None",
        _ => "a string, or None",
    };
    format!("found {found}, expected {expected}")
}

/// A value as JSON, for messages.
fn render(value: &Value) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| format!("{value:?}"))
}

/// The standard config paths for the environment `env`, duplicates removed
/// keeping the last occurrence (as donfig does).
fn standard_paths(env: &BTreeMap<&str, &str>) -> Vec<PathBuf> {
    let mut paths = vec![PathBuf::from(
        env.get("POSTTROLL_ROOT_CONFIG")
            .copied()
            .unwrap_or(DEFAULT_ROOT_CONFIG),
    )];
    if let Some(home) = env.get("HOME").filter(|home| !home.is_empty()) {
        paths.push(Path::new(home).join(".config").join("posttroll"));
    }
    if let Some(main) = env.get("POSTTROLL_CONFIG") {
        paths.push(PathBuf::from(main));
    }
    let mut unique: Vec<PathBuf> = Vec::new();
    for path in paths.into_iter().rev() {
        if !unique.contains(&path) {
            unique.push(path);
        }
    }
    unique.reverse();
    unique
}

/// Adds the config files at `path` (a file, or a folder's config files in
/// name order) to `out`. A missing path is skipped unless `required`.
fn collect_path(path: &Path, required: bool, out: &mut Vec<PathBuf>) -> Result<(), ConfigError> {
    let io_error = |source: io::Error| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    };
    let metadata = match fs::metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound && !required => return Ok(()),
        Err(error) => return Err(io_error(error)),
    };
    if !metadata.is_dir() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut files = Vec::new();
    for entry in fs::read_dir(path).map_err(io_error)? {
        let entry = entry.map_err(io_error)?;
        let file = entry.path();
        let wanted = file.extension().is_some_and(|ext| {
            EXTENSIONS
                .iter()
                .any(|wanted| ext.eq_ignore_ascii_case(wanted))
        });
        // Subfolders named like config files are skipped, as donfig's open()
        // of them fails and is ignored.
        if wanted && !file.is_dir() {
            files.push(file);
        }
    }
    files.sort();
    out.extend(files);
    Ok(())
}

/// Reads one config file into a layer of checked values, warning about
/// unknown keys.
fn read_file(path: &Path, warnings: &mut Vec<ConfigWarning>) -> Result<Dict, ConfigError> {
    let malformed = |message: String| ConfigError::Malformed {
        path: path.to_path_buf(),
        message,
    };
    let text = fs::read_to_string(path).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let is_json = path
        .extension()
        .is_some_and(|ext| ext.eq_ignore_ascii_case("json"));
    let mut entries: Vec<(String, Result<Value, String>)> = Vec::new();
    if is_json {
        match serde_json::from_str::<serde_json::Value>(&text)
            .map_err(|e| malformed(e.to_string()))?
        {
            serde_json::Value::Null => {}
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    entries.push((key, Value::serialize(value).map_err(|e| e.to_string())));
                }
            }
            other => return Err(malformed(not_a_mapping(json_kind(&other)))),
        }
    } else {
        let document: serde_yaml::Value = if text.trim().is_empty() {
            serde_yaml::Value::Null
        } else {
            serde_yaml::from_str(&text).map_err(|e| malformed(e.to_string()))?
        };
        match document {
            serde_yaml::Value::Null => {}
            serde_yaml::Value::Mapping(map) => {
                for (key, value) in map {
                    let key = match key {
                        serde_yaml::Value::String(key) => key,
                        other => serde_yaml::to_string(&other)
                            .map(|text| text.trim().to_string())
                            .unwrap_or_else(|_| format!("{other:?}")),
                    };
                    entries.push((key, Value::serialize(value).map_err(|e| e.to_string())));
                }
            }
            other => return Err(malformed(not_a_mapping(yaml_kind(&other)))),
        }
    }

    let origin = format!("config file {}", path.display());
    let mut layer = Dict::new();
    for (written, value) in entries {
        // donfig treats `-` and `_` in keys alike.
        let key = written.replace('-', "_");
        if !KEYS.contains(&key.as_str()) {
            warn(
                warnings,
                ConfigWarning::UnknownKey {
                    file: path.to_path_buf(),
                    key: written,
                    suggestion: closest_key(&key).map(str::to_string),
                },
            );
            continue;
        }
        let value =
            value.map_err(|message| malformed(format!("the value of `{written}`: {message}")))?;
        let value = checked(&key, value, &origin, None)?;
        layer.insert(key, value);
    }
    Ok(layer)
}

fn not_a_mapping(found: &str) -> String {
    format!("the top level must be a mapping of keys to values, found {found}")
}

fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a mapping",
    }
}

fn yaml_kind(value: &serde_yaml::Value) -> &'static str {
    match value {
        serde_yaml::Value::Null => "null",
        serde_yaml::Value::Bool(_) => "a boolean",
        serde_yaml::Value::Number(_) => "a number",
        serde_yaml::Value::String(_) => "a string",
        serde_yaml::Value::Sequence(_) => "a list",
        serde_yaml::Value::Mapping(_) => "a mapping",
        serde_yaml::Value::Tagged(_) => "a tagged value",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::{ConfigLoader, KEYS};
    use crate::config::{Config, ConfigError, ConfigWarning};

    /// A unique temporary folder, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            static COUNTER: AtomicUsize = AtomicUsize::new(0);
            let path = std::env::temp_dir().join(format!(
                "posttroll-config-test-{}-{}-{name}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&path).expect("create temp dir");
            TempDir(path)
        }

        fn write(&self, name: &str, text: &str) -> PathBuf {
            let path = self.0.join(name);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("create dir");
            std::fs::write(&path, text).expect("write file");
            path
        }

        fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn env(vars: &[(&str, &str)]) -> ConfigLoader {
        ConfigLoader::new().env_vars(
            vars.iter()
                .map(|(name, value)| (name.to_string(), value.to_string())),
        )
    }

    fn load_env(vars: &[(&str, &str)]) -> Config {
        env(vars).load().expect("load").config
    }

    fn env_error(vars: &[(&str, &str)]) -> String {
        env(vars).load().expect_err("should fail").to_string()
    }

    #[test]
    fn defaults() {
        let loaded = ConfigLoader::new().load().unwrap();
        assert_eq!(loaded.config, Config::default());
        assert!(loaded.warnings.is_empty());
        let c = Config::default();
        assert_eq!(c.backend, "unsecure_zmq");
        assert_eq!(c.engine, None);
        assert_eq!(c.nameserver_port, 5557);
        assert_eq!(c.secure_zmq_nameserver_port, 5558);
        assert_eq!(c.address_publish_port, 16543);
        assert_eq!(c.broadcast_port, 21200);
        assert_eq!(c.mc_group, "225.0.0.212");
        assert_eq!(c.mc_ttl, 31);
        assert_eq!(c.multicast_interface, None);
        assert_eq!(c.pub_min_port, 49152);
        assert_eq!(c.pub_max_port, 65536);
        assert_eq!(c.tcp_keepalive, None);
        assert_eq!(c.tcp_keepalive_cnt, None);
        assert_eq!(c.tcp_keepalive_idle, None);
        assert_eq!(c.tcp_keepalive_intvl, None);
        assert_eq!(c.message_version, None);
        assert!(c.authorized_client_addresses.is_empty());
        assert_eq!(c.server_secret_key_file, None);
        assert_eq!(c.clients_public_keys_directory, None);
        assert_eq!(c.client_secret_key_file, None);
        assert_eq!(c.server_public_key_file, None);
        assert_eq!(c.own_ip, None);
        assert_eq!(c.max_message_size, 4 * 1024 * 1024);
        assert_eq!(c.subscriber_queue_bytes, 64 * 1024 * 1024);
        assert_eq!(c.zmtp_heartbeat_interval, 10.0);
        assert_eq!(c.zmtp_heartbeat_timeout, 30.0);
    }

    #[test]
    fn limits_and_heartbeats_from_the_environment() {
        let c = load_env(&[
            ("POSTTROLL_MAX_MESSAGE_SIZE", "100000"),
            ("POSTTROLL_SUBSCRIBER_QUEUE_BYTES", "'2000000'"),
            ("POSTTROLL_ZMTP_HEARTBEAT_INTERVAL", "0.5"),
            ("POSTTROLL_ZMTP_HEARTBEAT_TIMEOUT", "2"),
        ]);
        assert_eq!(c.max_message_size, 100_000);
        assert_eq!(c.subscriber_queue_bytes, 2_000_000);
        assert_eq!(c.zmtp_heartbeat_interval, 0.5);
        assert_eq!(c.zmtp_heartbeat_timeout, 2.0);
        let error = env_error(&[("POSTTROLL_MAX_MESSAGE_SIZE", "-1")]);
        assert!(error.contains("max_message_size"), "{error}");
        assert!(error.contains("a whole number of bytes"), "{error}");
        let error = env_error(&[("POSTTROLL_ZMTP_HEARTBEAT_TIMEOUT", "soon")]);
        assert!(error.contains("a number of seconds"), "{error}");
    }

    #[test]
    fn keys_are_the_fields() {
        let json = serde_json::to_value(Config::default()).unwrap();
        let fields: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(fields, KEYS);
    }

    #[test]
    fn config_round_trips_through_serde() {
        let config = Config {
            own_ip: Some("10.0.0.5".into()),
            authorized_client_addresses: vec!["a".into()],
            ..Config::default()
        };
        let text = serde_yaml::to_string(&config).unwrap();
        assert_eq!(serde_yaml::from_str::<Config>(&text).unwrap(), config);
        let partial: Config = serde_json::from_str(r#"{"mc_ttl": 2}"#).unwrap();
        assert_eq!(
            partial,
            Config {
                mc_ttl: 2,
                ..Config::default()
            }
        );
    }

    #[test]
    fn every_key_through_env() {
        let loaded = env(&[
            ("POSTTROLL_BACKEND", "secure_zmq"),
            ("POSTTROLL_ENGINE", "libzmq"),
            ("POSTTROLL_NAMESERVER_PORT", "6001"),
            ("POSTTROLL_SECURE_ZMQ_NAMESERVER_PORT", "6002"),
            ("POSTTROLL_ADDRESS_PUBLISH_PORT", "6003"),
            ("POSTTROLL_BROADCAST_PORT", "6004"),
            ("POSTTROLL_MC_GROUP", "239.1.2.3"),
            ("POSTTROLL_MC_TTL", "7"),
            ("POSTTROLL_MULTICAST_INTERFACE", "192.168.1.2"),
            ("POSTTROLL_PUB_MIN_PORT", "40000"),
            ("POSTTROLL_PUB_MAX_PORT", "40100"),
            ("POSTTROLL_TCP_KEEPALIVE", "1"),
            ("POSTTROLL_TCP_KEEPALIVE_CNT", "5"),
            ("POSTTROLL_TCP_KEEPALIVE_IDLE", "60"),
            ("POSTTROLL_TCP_KEEPALIVE_INTVL", "-1"),
            ("POSTTROLL_MESSAGE_VERSION", "v1.01"),
            (
                "POSTTROLL_AUTHORIZED_CLIENT_ADDRESSES",
                "['10.0.0.1', 'host']",
            ),
            (
                "POSTTROLL_SERVER_SECRET_KEY_FILE",
                "/keys/server.key_secret",
            ),
            ("POSTTROLL_CLIENTS_PUBLIC_KEYS_DIRECTORY", "/keys/clients"),
            (
                "POSTTROLL_CLIENT_SECRET_KEY_FILE",
                "/keys/client.key_secret",
            ),
            ("POSTTROLL_SERVER_PUBLIC_KEY_FILE", "/keys/server.key"),
            ("POSTTROLL_OWN_IP", "10.9.8.7"),
            ("UNRELATED", "x"),
        ])
        .load()
        .unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let expected = Config {
            backend: "secure_zmq".into(),
            engine: Some("libzmq".into()),
            nameserver_port: 6001,
            secure_zmq_nameserver_port: 6002,
            address_publish_port: 6003,
            broadcast_port: 6004,
            mc_group: "239.1.2.3".into(),
            mc_ttl: 7,
            multicast_interface: Some("192.168.1.2".into()),
            pub_min_port: 40000,
            pub_max_port: 40100,
            tcp_keepalive: Some(1),
            tcp_keepalive_cnt: Some(5),
            tcp_keepalive_idle: Some(60),
            tcp_keepalive_intvl: Some(-1),
            message_version: Some("v1.01".into()),
            authorized_client_addresses: vec!["10.0.0.1".into(), "host".into()],
            server_secret_key_file: Some("/keys/server.key_secret".into()),
            clients_public_keys_directory: Some("/keys/clients".into()),
            client_secret_key_file: Some("/keys/client.key_secret".into()),
            server_public_key_file: Some("/keys/server.key".into()),
            own_ip: Some("10.9.8.7".into()),
            ..Config::default()
        };
        assert_eq!(loaded.config, expected);
    }

    #[test]
    fn env_values_are_python_literals() {
        let c = load_env(&[
            ("POSTTROLL_TCP_KEEPALIVE", "1_000"),
            ("POSTTROLL_BACKEND", "'quoted'"),
            ("POSTTROLL_MESSAGE_VERSION", "\"v1.2\""),
            ("POSTTROLL_OWN_IP", "tcp://x:1"),
            ("POSTTROLL_AUTHORIZED_CLIENT_ADDRESSES", "(\"a\",)"),
            ("POSTTROLL_MULTICAST_INTERFACE", "None"),
            ("POSTTROLL_MC_GROUP", "'225.0.0.1' # comment"),
        ]);
        assert_eq!(c.tcp_keepalive, Some(1000));
        assert_eq!(c.backend, "quoted");
        assert_eq!(c.message_version.as_deref(), Some("v1.2"));
        assert_eq!(c.own_ip.as_deref(), Some("tcp://x:1"));
        assert_eq!(c.authorized_client_addresses, ["a"]);
        assert_eq!(c.multicast_interface, None);
        assert_eq!(c.mc_group, "225.0.0.1");
        // A literal of the wrong type is not taken as its text.
        let error = env_error(&[("POSTTROLL_BACKEND", "True")]);
        assert!(
            error.contains("`backend`") && error.contains("\"True\""),
            "{error}"
        );
        let error = env_error(&[("POSTTROLL_MESSAGE_VERSION", "{'a': 1}")]);
        assert!(error.contains("message_version"), "{error}");
    }

    #[test]
    fn digit_strings_are_integers() {
        let c = load_env(&[
            ("POSTTROLL_NAMESERVER_PORT", "'5559'"),
            ("POSTTROLL_TCP_KEEPALIVE_IDLE", "' -3 '"),
            ("PYTROLL_MC_TTL", " 12 "),
        ]);
        assert_eq!(c.nameserver_port, 5559);
        assert_eq!(c.tcp_keepalive_idle, Some(-3));
        assert_eq!(c.mc_ttl, 12);
        let loaded = ConfigLoader::new()
            .set("pub_max_port", "60_000")
            .load()
            .unwrap();
        assert_eq!(loaded.config.pub_max_port, 60000);
        // Only integers: the text of a string key stays as it is.
        assert_eq!(load_env(&[("POSTTROLL_BACKEND", "'123'")]).backend, "123");
        assert!(env(&[("POSTTROLL_NAMESERVER_PORT", "'1__0'")])
            .load()
            .is_err());
    }

    #[test]
    fn wrong_type_is_an_error_naming_key_variable_and_value() {
        let error = env(&[("POSTTROLL_NAMESERVER_PORT", "abc")])
            .load()
            .unwrap_err();
        match &error {
            ConfigError::InvalidValue {
                key, origin, value, ..
            } => {
                assert_eq!(key, "nameserver_port");
                assert_eq!(origin, "environment variable POSTTROLL_NAMESERVER_PORT");
                assert_eq!(value, "\"abc\"");
            }
            other => panic!("unexpected error {other:?}"),
        }
        let message = error.to_string();
        for part in [
            "nameserver_port",
            "POSTTROLL_NAMESERVER_PORT",
            "abc",
            "string",
        ] {
            assert!(message.contains(part), "{part} not in {message}");
        }
        for (name, value) in [
            ("POSTTROLL_NAMESERVER_PORT", "70000"),
            ("POSTTROLL_MC_TTL", "300"),
            ("POSTTROLL_PUB_MIN_PORT", "-1"),
            ("POSTTROLL_BROADCAST_PORT", "1.5"),
            ("POSTTROLL_AUTHORIZED_CLIENT_ADDRESSES", "10.0.0.1"),
            ("POSTTROLL_AUTHORIZED_CLIENT_ADDRESSES", "[1, 2]"),
            ("POSTTROLL_TCP_KEEPALIVE", "[1]"),
            ("POSTTROLL_BACKEND", "None"),
            ("NAMESERVER_PORT", "x"),
        ] {
            let message = env_error(&[(name, value)]);
            assert!(
                message.contains(name) && message.contains(value),
                "{message}"
            );
        }
    }

    #[test]
    fn legacy_variables_work_and_warn() {
        let loaded = env(&[
            ("NAMESERVER_PORT", "6000"),
            ("PYTROLL_MC_GROUP", "239.1.1.1"),
            ("PYTROLL_MC_TTL", "5"),
        ])
        .load()
        .unwrap();
        assert_eq!(loaded.config.nameserver_port, 6000);
        assert_eq!(loaded.config.mc_group, "239.1.1.1");
        assert_eq!(loaded.config.mc_ttl, 5);
        let deprecated = |old: &str, new: &str| ConfigWarning::Deprecated {
            old: old.into(),
            new: new.into(),
        };
        assert_eq!(
            loaded.warnings,
            [
                deprecated("NAMESERVER_PORT", "POSTTROLL_NAMESERVER_PORT"),
                deprecated("PYTROLL_MC_GROUP", "POSTTROLL_MC_GROUP"),
                deprecated("PYTROLL_MC_TTL", "POSTTROLL_MC_TTL"),
            ]
        );
        assert_eq!(
            loaded.warnings[0].to_string(),
            "the environment variable NAMESERVER_PORT is deprecated, use POSTTROLL_NAMESERVER_PORT instead"
        );
    }

    #[test]
    fn posttroll_variables_beat_legacy_ones() {
        let loaded = env(&[
            ("POSTTROLL_NAMESERVER_PORT", "7000"),
            ("NAMESERVER_PORT", "6000"),
            ("PYTROLL_MC_GROUP", "239.1.1.1"),
            ("POSTTROLL_MC_GROUP", "239.2.2.2"),
            ("PYTROLL_MC_TTL", "5"),
            ("POSTTROLL_MC_TTL", "6"),
        ])
        .load()
        .unwrap();
        assert_eq!(loaded.config.nameserver_port, 7000);
        assert_eq!(loaded.config.mc_group, "239.2.2.2");
        assert_eq!(loaded.config.mc_ttl, 6);
        // The legacy names still warn, as in the reference.
        assert_eq!(loaded.warnings.len(), 3);
    }

    #[test]
    fn files_beat_legacy_variables() {
        let dir = TempDir::new("legacy");
        let file = dir.write("a.yaml", "nameserver_port: 6500\n");
        let loaded = env(&[("NAMESERVER_PORT", "6000"), ("PYTROLL_MC_TTL", "3")])
            .file(&file)
            .load()
            .unwrap();
        assert_eq!(loaded.config.nameserver_port, 6500);
        assert_eq!(loaded.config.mc_ttl, 3);
    }

    #[test]
    fn unknown_variables_warn_with_a_suggestion() {
        let loaded = env(&[
            ("POSTTROLL_TCP_KEEPALIVE_INTERVALL", "5"),
            ("POSTTROLL_XYZZY", "1"),
            ("POSTTROLL_CONFIG", "/nonexistent/posttroll"),
            ("POSTTROLL_ROOT_CONFIG", "/nonexistent/posttroll"),
            ("POSTTROLL_INTERNAL_INHERIT_CONFIG", "e30="),
            ("NOT_POSTTROLL_X", "1"),
        ])
        .load()
        .unwrap();
        assert_eq!(loaded.config, Config::default());
        assert_eq!(
            loaded.warnings,
            [
                ConfigWarning::UnknownVariable {
                    name: "POSTTROLL_TCP_KEEPALIVE_INTERVALL".into(),
                    suggestion: Some("POSTTROLL_TCP_KEEPALIVE_INTVL".into()),
                },
                ConfigWarning::UnknownVariable {
                    name: "POSTTROLL_XYZZY".into(),
                    suggestion: None,
                },
            ]
        );
        assert_eq!(
            loaded.warnings[0].to_string(),
            "unknown environment variable POSTTROLL_TCP_KEEPALIVE_INTERVALL \
             (did you mean POSTTROLL_TCP_KEEPALIVE_INTVL?); it is ignored"
        );
        assert_eq!(
            loaded.warnings[1].to_string(),
            "unknown environment variable POSTTROLL_XYZZY; it is ignored"
        );
    }

    #[test]
    fn later_env_entries_win() {
        let c = load_env(&[("POSTTROLL_MC_TTL", "1"), ("POSTTROLL_MC_TTL", "2")]);
        assert_eq!(c.mc_ttl, 2);
    }

    #[test]
    fn folder_files_are_read_sorted_by_name() {
        let dir = TempDir::new("folder");
        dir.write("b.yaml", "nameserver_port: 6002\nmc_ttl: 2\n");
        dir.write(
            "a.yml",
            "nameserver_port: 6001\nbackend: secure_zmq\nmc_ttl: 1\n",
        );
        dir.write("c.JSON", r#"{"mc_ttl": 3, "own_ip": "h"}"#);
        dir.write("d.txt", "nameserver_port: [not yaml at all");
        dir.write("e.yaml/inner.yaml", "mc_ttl: 9\n");
        let loaded = ConfigLoader::new().file(dir.path()).load().unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        assert_eq!(loaded.config.nameserver_port, 6002);
        assert_eq!(loaded.config.backend, "secure_zmq");
        assert_eq!(loaded.config.mc_ttl, 3);
        assert_eq!(loaded.config.own_ip.as_deref(), Some("h"));
    }

    #[test]
    fn file_values_nulls_hyphens_and_strings_of_digits() {
        let dir = TempDir::new("values");
        let file = dir.write(
            "x.yaml",
            "nameserver-port: '5570'\n\
             authorized_client_addresses: null\n\
             multicast_interface: ~\n\
             tcp_keepalive: 1\n\
             server_public_key_file: /keys/server.key\n",
        );
        let loaded = ConfigLoader::new()
            .set("multicast_interface", "eth0")
            .set("authorized_client_addresses", ["x"])
            .file(&file)
            .load()
            .unwrap();
        // Overrides win over the file's nulls.
        assert_eq!(loaded.config.multicast_interface.as_deref(), Some("eth0"));
        assert_eq!(loaded.config.authorized_client_addresses, ["x"]);
        let c = ConfigLoader::new()
            .env_vars([("POSTTROLL_MULTICAST_INTERFACE".into(), "eth1".into())])
            .set("multicast_interface", None::<String>)
            .file(&file)
            .load()
            .unwrap()
            .config;
        assert_eq!(c.nameserver_port, 5570);
        assert!(c.authorized_client_addresses.is_empty());
        assert_eq!(c.multicast_interface, None);
        assert_eq!(c.tcp_keepalive, Some(1));
        assert_eq!(
            c.server_public_key_file,
            Some(PathBuf::from("/keys/server.key"))
        );
    }

    #[test]
    fn empty_files_are_fine() {
        let dir = TempDir::new("empty");
        dir.write("a.yaml", "");
        dir.write("b.yaml", "# only a comment\n");
        dir.write("c.json", "null");
        let loaded = ConfigLoader::new().file(dir.path()).load().unwrap();
        assert_eq!(loaded.config, Config::default());
    }

    #[test]
    fn unknown_file_keys_warn() {
        let dir = TempDir::new("unknown-key");
        let file = dir.write("a.yaml", "nameserver: 1\nbroadcast_port: 6000\n1: x\n");
        let loaded = ConfigLoader::new().file(&file).load().unwrap();
        assert_eq!(loaded.config.broadcast_port, 6000);
        assert_eq!(
            loaded.warnings,
            [
                ConfigWarning::UnknownKey {
                    file: file.clone(),
                    key: "nameserver".into(),
                    suggestion: Some("nameserver_port".into()),
                },
                ConfigWarning::UnknownKey {
                    file: file.clone(),
                    key: "1".into(),
                    suggestion: None,
                },
            ]
        );
        let text = loaded.warnings[0].to_string();
        assert!(
            text.contains("`nameserver`")
                && text.contains(&file.display().to_string())
                && text.contains("did you mean nameserver_port?"),
            "{text}"
        );
    }

    #[test]
    fn standard_files_in_donfig_order() {
        let dir = TempDir::new("standard");
        dir.write(
            "root/a.yaml",
            "nameserver_port: 6001\nbroadcast_port: 6001\nmc_ttl: 1\n",
        );
        dir.write(
            "home/.config/posttroll/a.yaml",
            "broadcast_port: 6002\nmc_ttl: 2\n",
        );
        let main = dir.write("main.yaml", "mc_ttl: 3\n");
        let root = dir.path().join("root");
        let home = dir.path().join("home");
        let loaded = env(&[
            ("POSTTROLL_ROOT_CONFIG", root.to_str().unwrap()),
            ("HOME", home.to_str().unwrap()),
            ("POSTTROLL_CONFIG", main.to_str().unwrap()),
        ])
        .standard_files()
        .load()
        .unwrap();
        assert_eq!(loaded.config.nameserver_port, 6001);
        assert_eq!(loaded.config.broadcast_port, 6002);
        assert_eq!(loaded.config.mc_ttl, 3);

        // POSTTROLL_CONFIG may be a folder; missing folders are skipped.
        let loaded = env(&[
            (
                "POSTTROLL_ROOT_CONFIG",
                dir.path().join("nope").to_str().unwrap(),
            ),
            ("POSTTROLL_CONFIG", root.to_str().unwrap()),
        ])
        .standard_files()
        .load()
        .unwrap();
        assert_eq!(loaded.config.nameserver_port, 6001);
        assert_eq!(loaded.config.mc_ttl, 1);

        // Without standard_files() none of them is read.
        let loaded = env(&[("POSTTROLL_CONFIG", main.to_str().unwrap())])
            .load()
            .unwrap();
        assert_eq!(loaded.config.mc_ttl, 31);
    }

    #[test]
    fn standard_paths_are_deduplicated_keeping_the_last() {
        let env = [
            ("POSTTROLL_ROOT_CONFIG", "/a"),
            ("HOME", "/h"),
            ("POSTTROLL_CONFIG", "/a"),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            super::standard_paths(&env),
            [PathBuf::from("/h/.config/posttroll"), PathBuf::from("/a")]
        );
        let empty = std::collections::BTreeMap::new();
        assert_eq!(
            super::standard_paths(&empty),
            [PathBuf::from("/etc/posttroll")]
        );
    }

    #[test]
    fn malformed_files_are_errors_naming_them() {
        let dir = TempDir::new("malformed");
        for (name, text, needle) in [
            ("bad.yaml", "nameserver_port: [1, 2\n", "malformed"),
            ("list.yaml", "- 1\n- 2\n", "found a list"),
            ("scalar.yml", "just text\n", "found a string"),
            ("bad.json", "{\"mc_ttl\": }", "malformed"),
            ("two.yaml", "a: 1\n---\nb: 2\n", "malformed"),
            ("type.yaml", "nameserver_port: high\n", "nameserver_port"),
        ] {
            let path = dir.write(name, text);
            let error = ConfigLoader::new().file(&path).load().unwrap_err();
            let message = error.to_string();
            assert!(
                message.contains(&path.display().to_string()) && message.contains(needle),
                "{message}"
            );
        }
        // Not UTF-8.
        let path = dir.path().join("latin1.yaml");
        std::fs::write(&path, b"backend: \xe9\n").unwrap();
        let error = ConfigLoader::new().file(&path).load().unwrap_err();
        assert!(matches!(error, ConfigError::Io { .. }), "{error}");
        assert!(error.to_string().contains(&path.display().to_string()));
    }

    #[test]
    fn an_explicit_missing_file_is_an_error() {
        let dir = TempDir::new("missing");
        let path = dir.path().join("nope.yaml");
        let error = ConfigLoader::new().file(&path).load().unwrap_err();
        assert!(matches!(error, ConfigError::Io { .. }));
        assert!(error.to_string().contains("nope.yaml"), "{error}");
    }

    #[test]
    fn override_beats_env_beats_file_beats_default() {
        let dir = TempDir::new("layers");
        let file = dir.write(
            "a.yaml",
            "nameserver_port: 6001\nbroadcast_port: 6001\naddress_publish_port: 6001\n",
        );
        let c = env(&[
            ("POSTTROLL_NAMESERVER_PORT", "6002"),
            ("POSTTROLL_BROADCAST_PORT", "6002"),
        ])
        .set("nameserver_port", 6003)
        .file(&file)
        .load()
        .unwrap()
        .config;
        assert_eq!(c.nameserver_port, 6003);
        assert_eq!(c.broadcast_port, 6002);
        assert_eq!(c.address_publish_port, 6001);
        assert_eq!(c.secure_zmq_nameserver_port, 5558);
    }

    #[test]
    fn overrides_are_checked() {
        let error = ConfigLoader::new()
            .set("nameserver_prot", 1)
            .load()
            .unwrap_err();
        assert!(
            matches!(&error, ConfigError::UnknownKey { suggestion: Some(s), .. } if s == "nameserver_port")
        );
        assert_eq!(
            error.to_string(),
            "unknown config key `nameserver_prot` (did you mean nameserver_port?)"
        );
        let error = ConfigLoader::new()
            .set("mc_ttl", "many")
            .load()
            .unwrap_err();
        let message = error.to_string();
        assert!(
            message.contains("mc_ttl")
                && message.contains("\"many\"")
                && message.contains("override"),
            "{message}"
        );
        let c = ConfigLoader::new()
            .set("server_secret_key_file", Path::new("/k/s.key_secret"))
            .set("tcp_keepalive_cnt", Some(3))
            .load()
            .unwrap()
            .config;
        assert_eq!(
            c.server_secret_key_file,
            Some(PathBuf::from("/k/s.key_secret"))
        );
        assert_eq!(c.tcp_keepalive_cnt, Some(3));
    }

    #[test]
    fn python_int() {
        use super::python_int;
        assert_eq!(python_int("12"), Some(12));
        assert_eq!(python_int(" -1_2 "), Some(-12));
        assert_eq!(python_int("+7"), Some(7));
        for text in ["", "-", "1.0", "_1", "1_", "1__2", "0x10", "a", "- 1"] {
            assert_eq!(python_int(text), None, "{text}");
        }
    }
}
