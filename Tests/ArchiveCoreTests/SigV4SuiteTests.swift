import ArchiveCore
import Foundation
import XCTest

/// The published AWS SigV4 test suite (aws-c-auth's v4 vectors), kept in the project beside this file:
/// Fixtures/sigv4 (SOURCE.md there says where they come from; Apache 2.0, LICENSE there).
final class SigV4SuiteTests: XCTestCase {
    // Relative to this source file rather than a SwiftPM resource bundle: the vectors are read in place from
    // the checkout, so no copy step can leave them stale.
    static var suiteDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/sigv4")
    }

    struct Context: Decodable {
        struct Keys: Decodable {
            let access_key_id: String
            let secret_access_key: String
            let token: String?
        }
        let credentials: Keys
        let region: String
        let service: String
        let timestamp: String
        let normalize: Bool
        let sign_body: Bool
        let expiration_in_seconds: Int
        let omit_session_token: Bool?
    }

    struct Case {
        let name: String
        let context: Context
        let request: SigningRequest
        let body: [UInt8]
        func expected(_ file: String) throws -> String {
            try String(contentsOf: SigV4SuiteTests.suiteDirectory.appendingPathComponent("\(name)/\(file)"), encoding: .utf8)
        }
    }

    func loadCases() throws -> [Case] {
        let directory = Self.suiteDirectory
        guard FileManager.default.fileExists(atPath: directory.path) else {
            XCTFail("the AWS SigV4 test vectors are not at \(directory.path): restore Tests/ArchiveCoreTests/Fixtures/sigv4 from git")
            return []
        }
        let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter {
            FileManager.default.fileExists(atPath: directory.appendingPathComponent("\($0)/request.txt").path)
        }.sorted()
        return try names.map { name in
            let folder = directory.appendingPathComponent(name)
            let context = try JSONDecoder().decode(Context.self, from: Data(contentsOf: folder.appendingPathComponent("context.json")))
            let (request, body) = try Self.parseRequest(Data(contentsOf: folder.appendingPathComponent("request.txt")))
            return Case(name: name, context: context, request: request, body: body)
        }
    }

    /// request.txt: `METHOD PATH HTTP/1.1`, header lines (indented lines continue the previous one), a blank line, the body.
    static func parseRequest(_ data: Data) throws -> (SigningRequest, [UInt8]) {
        let text = String(decoding: data, as: UTF8.self)
        let (head, body) = text.range(of: "\n\n").map { (String(text[..<$0.lowerBound]), String(text[$0.upperBound...])) }
            ?? (text, "")
        var lines = head.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let requestLine = lines.removeFirst().split(separator: " ")
        let method = String(requestLine[0])
        let target = requestLine[1..<(requestLine.count - 1)].joined(separator: " ")
        let pathPart = target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(pathPart[0]).removingPercentEncoding ?? String(pathPart[0])
        var query: [(name: String, value: String)] = []
        if pathPart.count > 1 {
            for item in pathPart[1].split(separator: "&") {
                let pieces = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let name = String(pieces[0]).removingPercentEncoding ?? String(pieces[0])
                let value = pieces.count > 1 ? (String(pieces[1]).removingPercentEncoding ?? String(pieces[1])) : ""
                query.append((name, value))
            }
        }
        var headers: [(name: String, value: String)] = []
        for line in lines where !line.isEmpty {
            if line.first == " " || line.first == "\t", !headers.isEmpty {
                headers[headers.count - 1].value += " " + line
                continue
            }
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers.append((String(line[..<colon]), String(line[line.index(after: colon)...])))
        }
        let bodyBytes = Array(body.utf8)
        return (SigningRequest(method: method, path: path, query: query, headers: headers,
                               payloadHash: Digest.sha256(bodyBytes).hex), bodyBytes)
    }

    func signer(for c: Case) -> SigV4Signer {
        SigV4Signer(credentials: Credentials(accessKeyID: c.context.credentials.access_key_id,
                                             secretAccessKey: c.context.credentials.secret_access_key,
                                             sessionToken: c.context.credentials.token),
                    region: c.context.region, service: c.context.service, normalizePath: c.context.normalize,
                    signSessionToken: !(c.context.omit_session_token ?? false))
    }

    func date(_ c: Case) -> Date { ISO8601DateFormatter().date(from: c.context.timestamp)! }

    func testHeaderSigningMatchesEveryPublishedVector() throws {
        let cases = try loadCases()
        XCTAssertGreaterThanOrEqual(cases.count, 30, "expected the whole suite")
        for c in cases {
            let signer = signer(for: c)
            var request = c.request
            if c.context.sign_body { request.headers.append(("x-amz-content-sha256", request.payloadHash)) }
            let added = signer.signatureHeaders(for: request, at: date(c))

            // The canonical request and string to sign are checked with the headers the signer adds itself.
            var full = request
            full.headers += added.filter { $0.name != "Authorization" && (signer.signSessionToken || $0.name != "X-Amz-Security-Token") }
            let canonical = signer.canonicalRequest(full)
            XCTAssertEqual(canonical.text, try c.expected("header-canonical-request.txt"), "\(c.name): canonical request")
            XCTAssertEqual(signer.stringToSign(canonical, stamp: "20150830T123600Z"),
                           try c.expected("header-string-to-sign.txt"), "\(c.name): string to sign")
            let signature = try c.expected("header-signature.txt").trimmingCharacters(in: .whitespacesAndNewlines)
            let authorization = added.first { $0.name == "Authorization" }?.value ?? ""
            XCTAssertTrue(authorization.hasSuffix("Signature=\(signature)"), "\(c.name): signature")
            XCTAssertTrue(try c.expected("header-signed-request.txt").contains("Authorization:\(authorization)"),
                          "\(c.name): Authorization header")
        }
    }

    func testQuerySigningMatchesEveryPublishedVector() throws {
        for c in try loadCases() {
            let signer = signer(for: c)
            let items = signer.presignedQuery(for: c.request, at: date(c), expires: c.context.expiration_in_seconds)
            let signature = try c.expected("query-signature.txt").trimmingCharacters(in: .whitespacesAndNewlines)
            XCTAssertEqual(items.last?.name, "X-Amz-Signature", c.name)
            XCTAssertEqual(items.last?.value, signature, "\(c.name): presigned signature")
            var signed = c.request
            signed.query += items.dropLast()
            XCTAssertEqual(signer.canonicalRequest(signed).text, try c.expected("query-canonical-request.txt"),
                           "\(c.name): presigned canonical request")
        }
    }

    func testTheSecretNeverAppearsInDescriptions() {
        let credentials = Credentials(accessKeyID: "AKID", secretAccessKey: "very-secret-value", sessionToken: "tok")
        XCTAssertFalse("\(credentials)".contains("very-secret-value"))
        XCTAssertFalse(String(reflecting: credentials).contains("very-secret-value"))
    }
}
