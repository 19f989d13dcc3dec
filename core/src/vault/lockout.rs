//! Wrong-password counting and the lockout policy, as pure functions over the counter record.
//!
//! The counter lives in the keyslot file outside the AEAD-protected slots (it must change without
//! the key) with its own checksum. The vault increments it and syncs it to disk *before* running
//! the KDF, so killing the app mid-attempt still counts the attempt. This limits guessing
//! *through the app* only: someone holding copies of the files can restore an old counter.
//! Argon2 is what limits offline guessing (`docs/security.md`).

use std::sync::Arc;

/// A source of time. Injectable so tests (and hosts with a trusted time source) can control it.
pub trait Clock: Send + Sync {
    /// Wall-clock seconds since the Unix epoch.
    fn now_unix(&self) -> i64;
    /// Seconds since the device booted, counting time asleep, from a clock the user cannot set
    /// (`None`: no such clock here). Lockout waits are counted on it, so moving the wall clock
    /// cannot shorten them (issue 16, defect 2). The default is `None`: a host that supplies its
    /// own [`Clock`] should supply this too, or lockout waits fall back to the wall clock.
    fn boot_s(&self) -> Option<u64> {
        None
    }
}

/// The system clock: the wall clock and the boot clock of the platform.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
    }

    fn boot_s(&self) -> Option<u64> {
        boot_clock_s()
    }
}

/// Linux and Android: `CLOCK_BOOTTIME`, which counts suspend and cannot be set.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn boot_clock_s() -> Option<u64> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    u64::try_from(t.tv_sec).ok()
}

/// Apple: `CLOCK_MONOTONIC`, which Darwin's clock_gettime(3) documents as continuing to count
/// while the system is asleep (UNVERIFIED on a device here: no Apple hardware; if it stopped
/// during sleep, waits would only last longer, never shorter).
#[cfg(any(target_os = "ios", target_os = "macos"))]
fn boot_clock_s() -> Option<u64> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    u64::try_from(t.tv_sec).ok()
}

/// Elsewhere: no boot clock; waits are counted on the wall clock (`docs/security.md`).
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "ios", target_os = "macos")))]
fn boot_clock_s() -> Option<u64> {
    None
}

/// The default clock as a shareable handle.
pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// One reading of both clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Now {
    pub unix: i64,
    /// Boot-clock seconds, at least 1 (0 marks "no reading" in the counter).
    pub boot_s: Option<u64>,
}

impl Now {
    pub(crate) fn read(clock: &dyn Clock) -> Now {
        Now { unix: clock.now_unix(), boot_s: clock.boot_s().map(|b| b.max(1)) }
    }
}

// The policy and the counter are recorded in the keyslot file: their types live with its format
// in `outpost_wire::keyslot`. The rules over them are here.
pub(crate) use outpost_wire::keyslot::Counter;
pub use outpost_wire::keyslot::{LockoutPolicy, OnLimit};

/// What a failed attempt leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failure {
    WrongPassword {
        attempts_left: u32,
    },
    LockedOut {
        retry_after_s: u64,
    },
    /// The refusal limit is reached: no password is tried any more.
    Refused,
    Wipe,
}

/// The lockout rules over the persisted [`Counter`].
///
/// Where there is a boot clock, a wait is counted on it alone (`wait_left_s` as of
/// `boot_seen_s`): the user can move the wall clock but not that one, so no setting of the
/// wall clock shortens or lengthens a wait. The boot clock restarts at a reboot: then only the
/// time since the boot is counted, so the time between the last observation and the reboot is
/// lost (the wait is longer, never shorter). Without a boot clock the wall clock counts
/// (`locked_until_unix`), moved back it keeps the remaining wait; moved forward it ends the
/// wait (`docs/security.md` says so). The wall-clock deadline is kept up to date either way.
pub(crate) trait CounterRules {
    /// Fold in a clock reading. Returns whether the counter changed.
    fn observe(&mut self, now: Now) -> bool;
    /// Seconds to wait before an attempt is accepted, if locked (after [`CounterRules::observe`]).
    fn retry_after(&self, now: Now) -> Option<u64>;
    /// Attempts left before the policy applies.
    fn attempts_left(&self, policy: &LockoutPolicy) -> u32;
    /// Whether the refusal limit is reached: no password may be tried.
    fn refused(&self, policy: &LockoutPolicy) -> bool;
    /// Apply the policy after a failed attempt (the attempt is already counted in `failed`).
    fn fail(&mut self, policy: &LockoutPolicy, now: Now) -> Failure;
    /// A success resets everything but the clocks.
    fn succeed(&mut self);
}

impl CounterRules for Counter {
    fn observe(&mut self, now: Now) -> bool {
        let before = *self;
        let unix = now.unix;
        if unix < self.last_seen_unix {
            if self.locked_until_unix > self.last_seen_unix {
                self.locked_until_unix = unix.saturating_add(self.locked_until_unix - self.last_seen_unix);
            }
            self.last_seen_unix = unix;
        } else if unix > self.last_seen_unix {
            self.last_seen_unix = unix;
        }
        if self.locked_until_unix != 0 && self.locked_until_unix <= unix {
            // Over on the wall clock: a later move back must not bring it back.
            self.locked_until_unix = 0;
        }
        if let Some(boot) = now.boot_s {
            if self.boot_seen_s == 0 {
                // First boot reading (a format-1 file, or a platform that had none): the wait
                // left is what the wall clock says.
                self.wait_left_s = u64::try_from(self.locked_until_unix.saturating_sub(unix)).unwrap_or(0);
            } else {
                // A boot clock behind the last reading means a reboot: count only the time since.
                let elapsed = if boot >= self.boot_seen_s { boot - self.boot_seen_s } else { boot };
                self.wait_left_s = self.wait_left_s.saturating_sub(elapsed);
            }
            self.boot_seen_s = boot;
        }
        *self != before
    }

    fn retry_after(&self, now: Now) -> Option<u64> {
        let wait = if now.boot_s.is_some() && self.boot_seen_s != 0 {
            self.wait_left_s
        } else if self.locked_until_unix == 0 {
            0
        } else {
            u64::try_from(self.locked_until_unix.saturating_sub(now.unix)).unwrap_or(0)
        };
        Some(wait).filter(|&w| w > 0)
    }

    fn attempts_left(&self, policy: &LockoutPolicy) -> u32 {
        policy.max_attempts.saturating_sub(self.failed)
    }

    fn refused(&self, policy: &LockoutPolicy) -> bool {
        matches!(policy.on_limit, OnLimit::Delay { .. }) && self.failed >= policy.refuse_after.max(policy.max_attempts)
    }

    fn fail(&mut self, policy: &LockoutPolicy, now: Now) -> Failure {
        if self.failed < policy.max_attempts {
            return Failure::WrongPassword { attempts_left: self.attempts_left(policy) };
        }
        match policy.on_limit {
            OnLimit::Wipe => Failure::Wipe,
            OnLimit::Delay { .. } if self.refused(policy) => Failure::Refused,
            OnLimit::Delay { base_s, max_s } => {
                let over = (self.failed - policy.max_attempts).min(30);
                let delay = (u64::from(base_s) << over).min(u64::from(max_s.max(base_s)));
                self.locked_until_unix = now.unix.saturating_add(delay as i64);
                self.wait_left_s = delay;
                self.boot_seen_s = now.boot_s.unwrap_or(0);
                Failure::LockedOut { retry_after_s: delay }
            }
        }
    }

    fn succeed(&mut self) {
        self.failed = 0;
        self.locked_until_unix = 0;
        self.wait_left_s = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wall(unix: i64) -> Now {
        Now { unix, boot_s: None }
    }

    fn both(unix: i64, boot: u64) -> Now {
        Now { unix, boot_s: Some(boot) }
    }

    #[test]
    fn delay_grows_and_clock_backwards_keeps_remaining() {
        let policy =
            LockoutPolicy { max_attempts: 2, on_limit: OnLimit::Delay { base_s: 10, max_s: 100 }, refuse_after: 1000 };
        let mut c = Counter::default();
        c.observe(wall(1000));
        c.failed += 1;
        assert_eq!(c.fail(&policy, wall(1000)), Failure::WrongPassword { attempts_left: 1 });
        c.failed += 1;
        assert_eq!(c.fail(&policy, wall(1000)), Failure::LockedOut { retry_after_s: 10 });
        assert_eq!(c.retry_after(wall(1005)), Some(5));
        // Clock moved back by an hour at t=1004: 6 s still to wait.
        c.observe(wall(1004));
        c.observe(wall(-2596));
        assert_eq!(c.retry_after(wall(-2596)), Some(6));
        assert_eq!(c.retry_after(wall(-2590)), None);
        c.failed += 1;
        assert_eq!(c.fail(&policy, wall(-2590)), Failure::LockedOut { retry_after_s: 20 });
        for _ in 0..40 {
            c.failed += 1;
        }
        assert_eq!(c.fail(&policy, wall(0)), Failure::LockedOut { retry_after_s: 100 });
        c.succeed();
        assert_eq!(c.retry_after(wall(0)), None);
        assert_eq!(c.attempts_left(&policy), 2);
    }

    #[test]
    fn wipe_at_limit() {
        let policy = LockoutPolicy { max_attempts: 1, on_limit: OnLimit::Wipe, refuse_after: 1 };
        let mut c = Counter { failed: 1, ..Default::default() };
        assert_eq!(c.fail(&policy, wall(0)), Failure::Wipe);
    }

    /// Issue 16, defect 2: a wall clock moved forward by days does not end a wait the boot
    /// clock has not seen pass; a reboot keeps the wait left at the last observation.
    #[test]
    fn a_wall_clock_jump_does_not_shorten_a_wait_and_a_reboot_keeps_it() {
        let policy =
            LockoutPolicy { max_attempts: 1, on_limit: OnLimit::Delay { base_s: 60, max_s: 3600 }, refuse_after: 100 };
        let mut c = Counter::default();
        c.observe(both(1_000, 500));
        c.failed += 1;
        assert_eq!(c.fail(&policy, both(1_000, 500)), Failure::LockedOut { retry_after_s: 60 });
        // +26 days on the wall clock, 10 s on the boot clock.
        let later = both(1_000 + 26 * 86_400, 510);
        c.observe(later);
        assert_eq!(c.retry_after(later), Some(50));
        // The wall clock set back: the remaining wait is kept, not extended.
        let back = both(0, 520);
        c.observe(back);
        assert_eq!(c.retry_after(back), Some(40));
        // A reboot (boot clock behind): the 40 s left are kept, minus the 5 s since the boot.
        let rebooted = both(40, 5);
        c.observe(rebooted);
        assert_eq!(c.retry_after(rebooted), Some(35));
        let done = both(80, 40);
        c.observe(done);
        assert_eq!(c.retry_after(done), None);
        // A second failure doubles the wait, counted on both clocks.
        c.failed += 1;
        assert_eq!(c.fail(&policy, done), Failure::LockedOut { retry_after_s: 120 });
        assert_eq!(c.retry_after(both(80 + 120, 40)), Some(120));
        assert_eq!(c.retry_after(both(-5_000, 40)), Some(120));
    }

    /// A format-1 counter (no boot reading) locked on the wall clock moves its wait to the boot
    /// clock at the first reading, and a wall-only platform keeps the wall-clock rules.
    #[test]
    fn a_wall_clock_wait_moves_to_the_boot_clock() {
        let mut c = Counter { failed: 12, last_seen_unix: 1_000, locked_until_unix: 1_300, ..Counter::default() };
        c.observe(both(1_100, 7));
        assert_eq!(c.retry_after(both(1_100, 7)), Some(200));
        let jumped = both(999_999, 17);
        c.observe(jumped);
        assert_eq!(c.retry_after(jumped), Some(190));
        let mut w = Counter { failed: 12, last_seen_unix: 1_000, locked_until_unix: 1_300, ..Counter::default() };
        w.observe(wall(1_100));
        assert_eq!(w.retry_after(wall(1_100)), Some(200));
        assert_eq!(w.retry_after(wall(1_300)), None);
    }

    #[test]
    fn the_refusal_limit_stops_every_attempt() {
        let policy =
            LockoutPolicy { max_attempts: 2, on_limit: OnLimit::Delay { base_s: 1, max_s: 1 }, refuse_after: 4 };
        let mut c = Counter::default();
        let mut seen = Vec::new();
        for _ in 0..4 {
            assert!(!c.refused(&policy));
            c.failed += 1;
            seen.push(c.fail(&policy, wall(0)));
        }
        assert_eq!(
            seen,
            [
                Failure::WrongPassword { attempts_left: 1 },
                Failure::LockedOut { retry_after_s: 1 },
                Failure::LockedOut { retry_after_s: 1 },
                Failure::Refused
            ]
        );
        assert!(c.refused(&policy));
        c.succeed();
        assert!(!c.refused(&policy));
        // A wipe policy never refuses: it wipes at its limit.
        let wipe = LockoutPolicy { max_attempts: 2, on_limit: OnLimit::Wipe, refuse_after: 2 };
        assert!(!Counter { failed: 9, ..Counter::default() }.refused(&wipe));
    }
}
