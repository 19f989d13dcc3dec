//! Randomized multi-device trials with shrinking: the proof that a user's edit reaches the
//! server, or the user is shown why (a conflict, a refused change) — never silently gone.
//!
//! Each trial is generated from a seed: 2 or 3 devices (real vaults, signed in as the same user)
//! against one in-process emulator with small tables, and a list of operations — offline
//! creates (with lookups to other offline creates, cycles included), updates and deletes, edits
//! and deletes by another user on the server, syncs (some with a local edit made from another
//! thread while the push is in flight), network and service faults (dropped connections, 5xx,
//! 429, expired access and delta tokens, lost acknowledgements), SIGKILLs of a child
//! `outpost sync`, profile changes, and the user's answers to conflicts and refused changes.
//! After the operations the trial heals (faults cleared, every device synced until a round
//! changes nothing) and checks the invariants in `trials/check.rs`. A failing trial prints its
//! seed and operations, then shrinks the list and prints the smallest failing one with the
//! command that replays it.
//!
//! Environment: `OUTPOST_TRIALS` (trials, default 20), `OUTPOST_TRIALS_SECONDS` (no new trial
//! starts after this, default 60), `OUTPOST_TRIALS_BASE_SEED` (trial i has seed
//! splitmix(base + i); fixed by default), `OUTPOST_TRIAL_SEED` (run only this seed) with
//! `OUTPOST_TRIAL_KEEP` (only these operation indexes, e.g. `0,3,5-7`: a shrunk list),
//! `OUTPOST_TRIALS_SHRINK_SECONDS` (total shrinking time, default 60), `OUTPOST_TRIALS_JOBS`
//! (trials run at once, default 1), `OUTPOST_TRIALS_KILL_PERCENT` (trials with kills, default
//! 10), `OUTPOST_TRIALS_VERBOSE=1` (a line per trial). `scripts/trials.sh` sets them.

#![cfg(unix)]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

#[path = "trials/check.rs"]
mod check;
#[path = "trials/gen.rs"]
mod gen;
#[path = "trials/model.rs"]
mod model;
#[path = "trials/run.rs"]
mod run;
#[path = "trials/shrink.rs"]
mod shrink;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use check::VKind;
use gen::{format_keep, generate, parse_keep, splitmix, Knobs, Spec, Step};
use run::{Caps, Outcome};

const REPLAY: &str = "cargo test --workspace --features outpost-core/failpoints --test trials -- --nocapture";

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.trim().parse().ok())
}

fn describe(spec: &Spec) -> String {
    let pol: Vec<String> = gen::TABLES.iter().map(|t| format!("{} {}", t.set(), spec.policy(*t).toml())).collect();
    format!(
        "{} devices; rows {}/{}/{} (accounts/contacts/tasks); {}; $batch size {}, concurrency {}",
        spec.devices,
        spec.rows[0],
        spec.rows[1],
        spec.rows[2],
        pol.join(", "),
        spec.push_batch_size,
        spec.concurrency
    )
}

fn steps_text(steps: &[Step], indexes: &[usize]) -> String {
    indexes.iter().map(|i| format!("    [{i}] {}\n", steps[*i])).collect()
}

fn violations_text(o: &Outcome) -> String {
    let mut s: String = o.violations.iter().take(12).map(|v| format!("    - {v}\n")).collect();
    if o.violations.len() > 12 {
        s.push_str(&format!("    … and {} more\n", o.violations.len() - 12));
    }
    s
}

struct Failure {
    index: usize,
    spec: Spec,
    outcome: Outcome,
}

#[test]
fn randomized_multi_device_trials() {
    let caps = Caps::probe();
    let knobs = Knobs {
        kill_percent: env_u64("OUTPOST_TRIALS_KILL_PERCENT").unwrap_or(Knobs::default().kill_percent),
        ..Knobs::default()
    };
    let single = env_u64("OUTPOST_TRIAL_SEED");
    let keep = std::env::var("OUTPOST_TRIAL_KEEP").ok().and_then(|k| parse_keep(&k));
    let trials = if single.is_some() { 1 } else { env_u64("OUTPOST_TRIALS").unwrap_or(20) as usize };
    let seconds = env_u64("OUTPOST_TRIALS_SECONDS").unwrap_or(60);
    let base = env_u64("OUTPOST_TRIALS_BASE_SEED").unwrap_or(20_261_201);
    let jobs = env_u64("OUTPOST_TRIALS_JOBS").unwrap_or(1).clamp(1, 8) as usize;
    let verbose = single.is_some() || std::env::var_os("OUTPOST_TRIALS_VERBOSE").is_some();
    let seed_of = |i: usize| single.unwrap_or_else(|| splitmix(base.wrapping_add(i as u64)));
    println!(
        "trials: {trials} (base seed {base}, {seconds} s time box, {jobs} at once); lost_ack fault in the emulator: {}",
        if caps.lost_ack { "yes" } else { "no (lost acknowledgements played with drop_connection on $batch)" }
    );

    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let results: Arc<Mutex<Vec<(usize, Spec, Outcome)>>> = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let (next, results, keep) = (next.clone(), results.clone(), keep.clone());
            scope.spawn(move || loop {
                if started.elapsed() >= Duration::from_secs(seconds) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= trials {
                    return;
                }
                let spec = generate(seed_of(i), knobs);
                let indexes: Vec<usize> = match &keep {
                    Some(k) => k.iter().copied().filter(|i| *i < spec.steps.len()).collect(),
                    None => (0..spec.steps.len()).collect(),
                };
                let steps: Vec<Step> = indexes.iter().map(|i| spec.steps[*i]).collect();
                let outcome = run::run(&spec, &steps, caps);
                if verbose {
                    println!(
                        "trial {i} seed {}: {} ({} operations, {:.2} s{})",
                        spec.seed,
                        if outcome.failed() { "FAILED" } else { "ok" },
                        steps.len(),
                        outcome.elapsed.as_secs_f64(),
                        if outcome.kills[0] + outcome.kills[1] > 0 {
                            format!(", {} kills, {} children finished first", outcome.kills[0], outcome.kills[1])
                        } else {
                            String::new()
                        }
                    );
                    if single.is_some() {
                        println!("  {}", describe(&spec));
                        print!("{}", steps_text(&spec.steps, &indexes));
                        for n in &outcome.notes {
                            println!("  note: {n}");
                        }
                    }
                } else if (i + 1) % 25 == 0 {
                    println!("… {} trials started, {:.0} s", i + 1, started.elapsed().as_secs_f64());
                }
                results.lock().unwrap().push((i, spec, outcome));
            });
        }
    });
    let run_time = started.elapsed();
    let mut results = std::mem::take(&mut *results.lock().unwrap());
    results.sort_by_key(|r| r.0);

    // The operation mix and the timings.
    let mut mix: BTreeMap<&'static str, [u32; 2]> = BTreeMap::new();
    let (mut kills, mut finished_first, mut syncs, mut sync_time) = (0, 0, 0, Duration::ZERO);
    let mut slowest = Duration::ZERO;
    for (_, _, o) in &results {
        for (k, v) in &o.mix {
            let e = mix.entry(k).or_default();
            e[0] += v[0];
            e[1] += v[1];
        }
        kills += o.kills[0];
        finished_first += o.kills[1];
        syncs += o.syncs.0;
        sync_time += o.syncs.1;
        slowest = slowest.max(o.elapsed);
    }
    let n = results.len();
    let failures: Vec<Failure> = results
        .into_iter()
        .filter(|r| r.2.failed())
        .map(|(index, spec, outcome)| Failure { index, spec, outcome })
        .collect();

    // Report every failure; shrink the first one of each kind of violation.
    let shrink_budget = Duration::from_secs(env_u64("OUTPOST_TRIALS_SHRINK_SECONDS").unwrap_or(60));
    let shrink_until = Instant::now() + shrink_budget;
    let mut shrunk_kinds: Vec<VKind> = Vec::new();
    for f in &failures {
        let all: Vec<usize> = match &keep {
            Some(k) => k.iter().copied().filter(|i| *i < f.spec.steps.len()).collect(),
            None => (0..f.spec.steps.len()).collect(),
        };
        println!(
            "\nFAILED trial {} seed {}: {} violations ({})\n  {}\n  replay: OUTPOST_TRIAL_SEED={}{} {REPLAY}\n  operations:\n{}  violations:\n{}",
            f.index,
            f.spec.seed,
            f.outcome.violations.len(),
            f.outcome.kinds().iter().map(|k| k.label()).collect::<Vec<_>>().join("; "),
            describe(&f.spec),
            f.spec.seed,
            keep.as_ref().map_or(String::new(), |_| format!(" OUTPOST_TRIAL_KEEP={}", format_keep(&all))),
            steps_text(&f.spec.steps, &all),
            violations_text(&f.outcome)
        );
        let Some(kind) = f.outcome.kinds().into_iter().find(|k| !shrunk_kinds.contains(k)) else {
            println!("  (not shrunk: a trial with this kind of violation was shrunk already)");
            continue;
        };
        if Instant::now() >= shrink_until {
            println!("  (not shrunk: the shrinking time is used up)");
            continue;
        }
        shrunk_kinds.push(kind);
        let t0 = Instant::now();
        let mut last: Option<Outcome> = None;
        let (kept, runs) = shrink::shrink(
            all.len(),
            |cand| {
                let steps: Vec<Step> = cand.iter().map(|c| f.spec.steps[all[*c]]).collect();
                let o = run::run(&f.spec, &steps, caps);
                let hit = o.violations.iter().any(|v| v.kind == kind);
                if hit {
                    last = Some(o);
                }
                hit
            },
            shrink_until,
        );
        let kept: Vec<usize> = kept.into_iter().map(|c| all[c]).collect();
        // Does the smallest list fail again? (Timing-dependent failures may not.)
        let steps: Vec<Step> = kept.iter().map(|i| f.spec.steps[*i]).collect();
        let again = run::run(&f.spec, &steps, caps);
        let repeats = again.violations.iter().any(|v| v.kind == kind);
        let shown = if repeats { &again } else { last.as_ref().unwrap_or(&f.outcome) };
        println!(
            "  SHRUNK for \"{}\" to {} of {} operations ({runs} runs, {:.1} s; fails again on a re-run: {}):\n  replay: OUTPOST_TRIAL_SEED={} OUTPOST_TRIAL_KEEP={} {REPLAY}\n{}  violations of the shrunk list:\n{}",
            kind.label(),
            kept.len(),
            all.len(),
            t0.elapsed().as_secs_f64(),
            if repeats { "yes" } else { "no (timing-dependent)" },
            f.spec.seed,
            format_keep(&kept),
            steps_text(&f.spec.steps, &kept),
            violations_text(shown)
        );
    }

    println!("\noperation mix (applied / skipped because their record was not there):");
    for (k, [a, s]) in &mix {
        println!("  {k:<34} {a:>6} {s:>6}");
    }
    println!(
        "kills: {kills} children killed, {finished_first} finished first; syncs: {syncs} ({:.1} ms on average)",
        if syncs > 0 { sync_time.as_secs_f64() * 1000.0 / f64::from(syncs) } else { 0.0 }
    );
    println!(
        "time: {:.1} s for {n} trials ({:.2} s per trial, slowest {:.2} s), {:.1} s in all with shrinking",
        run_time.as_secs_f64(),
        if n > 0 { run_time.as_secs_f64() / n as f64 } else { 0.0 },
        slowest.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let mut kinds: BTreeMap<VKind, usize> = BTreeMap::new();
    for f in &failures {
        for k in f.outcome.kinds() {
            *kinds.entry(k).or_default() += 1;
        }
    }
    for (k, c) in &kinds {
        println!("  {c} failing trials with: {}", k.label());
    }
    println!("trials: {} passed, {} failed", n - failures.len(), failures.len());
    assert!(failures.is_empty(), "{} of {n} trials found violations (see above)", failures.len());
}

// ---------------------------------------------------------------------------------------------
// The checker can fail: fabricated states, each with one violation, are reported.

mod control {
    use std::collections::BTreeMap;

    use super::check::*;
    use super::gen::{Policy, Table};
    use super::model::Model;

    fn rec(t: Table, n: u32) -> (Table, String) {
        (t, format!("00000000-0000-4000-8000-{n:012}"))
    }

    fn vals(pairs: &[(&str, &str)]) -> Vals {
        pairs.iter().map(|(k, v)| (k.to_string(), Some(v.to_string()))).collect()
    }

    fn server_row(etag: u64, name: &str) -> ServerRow {
        ServerRow { etag: format!("W/\"{etag}\""), values: vals(&[("name", name)]) }
    }

    fn synced(etag: u64, name: &str) -> LocalRow {
        LocalRow {
            etag: Some(format!("W/\"{etag}\"")),
            synced: true,
            state: "Synced".into(),
            values: vals(&[("name", name)]),
        }
    }

    fn write(seq: u64, kind: WKind, name: Option<&str>) -> HWrite {
        HWrite { seq, version: 1000 + seq, kind, cols: name.map(|n| vals(&[("name", n)])).unwrap_or_default() }
    }

    fn ctx() -> Ctx {
        Ctx { policies: [(Table::Accounts, Policy::MergeFields)].into_iter().collect(), names: BTreeMap::new() }
    }

    /// A consistent world: device 0 set a name that is on the server; both devices have the row.
    fn world() -> (Model, ServerView, Vec<DeviceView>) {
        let a = rec(Table::Accounts, 1);
        let mut m = Model::default();
        m.set(0, &a, "name", Some("d0-u1".into()), 1, Some(1000), 1);
        let mut s = ServerView::default();
        s.rows.insert(a.clone(), server_row(1001, "d0-u1"));
        s.history.insert(a.clone(), vec![write(1, WKind::Update, Some("d0-u1"))]);
        let devices = (0..2)
            .map(|d| DeviceView {
                dev: d,
                tables: vec![Table::Accounts],
                rows: [(a.clone(), synced(1001, "d0-u1"))].into_iter().collect(),
                ..DeviceView::default()
            })
            .collect();
        (m, s, devices)
    }

    fn kinds(v: &[Violation]) -> Vec<VKind> {
        v.iter().map(|v| v.kind).collect()
    }

    #[test]
    fn a_consistent_world_has_no_violations() {
        let (m, s, d) = world();
        assert_eq!(check_final(&ctx(), &m, &s, &d), vec![]);
    }

    #[test]
    fn a_lost_edit_is_reported_unless_shown_or_overwritten() {
        let (mut m, s, mut d) = world();
        let a = rec(Table::Accounts, 1);
        // Device 1 set a newer name that never reached the server and is not shown.
        m.set(1, &a, "name", Some("d1-u2".into()), 2, Some(1001), 2);
        assert_eq!(kinds(&check_final(&ctx(), &m, &s, &d)), vec![VKind::LostEdit]);
        // Shown as a conflict of that column: fine.
        d[1].conflicts.push(ConflictView {
            rec: a.clone(),
            kind: CKind::Update,
            columns: vec!["name".into()],
            local: vals(&[("name", "d1-u2")]),
        });
        assert_eq!(check_final(&ctx(), &m, &s, &d), vec![]);
        // Landed and then overwritten by the other user: fine.
        let (_, mut s2, d2) = world();
        s2.history.get_mut(&a).unwrap().push(write(2, WKind::Update, Some("d1-u2")));
        s2.history.get_mut(&a).unwrap().push(write(3, WKind::Update, Some("srv-u3")));
        s2.rows.insert(a.clone(), server_row(1003, "srv-u3"));
        let mut d2 = d2;
        for dv in &mut d2 {
            dv.rows.insert(a.clone(), synced(1003, "srv-u3"));
        }
        let mut m2 = Model::default();
        m2.set(1, &a, "name", Some("d1-u2".into()), 2, Some(1001), 2);
        assert_eq!(check_final(&ctx(), &m2, &s2, &d2), vec![]);
        // Given up by the user: fine.
        m.discard_col(1, &a, "name", Some("d1-u2"), 3, 1);
        d[1].conflicts.clear();
        assert_eq!(check_final(&ctx(), &m, &s, &d), vec![]);
    }

    #[test]
    fn an_edit_to_the_value_the_seeded_row_had_landed_before_a_later_delete() {
        // Device 1 cleared an empty lookup (its PATCH changed nothing), then the other device
        // deleted the record after deciding its conflict: nothing was lost.
        let a = rec(Table::Accounts, 1);
        let col = "_primarycontactid_value";
        let mut m = Model::default();
        m.set(1, &a, col, None, 1, Some(1000), 1);
        let mut s = ServerView::default();
        s.history.insert(a.clone(), vec![write(1, WKind::Update, None), write(2, WKind::Delete, None)]);
        let d: Vec<DeviceView> =
            (0..2).map(|dev| DeviceView { dev, tables: vec![Table::Accounts], ..DeviceView::default() }).collect();
        // Without the seeded row the clear never shows on the server: reported.
        assert_eq!(kinds(&check_final(&ctx(), &m, &s, &d)), vec![VKind::LostEdit]);
        s.initial.insert(a.clone(), [(col.to_string(), None)].into_iter().collect());
        assert_eq!(check_final(&ctx(), &m, &s, &d), vec![]);
        // A seeded value other than the one set does not count.
        s.initial.insert(
            a.clone(),
            [(col.to_string(), Some("00000000-0000-4000-8000-000000000009".into()))].into_iter().collect(),
        );
        assert_eq!(kinds(&check_final(&ctx(), &m, &s, &d)), vec![VKind::LostEdit]);
    }

    #[test]
    fn an_old_replay_over_a_newer_edit_is_reported() {
        let (mut m, mut s, mut d) = world();
        let a = rec(Table::Accounts, 1);
        m.set(0, &a, "name", Some("d0-u2".into()), 2, Some(1001), 2);
        // u2 landed, then the replay of u1 overwrote it.
        s.history.get_mut(&a).unwrap().push(write(2, WKind::Update, Some("d0-u2")));
        s.history.get_mut(&a).unwrap().push(write(3, WKind::Update, Some("d0-u1")));
        s.rows.insert(a.clone(), server_row(1003, "d0-u1"));
        for dv in &mut d {
            dv.rows.insert(a.clone(), synced(1003, "d0-u1"));
        }
        assert_eq!(kinds(&check_final(&ctx(), &m, &s, &d)), vec![VKind::StaleReplay]);
    }

    #[test]
    fn another_devices_recreate_may_carry_an_older_value_it_knew() {
        // Device 0 set u2 over its u1 (landed); the server deleted the record; device 1, which
        // had pulled u1 and edited the description, re-created the record with its local view.
        let (mut m, mut s, mut d) = world();
        let a = rec(Table::Accounts, 1);
        m.set(0, &a, "name", Some("d0-u2".into()), 2, Some(1001), 2);
        m.set(1, &a, "description", Some("d1-u3".into()), 3, Some(1001), 3);
        m.recreates.insert(a.clone(), 1);
        let recreate = |with_own_edit: bool| {
            let mut cols = vals(&[("name", "d0-u1")]);
            if with_own_edit {
                cols.extend(vals(&[("description", "d1-u3")]));
            }
            HWrite { seq: 5, version: 1005, kind: WKind::Insert, cols }
        };
        let h = s.history.get_mut(&a).unwrap();
        h.push(write(2, WKind::Update, Some("d0-u2")));
        h.push(write(4, WKind::Delete, None));
        let row = ServerRow { etag: "W/\"1005\"".into(), values: vals(&[("name", "d0-u1"), ("description", "d1-u3")]) };
        s.rows.insert(a.clone(), row.clone());
        for dv in &mut d {
            dv.rows.insert(a.clone(), LocalRow { values: row.values.clone(), ..synced(1005, "d0-u1") });
        }
        let mut s_own = s.clone();
        s.history.get_mut(&a).unwrap().push(recreate(true));
        assert_eq!(check_final(&ctx(), &m, &s, &d), vec![]);
        // The same insert without a value only device 1 had: nothing says device 1 wrote it, so
        // it is device 0's old value replayed.
        s_own.history.get_mut(&a).unwrap().push(recreate(false));
        assert!(kinds(&check_final(&ctx(), &m, &s_own, &d)).contains(&VKind::StaleReplay));
    }

    #[test]
    fn a_discarded_edit_that_lands_later_is_reported() {
        let (mut m, mut s, mut d) = world();
        let a = rec(Table::Accounts, 1);
        m.set(0, &a, "name", Some("d0-u2".into()), 2, Some(1001), 2);
        m.discard_col(0, &a, "name", Some("d0-u2"), 3, 1);
        s.history.get_mut(&a).unwrap().push(write(2, WKind::Update, Some("d0-u2")));
        s.rows.insert(a.clone(), server_row(1002, "d0-u2"));
        for dv in &mut d {
            dv.rows.insert(a.clone(), synced(1002, "d0-u2"));
        }
        assert_eq!(kinds(&check_final(&ctx(), &m, &s, &d)), vec![VKind::DiscardedLanded]);
    }

    #[test]
    fn a_duplicate_create_is_reported() {
        let (mut m, mut s, d) = world();
        let b = rec(Table::Accounts, 2);
        m.created.insert(b.clone(), (0, 5));
        // Created, deleted on the server, created again by a replay.
        s.history.insert(
            b.clone(),
            vec![
                write(5, WKind::Insert, Some("d0-u5")),
                write(6, WKind::Delete, None),
                write(7, WKind::Insert, Some("d0-u5")),
            ],
        );
        let v = check_final(&ctx(), &m, &s, &d);
        assert_eq!(kinds(&v), vec![VKind::Duplicate], "{v:?}");
        assert!(v[0].detail.contains("re-created after a server delete"), "{}", v[0].detail);
        // The same create on the server under two ids.
        let (mut m, mut s, d) = world();
        m.created.insert(b.clone(), (0, 5));
        s.rows.insert(b.clone(), server_row(1005, "d0-u5"));
        s.rows.insert(rec(Table::Accounts, 3), server_row(1006, "d0-u5"));
        let v = check_final(&ctx(), &m, &s, &d);
        assert!(kinds(&v).contains(&VKind::Duplicate), "{v:?}");
    }

    #[test]
    fn a_diverged_row_is_reported() {
        let (m, s, mut d) = world();
        let a = rec(Table::Accounts, 1);
        d[1].rows.insert(a.clone(), synced(1000, "d0-u1")); // an older etag
        let v = check_final(&ctx(), &m, &s, &d);
        assert_eq!(kinds(&v), vec![VKind::Diverged], "{v:?}");
        let (m, s, mut d) = world();
        d[0].rows.insert(a.clone(), synced(1001, "something else"));
        assert_eq!(kinds(&check_final(&ctx(), &m, &s, &d)), vec![VKind::Diverged]);
        let (m, s, mut d) = world();
        d[1].rows.clear(); // missing on the device
        assert_eq!(kinds(&check_final(&ctx(), &m, &s, &d)), vec![VKind::Diverged]);
        let (m, s, mut d) = world();
        d[0].rows.insert(rec(Table::Accounts, 9), synced(1009, "ghost")); // gone on the server
        assert_eq!(kinds(&check_final(&ctx(), &m, &s, &d)), vec![VKind::Diverged]);
    }

    #[test]
    fn a_silent_leftover_after_a_complete_sync_is_reported() {
        let (_, _, d) = world();
        let mut dv = d[0].clone();
        let a = rec(Table::Accounts, 1);
        let c = rec(Table::Contacts, 2);
        dv.outbox.push(Entry {
            seq: 7,
            rec: a.clone(),
            op: EOp::Update,
            state: EState::Pending,
            changes: vals(&[("name", "d0-u9")]),
        });
        let v = check_after_complete_sync(&ctx(), &dv, &[], "after a sync");
        assert_eq!(kinds(&v), vec![VKind::SilentLeftover]);
        // With a reason it is fine: parked, behind a parked entry, waiting for a refused create.
        let mut ok = dv.clone();
        ok.outbox[0].state = EState::Parked;
        ok.outbox.push(Entry { seq: 8, rec: a.clone(), op: EOp::Update, state: EState::Pending, changes: Vals::new() });
        ok.outbox.push(Entry { seq: 9, rec: c.clone(), op: EOp::Create, state: EState::Parked, changes: Vals::new() });
        ok.outbox.push(Entry {
            seq: 10,
            rec: rec(Table::Tasks, 3),
            op: EOp::Create,
            state: EState::Pending,
            changes: [("_regardingobjectid_value".to_string(), Some(c.1.clone()))].into_iter().collect(),
        });
        assert_eq!(check_after_complete_sync(&ctx(), &ok, &[], "after a sync"), vec![]);
        // A record edited while the sync ran is exempt.
        assert_eq!(check_after_complete_sync(&ctx(), &dv, &[a], "after a sync"), vec![]);
        // Waiting for a create that is itself only pending is no reason.
        let mut bad = d[0].clone();
        bad.outbox.push(Entry {
            seq: 1,
            rec: c.clone(),
            op: EOp::Create,
            state: EState::Pending,
            changes: Vals::new(),
        });
        bad.outbox.push(Entry {
            seq: 2,
            rec: rec(Table::Tasks, 3),
            op: EOp::Create,
            state: EState::Pending,
            changes: [("_regardingobjectid_value".to_string(), Some(c.1.clone()))].into_iter().collect(),
        });
        assert_eq!(kinds(&check_after_complete_sync(&ctx(), &bad, &[], "x")), vec![VKind::SilentLeftover; 2]);
    }

    #[test]
    fn a_null_set_by_a_create_then_deleted_by_another_device_is_no_violation() {
        // An insert names only its non-null columns: a lookup left null landed with it.
        let (mut m, mut s, d) = world();
        let b = rec(Table::Accounts, 2);
        m.created.insert(b.clone(), (0, 5));
        m.set(0, &b, "_primarycontactid_value", None, 5, None, 5);
        s.history.insert(b.clone(), vec![write(5, WKind::Insert, Some("d0-u5")), write(6, WKind::Delete, None)]);
        assert_eq!(check_final(&ctx(), &m, &s, &d), vec![]);
        // … but a null that never landed is a lost edit.
        m.set(0, &b, "_primarycontactid_value", Some(rec(Table::Contacts, 3).1), 6, None, 6);
        m.set(0, &b, "_primarycontactid_value", None, 7, None, 7);
        s.history.insert(b.clone(), vec![write(5, WKind::Insert, Some("d0-u5")), write(6, WKind::Update, None)]);
        s.history.get_mut(&b).unwrap()[1]
            .cols
            .insert("_primarycontactid_value".into(), Some(rec(Table::Contacts, 3).1));
        s.rows.insert(b.clone(), server_row(1006, "d0-u5"));
        s.rows.get_mut(&b).unwrap().values.insert("_primarycontactid_value".into(), Some(rec(Table::Contacts, 3).1));
        let v = check_final(&ctx(), &m, &s, &d);
        assert!(kinds(&v).contains(&VKind::LostEdit), "{v:?}");
    }

    #[test]
    fn a_lost_delete_is_reported() {
        let (mut m, s, d) = world();
        let a = rec(Table::Accounts, 1);
        m.delete(1, &a, 5, Some(1001), 5);
        assert_eq!(kinds(&check_final(&ctx(), &m, &s, &d)), vec![VKind::LostDelete]);
    }
}

#[test]
fn generation_is_deterministic_and_keep_lists_round_trip() {
    let a = generate(42, Knobs::default());
    let b = generate(42, Knobs::default());
    assert_eq!(a.steps, b.steps);
    assert_ne!(generate(43, Knobs::default()).steps, a.steps);
    for list in [vec![], vec![0], vec![0, 1, 2, 5, 7, 8, 9, 12], vec![3, 4]] {
        assert_eq!(parse_keep(&format_keep(&list)), Some(list));
    }
    assert_eq!(format_keep(&[0, 1, 2, 5, 7, 8]), "0-2,5,7-8");
}

#[test]
fn shrinking_finds_the_operations_that_matter() {
    // Fails when 3 and 11 are both in, and 7 is not.
    let (kept, _) = shrink::shrink(
        20,
        |c| c.contains(&3) && c.contains(&11) && !c.contains(&7),
        Instant::now() + Duration::from_secs(5),
    );
    assert_eq!(kept, vec![3, 11]);
}
