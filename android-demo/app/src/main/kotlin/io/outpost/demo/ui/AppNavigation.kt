package io.outpost.demo.ui

import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.remember
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.navigation.NavHostController
import androidx.navigation.compose.NavHost
import androidx.navigation.compose.composable
import androidx.navigation.compose.rememberNavController
import io.outpost.demo.MainActivity
import io.outpost.demo.OutpostDemoApp
import kotlinx.coroutines.flow.MutableStateFlow

/** Routes: setup → sign-in → home (records, sync) ⇄ edit / conflicts; lock whenever locked. */
object Routes {
    const val SETUP = "setup"
    const val LOCK = "lock"
    const val SIGN_IN = "signin"
    const val HOME = "home"
    const val CONFLICTS = "conflicts"
    const val EDIT = "edit/{set}/{id}"

    fun edit(entitySet: String, id: String) = "edit/$entitySet/$id"
}

@Composable
fun OutpostNavigation(app: OutpostDemoApp, activity: MainActivity, redirects: MutableStateFlow<String?>) {
    val nav = rememberNavController()
    val home = app.home
    val start = remember {
        when {
            !home.isSetUp() -> Routes.SETUP
            home.client()?.isUnlocked() == true -> Routes.HOME
            else -> Routes.LOCK
        }
    }

    // Locked on leaving the app: only the lock screen remains.
    val locked by app.autoLock.locked.collectAsStateWithLifecycle()
    LaunchedEffect(locked) {
        if (locked && nav.currentDestination?.route != Routes.LOCK) nav.replaceAll(Routes.LOCK)
    }

    // A sign-in redirect arrived (perhaps in a new process): complete it once unlocked.
    val redirect by redirects.collectAsStateWithLifecycle()
    LaunchedEffect(redirect) {
        val route = nav.currentDestination?.route
        if (redirect != null && home.client()?.isUnlocked() == true && route != Routes.SIGN_IN) nav.navigate(Routes.SIGN_IN)
    }

    NavHost(nav, startDestination = start) {
        composable(Routes.SETUP) {
            SetupScreen(app, onDone = { nav.replaceAll(Routes.SIGN_IN) })
        }
        composable(Routes.LOCK) {
            LockScreen(
                app = app,
                onUnlocked = {
                    app.autoLock.unlocked()
                    nav.replaceAll(if (redirects.value != null) Routes.SIGN_IN else Routes.HOME)
                },
                onWiped = {
                    home.forget()
                    nav.replaceAll(Routes.SETUP)
                },
            )
        }
        composable(Routes.SIGN_IN) {
            SignInScreen(app, redirects, onSignedIn = { nav.replaceAll(Routes.HOME) })
        }
        composable(Routes.HOME) {
            HomeScreen(
                app = app,
                activity = activity,
                onEdit = { set, id -> nav.navigate(Routes.edit(set, id)) },
                onConflicts = { nav.navigate(Routes.CONFLICTS) },
                onSignIn = { nav.navigate(Routes.SIGN_IN) },
                onLocked = { nav.replaceAll(Routes.LOCK) },
            )
        }
        composable(Routes.EDIT) { entry ->
            val set = entry.arguments?.getString("set").orEmpty()
            val id = entry.arguments?.getString("id").orEmpty()
            EditScreen(app, set, id, onBack = { nav.popBackStack() })
        }
        composable(Routes.CONFLICTS) {
            ConflictsScreen(app, activity, onBack = { nav.popBackStack() })
        }
    }
}

/** Go to [route] with nothing behind it. */
private fun NavHostController.replaceAll(route: String) {
    navigate(route) {
        popUpTo(graph.id) { inclusive = true }
        launchSingleTop = true
    }
}
