// Conflicts kept for the user: both sides of the disputed columns, keep mine or the server's.

import Outpost
import SwiftUI

struct ConflictsView: View {
    @EnvironmentObject private var model: AppModel
    @State private var conflicts: [Conflict] = []

    var body: some View {
        NavigationView {
            List {
                if conflicts.isEmpty {
                    Text("No conflicts.").foregroundColor(.secondary)
                }
                ForEach(conflicts, id: \.id) { conflict in
                    Section {
                        ForEach(conflict.columns, id: \.self) { column in
                            VStack(alignment: .leading, spacing: 4) {
                                Text(column).font(.headline)
                                Text("Mine: \(conflict.local[column]?.displayText ?? "—")")
                                Text("Server: \(serverText(conflict, column))").foregroundColor(.secondary)
                            }
                        }
                        HStack {
                            Button("Keep mine") { Task { await model.resolve(conflict, keepMine: true) } }
                            Spacer()
                            Button("Keep the server's") { Task { await model.resolve(conflict, keepMine: false) } }
                        }
                        .buttonStyle(.borderless)
                    } header: {
                        Text("\(conflict.entitySet) · \(kindText(conflict.kind))")
                    }
                }
            }
            .navigationTitle("Conflicts")
            .task(id: model.revision) {
                conflicts = await model.conflicts()
            }
            .refreshable {
                conflicts = await model.conflicts()
            }
        }
        .navigationViewStyle(.stack)
    }

    private func serverText(_ conflict: Conflict, _ column: String) -> String {
        guard let server = conflict.server else { return "deleted" }
        return server[column]?.displayText ?? "—"
    }

    private func kindText(_ kind: ConflictKind) -> String {
        switch kind {
        case .update: return "changed on both sides"
        case .serverDeleted: return "deleted on the server, edited here"
        case .localDeleted: return "deleted here, changed on the server"
        }
    }
}
