@testable import ArchiveCore
import Foundation
import XCTest

final class ParsingTests: XCTestCase {
    func testSizes() throws {
        XCTAssertEqual(try ByteSize.parse("8388608"), 8 << 20)
        XCTAssertEqual(try ByteSize.parse("8MiB"), 8 << 20)
        XCTAssertEqual(try ByteSize.parse("8M"), 8 << 20)
        XCTAssertEqual(try ByteSize.parse("8mb"), 8 << 20)
        XCTAssertEqual(try ByteSize.parse("5GiB"), 5 << 30)
        XCTAssertEqual(try ByteSize.parse("1k"), 1024)
        for bad in ["", "MiB", "8X", "-1", "8 M B", "99999999999999999999T"] {
            XCTAssertThrowsError(try ByteSize.parse(bad), bad) { error in
                XCTAssertEqual((error as? ReportableError)?.exitStatus, .usage, bad)
            }
        }
        XCTAssertEqual(ByteSize.format(8 << 20), "8 MiB")
        XCTAssertEqual(ByteSize.format(1536 << 20), "1.5 GiB")
    }

    func testURLs() throws {
        XCTAssertEqual(try StorageURL(parsing: "s3://my-bucket/a/b.tar"), .s3(bucket: "my-bucket", key: "a/b.tar"))
        XCTAssertEqual(try StorageURL(parsing: "s3://my-bucket"), .s3(bucket: "my-bucket", key: ""))
        XCTAssertTrue(try StorageURL(parsing: "s3://my-bucket/dir/").isPrefix)
        XCTAssertEqual(try StorageURL(parsing: "file:///data/x%20y"), .file(path: "/data/x y"))
        for bad in ["s3:/x", "s3://", "s3://UPPER/k", "http://x/y", "file://relative/x", "bucket/key", "s3://a/k"] {
            XCTAssertThrowsError(try StorageURL(parsing: bad), bad) { error in
                XCTAssertEqual((error as? ReportableError)?.exitStatus, .usage, bad)
                XCTAssertTrue("\(error)".contains(bad), "the message names the URL: \(error)")
            }
        }
    }

    func testS3ErrorsParseAndClassify() {
        let body = Array("""
        <?xml version="1.0" encoding="UTF-8"?>
        <Error><Code>SignatureDoesNotMatch</Code><Message>nope</Message><RequestId>r1</RequestId></Error>
        """.utf8)
        let error = S3Error.from(HTTPResponse(status: 403, headers: [:], body: body), resource: "s3://b/k", isBucketRequest: false)
        XCTAssertEqual(error.code, "SignatureDoesNotMatch")
        XCTAssertEqual(error.requestID, "r1")
        XCTAssertEqual(error.exitStatus, .noPermission)
        XCTAssertFalse(error.isRetryable)
        let slow = S3Error.from(HTTPResponse(status: 503, headers: [:], body: []), resource: "s3://b", isBucketRequest: true)
        XCTAssertEqual(slow.code, "SlowDown")
        XCTAssertTrue(slow.isRetryable)
        let missing = S3Error.from(HTTPResponse(status: 404, headers: [:], body: []), resource: "s3://b", isBucketRequest: true)
        XCTAssertEqual(missing.code, "NoSuchBucket")
        XCTAssertEqual(missing.exitStatus, .noInput)
        XCTAssertTrue(missing.description.contains("'b'"))
    }

    func testConfigurationFollowsTheAWSConventions() throws {
        let home = FileManager.default.temporaryDirectory.appendingPathComponent("aws-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: home.appendingPathComponent(".aws"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: home) }
        try """
        [default]
        aws_access_key_id = DEFAULTKEY
        aws_secret_access_key = defaultsecret
        [archive]
        aws_access_key_id = ARCHIVEKEY
        aws_secret_access_key = archivesecret
        aws_session_token = archivetoken
        """.write(to: home.appendingPathComponent(".aws/credentials"), atomically: true, encoding: .utf8)
        try """
        [default]
        region = eu-west-1
        [profile archive]
        region = ap-southeast-2
        endpoint_url = http://127.0.0.1:9000
        """.write(to: home.appendingPathComponent(".aws/config"), atomically: true, encoding: .utf8)

        let base = ["HOME": home.path]
        let plain = try S3Configuration.resolve(.init(), environment: base)
        XCTAssertEqual(plain.credentials.accessKeyID, "DEFAULTKEY")
        XCTAssertEqual(plain.region, "eu-west-1")
        XCTAssertNil(plain.endpoint)

        let profile = try S3Configuration.resolve(.init(), environment: base.merging(["AWS_PROFILE": "archive"]) { $1 })
        XCTAssertEqual(profile.credentials.accessKeyID, "ARCHIVEKEY")
        XCTAssertEqual(profile.credentials.sessionToken, "archivetoken")
        XCTAssertEqual(profile.region, "ap-southeast-2")
        XCTAssertEqual(profile.endpoint?.absoluteString, "http://127.0.0.1:9000")

        let env = try S3Configuration.resolve(.init(), environment: base.merging([
            "AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "envsecret", "AWS_REGION": "us-west-2",
            "AWS_ENDPOINT_URL": "http://localhost:1", "AWS_ENDPOINT_URL_S3": "http://localhost:2",
        ]) { $1 })
        XCTAssertEqual(env.credentials.accessKeyID, "ENVKEY")
        XCTAssertEqual(env.region, "us-west-2")
        XCTAssertEqual(env.endpoint?.port, 2)

        let flags = try S3Configuration.resolve(.init(endpointURL: "https://s3.example.org", region: "eu-north-1", profile: "archive"),
                                                environment: base.merging(["AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": "x"]) { $1 })
        XCTAssertEqual(flags.credentials.accessKeyID, "ARCHIVEKEY", "a named profile wins over the environment's keys")
        XCTAssertEqual(flags.region, "eu-north-1")
        XCTAssertEqual(flags.endpoint?.host, "s3.example.org")

        XCTAssertThrowsError(try S3Configuration.resolve(.init(profile: "nope"), environment: base)) {
            XCTAssertEqual(($0 as? ReportableError)?.exitStatus, .noPermission)
        }
        XCTAssertThrowsError(try S3Configuration.resolve(.init(), environment: ["HOME": "/nonexistent"])) {
            XCTAssertEqual(($0 as? ReportableError)?.exitStatus, .noPermission)
        }
        XCTAssertThrowsError(try S3Configuration.resolve(.init(endpointURL: "ftp://x"), environment: base)) {
            XCTAssertEqual(($0 as? ReportableError)?.exitStatus, .usage)
        }
    }

    func testAddressing() throws {
        let credentials = Credentials(accessKeyID: "a", secretAccessKey: "b")
        let aws = S3Client(S3Configuration(credentials: credentials, region: "eu-west-1", endpoint: nil))
        XCTAssertEqual(aws.address(bucket: "photos", key: "a b/c").host, "photos.s3.eu-west-1.amazonaws.com")
        XCTAssertEqual(aws.address(bucket: "photos", key: "a b/c").path, "/a b/c")
        XCTAssertEqual(aws.address(bucket: "my.dotted", key: "k").path, "/my.dotted/k")
        let custom = S3Client(S3Configuration(credentials: credentials, region: "us-east-1",
                                              endpoint: URL(string: "http://127.0.0.1:8333")!))
        let request = custom.signedRequest("PUT", bucket: "b1b", key: "dir/a+b c=é", query: [("uploads", "")],
                                           headers: [], body: [])
        XCTAssertEqual(request.url, "http://127.0.0.1:8333/b1b/dir/a%2Bb%20c%3D%C3%A9?uploads")
        XCTAssertTrue(request.headers.contains { $0.name == "Host" && $0.value == "127.0.0.1:8333" })
        XCTAssertTrue(request.headers.contains { $0.name == "Authorization" })
        XCTAssertFalse(request.headers.contains { $0.value.contains("b") && $0.name == "X-Amz-Security-Token" })
    }
}
