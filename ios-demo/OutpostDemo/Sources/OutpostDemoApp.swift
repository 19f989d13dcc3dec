// The demo app's entry point: one AppModel for the one vault, locked when the app goes to the
// background.

import SwiftUI

@main
struct OutpostDemoApp: App {
    @StateObject private var model = AppModel()
    @Environment(\.scenePhase) private var scenePhase

    var body: some Scene {
        WindowGroup {
            RootView()
                .environmentObject(model)
                // The redirect of a sign-in whose browser outlived the app (the app was killed
                // meanwhile): Outpost kept the sign-in in flight in the vault.
                .onOpenURL { url in
                    Task { await model.completeSignIn(redirect: url) }
                }
        }
        .onChange(of: scenePhase) { phase in
            switch phase {
            case .background:
                model.enterBackground()
            case .active:
                model.becomeActive()
            default:
                break
            }
        }
    }
}
