// Keys exactly as written: a key's bytes are signed and sent as they are (libcurl resolves no `./`), and the
// record names the key the server stored, as aws-cli lists it. Keys the servers do not agree on (dot and empty
// segments: SeaweedFS refuses `q/./x` and stores `q//z` as `q/z`) are refused before any request.

import ArchiveCore
import Foundation
import XCTest

final class KeyBytesTests: EndToEndCase {
    /// Keys of every awkward byte but dot segments: each is stored at exactly that key on both servers.
    func testOddBytesAreStoredAtExactlyTheKey() throws {
        let small = temp.file("small.bin"), big = temp.file("big.bin")
        try makeRandomFile(small, size: 700)
        try makeRandomFile(big, size: 6 * MiB)
        let keys = ["odd/sp ace.bin", "odd/plus+sign.bin", "odd/pct%41%2F.bin", "odd/tilde~.bin", "odd/ünï/çødé.bin",
                    "odd/a=b&c;d,e.bin", "odd/.hidden/..x/y..bin", "odd/end."]
        try onBothServers("keybytes") { server in
            for (number, key) in keys.enumerated() {
                let source = number % 2 == 0 ? small : big
                let result = try put(server, ["--part-size", "5MiB", source, "s3://\(server.bucket)/\(key)"])
                let record = singleRecord(result)
                XCTAssertEqual(record.map { Array($0.key.utf8) }, Array(key.utf8), "\(server.name): \(result.summary)")
                XCTAssertEqual(record?.url, "s3://\(server.bucket)/\(key)")
                XCTAssertEqual(try readBack(server, key), try sha256(ofFile: source), "\(server.name): \(key) reads back")
            }
            // Compared as bytes: Swift's String equality would take an NFD listing for the NFC key.
            XCTAssertEqual(try listedKeys(server, prefix: "odd/").map { Array($0.utf8) }, keys.sorted().map { Array($0.utf8) },
                           "\(server.name): aws-cli lists exactly these keys")
        }
    }

    /// Dot segments, `//` and a leading `/`: refused with a one-line usage message naming the key, before any
    /// request (the endpoint is a closed port: any request would end in 69, not 64), and nothing stored.
    func testDotAndEmptySegmentsAreRefusedBeforeAnyRequest() throws {
        let path = temp.file("dots.bin")
        try makeRandomFile(path, size: 100)
        let closed = "http://127.0.0.1:9"
        for key in ["q/./x", "q/../y", "./x", "../x", "q/.", "q/..", "q//z", "/lead", "q/x/../../y"] {
            let result = try s3put(["--endpoint-url", closed, path, "s3://\(try bucket)/\(key)"], endpoint: false)
            XCTAssertEqual(result.status, 64, result.summary)
            let message = result.err.trimmingCharacters(in: .newlines)
            XCTAssertTrue(message.contains("s3://\(try bucket)/\(key)"), "names the key: \(message)")
            XCTAssertFalse(message.contains("\n"), "one line: \(message)")
            let piped = try s3put(["--endpoint-url", closed, "s3://\(try bucket)/\(key)"], input: .data(Data("x".utf8)),
                                  endpoint: false)
            XCTAssertEqual(piped.status, 64, "a stream too: \(piped.summary)")
        }
        try onBothServers("keydots") { server in
            let refused = try put(server, [path, "s3://\(server.bucket)/q/./x"])
            XCTAssertEqual(refused.status, 64, refused.summary)
            XCTAssertEqual(try listedKeys(server, prefix: "q"), [], "\(server.name): nothing stored, at q/x or elsewhere")
        }
    }

    /// Keys another client stored with dot and empty segments (moto keeps them as written) are read by their
    /// exact bytes: libcurl sends the path as is, and the signature covers that same path. Without
    /// CURLOPT_PATH_AS_IS `dots/./x` would go out as `dots/x`.
    func testKeysWithDotSegmentsAreReadAsWritten() throws {
        let moto = try env.requireMoto()
        let motoBucket = uniqueBucketName("keydotsread")
        XCTAssertEqual(try aws(["s3", "mb", "s3://\(motoBucket)"], endpoint: moto).status, 0)
        defer { _ = try? aws(["s3", "rb", "--force", "s3://\(motoBucket)"], endpoint: moto) }
        let keys = ["dots/./x", "dots/../y", "dots//z", "dots/x", "dots/w/.."]
        for key in keys {
            let body = temp.file("body-\(UUID().uuidString)")
            try Data("the object at \(key)\n".utf8).write(to: URL(fileURLWithPath: body))
            let stored = try aws(["s3api", "put-object", "--bucket", motoBucket, "--key", key, "--body", body], endpoint: moto)
            XCTAssertEqual(stored.status, 0, stored.summary)
        }
        let configuration = try S3Configuration.resolve(S3Configuration.Overrides(endpointURL: moto),
                                                        environment: env.processEnvironment())
        let store = S3Store(client: S3Client(configuration), bucket: motoBucket)
        for key in keys {
            XCTAssertEqual(String(decoding: try store.get(key, range: nil), as: UTF8.self), "the object at \(key)\n", key)
            XCTAssertEqual(try store.head(key)?.size, "the object at \(key)\n".utf8.count, key)
        }
        XCTAssertEqual(try store.list(prefix: "dots/").map(\.key).sorted(), keys.sorted())
    }

    /// Every key under `prefix`, as aws-cli lists it.
    private func listedKeys(_ server: ServerBucket, prefix: String) throws -> [String] {
        let result = try aws(["s3api", "list-objects-v2", "--bucket", server.bucket, "--prefix", prefix, "--output", "json"],
                             endpoint: server.endpoint)
        XCTAssertEqual(result.status, 0, result.summary)
        guard !result.stdout.isEmpty, let object = try JSONSerialization.jsonObject(with: result.stdout) as? [String: Any] else {
            return []
        }
        return (object["Contents"] as? [[String: Any]] ?? []).compactMap { $0["Key"] as? String }.sorted()
    }
}
