//! The library's one hand-written JNI export: Android's TLS set-up.
//!
//! Outpost's HTTPS (reqwest with rustls) verifies server certificates with
//! `rustls-platform-verifier`, which on Android asks the platform's trust manager through JNI. It
//! needs the JVM and the app's `Context` once per process (`init_with_env`). uniffi's Kotlin
//! bindings call the library through JNA, which hands Rust no `JNIEnv`, so the Android library
//! (`bindings/android`, `io.outpost.android.OutpostAndroid.init(context)`) calls this function
//! once, right after `System.loadLibrary("outpost_ffi")`.
//!
//! Only compiled for Android (`target_os = "android"`); built by `bindings/scripts/build-android.sh`.
#![cfg(target_os = "android")]

use jni::errors::ThrowRuntimeExAndDefault;
use jni::objects::{JClass, JObject};
use jni::sys::jboolean;
use jni::EnvUnowned;

/// `private static native boolean nativeInit(android.content.Context context)` of
/// `io.outpost.android.OutpostAndroid` (a Kotlin `object`, `@JvmStatic external fun`).
///
/// Gives rustls-platform-verifier the JVM, the application `Context` and its class loader, once
/// per process (later calls are no-ops: the verifier keeps the first). Returns `true` on success.
/// On failure it returns `false` with a pending Java exception: the one the JVM raised (e.g. from
/// `getClassLoader`), else a `RuntimeException("Rust error: …")`.
///
/// # Panics
/// Never across the boundary: `EnvUnowned::with_env` catches any panic in the closure, and
/// `ThrowRuntimeExAndDefault` turns it into a `RuntimeException("Rust panic: …")` and `false`
/// (resolving is itself guarded against panics).
//
// `no_mangle` is an unsafe attribute (it could clash with another symbol of the same name), which
// the workspace's `unsafe_code = "deny"` refuses. It is required here: the JVM finds a JNI function
// by this exact symbol (`Java_<class with _ for .>_<method>`). Nothing else in this module is
// unsafe: `EnvUnowned` and `JObject` are the JNI arguments as the JVM passes them.
#[allow(unsafe_code)]
#[allow(non_snake_case)] // the JNI symbol name
#[unsafe(no_mangle)]
pub extern "system" fn Java_io_outpost_android_OutpostAndroid_nativeInit<'caller>(
    mut env: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    context: JObject<'caller>,
) -> jboolean {
    env.with_env(|env| -> jni::errors::Result<bool> {
        rustls_platform_verifier::android::init_with_env(env, context)?;
        Ok(true)
    })
    .resolve::<ThrowRuntimeExAndDefault>()
}
