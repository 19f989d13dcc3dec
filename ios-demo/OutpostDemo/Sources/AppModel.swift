// The app's state around one OutpostClient: which screen, the running sync, errors to show.
// Everything Outpost does is async and runs off the main thread in Rust; this model awaits it
// on the main actor and publishes the results.

import Foundation
import Outpost
import SwiftUI
import UIKit

/// What the user typed at setup (no secrets), kept in UserDefaults.
struct ConnectionSettings: Codable, Equatable {
    /// The emulator on the Mac (the iOS simulator reaches the host's 127.0.0.1).
    var orgUrl = "http://127.0.0.1:5155"
    /// The emulator's default app registration.
    var clientId = "4c7f0a9e-5b1d-4e2a-8c3f-9d6b2e1a7f05"
    /// Empty: discovered from the org's 401 challenge.
    var authority = ""

    /// Registered for the emulator's default app; Info.plist declares the scheme.
    static let redirectUri = "outpost://auth"
    static let callbackScheme = "outpost"
    private static let key = "outpost.demo.settings"

    var clientConfig: ClientConfig {
        ClientConfig(
            orgUrl: orgUrl.trimmingCharacters(in: .whitespaces),
            clientId: clientId.trimmingCharacters(in: .whitespaces),
            redirectUri: ConnectionSettings.redirectUri,
            authority: authority.isEmpty ? nil : authority,
            allowPasswordGrant: false,
            profileToml: nil
        )
    }

    static func load() -> ConnectionSettings? {
        guard let data = UserDefaults.standard.data(forKey: key) else { return nil }
        return try? JSONDecoder().decode(ConnectionSettings.self, from: data)
    }

    func save() {
        if let data = try? JSONEncoder().encode(self) {
            UserDefaults.standard.set(data, forKey: ConnectionSettings.key)
        }
    }
}

/// Progress of one table in the running sync.
struct TableProgress: Equatable {
    var phase: Phase
    var rows: Int64
    var total: Int64?
}

@MainActor
final class AppModel: ObservableObject {
    enum Screen: Equatable {
        case setup, signIn, locked, main
    }

    @Published private(set) var screen: Screen = .setup
    @Published var settings: ConnectionSettings
    /// What is running, for a spinner (nil: idle).
    @Published private(set) var busy: String?
    /// The last error or notice, shown in an alert.
    @Published var message: String?
    /// Per table, while a sync runs.
    @Published private(set) var progress: [String: TableProgress] = [:]
    @Published private(set) var pushed: Int64 = 0
    @Published private(set) var syncing = false
    @Published private(set) var lastSummary: SyncSummary?
    @Published private(set) var status: Status?
    @Published private(set) var vaultStatus: VaultStatus?
    /// Bumped when records changed (a sync page, an edit): lists reload.
    @Published private(set) var revision = 0

    private(set) var client: OutpostClient?
    private var syncRun: SyncRun?
    /// A sign-in redirect that arrived while the vault was locked (completed after unlock).
    private var pendingRedirect: URL?
    private let web = WebAuthentication()
    let platformKey = KeychainPlatformKey()

    init() {
        settings = ConnectionSettings.load() ?? ConnectionSettings()
        do {
            let url = try VaultStorage.vaultURL()
            let client = try OutpostClient(path: url.path, config: settings.clientConfig)
            if client.vaultExists() {
                self.client = client
                screen = .locked
                refreshVaultStatus()
            }
        } catch {
            message = AppModel.describe(error)
        }
    }

    var biometricUnlockEnrolled: Bool { vaultStatus?.hasPlatformSlot ?? false }

    // MARK: - Setup

    /// Create the vault with the offline password (Argon2 parameters calibrated on this device).
    func createVault(password: String) async {
        guard !password.isEmpty else {
            message = "Choose an offline password."
            return
        }
        await run("Creating the offline vault…") {
            let url = try VaultStorage.vaultURL()
            let client = try OutpostClient(path: url.path, config: self.settings.clientConfig)
            // About half a second on this device, at most 64 MiB.
            let calibration = try await calibrate(targetMs: 500, maxMemoryKib: 64 * 1024)
            var bytes = Data(password.utf8)
            try await client.createVault(wipingPassword: &bytes, options: VaultOptions(kdf: calibration.params))
            VaultStorage.protectContents(of: url)
            self.settings.save()
            self.client = client
            self.screen = .signIn
            self.refreshVaultStatus()
        }
    }

    // MARK: - Sign-in (ASWebAuthenticationSession, redirect outpost://auth)

    func signIn() async {
        guard let client else { return }
        await run("Signing in…") {
            let request = try await client.beginSignIn(options: SignInOptions())
            guard let url = URL(string: request.url) else {
                throw OutpostError.InvalidArgument(reason: "the sign-in URL is not a URL")
            }
            let redirect: URL
            do {
                redirect = try await self.web.authenticate(url: url, callbackScheme: ConnectionSettings.callbackScheme)
            } catch WebAuthentication.Failure.cancelled {
                self.message = "Sign-in cancelled."
                return
            }
            _ = try await client.completeSignIn(redirectUrl: redirect.absoluteString)
            self.screen = .main
            await self.refreshStatus()
            self.sync()
        }
    }

    /// A redirect delivered through the URL scheme (the browser outlived the app).
    func completeSignIn(redirect: URL) async {
        guard let client, redirect.scheme == ConnectionSettings.callbackScheme else { return }
        guard client.isUnlocked() else {
            pendingRedirect = redirect
            return
        }
        await run("Signing in…") {
            _ = try await client.completeSignIn(redirectUrl: redirect.absoluteString)
            self.screen = .main
            await self.refreshStatus()
        }
    }

    // MARK: - Lock and unlock

    func unlock(password: String) async {
        guard let client else { return }
        await run("Unlocking…") {
            var bytes = Data(password.utf8)
            try await client.unlock(wipingPassword: &bytes)
            await self.unlocked()
        }
        refreshVaultStatus()
    }

    func unlockWithBiometrics() async {
        guard let client else { return }
        await run("Unlocking…") {
            try await client.unlockWithPlatform(provider: self.platformKey)
            await self.unlocked()
        }
        refreshVaultStatus()
    }

    /// Enrol Face ID / Touch ID: a second key slot, wrapped by the Keychain key.
    func enableBiometricUnlock() async {
        guard let client else { return }
        await run("Enabling \(KeychainPlatformKey.biometryName)…") {
            _ = try await client.addPlatformSlot(provider: self.platformKey)
            self.refreshVaultStatus()
            self.message = "\(KeychainPlatformKey.biometryName) unlock is on."
        }
    }

    private func unlocked() async {
        if let url = try? VaultStorage.vaultURL() {
            VaultStorage.protectContents(of: url)
        }
        let status = try? await client?.status()
        self.status = status
        screen = (status?.signedIn ?? false) ? .main : .signIn
        revision += 1
        if let redirect = pendingRedirect {
            pendingRedirect = nil
            await completeSignIn(redirect: redirect)
        }
    }

    func lock() {
        syncRun?.cancel()
        client?.lock()
        screen = client?.vaultExists() == true ? .locked : .setup
        refreshVaultStatus()
    }

    /// The app goes to the background: checkpoint the WAL (the database file is then complete on
    /// its own), then lock, which wipes the key from memory. The lock screen is set at once, so the
    /// app switcher's snapshot shows no records.
    func enterBackground() {
        guard let client, client.isUnlocked() else { return }
        let background = BackgroundTask("outpost-checkpoint")
        syncRun?.cancel()
        screen = .locked
        Task {
            try? await client.checkpoint()
            client.lock()
            self.refreshVaultStatus()
            background.end()
        }
    }

    func becomeActive() {
        refreshVaultStatus()
    }

    // MARK: - Sync

    func sync() {
        guard let client, !syncing else { return }
        let run = client.startSync()
        syncRun = run
        syncing = true
        progress = [:]
        pushed = 0
        Task {
            for await event in run.events {
                self.apply(event)
            }
            do {
                self.lastSummary = try await run.summary
                if let error = self.lastSummary?.pushError {
                    self.message = "Push stopped: \(AppModel.describe(error))"
                }
            } catch is CancellationError {
                self.message = "Sync cancelled; what arrived so far is kept."
            } catch {
                self.message = AppModel.describe(error)
            }
            self.syncing = false
            self.syncRun = nil
            self.revision += 1
            await self.refreshStatus()
        }
    }

    func cancelSync() {
        syncRun?.cancel()
    }

    private func apply(_ event: SyncEvent) {
        switch event {
        case let .progress(entitySet: entitySet, phase: phase, rows: rows, total: total, pages: _):
            progress[entitySet] = TableProgress(phase: phase, rows: rows, total: total)
        case let .initialSyncComplete(entitySet: entitySet):
            if var p = progress[entitySet] {
                p.total = p.rows
                progress[entitySet] = p
            }
        case .changed:
            revision += 1
        case let .pushed(done: done, pending: _):
            pushed = done
        }
    }

    /// 0...1 over the tables whose totals are known; nil when none is.
    var overallProgress: Double? {
        let known = progress.values.compactMap { p -> (Int64, Int64)? in p.total.map { (p.rows, $0) } }
        let total = known.map(\.1).reduce(0, +)
        guard total > 0 else { return nil }
        return min(1, Double(known.map(\.0).reduce(0, +)) / Double(total))
    }

    // MARK: - Records, conflicts

    func page(_ entitySet: String, orderBy: String, after: String?) async throws -> Page {
        guard let client else { throw OutpostError.Locked }
        return try await client.query(
            entitySet: entitySet,
            query: Query(orderBy: [OrderBy(column: orderBy)], limit: 50, after: after)
        )
    }

    func search(_ entitySet: String, text: String) async throws -> [Record] {
        guard let client else { throw OutpostError.Locked }
        // A trailing `*` makes the last term a prefix: results while typing.
        return try await client.search(entitySet: entitySet, text: text + "*", limit: 50)
    }

    func save(_ entitySet: String, id: String?, values: [String: Value]) async -> Bool {
        guard let client, !values.isEmpty else { return true }
        var ok = false
        await run("Saving…") {
            if let id {
                try await client.update(entitySet: entitySet, id: id, values: values)
            } else {
                _ = try await client.create(entitySet: entitySet, values: values)
            }
            ok = true
            self.revision += 1
            await self.refreshStatus()
        }
        return ok
    }

    func delete(_ entitySet: String, id: String) async {
        guard let client else { return }
        await run("Deleting…") {
            try await client.delete(entitySet: entitySet, id: id)
            self.revision += 1
            await self.refreshStatus()
        }
    }

    func conflicts() async -> [Conflict] {
        guard let client else { return [] }
        do {
            return try await client.conflicts()
        } catch {
            message = AppModel.describe(error)
            return []
        }
    }

    func resolve(_ conflict: Conflict, keepMine: Bool) async {
        guard let client else { return }
        await run("Resolving…") {
            try await client.resolveConflict(id: conflict.id, resolution: keepMine ? .takeLocal : .takeServer)
            self.revision += 1
            await self.refreshStatus()
        }
    }

    // MARK: - Account

    func signOut() async {
        guard let client else { return }
        await run("Signing out…") {
            do {
                try await client.signOut(force: false)
            } catch let OutpostError.PendingChanges(count: count) {
                self.message = "\(count) local changes have not been sent: sync first."
                return
            }
            self.screen = .signIn
            await self.refreshStatus()
        }
    }

    /// Delete the vault and the Keychain key: back to setup.
    func wipe() async {
        guard let client else { return }
        syncRun?.cancel()
        await run("Deleting the vault…") {
            try await client.wipe()
            self.platformKey.deleteKey()
            self.client = nil
            self.status = nil
            self.vaultStatus = nil
            self.screen = .setup
        }
    }

    func refreshStatus() async {
        guard let client, client.isUnlocked() else { return }
        status = try? await client.status()
    }

    func refreshVaultStatus() {
        vaultStatus = try? client?.vaultStatus()
    }

    // MARK: - Helpers

    /// Run `work` with a spinner; its error becomes the message.
    private func run(_ what: String, _ work: () async throws -> Void) async {
        busy = what
        defer { busy = nil }
        do {
            try await work()
        } catch OutpostError.Wiped {
            // The lockout policy deleted the vault: its Keychain key unlocks nothing any more
            // (issue 16, defect 8). Back to setup, as after a wipe the user asked for.
            platformKey.deleteKey()
            client = nil
            status = nil
            vaultStatus = nil
            screen = .setup
            message = AppModel.describe(OutpostError.Wiped)
        } catch {
            message = AppModel.describe(error)
        }
    }

    /// What to tell the user (never record contents or secrets: Outpost's errors carry none).
    nonisolated static func describe(_ error: Error) -> String {
        guard let e = error as? OutpostError else {
            return error.localizedDescription
        }
        switch e {
        case let .WrongPassword(attemptsLeft: left):
            return "Wrong password: \(left) attempts left."
        case let .LockedOut(retryAfterS: seconds):
            return "Too many wrong passwords: try again in \(seconds) s."
        case let .WeakPassword(reason: reason):
            return "Choose a stronger password: \(reason)."
        case .PasswordRefused:
            return "Too many wrong passwords: the password is disabled. Use \(KeychainPlatformKey.biometryName), or reset the app and sync again."
        case .Wiped:
            return "The vault was deleted after too many wrong passwords."
        case .PlatformKeyInvalidated:
            return "\(KeychainPlatformKey.biometryName) changed since unlock was enabled: unlock with the password, then enable it again."
        case let .PlatformKey(reason: reason):
            return "\(KeychainPlatformKey.biometryName) did not unlock: \(reason)"
        case .Locked:
            return "The vault is locked."
        case .UserCancelled:
            return "Sign-in cancelled."
        case .MfaRequired, .InteractionRequired, .ReauthRequired:
            return "Please sign in again."
        case let .ConsentRequired(adminConsentUrl: url, userConsentPossible: _, details: _):
            return "An administrator must approve this app" + (url.map { ": \($0)" } ?? ".")
        case let .Network(reason: reason):
            return "Offline or unreachable: \(reason)"
        case let .Throttled(retryAfterS: seconds):
            return "The server is busy: retry in \(seconds) s."
        case .SyncInProgress:
            return "A sync is already running."
        case .Cancelled:
            return "Cancelled."
        default:
            return e.localizedDescription
        }
    }
}

/// `beginBackgroundTask` for the checkpoint when the app leaves the foreground.
@MainActor
final class BackgroundTask {
    private var id: UIBackgroundTaskIdentifier = .invalid

    init(_ name: String) {
        id = UIApplication.shared.beginBackgroundTask(withName: name) { [weak self] in
            self?.end()
        }
    }

    func end() {
        guard id != .invalid else { return }
        UIApplication.shared.endBackgroundTask(id)
        id = .invalid
    }
}
