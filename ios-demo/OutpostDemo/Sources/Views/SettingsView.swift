// Account, biometric unlock, lock, sign out, wipe.

import SwiftUI

struct SettingsView: View {
    @EnvironmentObject private var model: AppModel
    @State private var confirmWipe = false

    var body: some View {
        NavigationView {
            Form {
                if let status = model.status {
                    Section("Account") {
                        LabeledRow("User", status.account?.username ?? "—")
                        LabeledRow("Signed in", status.signedIn ? "yes" : "no")
                        LabeledRow("Changes to send", "\(status.pending)")
                        LabeledRow("Refused changes", "\(status.parked)")
                    }
                }
                Section("Unlock") {
                    if model.biometricUnlockEnrolled {
                        Text("\(KeychainPlatformKey.biometryName) unlock is on.")
                    } else if KeychainPlatformKey.isAvailable {
                        Button("Enable \(KeychainPlatformKey.biometryName) unlock") {
                            Task { await model.enableBiometricUnlock() }
                        }
                    } else {
                        Text("Set up Face ID or Touch ID to unlock without the password.")
                            .foregroundColor(.secondary)
                    }
                    Button("Lock now") { model.lock() }
                }
                Section {
                    Button("Sign out") { Task { await model.signOut() } }
                    Button("Delete the offline vault", role: .destructive) { confirmWipe = true }
                }
            }
            .navigationTitle("Settings")
            .task { await model.refreshStatus() }
            .confirmationDialog("Delete every offline record and unsent change?", isPresented: $confirmWipe,
                                titleVisibility: .visible) {
                Button("Delete", role: .destructive) { Task { await model.wipe() } }
            }
        }
        .navigationViewStyle(.stack)
    }
}
