// Hand-written Swift conveniences over the generated bindings (Outpost.swift). Kept thin on
// purpose: anything the Kotlin or Python apps would need as well belongs in Rust, not here.
//
// - `sync(_:observer:)` / `sync(_:onEvent:)`: cancelling the calling Task cancels the sync in
//   Rust. The generated async code (uniffi 0.32.2) awaits Rust futures without a cancellation
//   handler, so without this `Task.cancel()` would never reach Rust.
// - `startSync(_:)`: the sync's events as an `AsyncStream<SyncEvent>`, and its outcome.
// - Password helpers taking `inout Data` and wiping it with `resetBytes` after the call.

import Foundation

// MARK: - Sync with Swift cancellation

extension OutpostClient {
    /// Push the outbox, then pull (as `sync(options:observer:)`), with Swift task cancellation:
    /// cancelling the calling `Task` calls `cancelSync()`, which stops the sync at the next request
    /// or page boundary. Every page applied until then is kept, and the next sync resumes from it.
    ///
    /// - Parameters:
    ///   - options: what to sync (default: push, then pull every profile table).
    ///   - observer: receives progress and change events on a sync thread (keep it quick).
    /// - Throws: `CancellationError` when the calling task was cancelled; `OutpostError.Cancelled`
    ///   when `cancelSync()` was called directly; otherwise the errors of `sync(options:observer:)`
    ///   (`SyncInProgress`, `Locked`, sign-in errors that stop everything, `Storage`). Per-table
    ///   failures are in the summary.
    public func sync(_ options: SyncOptions = SyncOptions(), observer: SyncObserver? = nil) async throws -> SyncSummary {
        try Task.checkCancellation()
        do {
            return try await withTaskCancellationHandler {
                try await self.sync(options: options, observer: observer)
            } onCancel: {
                // Runs on the cancelling thread, possibly while the Rust call is starting: a
                // cancel that arrives before the engine has registered the sync is not seen by
                // Rust (the sync then runs to its end; see README.md, "Cancellation").
                self.cancelSync()
            }
        } catch OutpostError.Cancelled where Task.isCancelled {
            throw CancellationError()
        }
    }

    /// `sync(_:observer:)` with a closure for the events (called on a sync thread: hand UI work to
    /// the main actor).
    ///
    /// - Throws: as `sync(_:observer:)`.
    public func sync(
        _ options: SyncOptions = SyncOptions(),
        onEvent: @escaping @Sendable (SyncEvent) -> Void
    ) async throws -> SyncSummary {
        try await sync(options, observer: SyncEventHandler(onEvent))
    }

    /// Start a sync in a new task and return its events as an `AsyncStream` and its outcome.
    ///
    /// ```swift
    /// let run = client.startSync()
    /// for await event in run.events { ... }   // ends when the sync ends
    /// let summary = try await run.summary
    /// ```
    ///
    /// `run.cancel()`, or cancelling a task that awaits `run.summary`, cancels the sync. Stopping to
    /// iterate `events` does not: the sync runs on (it is always safe to let it finish).
    ///
    /// - Parameter bufferingNewest: events kept for a slow consumer (the oldest are dropped first;
    ///   progress events are cumulative, so dropping some loses nothing but intermediate values).
    public func startSync(_ options: SyncOptions = SyncOptions(), bufferingNewest limit: Int = 1_000) -> SyncRun {
        var continuation: AsyncStream<SyncEvent>.Continuation?
        let events = AsyncStream<SyncEvent>(bufferingPolicy: .bufferingNewest(limit)) { continuation = $0 }
        let sink = continuation
        let task = Task { () async throws -> SyncSummary in
            defer { sink?.finish() }
            return try await self.sync(options, observer: SyncEventHandler { event in sink?.yield(event) })
        }
        return SyncRun(events: events, task: task)
    }
}

/// A sync started by `OutpostClient.startSync(_:bufferingNewest:)`.
///
/// `@unchecked` only because the generated `SyncEvent` and `SyncSummary` are declared `Sendable`
/// for Swift 6 compilers only (`#if compiler(>=6)`); `AsyncStream` and `Task` are thread-safe.
public struct SyncRun: @unchecked Sendable {
    /// The sync's events, in order; the stream finishes when the sync ends.
    public let events: AsyncStream<SyncEvent>
    /// The task running the sync.
    public let task: Task<SyncSummary, Error>

    /// The sync's outcome. Cancelling the task that awaits it cancels the sync.
    ///
    /// - Throws: as `OutpostClient.sync(_:observer:)`.
    public var summary: SyncSummary {
        get async throws {
            let task = self.task
            return try await withTaskCancellationHandler {
                try await task.value
            } onCancel: {
                task.cancel()
            }
        }
    }

    /// Cancel the sync (everything applied so far is kept).
    public func cancel() {
        task.cancel()
    }
}

/// A `SyncObserver` made of a closure. Outpost calls it on a sync thread: keep it quick and hand
/// UI work to the main actor.
public final class SyncEventHandler: SyncObserver {
    private let handler: @Sendable (SyncEvent) -> Void

    /// An observer calling `handler` for every event.
    public init(_ handler: @escaping @Sendable (SyncEvent) -> Void) {
        self.handler = handler
    }

    public func onEvent(event: SyncEvent) {
        handler(event)
    }
}

// MARK: - Passwords as wiped bytes

extension OutpostClient {
    /// `createVault(password:options:)`, then the password bytes are overwritten with zeros
    /// (also when the call throws).
    ///
    /// # Security
    /// `inout`, so that the wipe reaches the caller's buffer: a `Data` passed by value is
    /// copy-on-write, and wiping a copy would leave the original. Keep no other copy of the
    /// bytes (a `String` cannot be wiped at all). Outpost wipes its own copy in Rust; the
    /// intermediate buffer the generated code uses to pass the bytes is not wiped.
    ///
    /// - Throws: `VaultExists`, `InvalidArgument` (empty password, KDF below the floor), `Storage`.
    public func createVault(wipingPassword password: inout Data, options: VaultOptions = VaultOptions()) async throws {
        defer { password.resetBytes(in: 0..<password.count) }
        try await createVault(password: password, options: options)
    }

    /// `unlock(password:)`, then the password bytes are overwritten with zeros (also when the
    /// call throws, e.g. `OutpostError.WrongPassword`). See `createVault(wipingPassword:options:)`.
    ///
    /// - Throws: `WrongPassword(attemptsLeft:)`, `LockedOut`, `Wiped`, `NoVault`, `Corrupt`,
    ///   `NewerFormat`.
    public func unlock(wipingPassword password: inout Data) async throws {
        defer { password.resetBytes(in: 0..<password.count) }
        try await unlock(password: password)
    }

    /// `changePassword(old:new:)`, then both passwords are overwritten with zeros.
    ///
    /// - Throws: `Locked`, `WrongPassword` (old), `InvalidArgument` (empty new password).
    public func changePassword(wipingOld old: inout Data, new: inout Data) async throws {
        defer {
            old.resetBytes(in: 0..<old.count)
            new.resetBytes(in: 0..<new.count)
        }
        try await changePassword(old: old, new: new)
    }

    /// `signInWithPassword(username:password:)` (the password grant, for service accounts without
    /// MFA), then the password bytes are overwritten with zeros.
    ///
    /// - Throws: `MfaRequired`, `BadCredentials`, `ConsentRequired`, `InvalidArgument`, `Network`.
    public func signInWithPassword(username: String, wipingPassword password: inout Data) async throws -> Account {
        defer { password.resetBytes(in: 0..<password.count) }
        return try await signInWithPassword(username: username, password: password)
    }
}
