//! `cargo run -p uniffi-bindgen -- generate --library target/debug/liboutpost_ffi.so --language kotlin …`

fn main() {
    uniffi::uniffi_bindgen_main()
}
