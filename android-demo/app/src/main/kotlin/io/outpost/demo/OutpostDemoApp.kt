package io.outpost.demo

import android.app.Application
import android.content.pm.ApplicationInfo
import android.util.Log
import androidx.lifecycle.DefaultLifecycleObserver
import androidx.lifecycle.LifecycleOwner
import androidx.lifecycle.ProcessLifecycleOwner
import io.outpost.LogLevel
import io.outpost.Logger
import io.outpost.OutpostException
import io.outpost.android.OutpostAndroid
import io.outpost.demo.viewmodels.AutoLock
import io.outpost.demo.viewmodels.FileSettingsStore
import io.outpost.demo.viewmodels.VaultHome
import io.outpost.installLogger
import java.io.File
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.flow.MutableStateFlow

/**
 * Process-wide Outpost duties: TLS initialisation (once, before any network call), logging to
 * Logcat, the one vault of the app, and locking when the app leaves the screen.
 */
class OutpostDemoApp : Application() {
    /** The vault and its settings, both under noBackupFilesDir (never in a backup or a transfer). */
    lateinit var home: VaultHome
        private set

    lateinit var autoLock: AutoLock
        private set

    /** The claims challenge of the last `MfaRequired` / `InteractionRequired`, for the next sign-in. */
    val signInClaims = MutableStateFlow<String?>(null)

    override fun onCreate() {
        super.onCreate()
        // Loads liboutpost_ffi.so and gives rustls-platform-verifier the app's Context (JNI).
        OutpostAndroid.init(this)
        try {
            val debuggable = (applicationInfo.flags and ApplicationInfo.FLAG_DEBUGGABLE) != 0
            installLogger(LogcatLogger, if (debuggable) LogLevel.DEBUG else LogLevel.INFO)
        } catch (e: OutpostException) {
            Log.w(TAG, "logger not installed: ${e.message}")
        }

        home = VaultHome(
            File(noBackupFilesDir, "outpost"),
            FileSettingsStore(File(noBackupFilesDir, "outpost-settings.properties")),
        )
        autoLock = AutoLock({ home.client() }, Dispatchers.Main.immediate)

        // ON_STOP of the whole process (no activity visible): checkpoint the WAL, then lock
        // (database closed, key wiped). ON_START cancels a lock still waiting for the browser.
        ProcessLifecycleOwner.get().lifecycle.addObserver(object : DefaultLifecycleObserver {
            override fun onStart(owner: LifecycleOwner) = autoLock.onStart()
            override fun onStop(owner: LifecycleOwner) = autoLock.onStop()
        })
    }

    /** Outpost's lines are already redacted (no tokens, passwords, keys or record values). */
    private object LogcatLogger : Logger {
        override fun log(level: LogLevel, target: String, message: String) {
            val priority = when (level) {
                LogLevel.ERROR -> Log.ERROR
                LogLevel.WARN -> Log.WARN
                LogLevel.INFO -> Log.INFO
                LogLevel.DEBUG -> Log.DEBUG
                LogLevel.TRACE -> Log.VERBOSE
            }
            Log.println(priority, TAG, if (target.isEmpty()) message else "$target: $message")
        }
    }

    companion object {
        const val TAG = "Outpost"
    }
}
