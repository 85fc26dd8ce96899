//! Configuration (placeholder, being written).

/// The posttroll configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// The configured message version, if any.
    pub message_version: Option<String>,
}
