// First launch: where to sign in, and the offline password that encrypts the vault.

import SwiftUI

struct SetupView: View {
    @EnvironmentObject private var model: AppModel
    @State private var password = ""
    @State private var confirmation = ""

    var body: some View {
        NavigationView {
            Form {
                Section {
                    TextField("Organization URL", text: $model.settings.orgUrl)
                        .keyboardType(.URL)
                        .textInputAutocapitalization(.never)
                        .disableAutocorrection(true)
                    TextField("Client id", text: $model.settings.clientId)
                        .textInputAutocapitalization(.never)
                        .disableAutocorrection(true)
                    TextField("Authority (optional)", text: $model.settings.authority)
                        .keyboardType(.URL)
                        .textInputAutocapitalization(.never)
                        .disableAutocorrection(true)
                } header: {
                    Text("Dataverse")
                } footer: {
                    Text("The defaults are the emulator's: run `outpost-emulator --public-url http://127.0.0.1:5155` on the Mac.")
                }
                Section {
                    SecureField("Offline password", text: $password)
                    SecureField("Repeat it", text: $confirmation)
                } header: {
                    Text("Offline password")
                } footer: {
                    Text("Encrypts the data on this device. It never leaves the device and cannot be recovered: a forgotten password means syncing again.")
                }
                Section {
                    Button("Create the offline vault") {
                        let chosen = password
                        password = ""
                        confirmation = ""
                        Task { await model.createVault(password: chosen) }
                    }
                    .disabled(password.isEmpty || password != confirmation || model.busy != nil)
                }
            }
            .navigationTitle("Outpost")
        }
        .navigationViewStyle(.stack)
    }
}
