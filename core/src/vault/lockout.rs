//! Wrong-password counting and the lockout policy, as pure functions over the counter record.
//!
//! The counter lives in the keyslot file outside the AEAD-protected slots (it must change without
//! the key) with its own checksum. The vault increments it and syncs it to disk *before* running
//! the KDF, so killing the app mid-attempt still counts the attempt. This limits guessing
//! *through the app* only: someone holding copies of the files can restore an old counter.
//! Argon2 is what limits offline guessing (`docs/security.md`).

use std::sync::Arc;

/// A source of wall-clock time in Unix seconds. Injectable so tests (and hosts with a trusted
/// time source) can control it.
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
    }
}

/// The default clock as a shareable handle.
pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

// The policy and the counter are recorded in the keyslot file: their types live with its format
// in `outpost_wire::keyslot`. The rules over them are here.
pub(crate) use outpost_wire::keyslot::Counter;
pub use outpost_wire::keyslot::{LockoutPolicy, OnLimit};

/// What a failed attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    WrongPassword { attempts_left: u32 },
    LockedOut { retry_after_s: u64 },
    Wipe,
}

/// The lockout rules over the persisted [`Counter`].
pub(crate) trait CounterRules {
    /// Fold in a clock reading. A clock moved backwards keeps the *remaining* wait rather than
    /// extending it to the old deadline or cancelling it. Returns whether the counter changed.
    fn observe(&mut self, now: i64) -> bool;
    /// Seconds to wait before an attempt is accepted, if locked.
    fn retry_after(&self, now: i64) -> Option<u64>;
    /// Attempts left before the policy applies.
    fn attempts_left(&self, policy: &LockoutPolicy) -> u32;
    /// Apply the policy after a failed attempt (the attempt is already counted in `failed`).
    fn fail(&mut self, policy: &LockoutPolicy, now: i64) -> Failure;
    /// A success resets everything but the clock.
    fn succeed(&mut self);
}

impl CounterRules for Counter {
    fn observe(&mut self, now: i64) -> bool {
        if now < self.last_seen_unix {
            if self.locked_until_unix > self.last_seen_unix {
                self.locked_until_unix = now.saturating_add(self.locked_until_unix - self.last_seen_unix);
            }
            self.last_seen_unix = now;
            true
        } else if now > self.last_seen_unix {
            self.last_seen_unix = now;
            true
        } else {
            false
        }
    }

    fn retry_after(&self, now: i64) -> Option<u64> {
        (self.locked_until_unix > now).then(|| (self.locked_until_unix - now) as u64)
    }

    fn attempts_left(&self, policy: &LockoutPolicy) -> u32 {
        policy.max_attempts.saturating_sub(self.failed)
    }

    fn fail(&mut self, policy: &LockoutPolicy, now: i64) -> Failure {
        if self.failed < policy.max_attempts {
            return Failure::WrongPassword { attempts_left: self.attempts_left(policy) };
        }
        match policy.on_limit {
            OnLimit::Wipe => Failure::Wipe,
            OnLimit::Delay { base_s, max_s } => {
                let over = (self.failed - policy.max_attempts).min(30);
                let delay = (u64::from(base_s) << over).min(u64::from(max_s.max(base_s)));
                self.locked_until_unix = now.saturating_add(delay as i64);
                Failure::LockedOut { retry_after_s: delay }
            }
        }
    }

    fn succeed(&mut self) {
        self.failed = 0;
        self.locked_until_unix = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_grows_and_clock_backwards_keeps_remaining() {
        let policy = LockoutPolicy { max_attempts: 2, on_limit: OnLimit::Delay { base_s: 10, max_s: 100 } };
        let mut c = Counter::default();
        c.observe(1000);
        c.failed += 1;
        assert_eq!(c.fail(&policy, 1000), Failure::WrongPassword { attempts_left: 1 });
        c.failed += 1;
        assert_eq!(c.fail(&policy, 1000), Failure::LockedOut { retry_after_s: 10 });
        assert_eq!(c.retry_after(1005), Some(5));
        // Clock moved back by an hour at t=1004: 6 s still to wait.
        c.observe(1004);
        c.observe(-2596);
        assert_eq!(c.retry_after(-2596), Some(6));
        assert_eq!(c.retry_after(-2590), None);
        c.failed += 1;
        assert_eq!(c.fail(&policy, -2590), Failure::LockedOut { retry_after_s: 20 });
        for _ in 0..40 {
            c.failed += 1;
        }
        assert_eq!(c.fail(&policy, 0), Failure::LockedOut { retry_after_s: 100 });
        c.succeed();
        assert_eq!(c.retry_after(0), None);
        assert_eq!(c.attempts_left(&policy), 2);
    }

    #[test]
    fn wipe_at_limit() {
        let policy = LockoutPolicy { max_attempts: 1, on_limit: OnLimit::Wipe };
        let mut c = Counter { failed: 1, ..Default::default() };
        assert_eq!(c.fail(&policy, 0), Failure::Wipe);
    }
}
