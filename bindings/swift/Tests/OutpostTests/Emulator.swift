// The emulator as the Swift tests see it: its control API (`GET {base}/_emulator/`), its
// sign-in pages driven like a browser (URLSession without redirects), TOTP codes (CryptoKit).
// The Python twin is bindings/tests/python/conftest.py.

import CryptoKit
import Foundation
import Outpost
import XCTest

/// A running outpost-emulator, found through `OUTPOST_EMULATOR_URL` (e.g. `http://127.0.0.1:5155`).
struct Emulator {
    struct User: Decodable {
        let upn: String
        let password: String
        let mfa: Bool
        let totpSecret: String
    }

    struct Tenant: Decodable {
        let id: String
        let authority: String
        let users: [User]
    }

    struct App: Decodable {
        let clientId: String
        let redirectUris: [String]
    }

    struct Table: Decodable {
        let entitySet: String
        let rows: Int
    }

    /// The part of `GET /_emulator/` the tests use.
    struct Info: Decodable {
        let baseUrl: String
        let orgUrl: String
        let tenants: [Tenant]
        let apps: [App]
        let tables: [Table]
    }

    /// Where the sign-in redirects in these tests (the emulator accepts any loopback port).
    static let redirectUri = "http://127.0.0.1:53682"

    let base: URL
    let info: Info

    /// The emulator named by `OUTPOST_EMULATOR_URL`; the test is skipped when it is unset.
    static func fromEnvironment() async throws -> Emulator {
        guard let raw = ProcessInfo.processInfo.environment["OUTPOST_EMULATOR_URL"], !raw.isEmpty else {
            throw XCTSkip("OUTPOST_EMULATOR_URL is not set: start `outpost-emulator --port 5155` and set it to http://127.0.0.1:5155")
        }
        guard let base = URL(string: raw.hasSuffix("/") ? String(raw.dropLast()) : raw) else {
            throw EmulatorError.badResponse("OUTPOST_EMULATOR_URL is not a URL: \(raw)")
        }
        let data = try await request(base, "GET", "/")
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return Emulator(base: base, info: try decoder.decode(Info.self, from: data))
    }

    var tenant: Tenant { info.tenants[0] }

    func user(_ upn: String) throws -> User {
        guard let u = info.tenants.flatMap(\.users).first(where: { $0.upn == upn }) else {
            throw EmulatorError.badResponse("the emulator has no user \(upn)")
        }
        return u
    }

    /// Rows the server holds now in `entitySet`.
    func rows(_ entitySet: String) -> Int {
        info.tables.first(where: { $0.entitySet == entitySet })?.rows ?? 0
    }

    func config(allowPasswordGrant: Bool = false, profileToml: String? = nil) -> ClientConfig {
        ClientConfig(
            orgUrl: info.orgUrl,
            clientId: info.apps[0].clientId,
            redirectUri: Emulator.redirectUri,
            authority: tenant.authority,
            allowPasswordGrant: allowPasswordGrant,
            profileToml: profileToml
        )
    }

    /// A call of the control API, `{base}/_emulator{path}`, with an optional JSON body.
    @discardableResult
    func control(_ method: String, _ path: String, json: [String: Any]? = nil) async throws -> Data {
        try await Emulator.request(base, method, path, json: json)
    }

    private static func request(_ base: URL, _ method: String, _ path: String, json: [String: Any]? = nil) async throws -> Data {
        guard let url = URL(string: base.absoluteString + "/_emulator" + path) else {
            throw EmulatorError.badResponse("bad control path \(path)")
        }
        var request = URLRequest(url: url, timeoutInterval: 30)
        request.httpMethod = method
        if let json {
            request.httpBody = try JSONSerialization.data(withJSONObject: json)
            request.setValue("application/json", forHTTPHeaderField: "content-type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        guard let http = response as? HTTPURLResponse, (200..<300).contains(http.statusCode) else {
            throw EmulatorError.badResponse("\(method) \(path): \(String(decoding: data, as: UTF8.self))")
        }
        return data
    }

    // MARK: - The sign-in pages, as a browser would see them

    /// Complete the emulator's sign-in pages for `user`; returns the final redirect URL (code
    /// flow), or nil for the device flow once the user confirmed.
    func drivePages(_ start: String, user: User, deviceCode: String? = nil) async throws -> String? {
        let browser = Browser()
        defer { browser.close() }
        var url = start
        var (status, location, page) = try await browser.send(url)
        var confirmed = false
        for _ in 0..<12 {
            if [301, 302, 303].contains(status) {
                guard let location, let next = URL(string: location, relativeTo: URL(string: url))?.absoluteString else {
                    throw EmulatorError.badResponse("a redirect without a usable Location")
                }
                if next.hasPrefix(Emulator.redirectUri) {
                    return next
                }
                url = next
                (status, location, page) = try await browser.send(url)
                continue
            }
            guard page.contains("<form") else {
                if confirmed { return nil }
                throw EmulatorError.badResponse("unexpected page (\(status)): \(page.prefix(500))")
            }
            let (action, hidden) = try Emulator.form(page)
            var fields = hidden
            if page.contains("id=\"i0116\"") {
                fields += [("loginfmt", user.upn), ("passwd", user.password)]
            } else if page.contains("idTxtBx_SAOTCC_OTC") {
                fields += [("otc", Emulator.totp(user.totpSecret))]
            } else if page.contains("idBtn_Accept") {
                fields += [("decision", "accept")]
            } else if page.contains("id=\"deviceconfirm\"") {
                fields += [("decision", "continue")]
                confirmed = true
            } else if page.contains("id=\"devicecode\""), let deviceCode {
                fields += [("otc", deviceCode)]
            } else {
                throw EmulatorError.badResponse("unexpected page: \(page.prefix(500))")
            }
            guard let next = URL(string: action, relativeTo: URL(string: url))?.absoluteString else {
                throw EmulatorError.badResponse("bad form action \(action)")
            }
            url = next
            (status, location, page) = try await browser.send(url, form: fields)
        }
        throw EmulatorError.badResponse("too many pages")
    }

    /// The form's action and hidden fields (HTML-unescaped).
    static func form(_ page: String) throws -> (String, [(String, String)]) {
        guard let action = matches(#"<form[^>]*action="([^"]+)""#, in: page).first?.first else {
            throw EmulatorError.badResponse("no form action")
        }
        let hidden = matches(#"<input type="hidden" name="([^"]+)" value="([^"]*)""#, in: page)
            .map { (unescape($0[0]), unescape($0[1])) }
        return (unescape(action), hidden)
    }

    static func matches(_ pattern: String, in text: String) -> [[String]] {
        guard let re = try? NSRegularExpression(pattern: pattern) else { return [] }
        let ns = text as NSString
        return re.matches(in: text, range: NSRange(location: 0, length: ns.length)).map { m in
            (1..<m.numberOfRanges).map { ns.substring(with: m.range(at: $0)) }
        }
    }

    static func unescape(_ s: String) -> String {
        var out = ""
        var rest = Substring(s)
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semi = rest[amp...].firstIndex(of: ";"), rest.distance(from: amp, to: semi) <= 10 else {
                out += "&"
                rest = rest[rest.index(after: amp)...]
                continue
            }
            let entity = String(rest[rest.index(after: amp)..<semi])
            let named = ["amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'"]
            if let v = named[entity] {
                out += v
            } else if entity.hasPrefix("#x") || entity.hasPrefix("#X"), let n = UInt32(entity.dropFirst(2), radix: 16),
                      let c = Unicode.Scalar(n) {
                out.unicodeScalars.append(c)
            } else if entity.hasPrefix("#"), let n = UInt32(entity.dropFirst()), let c = Unicode.Scalar(n) {
                out.unicodeScalars.append(c)
            } else {
                out += "&" + entity + ";"
            }
            rest = rest[rest.index(after: semi)...]
        }
        return out + rest
    }

    // MARK: - TOTP (RFC 6238: HMAC-SHA1, 30 s steps, 6 digits)

    static func totp(_ secretBase32: String, at date: Date = Date()) -> String {
        var counter = UInt64(date.timeIntervalSince1970 / 30).bigEndian
        let message = withUnsafeBytes(of: &counter) { Data($0) }
        let mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: SymmetricKey(data: base32(secretBase32))))
        let offset = Int(mac[19] & 0x0f)
        let value = (UInt32(mac[offset]) << 24 | UInt32(mac[offset + 1]) << 16 | UInt32(mac[offset + 2]) << 8
            | UInt32(mac[offset + 3])) & 0x7fff_ffff
        return String(format: "%06u", value % 1_000_000)
    }

    /// RFC 4648 base32 (upper or lower case, padding optional).
    static func base32(_ s: String) -> Data {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var bits: UInt64 = 0
        var count = 0
        var out = Data()
        for ch in s.uppercased() where ch != "=" {
            guard let v = alphabet.firstIndex(of: ch) else { continue }
            bits = (bits << 5) | UInt64(v)
            count += 5
            if count >= 8 {
                count -= 8
                out.append(UInt8((bits >> UInt64(count)) & 0xff))
            }
        }
        return out
    }
}

enum EmulatorError: Error, CustomStringConvertible {
    case badResponse(String)

    var description: String {
        switch self {
        case .badResponse(let what): return what
        }
    }
}

/// URLSession without redirects or cookies: every 30x comes back to the caller, as with the
/// Python tests' opener.
final class Browser: NSObject, URLSessionTaskDelegate {
    private lazy var session: URLSession = {
        let config = URLSessionConfiguration.ephemeral
        config.httpShouldSetCookies = false
        config.httpCookieAcceptPolicy = .never
        config.timeoutIntervalForRequest = 30
        return URLSession(configuration: config, delegate: self, delegateQueue: nil)
    }()

    /// Ends the session (it holds its delegate, this object, until then).
    func close() {
        session.invalidateAndCancel()
    }

    func urlSession(
        _ session: URLSession,
        task: URLSessionTask,
        willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest,
        completionHandler: @escaping (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }

    /// GET `url`, or POST `form` (application/x-www-form-urlencoded); returns the status, the
    /// `Location` header and the body.
    func send(_ url: String, form: [(String, String)]? = nil) async throws -> (Int, String?, String) {
        guard let u = URL(string: url) else { throw EmulatorError.badResponse("bad URL \(url)") }
        var request = URLRequest(url: u)
        if let form {
            request.httpMethod = "POST"
            request.setValue("application/x-www-form-urlencoded", forHTTPHeaderField: "content-type")
            request.httpBody = Data(form.map { "\(Browser.encode($0.0))=\(Browser.encode($0.1))" }.joined(separator: "&").utf8)
        }
        let (data, response) = try await session.data(for: request)
        guard let http = response as? HTTPURLResponse else { throw EmulatorError.badResponse("not HTTP") }
        return (http.statusCode, http.value(forHTTPHeaderField: "Location"), String(decoding: data, as: UTF8.self))
    }

    /// Form encoding: everything but RFC 3986's unreserved characters is percent-encoded (so the
    /// `+`, `/` and `=` in the emulator's passwords and codes arrive intact).
    static func encode(_ s: String) -> String {
        let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
        return s.addingPercentEncoding(withAllowedCharacters: unreserved) ?? s
    }
}
