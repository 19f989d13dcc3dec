// Where the vault lives and how iOS treats its files.
//
// - `Application Support/Outpost/vault`: app data that is not user documents and is not purged
//   (Caches could be emptied by the system, which would lose unsent edits).
// - Excluded from iCloud/iTunes backup: the vault is a cache of server data plus an outbox,
//   encrypted with a key derived from the offline password; a restored copy on another device
//   could never be unlocked by the platform key there, and backups would hold the org's data.
// - Data Protection class `completeUntilFirstUserAuthentication`, not `complete`: with
//   `complete`, iOS makes the files unreadable about ten seconds after the device locks, so a
//   sync still running then, or one started by a background task (BGAppRefreshTask) while the
//   phone is locked in a pocket, would fail with I/O errors half-way. The data stays encrypted
//   at rest by SQLCipher with the vault's own key, which exists only in memory while unlocked.
//   New files (SQLite's -wal and -shm) inherit the directory's class.

import Foundation

enum VaultStorage {
    static let protection = FileProtectionType.completeUntilFirstUserAuthentication

    /// The vault's directory (created by `createVault`); its parent exists, excluded from backup
    /// and with the protection class set.
    static func vaultURL() throws -> URL {
        let fm = FileManager.default
        let support = try fm.url(for: .applicationSupportDirectory, in: .userDomainMask, appropriateFor: nil, create: true)
        var parent = support.appendingPathComponent("Outpost", isDirectory: true)
        try fm.createDirectory(at: parent, withIntermediateDirectories: true, attributes: [.protectionKey: protection])
        try fm.setAttributes([.protectionKey: protection], ofItemAtPath: parent.path)
        var values = URLResourceValues()
        values.isExcludedFromBackup = true
        try parent.setResourceValues(values)
        return parent.appendingPathComponent("vault", isDirectory: true)
    }

    /// Set the class on everything in `dir` (after create and unlock; files made before the
    /// directory had its class, e.g. by an older version of the app, get it too).
    static func protectContents(of dir: URL) {
        let fm = FileManager.default
        try? fm.setAttributes([.protectionKey: protection], ofItemAtPath: dir.path)
        guard let items = fm.enumerator(at: dir, includingPropertiesForKeys: nil) else { return }
        for case let item as URL in items {
            try? fm.setAttributes([.protectionKey: protection], ofItemAtPath: item.path)
        }
    }
}
