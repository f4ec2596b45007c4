import ArchiveCore
import Foundation
import XCTest

/// Differential test: our signer against botocore's S3SigV4Auth and S3SigV4QueryAuth on generated requests
/// with odd keys, valueless query strings and empty bodies (Tests/tools/botocore_sigv4_cases.py).
///
/// Each run draws a new random seed, so runs together cover more cases than one could. Every failure message
/// names the seed; replay that exact set of cases with
/// `SIGV4_SEED=<seed> bin/test --filter SigV4BotocoreTests`.
final class SigV4BotocoreTests: XCTestCase {
    /// `SIGV4_SEED` from the environment when set (a replay), a fresh random seed otherwise; nil (after
    /// failing the test) when it is set to something that is not a seed, rather than silently drawing a new one.
    func seed() -> Int? {
        guard let text = ProcessInfo.processInfo.environment["SIGV4_SEED"] else { return Int.random(in: 0...1_000_000) }
        guard let seed = Int(text) else {
            XCTFail("SIGV4_SEED=\(text) is not a whole number: set it to the seed a failure message printed")
            return nil
        }
        return seed
    }

    struct Case: Decodable {
        let id: Int
        let kind: String
        let method: String
        let path: String
        let query: [[String]]
        let headers: [[String]]
        let payload_hash: String
        let access_key: String
        let secret_key: String
        let token: String?
        let region: String
        let timestamp: String
        let expires: Int?
        let expected_authorization: String?
        let expected_query: [[String]]?
        let expected_canonical_request: String
    }

    func generatedCases(count: Int, seed: Int) throws -> [Case] {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("tools/botocore_sigv4_cases.py")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, "--count", String(count), "--seed", String(seed), "--self-check"]
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            XCTFail("botocore case generator failed (is botocore installed? bin/setup installs it): "
                    + String(decoding: errors, as: UTF8.self))
            return []
        }
        let decoder = JSONDecoder()
        return try data.split(separator: UInt8(ascii: "\n")).map { try decoder.decode(Case.self, from: Data($0)) }
    }

    func testSignaturesAgreeWithBotocore() throws {
        guard let seed = seed() else { return }
        let replay = "seed \(seed); replay with SIGV4_SEED=\(seed)"
        let cases = try generatedCases(count: 400, seed: seed)
        XCTAssertGreaterThanOrEqual(cases.count, 400, replay)
        var failures = 0
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        for c in cases {
            let date = formatter.date(from: c.timestamp)!
            let signer = SigV4Signer(credentials: Credentials(accessKeyID: c.access_key, secretAccessKey: c.secret_key,
                                                              sessionToken: c.token), region: c.region)
            let request = SigningRequest(method: c.method, path: c.path,
                                         query: c.query.map { ($0[0], $0[1]) },
                                         headers: c.headers.map { ($0[0], $0[1]) }, payloadHash: c.payload_hash)
            if c.kind == "header" {
                let authorization = signer.signatureHeaders(for: request, at: date).first { $0.name == "Authorization" }?.value
                if authorization != c.expected_authorization {
                    failures += 1
                    var full = request
                    full.headers.append(("X-Amz-Date", c.timestamp))
                    if let token = c.token { full.headers.append(("X-Amz-Security-Token", token)) }
                    XCTAssertEqual(signer.canonicalRequest(full).text, c.expected_canonical_request,
                                   "case \(c.id) (\(replay)): canonical request differs")
                }
            } else {
                let items = signer.presignedQuery(for: request, at: date, expires: c.expires ?? 3600)
                let expected = (c.expected_query ?? []).map { "\($0[0])=\($0[1])" }
                if items.map({ "\($0.name)=\($0.value)" }) != expected {
                    failures += 1
                    XCTFail("case \(c.id) (\(replay)): presigned query differs\n ours: \(items)\n botocore: \(expected)")
                }
            }
        }
        XCTAssertEqual(failures, 0, "\(failures) of \(cases.count) signatures differ from botocore's (\(replay))")
    }
}
