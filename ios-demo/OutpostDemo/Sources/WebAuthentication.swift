// The interactive sign-in in ASWebAuthenticationSession: Outpost builds the authorize URL
// (PKCE, state) and checks the redirect; the session shows the pages and catches outpost://auth.

import AuthenticationServices
import UIKit

final class WebAuthentication: NSObject, ASWebAuthenticationPresentationContextProviding {
    enum Failure: Error {
        /// The user closed the sheet.
        case cancelled
        /// The session could not be shown.
        case couldNotStart
    }

    private var session: ASWebAuthenticationSession?
    private var anchor: ASPresentationAnchor?

    /// Show `url`; returns the redirect to `callbackScheme`.
    @MainActor
    func authenticate(url: URL, callbackScheme: String) async throws -> URL {
        anchor = UIApplication.shared.connectedScenes
            .compactMap { $0 as? UIWindowScene }
            .flatMap(\.windows)
            .first(where: \.isKeyWindow) ?? ASPresentationAnchor()
        defer { session = nil }
        return try await withCheckedThrowingContinuation { continuation in
            // The completion handler and a refused start() must not both resume.
            let once = Once()
            let session = ASWebAuthenticationSession(url: url, callbackURLScheme: callbackScheme) { callback, error in
                guard once.first() else { return }
                if let callback {
                    continuation.resume(returning: callback)
                } else if let error = error as? ASWebAuthenticationSessionError, error.code == .canceledLogin {
                    continuation.resume(throwing: Failure.cancelled)
                } else {
                    continuation.resume(throwing: error ?? Failure.couldNotStart)
                }
            }
            session.presentationContextProvider = self
            // No shared cookies with Safari: every sign-in starts clean (and the emulator keeps
            // no session anyway).
            session.prefersEphemeralWebBrowserSession = true
            self.session = session
            if !session.start(), once.first() {
                continuation.resume(throwing: Failure.couldNotStart)
            }
        }
    }

    func presentationAnchor(for session: ASWebAuthenticationSession) -> ASPresentationAnchor {
        // Set on the main actor by authenticate(url:callbackScheme:) before the session starts.
        anchor ?? ASPresentationAnchor()
    }
}

/// true the first time only (the session's callbacks arrive on the main thread).
private final class Once {
    private var done = false

    func first() -> Bool {
        defer { done = true }
        return !done
    }
}
