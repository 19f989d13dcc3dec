// The screen for the app's state, a spinner while Outpost works, and one alert for messages.

import SwiftUI

struct RootView: View {
    @EnvironmentObject private var model: AppModel

    var body: some View {
        ZStack {
            switch model.screen {
            case .setup:
                SetupView()
            case .signIn:
                SignInView()
            case .locked:
                LockView()
            case .main:
                MainView()
            }
            if let busy = model.busy {
                BusyOverlay(text: busy)
            }
        }
        .alert(
            "Outpost",
            isPresented: Binding(get: { model.message != nil }, set: { if !$0 { model.message = nil } }),
            actions: { Button("OK", role: .cancel) {} },
            message: { Text(model.message ?? "") }
        )
    }
}

struct BusyOverlay: View {
    let text: String

    var body: some View {
        VStack(spacing: 12) {
            ProgressView()
            Text(text).font(.callout)
        }
        .padding(24)
        .background(.regularMaterial, in: RoundedRectangle(cornerRadius: 12))
    }
}

/// Signed in and unlocked: records, sync, conflicts, settings.
struct MainView: View {
    @EnvironmentObject private var model: AppModel

    var body: some View {
        TabView {
            RecordListView()
                .tabItem { Label("Records", systemImage: "list.bullet") }
            SyncView()
                .tabItem { Label("Sync", systemImage: "arrow.triangle.2.circlepath") }
            ConflictsView()
                .tabItem { Label("Conflicts", systemImage: "exclamationmark.triangle") }
                .badge(Int(model.status?.conflicts ?? 0))
            SettingsView()
                .tabItem { Label("Settings", systemImage: "gear") }
        }
    }
}
