//! In-process backend (being written).

use std::sync::Arc;

use posttroll_core::BackendFactory;

/// The factory registered under `inproc` (being written).
pub fn factory() -> BackendFactory {
    Arc::new(|_config| {
        Err(posttroll_core::Error::Unsupported {
            backend: "inproc".into(),
            what: "anything yet".into(),
        })
    })
}
