package io.outpost.android

import android.content.Context

/**
 * Process-wide set-up Outpost needs on Android, once, before any network call (e.g. in
 * `Application.onCreate`):
 *
 * - loads `liboutpost_ffi.so` (JNA would load it lazily on the first call anyway), and
 * - initialises rustls-platform-verifier: Outpost's HTTPS (reqwest + rustls) verifies
 *   certificates with Android's own trust manager, which it reaches through JNI with the app's
 *   Context. JNA, which the generated bindings use, provides no `JNIEnv`, so the library exports
 *   one hand-written JNI function for this (`bindings/src/android.rs`).
 *
 * Safe to call more than once and from several threads: the work happens once per process.
 */
object OutpostAndroid {
    private const val LIBRARY = "outpost_ffi"

    @Volatile
    private var initialized = false

    /**
     * @throws UnsatisfiedLinkError if the library is missing for this ABI.
     * @throws IllegalStateException if the TLS verifier could not be initialised (the Java
     *   exception raised by the native side is the cause).
     */
    @JvmStatic
    fun init(context: Context) {
        if (initialized) return
        synchronized(this) {
            if (initialized) return
            System.loadLibrary(LIBRARY)
            val ok = try {
                nativeInit(context.applicationContext ?: context)
            } catch (e: RuntimeException) {
                throw IllegalStateException("Outpost: TLS verifier initialisation failed", e)
            }
            check(ok) { "Outpost: TLS verifier initialisation failed" }
            initialized = true
        }
    }

    /**
     * Implemented in Rust: `Java_io_outpost_android_OutpostAndroid_nativeInit` in
     * bindings/src/android.rs. Calls `rustls_platform_verifier::android::init_with_env`. Returns
     * `true` on success; on failure it returns `false` with a pending `RuntimeException`, which
     * the JVM throws here. No panic crosses into Java.
     */
    @JvmStatic
    private external fun nativeInit(context: Context): Boolean
}
