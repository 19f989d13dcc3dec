//! Outpost bindings (uniffi layer, issue 7).
