package io.outpost.demo.viewmodels

import io.outpost.ClientConfig
import io.outpost.OutpostClient
import java.io.File
import java.util.Properties

/** What the setup screen asks for (none of it secret). */
data class AppSettings(
    /** The Dataverse environment, e.g. `https://contoso.crm.dynamics.com`. */
    val orgUrl: String,
    /** The app registration's client id. */
    val clientId: String,
    /** The issuer; `null` discovers the tenant from the org's 401 challenge. */
    val authority: String? = null,
    /** The redirect the identity provider sends the browser to (the app's intent filter). */
    val redirectUri: String = DEFAULT_REDIRECT_URI,
    /** A sync profile as TOML; `null`: Outpost's shipped profile (accounts, contacts, tasks). */
    val profileToml: String? = null,
) {
    fun clientConfig(): ClientConfig = ClientConfig(
        orgUrl = orgUrl,
        clientId = clientId,
        redirectUri = redirectUri,
        authority = authority,
        allowPasswordGrant = false,
        profileToml = profileToml,
    )

    companion object {
        /** Registered for the app and matched by its intent filter. */
        const val DEFAULT_REDIRECT_URI = "outpost://auth"
    }
}

/** Where the settings live between launches. */
interface SettingsStore {
    fun load(): AppSettings?
    fun save(settings: AppSettings)
    fun clear()
}

/**
 * Settings in a properties file. The app keeps it beside the vault under `noBackupFilesDir`, so
 * a backup never restores settings without their vault (or a vault without its settings).
 */
class FileSettingsStore(private val file: File) : SettingsStore {
    override fun load(): AppSettings? {
        if (!file.isFile) return null
        val p = Properties()
        file.inputStream().use { p.load(it) }
        val org = p.getProperty("orgUrl") ?: return null
        val client = p.getProperty("clientId") ?: return null
        return AppSettings(
            orgUrl = org,
            clientId = client,
            authority = p.getProperty("authority"),
            redirectUri = p.getProperty("redirectUri") ?: AppSettings.DEFAULT_REDIRECT_URI,
            profileToml = p.getProperty("profileToml"),
        )
    }

    override fun save(settings: AppSettings) {
        val p = Properties()
        p.setProperty("orgUrl", settings.orgUrl)
        p.setProperty("clientId", settings.clientId)
        settings.authority?.let { p.setProperty("authority", it) }
        p.setProperty("redirectUri", settings.redirectUri)
        settings.profileToml?.let { p.setProperty("profileToml", it) }
        file.parentFile?.mkdirs()
        // Write then rename, so a crash never leaves half a file.
        val tmp = File(file.path + ".tmp")
        tmp.outputStream().use { p.store(it, "Outpost demo settings") }
        if (!tmp.renameTo(file)) {
            file.delete()
            check(tmp.renameTo(file)) { "could not write $file" }
        }
    }

    override fun clear() {
        file.delete()
    }
}

/**
 * The one vault of the app: its directory, its settings and the one [OutpostClient] kept for the
 * app's life (cheap to create, but it owns the unlocked database: keep exactly one).
 */
class VaultHome(val vaultDir: File, private val settingsStore: SettingsStore) {
    @Volatile
    private var current: OutpostClient? = null

    fun settings(): AppSettings? = settingsStore.load()

    /** The client, built from the saved settings; `null` before setup. */
    @Synchronized
    fun client(): OutpostClient? {
        current?.let { return it }
        val s = settingsStore.load() ?: return null
        return OutpostClient(vaultDir.path, s.clientConfig()).also { current = it }
    }

    /** Whether setup is done: settings saved and the vault on disk. */
    fun isSetUp(): Boolean = client()?.vaultExists() == true

    /** A client for settings being set up (not kept until [adopt]). */
    internal fun clientFor(settings: AppSettings): OutpostClient = OutpostClient(vaultDir.path, settings.clientConfig())

    /** Keep the client and settings of a vault just created. */
    @Synchronized
    internal fun adopt(settings: AppSettings, client: OutpostClient) {
        settingsStore.save(settings)
        current = client
    }

    /**
     * Forget the settings and the client (after a wipe), so the app returns to setup. The client
     * is not closed here: screens may still hold it; its cleaner frees it once unreachable.
     */
    @Synchronized
    fun forget() {
        settingsStore.clear()
        current = null
    }
}
