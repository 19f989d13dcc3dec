//! Freed memory holds no key material Outpost's own code handled (issue 16, defect 4): a spy
//! allocator looks at every block Rust code frees, during a create, an unlock, a password change
//! and a data-key rotation, for
//! - Argon2's working memory (the block of exactly `m_kib` KiB) that is not all zeros: argon2's
//!   own `hash_password_into` freed it unwiped, and its last blocks recompute the key;
//! - a SQLCipher key literal, `x'` + 96 hex digits + `'`: `format!` reallocations and
//!   rusqlite's `CString` copy of `PRAGMA key` left it behind.
//!
//! SQLCipher's own copies live in C `malloc` memory this allocator never sees
//! (`docs/security.md` says so).

#![allow(unsafe_code)] // a global allocator is unsafe by definition; test code only
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use common::*;
use outpost_core::{OpenOptions, Vault};

struct Spy;

static SCAN: AtomicBool = AtomicBool::new(false);
/// The size of Argon2's working memory to watch for (FLOOR: 19,456 KiB).
const ARGON_BYTES: usize = 19_456 * 1024;
static ARGON_FREED: AtomicUsize = AtomicUsize::new(0);
static ARGON_DIRTY: AtomicUsize = AtomicUsize::new(0);
static KEY_LITERALS: AtomicUsize = AtomicUsize::new(0);

fn has_key_literal(bytes: &[u8]) -> bool {
    // x' + 96 hex + '
    if bytes.len() < 99 {
        return false;
    }
    let mut i = 0;
    while i + 99 <= bytes.len() {
        if bytes[i] == b'x'
            && bytes[i + 1] == b'\''
            && bytes[i + 98] == b'\''
            && bytes[i + 2..i + 98].iter().all(u8::is_ascii_hexdigit)
        {
            return true;
        }
        i += 1;
    }
    false
}

unsafe impl GlobalAlloc for Spy {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if SCAN.load(Ordering::Relaxed) {
            // SAFETY: `ptr` is a live block of `layout.size()` bytes until System.dealloc below.
            let bytes = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            if layout.size() == ARGON_BYTES {
                ARGON_FREED.fetch_add(1, Ordering::Relaxed);
                if bytes.iter().any(|b| *b != 0) {
                    ARGON_DIRTY.fetch_add(1, Ordering::Relaxed);
                }
            } else if has_key_literal(bytes) {
                KEY_LITERALS.fetch_add(1, Ordering::Relaxed);
            }
        }
        unsafe { System.dealloc(ptr, layout) }
    }
    // `realloc` is the trait's default: alloc + copy + dealloc through this allocator, so the old
    // block of a growing buffer is scanned too.
}

#[global_allocator]
static GLOBAL: Spy = Spy;

#[test]
fn no_kdf_memory_or_key_literal_is_freed_unwiped() {
    let dir = tempfile::tempdir().unwrap();
    SCAN.store(true, Ordering::SeqCst);
    // Positive control: a literal freed unwiped is found.
    let leaked = format!("PRAGMA key = \"x'{}'\";", "ab".repeat(48));
    drop(std::hint::black_box(leaked));
    assert_eq!(KEY_LITERALS.swap(0, Ordering::SeqCst), 1, "the spy must see an unwiped literal");
    let mut vault = create(dir.path());
    vault.change_password(PASSWORD, b"another password").unwrap();
    vault.rotate_data_key(b"another password", None).unwrap();
    vault.lock().unwrap();
    let vault = Vault::unlock(dir.path(), b"another password", &OpenOptions::default()).unwrap();
    vault.lock().unwrap();
    SCAN.store(false, Ordering::SeqCst);
    let (freed, dirty, literals) =
        (ARGON_FREED.load(Ordering::SeqCst), ARGON_DIRTY.load(Ordering::SeqCst), KEY_LITERALS.load(Ordering::SeqCst));
    // create 1, change 2, rotate 1, unlock 1 derivation.
    assert!(freed >= 5, "the spy saw {freed} Argon2 work areas (is the size right?)");
    assert_eq!(dirty, 0, "{dirty} of {freed} Argon2 work areas were freed unwiped");
    assert_eq!(literals, 0, "{literals} freed blocks held a SQLCipher key literal");
}
