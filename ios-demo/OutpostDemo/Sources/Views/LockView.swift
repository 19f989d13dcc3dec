// The lock screen: the offline password, or Face ID / Touch ID when enrolled.

import SwiftUI

struct LockView: View {
    @EnvironmentObject private var model: AppModel
    @Environment(\.scenePhase) private var scenePhase
    @State private var password = ""
    @State private var prompted = false

    var body: some View {
        VStack(spacing: 20) {
            Image(systemName: "lock.fill")
                .font(.system(size: 56))
            Text("Outpost is locked")
                .font(.title2)
            SecureField("Offline password", text: $password)
                .textFieldStyle(.roundedBorder)
                .submitLabel(.go)
                .onSubmit(unlock)
            Button(action: unlock) {
                Text("Unlock").frame(maxWidth: .infinity)
            }
            .buttonStyle(.borderedProminent)
            .disabled(password.isEmpty || model.busy != nil)
            if model.biometricUnlockEnrolled {
                Button {
                    Task { await model.unlockWithBiometrics() }
                } label: {
                    Label("Unlock with \(KeychainPlatformKey.biometryName)", systemImage: "faceid")
                }
                .disabled(model.busy != nil)
            }
            if let status = model.vaultStatus {
                if let wait = status.retryAfterS {
                    Text("Too many wrong passwords: wait \(wait) s.").foregroundColor(.red)
                } else if status.attemptsLeft < 5 {
                    Text("\(status.attemptsLeft) attempts left.").foregroundColor(.orange)
                }
            }
        }
        .padding(32)
        .onAppear {
            model.refreshVaultStatus()
            offerBiometrics()
        }
        .onChange(of: scenePhase) { phase in
            if phase == .active {
                offerBiometrics()
            } else if phase == .background {
                prompted = false
            }
        }
    }

    /// Face ID once each time the app comes to the foreground locked (not again after a failure,
    /// and never while in the background, where the lock screen is set up before the snapshot).
    private func offerBiometrics() {
        guard scenePhase == .active, model.biometricUnlockEnrolled, !prompted else { return }
        prompted = true
        Task { await model.unlockWithBiometrics() }
    }

    private func unlock() {
        let typed = password
        password = ""
        Task { await model.unlock(password: typed) }
    }
}
