//! Sync progress: one indicatif bar per table on a terminal; nothing drawn otherwise (the
//! summary lines are printed either way).

use std::collections::HashMap;
use std::sync::Mutex;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use outpost_core::sync::{Phase, SyncEvent, SyncObserver};

/// Draws a bar per table.
pub struct Bars {
    multi: MultiProgress,
    bars: Mutex<HashMap<String, ProgressBar>>,
    /// Expected rows per table, when the caller knows them (the demo does).
    totals: HashMap<String, u64>,
}

impl Bars {
    /// Bars on standard error (hidden when it is not a terminal, or when `hidden`).
    pub fn new(totals: HashMap<String, u64>, hidden: bool) -> Bars {
        let target = if hidden { ProgressDrawTarget::hidden() } else { ProgressDrawTarget::stderr() };
        Bars { multi: MultiProgress::with_draw_target(target), bars: Mutex::new(HashMap::new()), totals }
    }

    fn bar(&self, set: &str) -> Option<ProgressBar> {
        let mut bars = self.bars.lock().ok()?;
        Some(
            bars.entry(set.to_string())
                .or_insert_with(|| {
                    let bar = match self.totals.get(set) {
                        Some(total) => {
                            let b = self.multi.add(ProgressBar::new(*total));
                            b.set_style(
                                ProgressStyle::with_template("  {prefix:<10} [{bar:30}] {pos:>7}/{len:7} rows {msg}")
                                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                                    .progress_chars("=> "),
                            );
                            b
                        }
                        None => {
                            let b = self.multi.add(ProgressBar::new_spinner());
                            b.set_style(
                                ProgressStyle::with_template("  {prefix:<10} {spinner} {pos:>7} rows {msg}")
                                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
                            );
                            b
                        }
                    };
                    bar.set_prefix(set.to_string());
                    bar
                })
                .clone(),
        )
    }

    /// Stop drawing (leaves the finished bars on screen).
    pub fn finish(&self) {
        if let Ok(bars) = self.bars.lock() {
            for b in bars.values() {
                if !b.is_finished() {
                    b.abandon();
                }
            }
        }
    }
}

impl SyncObserver for Bars {
    fn on_event(&self, event: &SyncEvent) {
        match event {
            SyncEvent::Progress(p) => {
                if let Some(b) = self.bar(&p.entity_set) {
                    if let Some(t) = p.total {
                        b.set_length(t);
                    }
                    b.set_position(p.rows);
                    b.set_message(match p.phase {
                        Phase::Metadata => "metadata".to_string(),
                        Phase::InitialPull => format!("full pull, {} pages", p.pages),
                        Phase::DeltaPull => format!("changes, {} pages", p.pages),
                    });
                }
            }
            SyncEvent::InitialSyncComplete { entity_set } => {
                if let Some(b) = self.bar(entity_set) {
                    b.set_length(b.position());
                    b.finish_with_message("done: usable offline");
                }
            }
            SyncEvent::Pushed { done, .. } => {
                if let Some(b) = self.bar("push") {
                    b.set_position(*done);
                    b.set_message("changes sent");
                }
            }
            _ => {}
        }
    }
}
