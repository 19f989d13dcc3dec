// The Swift bindings against the real library and the emulator: the glue (async calls, Swift
// implementations of Rust traits, typed errors, Task cancellation reaching Rust), not the core's
// logic again. Mirrors bindings/tests/python/test_flow.py.
//
//   outpost-emulator --port 5155 &      # or: cargo run -p outpost-emulator -- --port 5155
//   OUTPOST_EMULATOR_URL=http://127.0.0.1:5155 swift test
//
// The tests share one emulator and read the server's row counts from its control API when they
// start, so they can run in any order and again against the same emulator.

import Foundation
import Outpost
import XCTest

private let fastKdf = KdfParams(memoryKib: 19_456, iterations: 2, parallelism: 1)
private let passwordText = "offline pass+/=word"
private let accountsOnlyProfile = """
    [[tables]]
    entity_set = "accounts"
    columns = ["name"]
    page_size = 5

    """

/// Collects sync events from Outpost's threads.
final class Events: SyncObserver, @unchecked Sendable {
    private let lock = NSLock()
    private var events: [SyncEvent] = []

    func onEvent(event: SyncEvent) {
        lock.lock()
        events.append(event)
        lock.unlock()
    }

    var all: [SyncEvent] {
        lock.lock()
        defer { lock.unlock() }
        return events
    }

    /// `rows` of every progress event, in order.
    var progressRows: [Int64] {
        all.compactMap { event -> Int64? in
            if case let .progress(entitySet: _, phase: _, rows: rows, total: _, pages: _) = event {
                return rows
            }
            return nil
        }
    }

    var initiallySynced: Set<String> {
        Set(all.compactMap { event -> String? in
            if case let .initialSyncComplete(entitySet: entitySet) = event {
                return entitySet
            }
            return nil
        })
    }
}

/// A platform key for tests: XOR with a fixed secret (the demo app's is Keychain + Face ID).
final class XorKey: PlatformKeyProvider, @unchecked Sendable {
    private let secret = Data((0..<32).map { UInt8($0) })
    private let lock = NSLock()
    private var invalidated = false

    func invalidate() {
        lock.lock()
        invalidated = true
        lock.unlock()
    }

    func wrap(dataKey: Data) async throws -> Data {
        Data("PK1".utf8) + xor(dataKey)
    }

    func unwrap(blob: Data) async throws -> Data {
        lock.lock()
        let gone = invalidated
        lock.unlock()
        if gone {
            throw PlatformKeyError.Invalidated
        }
        return xor(blob.dropFirst(3))
    }

    private func xor(_ bytes: Data) -> Data {
        Data(zip(bytes, secret).map { $0 ^ $1 })
    }
}

/// Shows the device code to the "other device" (a task driving the pages).
final class DeviceCode: DeviceCodeCallback, @unchecked Sendable {
    private let lock = NSLock()
    private var shown: DeviceCodeInfo?

    func onCode(info: DeviceCodeInfo) {
        lock.lock()
        shown = info
        lock.unlock()
    }

    var info: DeviceCodeInfo? {
        lock.lock()
        defer { lock.unlock() }
        return shown
    }
}

/// Polls `condition` every 50 ms until it holds.
func waitUntil(_ what: String, timeout: TimeInterval = 10, _ condition: () -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while !condition() {
        if Date() > deadline {
            throw EmulatorError.badResponse("timed out waiting for \(what)")
        }
        try await Task.sleep(nanoseconds: 50_000_000)
    }
}

final class FlowTests: XCTestCase {
    private var emulator: Emulator!
    private var vaultDir: URL!

    override func setUp() async throws {
        emulator = try await Emulator.fromEnvironment()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("outpost-swift-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        vaultDir = dir.appendingPathComponent("vault")
    }

    override func tearDown() async throws {
        if let vaultDir {
            try? FileManager.default.removeItem(at: vaultDir.deletingLastPathComponent())
        }
    }

    private func newClient(allowPasswordGrant: Bool = false, profileToml: String? = nil) async throws -> OutpostClient {
        let client = try OutpostClient(
            path: vaultDir.path,
            config: emulator.config(allowPasswordGrant: allowPasswordGrant, profileToml: profileToml)
        )
        var password = Data(passwordText.utf8)
        try await client.createVault(wipingPassword: &password, options: VaultOptions(kdf: fastKdf))
        XCTAssertEqual(password, Data(count: passwordText.utf8.count), "the helper wipes the password bytes")
        return client
    }

    private func signInAlice(_ client: OutpostClient) async throws -> Account {
        let request = try await client.beginSignIn(options: SignInOptions(loginHint: "alice@contoso.test"))
        let alice = try emulator.user("alice@contoso.test")
        XCTAssertTrue(alice.mfa, "alice signs in with a TOTP code")
        guard let redirect = try await emulator.drivePages(request.url, user: alice) else {
            throw EmulatorError.badResponse("the sign-in ended without a redirect")
        }
        return try await client.completeSignIn(redirectUrl: redirect)
    }

    private func signInBob(_ client: OutpostClient) async throws {
        var password = Data(try emulator.user("bob@contoso.test").password.utf8)
        let account = try await client.signInWithPassword(username: "bob@contoso.test", wipingPassword: &password)
        XCTAssertEqual(account.username, "bob@contoso.test")
    }

    private func text(_ value: Value?) -> String? {
        if case let .text(value: text) = value {
            return text
        }
        return nil
    }

    // MARK: - The whole flow

    func testWholeFlow() async throws {
        let tables = ["accounts", "contacts", "tasks"]
        let serverRows = tables.map { emulator.rows($0) }.reduce(0, +)
        let accounts = emulator.rows("accounts")
        XCTAssertGreaterThan(accounts, 0)

        let client = try await newClient()
        XCTAssertTrue(client.isUnlocked())
        XCTAssertTrue(client.vaultExists())
        let account = try await signInAlice(client)
        XCTAssertEqual(account.username, "alice@contoso.test")

        // Sync with progress, through the AsyncStream convenience.
        let run = client.startSync()
        var events: [SyncEvent] = []
        for await event in run.events {
            events.append(event)
        }
        let summary = try await run.summary
        XCTAssertEqual(summary.rowsPulled, Int64(serverRows))
        XCTAssertTrue(summary.complete)
        XCTAssertEqual(Set(summary.tables.map(\.entitySet)), Set(tables))
        XCTAssertTrue(summary.tables.allSatisfy { $0.error == nil })
        let progress = events.compactMap { event -> Int64? in
            if case let .progress(entitySet: _, phase: _, rows: rows, total: _, pages: _) = event {
                return rows
            }
            return nil
        }
        XCTAssertFalse(progress.isEmpty)
        XCTAssertGreaterThan(progress.last ?? 0, 0)
        let initial = Set(events.compactMap { event -> String? in
            if case let .initialSyncComplete(entitySet: entitySet) = event {
                return entitySet
            }
            return nil
        })
        XCTAssertEqual(initial, Set(tables))

        // Typed conditions, ordering, a limit.
        let contoso = Query(
            conditions: [Condition(column: "name", compare: .startsWith, value: .text(value: "Contoso"))],
            orderBy: [OrderBy(column: "name")],
            limit: 2
        )
        let page = try await client.query(entitySet: "accounts", query: contoso)
        XCTAssertLessThanOrEqual(page.records.count, 2)
        for record in page.records {
            XCTAssertTrue(text(record.values["name"])?.hasPrefix("Contoso") ?? false)
        }

        // $filter text and keyset pages.
        var seen: [String] = []
        var after: String?
        repeat {
            let p = try await client.query(entitySet: "accounts", query: Query(filter: "numberofemployees ge 0", limit: 70, after: after))
            seen += p.records.map(\.id)
            after = p.next
        } while after != nil
        XCTAssertEqual(seen.count, accounts)
        XCTAssertEqual(Set(seen).count, accounts)

        let first = try await client.query(entitySet: "accounts", query: Query(limit: 1)).records[0]
        guard case let .decimal(text: revenue) = first.values["revenue"] else {
            return XCTFail("revenue is a decimal: \(String(describing: first.values["revenue"]))")
        }
        XCTAssertGreaterThan(Decimal(string: revenue) ?? 0, 0)
        do {
            _ = try await client.query(entitySet: "accounts", query: Query(filter: "name eq"))
            XCTFail("a bad filter is refused")
        } catch OutpostError.InvalidArgument {
        }

        // Search, create with a lookup, update, push.
        let name = try XCTUnwrap(text(first.values["name"]))
        let hits = try await client.search(entitySet: "accounts", text: name, limit: 5)
        XCTAssertEqual(hits.first?.id, first.id)
        let contact = try await client.create(entitySet: "contacts", values: [
            "lastname": .text(value: "Whitfield"),
            "parentcustomerid": .lookup(entitySet: "accounts", id: first.id),
        ])
        // A new number each run: the tests may run again against the same emulator.
        let phone = "+1 555 \(Int.random(in: 1_000...9_999))"
        try await client.update(entitySet: "accounts", id: first.id, values: ["telephone1": .text(value: phone)])
        let created = try await client.get(entitySet: "contacts", id: contact)
        XCTAssertEqual(created?.state, .created)
        XCTAssertEqual(created?.values["parentcustomerid"], .lookup(entitySet: "accounts", id: first.id))
        let pendingBefore = try await client.status().pending
        XCTAssertEqual(pendingBefore, 2)
        let pushed = try await client.sync()
        XCTAssertEqual(pushed.pushed, 2)
        XCTAssertEqual(pushed.pending, 0)
        let synced = try await client.get(entitySet: "contacts", id: contact)
        XCTAssertEqual(synced?.state, .synced)
        let status = try await client.status()
        XCTAssertTrue(status.signedIn)
        XCTAssertEqual(status.account?.username, "alice@contoso.test")

        // Lock, a wrong password as its error case, unlock.
        client.lock()
        XCTAssertFalse(client.isUnlocked())
        do {
            _ = try await client.get(entitySet: "accounts", id: first.id)
            XCTFail("a locked vault refuses reads")
        } catch OutpostError.Locked {
        }
        do {
            var wrong = Data("not the password".utf8)
            try await client.unlock(wipingPassword: &wrong)
            XCTFail("a wrong password is refused")
        } catch OutpostError.WrongPassword(attemptsLeft: let left) {
            XCTAssertEqual(left, 9)
        }
        XCTAssertEqual(try client.vaultStatus().attemptsLeft, 9)
        var password = Data(passwordText.utf8)
        try await client.unlock(wipingPassword: &password)
        let edited = try await client.get(entitySet: "accounts", id: first.id)
        XCTAssertEqual(edited?.values["telephone1"], .text(value: phone))

        var old = Data(passwordText.utf8)
        var new = Data("new password".utf8)
        try await client.changePassword(wipingOld: &old, new: &new)
        client.lock()
        try await client.unlock(password: Data("new password".utf8))
        try await client.wipe()
        XCTAssertFalse(client.vaultExists())
    }

    // MARK: - Cancellation

    /// `Task.cancel()` reaches Rust: the sync stops early (the generated code alone would await
    /// it to the end and return a summary), the pages applied stay, and the next sync resumes.
    func testTaskCancellationStopsTheSyncInRust() async throws {
        let accounts = emulator.rows("accounts")
        let client = try await newClient(allowPasswordGrant: true, profileToml: accountsOnlyProfile)
        try await signInBob(client)
        try await emulator.control("POST", "/faults", json: ["path_contains": "accounts", "delay_ms": 300, "count": 1000])
        let emulator = self.emulator!
        addTeardownBlock {
            _ = try? await emulator.control("DELETE", "/faults")
        }

        let events = Events()
        let task = Task { try await client.sync(SyncOptions(), observer: events) }
        try await waitUntil("a page applied") { events.progressRows.contains(where: { $0 > 0 }) }
        let cancelledAt = Date()
        task.cancel()
        do {
            let summary = try await task.value
            XCTFail("the sync ran to its end (\(summary.rowsPulled) rows): cancellation did not reach Rust")
        } catch is CancellationError {
        }
        XCTAssertLessThan(Date().timeIntervalSince(cancelledAt), 5, "the sync stopped soon after the cancel")

        // The client keeps working, and the next sync resumes.
        try await emulator.control("DELETE", "/faults")
        let rows = try await client.status().tables[0].rows
        XCTAssertGreaterThan(rows, 0)
        XCTAssertLessThan(rows, Int64(accounts))
        let summary = try await client.sync()
        XCTAssertTrue(summary.complete)
        let after = try await client.status().tables[0].rows
        XCTAssertEqual(after, Int64(accounts))
    }

    /// The explicit handle: `cancelSync()` ends the running call with `OutpostError.Cancelled`.
    func testCancelSyncHandle() async throws {
        let client = try await newClient(allowPasswordGrant: true, profileToml: accountsOnlyProfile)
        try await signInBob(client)
        try await emulator.control("POST", "/faults", json: ["path_contains": "accounts", "delay_ms": 300, "count": 1000])
        let emulator = self.emulator!
        addTeardownBlock {
            _ = try? await emulator.control("DELETE", "/faults")
        }

        let events = Events()
        let task = Task { try await client.sync(options: SyncOptions(), observer: events) }
        try await waitUntil("a page applied") { events.progressRows.contains(where: { $0 > 0 }) }
        client.cancelSync()
        do {
            _ = try await task.value
            XCTFail("cancelSync() ends the sync")
        } catch OutpostError.Cancelled {
        }
    }

    // MARK: - Sign-in

    func testDeviceCodeSignIn() async throws {
        let client = try await newClient()
        let code = DeviceCode()
        let emulator = self.emulator!
        let bob = try emulator.user("bob@contoso.test")
        let otherDevice = Task { () async throws -> Void in
            try await waitUntil("the device code", timeout: 30) { code.info != nil }
            guard let info = code.info else { throw EmulatorError.badResponse("no device code shown") }
            _ = try await emulator.drivePages(info.verificationUri, user: bob, deviceCode: info.userCode)
        }
        let account = try await client.signInWithDeviceCode(callback: code)
        try await otherDevice.value
        XCTAssertEqual(account.username, "bob@contoso.test")
        XCTAssertTrue(code.info?.verificationUri.contains("devicelogin") ?? false)
    }

    func testSignInErrorsAreTyped() async throws {
        let client = try await newClient(allowPasswordGrant: true)
        do {
            _ = try await client.signInWithPassword(username: "alice@contoso.test", password: Data("Alice+Secret/1=".utf8))
            XCTFail("alice needs MFA")
        } catch OutpostError.MfaRequired(claims: _, details: let details) {
            XCTAssertTrue(details.errorCodes.contains(50076))
        }
        do {
            _ = try await client.signInWithPassword(username: "bob@contoso.test", password: Data("wrong".utf8))
            XCTFail("a wrong password is refused")
        } catch OutpostError.BadCredentials {
        }
        do {
            _ = try await client.sync()
            XCTFail("no sign-in yet")
        } catch OutpostError.InteractionRequired {
        }
    }

    // MARK: - Platform key (a Swift implementation of an async Rust trait)

    func testPlatformKeyUnlock() async throws {
        let client = try await newClient()
        let key = XorKey()
        _ = try await client.addPlatformSlot(provider: key)
        client.lock()
        XCTAssertTrue(try client.vaultStatus().hasPlatformSlot)
        try await client.unlockWithPlatform(provider: key)
        XCTAssertTrue(client.isUnlocked())
        client.lock()
        key.invalidate()
        do {
            try await client.unlockWithPlatform(provider: key)
            XCTFail("an invalidated key cannot unlock")
        } catch OutpostError.PlatformKeyInvalidated {
        }
        try await client.unlock(password: Data(passwordText.utf8))
        XCTAssertTrue(client.isUnlocked())
    }
}
