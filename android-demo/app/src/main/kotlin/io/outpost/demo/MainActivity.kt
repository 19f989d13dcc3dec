package io.outpost.demo

import android.content.Intent
import android.os.Bundle
import android.view.WindowManager
import androidx.activity.compose.setContent
import androidx.activity.enableEdgeToEdge
import androidx.fragment.app.FragmentActivity
import io.outpost.demo.ui.OutpostNavigation
import io.outpost.demo.ui.OutpostTheme
import java.lang.ref.WeakReference
import kotlinx.coroutines.flow.MutableStateFlow

/**
 * The one activity. A FragmentActivity because BiometricPrompt needs one. It receives the sign-in
 * redirect (`outpost://auth?…`, singleTask + intent filter) both on a cold start (the process was
 * killed while Custom Tabs was open) and in onNewIntent.
 */
class MainActivity : FragmentActivity() {
    /** The last sign-in redirect received, until the sign-in screen completes it. */
    val redirects = MutableStateFlow<String?>(null)

    override fun onCreate(savedInstanceState: Bundle?) {
        super.onCreate(savedInstanceState)
        // Offline customer data: keep it out of screenshots and the recent-apps thumbnail.
        window.setFlags(WindowManager.LayoutParams.FLAG_SECURE, WindowManager.LayoutParams.FLAG_SECURE)
        enableEdgeToEdge()
        resumed = WeakReference(this)
        if (savedInstanceState == null) takeRedirect(intent)
        val app = application as OutpostDemoApp
        setContent {
            OutpostTheme {
                OutpostNavigation(app, this, redirects)
            }
        }
    }

    override fun onNewIntent(intent: Intent) {
        super.onNewIntent(intent)
        setIntent(intent)
        takeRedirect(intent)
    }

    override fun onDestroy() {
        if (resumed?.get() === this) resumed = null
        super.onDestroy()
    }

    private fun takeRedirect(intent: Intent) {
        val data = intent.data ?: return
        if (data.scheme == "outpost" && data.host == "auth") {
            redirects.value = data.toString()
            // Consumed: a configuration change must not deliver it twice.
            intent.data = null
        }
    }

    companion object {
        /** The activity that can host the biometric prompt. */
        @Volatile
        private var resumed: WeakReference<MainActivity>? = null

        fun current(): MainActivity? = resumed?.get()
    }
}
