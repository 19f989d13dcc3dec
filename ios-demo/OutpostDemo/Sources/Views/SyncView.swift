// Sync with a progress bar per table, cancel, and the last summary.

import Outpost
import SwiftUI

struct SyncView: View {
    @EnvironmentObject private var model: AppModel

    var body: some View {
        NavigationView {
            List {
                Section {
                    if model.syncing {
                        if let overall = model.overallProgress {
                            ProgressView(value: overall) { Text("Syncing…") }
                        } else {
                            ProgressView { Text("Syncing…") }
                        }
                        Button("Cancel", role: .destructive) { model.cancelSync() }
                    } else {
                        Button("Sync now") { model.sync() }
                    }
                }
                if !model.progress.isEmpty {
                    Section("Tables") {
                        ForEach(model.progress.keys.sorted(), id: \.self) { entitySet in
                            if let p = model.progress[entitySet] {
                                TableProgressRow(entitySet: entitySet, progress: p)
                            }
                        }
                        if model.pushed > 0 {
                            Text("\(model.pushed) local changes sent")
                        }
                    }
                }
                if let summary = model.lastSummary {
                    Section("Last sync") {
                        LabeledRow("Rows received", "\(summary.rowsPulled)")
                        LabeledRow("Changes sent", "\(summary.pushed)")
                        LabeledRow("Still to send", "\(summary.pending)")
                        LabeledRow("Open conflicts", "\(summary.openConflicts)")
                        LabeledRow("Refused by the server", "\(summary.parked)")
                        LabeledRow("Took", "\(summary.durationMs) ms, \(summary.requests) requests")
                        ForEach(summary.tables.filter { $0.error != nil }, id: \.entitySet) { table in
                            Text("\(table.entitySet): \(AppModel.describe(table.error ?? OutpostError.Cancelled))")
                                .foregroundColor(.red)
                        }
                    }
                }
                if let status = model.status {
                    Section("Offline data") {
                        ForEach(status.tables, id: \.entitySet) { table in
                            LabeledRow(table.entitySet, table.initialSyncDone ? "\(table.rows) rows" : "not synced yet")
                        }
                    }
                }
            }
            .navigationTitle("Sync")
            .refreshable { model.sync() }
        }
        .navigationViewStyle(.stack)
    }
}

struct TableProgressRow: View {
    let entitySet: String
    let progress: TableProgress

    var body: some View {
        VStack(alignment: .leading) {
            if let total = progress.total, total > 0 {
                ProgressView(value: Double(min(progress.rows, total)), total: Double(total)) {
                    Text(entitySet)
                }
                Text("\(progress.rows) of \(total) · \(phaseName)").font(.caption).foregroundColor(.secondary)
            } else {
                ProgressView { Text(entitySet) }
                Text("\(progress.rows) rows · \(phaseName)").font(.caption).foregroundColor(.secondary)
            }
        }
    }

    private var phaseName: String {
        switch progress.phase {
        case .metadata: return "metadata"
        case .initialPull: return "first download"
        case .deltaPull: return "changes"
        }
    }
}

/// A label and a value on one row (LabeledContent needs iOS 16).
struct LabeledRow: View {
    let label: String
    let value: String

    init(_ label: String, _ value: String) {
        self.label = label
        self.value = value
    }

    var body: some View {
        HStack {
            Text(label)
            Spacer()
            Text(value).foregroundColor(.secondary)
        }
    }
}
