// Edit a record's text columns, or create one; saved locally at once and pushed by the next sync.

import Outpost
import SwiftUI

struct RecordEditView: View {
    @EnvironmentObject private var model: AppModel
    @Environment(\.dismiss) private var dismiss
    let table: TableInfo
    /// nil: a new record.
    let record: Record?
    @State private var edited: [String: String] = [:]

    private var columns: [String] {
        guard let record else { return table.newColumns }
        return record.values.keys.sorted()
    }

    var body: some View {
        Form {
            Section {
                ForEach(columns, id: \.self) { column in
                    let value = record?.values[column] ?? .null
                    if value.isEditableText {
                        TextField(column, text: binding(column, value))
                    } else {
                        LabeledRow(column, value.displayText)
                    }
                }
            } footer: {
                if let record {
                    Text(footer(record))
                }
            }
            if let record {
                Section {
                    Button("Delete", role: .destructive) {
                        Task {
                            await model.delete(table.entitySet, id: record.id)
                            dismiss()
                        }
                    }
                }
            }
        }
        .navigationTitle(record == nil ? "New" : (record?.values[table.nameColumn]?.displayText ?? "Record"))
        .toolbar {
            ToolbarItem(placement: .confirmationAction) {
                Button("Save") { Task { await save() } }
                    .disabled(edited.isEmpty || model.busy != nil)
            }
            if record == nil {
                ToolbarItem(placement: .cancellationAction) {
                    Button("Cancel") { dismiss() }
                }
            }
        }
    }

    private func binding(_ column: String, _ value: Value) -> Binding<String> {
        Binding(
            get: { edited[column] ?? value.displayText },
            set: { edited[column] = $0 }
        )
    }

    private func footer(_ record: Record) -> String {
        switch record.state {
        case .synced: return "Same as the server."
        case .modified: return "Edited here: sent with the next sync."
        case .created: return "Created here: sent with the next sync."
        case .deleted: return "Deleted here: removed on the server with the next sync."
        }
    }

    private func save() async {
        // Only the changed columns; an emptied text column becomes null.
        var values: [String: Value] = [:]
        for (column, text) in edited {
            values[column] = text.isEmpty ? .null : .text(value: text)
        }
        if await model.save(table.entitySet, id: record?.id, values: values) {
            dismiss()
        }
    }
}
