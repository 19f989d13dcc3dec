#![doc = include_str!("../README.md")]

#[cfg(target_os = "android")]
mod android;
mod client;
mod error;
mod host_tokens;
mod platform;
mod sync;
mod types;

use std::future::Future;

pub use client::{ClientConfig, DeviceCodeCallback, OutpostClient};
pub use error::{OutpostError, ServerDetails};
pub use host_tokens::{HostTokenError, HostTokenProvider};
pub use platform::{install_logger, LogLevel, Logger, PlatformKeyError, PlatformKeyProvider};
pub use sync::{Phase, SyncEvent, SyncObserver, SyncOptions, SyncSummary, TableSummary, UnsentChange};
pub use types::*;

uniffi::setup_scaffolding!("outpost");

fn panic_reason(p: &(dyn std::any::Any + Send)) -> String {
    let what = p
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into());
    format!("panic: {what}")
}

/// Run synchronous work, turning a panic into `Internal` (it never crosses the boundary).
pub(crate) fn guarded<T>(f: impl FnOnce() -> Result<T, OutpostError>) -> Result<T, OutpostError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|p| Err(OutpostError::internal(panic_reason(p.as_ref()))))
}

/// Run `f` on the core's multi-thread runtime (whatever executor awaits the exported future),
/// turning a panic in it into `Internal`. Dropping the returned future (the caller cancelled)
/// aborts the task.
pub(crate) async fn on_core<T: Send + 'static>(
    f: impl Future<Output = Result<T, OutpostError>> + Send + 'static,
) -> Result<T, OutpostError> {
    struct AbortOnDrop(tokio::task::AbortHandle);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let rt = outpost_core::sync::runtime()?;
    let task = rt.spawn(f);
    let _abort = AbortOnDrop(task.abort_handle());
    match task.await {
        Ok(r) => r,
        Err(e) if e.is_panic() => Err(OutpostError::internal(panic_reason(e.into_panic().as_ref()))),
        Err(_) => Err(OutpostError::Cancelled),
    }
}

/// Run blocking work (Argon2, SQLite) on the core runtime's blocking threads.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, OutpostError> + Send + 'static,
) -> Result<T, OutpostError> {
    match tokio::task::spawn_blocking(move || guarded(f)).await {
        Ok(r) => r,
        Err(e) if e.is_panic() => Err(OutpostError::internal(panic_reason(e.into_panic().as_ref()))),
        Err(_) => Err(OutpostError::Cancelled),
    }
}

/// Argon2id parameters that take about `target_ms` on this device with at most `max_memory_kib`
/// of memory (never below the OWASP floor). Takes a few times `target_ms`: run it once, at
/// first launch, and pass the result in `VaultOptions.kdf`.
///
/// # Errors
/// `InvalidArgument` for negative numbers; `Internal` if Argon2 fails.
#[uniffi::export]
pub async fn calibrate(target_ms: i64, max_memory_kib: i32) -> Result<Calibration, OutpostError> {
    let target = u64::try_from(target_ms).map_err(|_| OutpostError::invalid("target_ms must not be negative"))?;
    let memory = types::u32_of(max_memory_kib, "max_memory_kib")?;
    on_core(async move {
        blocking(move || {
            let c = outpost_core::calibrate(target, memory)?;
            Ok(Calibration { params: c.params.into(), measured_ms: types::i64_of(c.measured_ms) })
        })
        .await
    })
    .await
}

/// The default Argon2id parameters (64 MiB, 3 passes, 4 lanes).
#[uniffi::export]
pub fn default_kdf_params() -> KdfParams {
    outpost_core::KdfParams::DEFAULT.into()
}

/// This library's version.
#[uniffi::export]
pub fn library_version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}
