// Outpost's platform slot on iOS: biometric unlock without the password.
//
// Outpost hands the vault's data key to `wrap` once (when the user enables Face ID / Touch ID) and
// stores the returned blob in its keyslot file; `unwrap` gets the blob back at unlock. Here the
// blob is AES-GCM under a random 256-bit key kept in the Keychain with an access control of
// `.biometryCurrentSet`: the key can be read only after a successful Face ID / Touch ID check with
// the fingers or face enrolled *now*. Enrolling another finger or face, or removing them all,
// makes iOS invalidate the item for good: `unwrap` then throws `PlatformKeyError.Invalidated`
// and the app asks for the password and offers to enable biometrics again.
//
// The item is `ThisDeviceOnly` (never in backups or iCloud Keychain) and readable only while the
// device is unlocked. A Secure Enclave key (SecKeyCreateRandomKey with
// kSecAttrTokenIDSecureEnclave, ECIES) would keep the key out of the app's memory entirely; the
// symmetric key keeps this demo short, and the data key it protects is in the app's memory after
// unlock anyway.

import CryptoKit
import Foundation
import LocalAuthentication
import Outpost
import Security

final class KeychainPlatformKey: PlatformKeyProvider {
    private static let version: UInt8 = 1
    private static let associatedData = Data("outpost-demo platform slot v1".utf8)

    private let service: String
    private let account: String
    private let reason: String

    init(service: String = "io.outpost.demo.platform-key", account: String = "vault",
         reason: String = "Unlock your offline data") {
        self.service = service
        self.account = account
        self.reason = reason
    }

    /// "Face ID" or "Touch ID" (for labels).
    static var biometryName: String {
        let context = LAContext()
        _ = context.canEvaluatePolicy(.deviceOwnerAuthenticationWithBiometrics, error: nil)
        return context.biometryType == .touchID ? "Touch ID" : "Face ID"
    }

    /// Whether biometrics are set up on this device (else enabling the slot would fail).
    static var isAvailable: Bool {
        LAContext().canEvaluatePolicy(.deviceOwnerAuthenticationWithBiometrics, error: nil)
    }

    // MARK: - PlatformKeyProvider

    /// A new Keychain key for every enrolment (enabling again replaces the old key, and with it
    /// every blob made by it), then the data key sealed under it. No prompt: adding an item with
    /// an access control needs no authentication.
    ///
    /// The `dataKey` bytes arrive in a `Data` the generated code made; they cannot be wiped from
    /// here without writing through an immutable buffer, so they are left to ARC.
    func wrap(dataKey: Data) async throws -> Data {
        let key = SymmetricKey(size: .bits256)
        try store(key)
        do {
            let sealed = try AES.GCM.seal(dataKey, using: key, authenticating: Self.associatedData)
            guard let combined = sealed.combined else {
                throw PlatformKeyError.Failed(reason: "AES-GCM gave no combined box")
            }
            return Data([Self.version]) + combined
        } catch let error as PlatformKeyError {
            throw error
        } catch {
            throw PlatformKeyError.Failed(reason: "could not seal the data key (\(type(of: error)))")
        }
    }

    /// Face ID / Touch ID, then the Keychain key (through the same authenticated context: one
    /// prompt), then the data key.
    func unwrap(blob: Data) async throws -> Data {
        guard blob.count > 1, blob.first == Self.version else {
            throw PlatformKeyError.Failed(reason: "not a blob of this app")
        }
        let context = LAContext()
        do {
            _ = try await context.evaluatePolicy(.deviceOwnerAuthenticationWithBiometrics, localizedReason: reason)
        } catch let error as LAError {
            switch error.code {
            case .biometryNotEnrolled:
                // Nothing is enrolled any more: the `.biometryCurrentSet` item went with it.
                throw PlatformKeyError.Invalidated
            case .userCancel, .appCancel, .systemCancel, .userFallback:
                throw PlatformKeyError.Failed(reason: "cancelled")
            case .biometryLockout:
                throw PlatformKeyError.Failed(reason: "biometrics are locked: unlock the device with its passcode first")
            default:
                throw PlatformKeyError.Failed(reason: "biometric check failed (LAError \(error.code.rawValue))")
            }
        } catch {
            throw PlatformKeyError.Failed(reason: "biometric check failed")
        }

        var query = baseQuery
        query[kSecReturnData as String] = true
        query[kSecMatchLimit as String] = kSecMatchLimitOne
        query[kSecUseAuthenticationContext as String] = context
        var item: CFTypeRef?
        let status = SecItemCopyMatching(query as CFDictionary, &item)
        switch status {
        case errSecSuccess:
            break
        case errSecItemNotFound:
            // Deleted, or invalidated by a change of the enrolled biometrics.
            throw PlatformKeyError.Invalidated
        case errSecUserCanceled:
            throw PlatformKeyError.Failed(reason: "cancelled")
        default:
            throw PlatformKeyError.Failed(reason: "Keychain read failed (OSStatus \(status))")
        }
        guard var keyBytes = item as? Data else {
            throw PlatformKeyError.Failed(reason: "Keychain returned no key")
        }
        defer { keyBytes.resetBytes(in: 0..<keyBytes.count) }
        let key = SymmetricKey(data: keyBytes)
        do {
            let box = try AES.GCM.SealedBox(combined: blob.dropFirst())
            return try AES.GCM.open(box, using: key, authenticating: Self.associatedData)
        } catch {
            // Another key than the one that sealed the blob (the slot outlived its key).
            throw PlatformKeyError.Invalidated
        }
    }

    /// Remove the Keychain key (when the vault is wiped).
    func deleteKey() {
        _ = SecItemDelete(baseQuery as CFDictionary)
    }

    // MARK: - Keychain

    private var baseQuery: [String: Any] {
        [
            kSecClass as String: kSecClassGenericPassword,
            kSecAttrService as String: service,
            kSecAttrAccount as String: account,
        ]
    }

    private func store(_ key: SymmetricKey) throws {
        var error: Unmanaged<CFError>?
        guard let access = SecAccessControlCreateWithFlags(
            nil, kSecAttrAccessibleWhenUnlockedThisDeviceOnly, .biometryCurrentSet, &error
        ) else {
            let reason = error.map { CFErrorCopyDescription($0.takeRetainedValue()) as String } ?? "unknown"
            throw PlatformKeyError.Failed(reason: "no access control: \(reason)")
        }
        _ = SecItemDelete(baseQuery as CFDictionary)
        var item = baseQuery
        item[kSecAttrAccessControl as String] = access
        item[kSecValueData as String] = key.withUnsafeBytes { Data($0) }
        let status = SecItemAdd(item as CFDictionary, nil)
        guard status == errSecSuccess else {
            throw PlatformKeyError.Failed(reason: "Keychain add failed (OSStatus \(status))")
        }
    }
}
