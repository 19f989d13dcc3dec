//! Named points where tests can kill the process (feature `failpoints`).
//!
//! `OUTPOST_FAILPOINT=<name>[:<nth hit>]` makes the process print `failpoint <name> hit` to stderr
//! and abort (as abrupt as SIGKILL: no destructor, no flush) at that point. Without the feature
//! every call compiles to nothing. The names, in the order a sync or a vault meets them:
//!
//! | name | where |
//! |---|---|
//! | `pull.after_page_commit` | a pulled page and its checkpoint are committed |
//! | `push.after_ack` | the server acknowledged a `$batch`, before the outbox bookkeeping |
//! | `vault.keyslot.mid_write` | half of the new keyslot file is written to its temp file |
//! | `vault.keyslot.before_rename` | the temp keyslot file is complete and synced, not yet renamed |
//! | `vault.rotate.after_journal` | a data-key rotation's journal is in the keyslot file, before `PRAGMA rekey` |
//! | `vault.rotate.after_rekey` | the database is rekeyed, the keyslot file not yet finished |
//! | `store.migration.mid` | a schema migration's statements ran, before its transaction commits |

/// A named point where tests can kill the process (feature `failpoints`; environment
/// `OUTPOST_FAILPOINT=<name>[:<nth hit>]`). Prints the hit to stderr, then aborts.
#[cfg_attr(not(feature = "failpoints"), inline(always))]
pub(crate) fn failpoint(name: &str) {
    #[cfg(feature = "failpoints")]
    {
        use std::sync::atomic::{AtomicU64, Ordering};
        static HITS: AtomicU64 = AtomicU64::new(0);
        if let Ok(spec) = std::env::var("OUTPOST_FAILPOINT") {
            let (want, nth) = spec.split_once(':').map_or((spec.as_str(), 1), |(n, k)| (n, k.parse().unwrap_or(1)));
            if want == name && HITS.fetch_add(1, Ordering::SeqCst) + 1 >= nth {
                eprintln!("failpoint {name} hit");
                std::process::abort();
            }
        }
    }
    #[cfg(not(feature = "failpoints"))]
    let _ = name;
}
