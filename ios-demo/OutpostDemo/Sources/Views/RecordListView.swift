// The offline records of one table: keyset pages, full-text search while typing, refresh on
// sync changes. Everything is read from the local vault (works in airplane mode).

import Outpost
import SwiftUI

struct RecordListView: View {
    @EnvironmentObject private var model: AppModel
    @State private var table = TableInfo.all[0]
    @State private var records: [Record] = []
    @State private var next: String?
    @State private var searchText = ""
    @State private var creating = false

    var body: some View {
        NavigationView {
            List {
                Picker("Table", selection: $table) {
                    ForEach(TableInfo.all) { Text($0.title).tag($0) }
                }
                .pickerStyle(.segmented)
                ForEach(records, id: \.id) { record in
                    NavigationLink(destination: RecordEditView(table: table, record: record)) {
                        RecordRow(table: table, record: record)
                    }
                }
                if next != nil && searchText.isEmpty {
                    Button("More") { Task { await loadMore() } }
                }
            }
            .searchable(text: $searchText, prompt: "Search \(table.title.lowercased())")
            .navigationTitle(table.title)
            .toolbar {
                ToolbarItem(placement: .navigationBarTrailing) {
                    Button { creating = true } label: { Image(systemName: "plus") }
                }
            }
            .sheet(isPresented: $creating) {
                NavigationView { RecordEditView(table: table, record: nil) }
                    .environmentObject(model)
            }
            .refreshable { model.sync() }
            // Reload when the table, the search or the data changes (a sync page, an edit);
            // changing the id cancels the previous load, which also debounces typing.
            .task(id: "\(table.entitySet)|\(searchText)|\(model.revision)") {
                await reload()
            }
        }
        .navigationViewStyle(.stack)
    }

    private func reload() async {
        do {
            if searchText.trimmingCharacters(in: .whitespaces).isEmpty {
                let page = try await model.page(table.entitySet, orderBy: table.orderBy, after: nil)
                records = page.records
                next = page.next
            } else {
                try await Task.sleep(nanoseconds: 250_000_000)
                records = try await model.search(table.entitySet, text: searchText)
                next = nil
            }
        } catch is CancellationError {
        } catch {
            model.message = AppModel.describe(error)
        }
    }

    private func loadMore() async {
        guard let after = next else { return }
        do {
            let page = try await model.page(table.entitySet, orderBy: table.orderBy, after: after)
            records += page.records
            next = page.next
        } catch {
            model.message = AppModel.describe(error)
        }
    }
}

struct RecordRow: View {
    let table: TableInfo
    let record: Record

    var body: some View {
        HStack {
            VStack(alignment: .leading) {
                Text(record.values[table.nameColumn]?.displayText ?? record.id)
                if let phone = record.values["telephone1"]?.displayText, !phone.isEmpty {
                    Text(phone).font(.caption).foregroundColor(.secondary)
                }
            }
            Spacer()
            switch record.state {
            case .synced:
                EmptyView()
            case .modified, .created:
                Image(systemName: "icloud.and.arrow.up").foregroundColor(.orange)
            case .deleted:
                Image(systemName: "trash").foregroundColor(.red)
            }
        }
    }
}
