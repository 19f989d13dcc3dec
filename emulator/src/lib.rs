//! Outpost local emulator (issue 3).
