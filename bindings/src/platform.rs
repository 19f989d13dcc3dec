//! Host capabilities as foreign traits: the platform key (Android Keystore, iOS Keychain /
//! Secure Enclave) and the logger.

use std::sync::{Arc, OnceLock};

use zeroize::Zeroizing;

/// Why the platform key could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum PlatformKeyError {
    /// The key is gone for good (biometric enrolment changed, key deleted): unlock with the
    /// password and enrol again.
    #[error("the platform key was invalidated")]
    Invalidated,
    /// Anything else (the user cancelled the prompt, hardware busy). Never key material.
    #[error("platform key failure: {reason}")]
    Failed {
        /// Description.
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for PlatformKeyError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        PlatformKeyError::Failed { reason: format!("the provider failed: {}", e.reason) }
    }
}

/// The host app's non-exportable key, used to wrap the vault's data key for biometric unlock.
/// Async, because a biometric prompt is.
///
/// # Security
/// `wrap` receives the raw data key: never log or persist it; wipe it after use.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait PlatformKeyProvider: Send + Sync {
    /// Encrypt the data key with the platform key; the blob is stored in the keyslot file.
    async fn wrap(&self, data_key: Vec<u8>) -> Result<Vec<u8>, PlatformKeyError>;
    /// Decrypt a blob made by `wrap`.
    async fn unwrap(&self, blob: Vec<u8>) -> Result<Vec<u8>, PlatformKeyError>;
}

/// The host's async provider seen as the core's synchronous one. Used only on a blocking thread
/// of the core's runtime (never on an async worker): each call waits for the host's answer,
/// which arrives from the host's own thread.
pub(crate) struct Blocking {
    pub provider: Arc<dyn PlatformKeyProvider>,
    pub handle: tokio::runtime::Handle,
    /// Closed when the exported call is cancelled (its task dropped): the wait for the host
    /// ends at once and the host's future is dropped (uniffi cancels it on the host side).
    pub alive: tokio::sync::watch::Receiver<()>,
}

impl Blocking {
    fn wait<T>(
        &self,
        call: impl std::future::Future<Output = Result<T, PlatformKeyError>>,
    ) -> Result<T, outpost_core::PlatformKeyError> {
        let mut alive = self.alive.clone();
        self.handle
            .block_on(async move {
                tokio::select! {
                    r = call => r,
                    _ = alive.changed() => Err(PlatformKeyError::Failed { reason: "cancelled".into() }),
                }
            })
            .map_err(core_error)
    }
}

fn core_error(e: PlatformKeyError) -> outpost_core::PlatformKeyError {
    match e {
        PlatformKeyError::Invalidated => outpost_core::PlatformKeyError::Invalidated,
        PlatformKeyError::Failed { reason } => outpost_core::PlatformKeyError::Failed(reason),
    }
}

impl outpost_core::PlatformKeyProvider for Blocking {
    fn wrap(&self, data_key: &[u8]) -> Result<Vec<u8>, outpost_core::PlatformKeyError> {
        self.wait(self.provider.wrap(data_key.to_vec()))
    }

    fn unwrap(&self, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, outpost_core::PlatformKeyError> {
        self.wait(self.provider.unwrap(blob.to_vec())).map(Zeroizing::new)
    }
}

/// Log levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, uniffi::Enum)]
pub enum LogLevel {
    /// Failures.
    Error,
    /// Something unexpected that was handled.
    Warn,
    /// Milestones (a sync started, a table finished).
    Info,
    /// Details.
    Debug,
    /// Everything.
    Trace,
}

/// Receives Outpost's log lines (already redacted: no tokens, passwords, keys or record values).
/// Called from Outpost's threads.
#[uniffi::export(with_foreign)]
pub trait Logger: Send + Sync {
    /// One line.
    fn log(&self, level: LogLevel, target: String, message: String);
}

struct LineWriter {
    logger: Arc<dyn Logger>,
    level: LogLevel,
    target: String,
    buf: Vec<u8>,
}

impl std::io::Write for LineWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        let line = String::from_utf8_lossy(&self.buf).trim_end().to_string();
        if !line.is_empty() {
            // A logger that throws must not take Outpost down.
            let logger = self.logger.clone();
            let (level, target) = (self.level, std::mem::take(&mut self.target));
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| logger.log(level, target, line)));
        }
    }
}

struct MakeLines(Arc<dyn Logger>);

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for MakeLines {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter { logger: self.0.clone(), level: LogLevel::Info, target: String::new(), buf: Vec::new() }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> LineWriter {
        let level = match *meta.level() {
            tracing::Level::ERROR => LogLevel::Error,
            tracing::Level::WARN => LogLevel::Warn,
            tracing::Level::INFO => LogLevel::Info,
            tracing::Level::DEBUG => LogLevel::Debug,
            tracing::Level::TRACE => LogLevel::Trace,
        };
        LineWriter { logger: self.0.clone(), level, target: meta.target().to_string(), buf: Vec::new() }
    }
}

static INSTALLED: OnceLock<()> = OnceLock::new();

/// Send Outpost's logs at `level` and above to `logger`. Once per process: later calls are
/// refused with `InvalidArgument` (the first logger stays).
///
/// # Errors
/// `InvalidArgument` when a logger is installed already.
#[uniffi::export]
pub fn install_logger(logger: Arc<dyn Logger>, level: LogLevel) -> Result<(), crate::OutpostError> {
    if INSTALLED.set(()).is_err() {
        return Err(crate::OutpostError::invalid("a logger is installed already (once per process)"));
    }
    let max = match level {
        LogLevel::Error => tracing::Level::ERROR,
        LogLevel::Warn => tracing::Level::WARN,
        LogLevel::Info => tracing::Level::INFO,
        LogLevel::Debug => tracing::Level::DEBUG,
        LogLevel::Trace => tracing::Level::TRACE,
    };
    tracing_subscriber::fmt()
        .with_max_level(max)
        .with_writer(MakeLines(logger))
        .with_target(false)
        .with_level(false)
        .without_time()
        .try_init()
        .map_err(|_| crate::OutpostError::invalid("another tracing subscriber is installed in this process"))
}
