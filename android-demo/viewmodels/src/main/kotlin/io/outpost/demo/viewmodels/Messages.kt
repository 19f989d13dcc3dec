package io.outpost.demo.viewmodels

import io.outpost.OutpostException

/**
 * What the screens show for each error (`docs/bindings.md` says what the app does for each).
 * Outpost's errors never carry passwords, tokens, keys or record values, so these are safe to
 * show and to log. Exhaustive on purpose: a new error case in the bindings fails the build here.
 */
fun OutpostException.userMessage(): String = when (this) {
    is OutpostException.WrongPassword -> when (attemptsLeft) {
        1 -> "Wrong password. 1 attempt left."
        else -> "Wrong password. $attemptsLeft attempts left."
    }
    is OutpostException.LockedOut -> "Too many wrong passwords. Try again in ${waitText(retryAfterS)}."
    is OutpostException.WeakPassword -> "Choose a stronger password: $reason."
    is OutpostException.PasswordRefused ->
        "Too many wrong passwords: the password is disabled. Use biometric unlock, or reset the app and sync again."
    is OutpostException.Wiped -> "The vault was wiped after too many wrong passwords. Set up again and sync."
    is OutpostException.Corrupt -> "The offline data is damaged ($what). Wipe it and sync again."
    is OutpostException.NewerFormat -> "The offline data was written by a newer version of this app. Update the app."
    is OutpostException.PlatformKeyInvalidated ->
        "Biometric unlock was reset (fingerprints or face changed). Unlock with your password and enable it again."
    is OutpostException.PlatformKey -> "Biometric unlock failed: $reason"
    is OutpostException.Locked -> "The vault is locked."
    is OutpostException.NoVault -> "There is no vault on this device yet."
    is OutpostException.VaultExists -> "A vault already exists on this device: unlock it instead."
    is OutpostException.AccountMismatch -> "This device's data belongs to another account or organisation ($field differs)."
    is OutpostException.InvalidArgument -> reason
    is OutpostException.NotFound -> "Not found: $what"
    is OutpostException.Storage -> "Could not read or write the offline data: $reason"
    is OutpostException.MfaRequired -> "Your organisation requires multi-factor sign-in. Sign in again."
    is OutpostException.InteractionRequired -> "Please sign in again."
    is OutpostException.ConsentRequired ->
        if (userConsentPossible) "The app needs your consent. Sign in again and accept."
        else "An administrator must approve this app first."
    is OutpostException.ReauthRequired -> "Your sign-in expired. Sign in again."
    is OutpostException.BadCredentials -> "Wrong username or password."
    is OutpostException.Blocked -> "Sign-in was blocked by your organisation (AADSTS$code)."
    is OutpostException.Configuration -> "The app registration is misconfigured" + (code?.let { " (AADSTS$it)" } ?: "") + "."
    is OutpostException.DeviceCodeDeclined -> "The sign-in was declined."
    is OutpostException.DeviceCodeExpired -> "The code expired. Start again."
    is OutpostException.AuthFailed -> "Sign-in failed" + (details.errorCodes.firstOrNull()?.let { " (AADSTS$it)" } ?: "") + "."
    is OutpostException.UserCancelled -> "Sign-in was cancelled."
    is OutpostException.Network -> "No connection to the server. Your changes are kept; try again later."
    is OutpostException.Throttled -> "The server is busy. Try again in ${waitText(retryAfterS)}."
    is OutpostException.PendingChanges -> "$count local changes have not been sent yet. Sync first."
    is OutpostException.Server -> "The server refused the request (HTTP $status $code)."
    is OutpostException.ChangeTrackingUnavailable -> "Ask your administrator to turn on change tracking for $table."
    is OutpostException.SyncInProgress -> "A sync is already running."
    is OutpostException.Cancelled -> "Cancelled."
    is OutpostException.Internal -> "Something went wrong inside the app: $reason"
}

/** Whether the user has to sign in (again) before syncing: the claims to pass, if any, are in [signInClaims]. */
fun OutpostException.needsSignIn(): Boolean = when (this) {
    is OutpostException.MfaRequired,
    is OutpostException.InteractionRequired,
    is OutpostException.ReauthRequired,
    is OutpostException.ConsentRequired -> true
    else -> false
}

/** The claims challenge to pass to the next interactive sign-in. */
fun OutpostException.signInClaims(): String? = when (this) {
    is OutpostException.MfaRequired -> claims
    is OutpostException.InteractionRequired -> claims
    else -> null
}

internal fun waitText(seconds: Long): String = when {
    seconds < 90 -> "$seconds s"
    seconds < 90 * 60 -> "${(seconds + 59) / 60} min"
    else -> "${(seconds + 3599) / 3600} h"
}
