//! Shrinking a failing operation list: remove chunks (halves, quarters, … single operations),
//! keep a removal when the trial still fails the same way, until nothing more can go or the time
//! is up (delta debugging, simplified).

use std::time::Instant;

/// The smallest sub-list of `0..n` found for which `fails` holds (`fails` is assumed to hold for
/// the whole list), and how many candidates were run.
pub fn shrink(n: usize, mut fails: impl FnMut(&[usize]) -> bool, deadline: Instant) -> (Vec<usize>, u32) {
    let mut cur: Vec<usize> = (0..n).collect();
    let mut runs = 0;
    let mut chunk = (cur.len() / 2).max(1);
    loop {
        let mut progress = false;
        let mut i = 0;
        while i < cur.len() {
            if Instant::now() >= deadline {
                return (cur, runs);
            }
            let end = (i + chunk).min(cur.len());
            let cand: Vec<usize> = cur[..i].iter().chain(&cur[end..]).copied().collect();
            runs += 1;
            if !cand.is_empty() && fails(&cand) {
                cur = cand;
                progress = true;
            } else {
                i += chunk;
            }
        }
        if chunk == 1 {
            if !progress {
                return (cur, runs);
            }
        } else {
            chunk = (chunk / 2).max(1);
        }
    }
}
