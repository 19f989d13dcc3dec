// Sign-in in ASWebAuthenticationSession (redirect outpost://auth), with MFA handled by the pages.

import SwiftUI

struct SignInView: View {
    @EnvironmentObject private var model: AppModel

    var body: some View {
        VStack(spacing: 20) {
            Image(systemName: "person.badge.key")
                .font(.system(size: 56))
            Text("Sign in to \(model.settings.orgUrl)")
                .multilineTextAlignment(.center)
            Button {
                Task { await model.signIn() }
            } label: {
                Text("Sign in").frame(maxWidth: .infinity)
            }
            .buttonStyle(.borderedProminent)
            .disabled(model.busy != nil)
            Button("Lock") { model.lock() }
        }
        .padding(32)
    }
}
