import Foundation
import XCTest

/// The AWS conventions: profiles in the shared files, the endpoint from the environment or the profile, flags over
/// both; no credentials at all is a plain refusal; a session token is never printed.
final class ConfigurationTests: EndToEndCase {
    /// A shared credentials file and a config file with the profile `archive` (keys, region, endpoint_url).
    private func writeProfileFiles() throws -> (credentials: String, config: String) {
        let credentials = temp.file("credentials"), config = temp.file("config")
        try """
            [default]
            aws_access_key_id = AKIADEFAULTNOTUSED00
            aws_secret_access_key = default-secret-not-used

            [archive]
            aws_access_key_id = \(env.accessKey)
            aws_secret_access_key = \(env.secretKey)

            """.write(toFile: credentials, atomically: true, encoding: .utf8)
        try """
            [profile archive]
            region = \(env.region)
            endpoint_url = \(env.endpoint)

            """.write(toFile: config, atomically: true, encoding: .utf8)
        return (credentials, config)
    }

    func testProfileFromTheSharedFiles() throws {
        let bucket = try bucket
        let files = try writeProfileFiles()
        let source = temp.file("p.bin")
        try makeRandomFile(source, size: 6 * MiB)
        let base: [String: String?] = ["AWS_ACCESS_KEY_ID": nil, "AWS_SECRET_ACCESS_KEY": nil,
                                       "AWS_SHARED_CREDENTIALS_FILE": files.credentials, "AWS_CONFIG_FILE": files.config]
        // --profile: keys from the credentials file, endpoint from the config file (no --endpoint-url).
        let byFlag = try s3put(["--profile", "archive", "--part-size", "5MiB", source, "s3://\(bucket)/by-flag.bin"],
                               endpoint: false, environment: base)
        XCTAssertEqual(singleRecord(byFlag)?.etag, try etagOf(source, partSize: "5MiB"))

        // AWS_PROFILE does the same.
        var viaEnv = base
        viaEnv["AWS_PROFILE"] = "archive"
        let byEnv = try s3put([source, "s3://\(bucket)/by-env.bin"], endpoint: false, environment: viaEnv)
        XCTAssertEqual(byEnv.status, 0, byEnv.summary)
        XCTAssertEqual(try headObject(bucket, "by-env.bin")?.size, 6 * MiB)

        // Environment keys win over the profile's.
        var keysWin = viaEnv
        keysWin["AWS_ACCESS_KEY_ID"] = "AKIAUNKNOWNKEY000000"
        keysWin["AWS_SECRET_ACCESS_KEY"] = "env-secret-\(UUID().uuidString)"
        let refused = try s3put([source, "s3://\(bucket)/refused.bin"], endpoint: false, environment: keysWin)
        XCTAssertEqual(refused.status, 77, "environment keys must override the profile: \(refused.summary)")
    }

    func testEndpointFromTheEnvironmentAndFlagPrecedence() throws {
        let bucket = try bucket
        let source = temp.file("e.bin")
        try makeRandomFile(source, size: 1_000)
        let unreachable = "http://127.0.0.1:1"

        let plain = try s3put([source, "s3://\(bucket)/env.bin"], endpoint: false,
                              environment: ["AWS_ENDPOINT_URL": env.endpoint])
        XCTAssertEqual(plain.status, 0, "AWS_ENDPOINT_URL: \(plain.summary)")

        let s3Specific = try s3put([source, "s3://\(bucket)/env-s3.bin"], endpoint: false,
                                   environment: ["AWS_ENDPOINT_URL_S3": env.endpoint, "AWS_ENDPOINT_URL": unreachable])
        XCTAssertEqual(s3Specific.status, 0, "AWS_ENDPOINT_URL_S3 comes before AWS_ENDPOINT_URL: \(s3Specific.summary)")

        let flag = try s3put(["--endpoint-url", env.endpoint, source, "s3://\(bucket)/flag.bin"], endpoint: false,
                             environment: ["AWS_ENDPOINT_URL_S3": unreachable, "AWS_MAX_ATTEMPTS": "1"])
        XCTAssertEqual(flag.status, 0, "--endpoint-url overrides the environment: \(flag.summary)")
    }

    func testNoCredentialsAtAllIsRefused() throws {
        let bucket = try bucket
        let source = temp.file("n.bin")
        try makeRandomFile(source, size: 1_000)
        let result = try s3put([source, "s3://\(bucket)/no-credentials.bin"],
                               environment: ["AWS_ACCESS_KEY_ID": nil, "AWS_SECRET_ACCESS_KEY": nil])
        XCTAssertEqual(result.status, 77, result.summary)
        XCTAssertTrue(result.err.lowercased().contains("credentials"), result.err)
        XCTAssertEqual(result.out, "")
    }

    /// SeaweedFS refuses a token it never issued; whatever the message, the token is not in it.
    func testSessionTokenIsNeverPrinted() throws {
        let bucket = try bucket
        let source = temp.file("t.bin")
        try makeRandomFile(source, size: 6 * MiB)
        let token = "session-token-\(UUID().uuidString)"
        let result = try s3put(["--part-size", "5MiB", source, "s3://\(bucket)/token.bin"],
                               environment: ["AWS_SESSION_TOKEN": token])
        assertNoSecret(result, token)
        XCTAssertEqual(result.status, 77, result.summary)
    }
}
