// Showing and editing Outpost's typed column values.

import Outpost

extension Value {
    /// The value as the UI shows it.
    var displayText: String {
        switch self {
        case .null:
            return ""
        case let .bool(value: value):
            return value ? "Yes" : "No"
        case let .int(value: value):
            return String(value)
        case let .decimal(text: text):
            return text
        case let .text(value: value):
            return value
        case let .lookup(entitySet: entitySet, id: id):
            return "\(entitySet) \(id.prefix(8))…"
        }
    }

    /// Text values can be edited as text in this demo; the others are shown read-only.
    var isEditableText: Bool {
        switch self {
        case .text, .null:
            return true
        default:
            return false
        }
    }
}

/// What the demo shows for each profile table.
struct TableInfo: Identifiable, Hashable {
    let entitySet: String
    let title: String
    /// The column shown as a record's name.
    let nameColumn: String
    /// A sortable column (the profile's `sortable`).
    let orderBy: String
    /// Columns a new record asks for.
    let newColumns: [String]

    var id: String { entitySet }

    static let all = [
        TableInfo(entitySet: "accounts", title: "Accounts", nameColumn: "name", orderBy: "name",
                  newColumns: ["name", "telephone1", "emailaddress1", "description"]),
        TableInfo(entitySet: "contacts", title: "Contacts", nameColumn: "fullname", orderBy: "lastname",
                  newColumns: ["firstname", "lastname", "jobtitle", "telephone1", "emailaddress1"]),
        TableInfo(entitySet: "tasks", title: "Tasks", nameColumn: "subject", orderBy: "scheduledend",
                  newColumns: ["subject", "description"]),
    ]
}
