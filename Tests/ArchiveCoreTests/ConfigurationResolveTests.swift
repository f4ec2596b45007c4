@testable import ArchiveCore
import Foundation
import XCTest

/// Credentials from one provider at a time, in aws-cli's order, and the CA bundle from the environment or the
/// profile: resolved from files written here, no server needed.
final class ConfigurationResolveTests: XCTestCase {
    private var directory = ""

    override func setUpWithError() throws {
        directory = NSTemporaryDirectory() + "s3a-config-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try """
            [default]
            aws_access_key_id = AKIAFILE
            aws_secret_access_key = file-secret
            aws_session_token = file-token

            [keyonly]
            aws_access_key_id = AKIAHALF

            """.write(toFile: directory + "/credentials", atomically: true, encoding: .utf8)
        try """
            [default]
            ca_bundle = \(directory)/ca.pem

            [profile fromconfig]
            aws_access_key_id = AKIACONFIG
            aws_secret_access_key = config-secret

            """.write(toFile: directory + "/config", atomically: true, encoding: .utf8)
        try "pem\n".write(toFile: directory + "/ca.pem", atomically: true, encoding: .utf8)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(atPath: directory)
    }

    private func resolve(_ environment: [String: String], profile: String? = nil) throws -> S3Configuration {
        var all = ["HOME": directory, "AWS_SHARED_CREDENTIALS_FILE": directory + "/credentials",
                   "AWS_CONFIG_FILE": directory + "/config"]
        all.merge(environment) { $1 }
        return try S3Configuration.resolve(S3Configuration.Overrides(profile: profile), environment: all)
    }

    func testEnvironmentKeysNeverTakeTheFilesToken() throws {
        let env = try resolve(["AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env-secret"]).credentials
        XCTAssertEqual(env.accessKeyID, "AKIAENV")
        XCTAssertEqual(env.secretAccessKey, "env-secret")
        XCTAssertNil(env.sessionToken)

        let withToken = try resolve(["AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env-secret",
                                     "AWS_SESSION_TOKEN": "env-token"]).credentials
        XCTAssertEqual(withToken.sessionToken, "env-token")

        let file = try resolve([:]).credentials
        XCTAssertEqual([file.accessKeyID, file.secretAccessKey, file.sessionToken], ["AKIAFILE", "file-secret", "file-token"])

        // A token in the environment is not added to the file's keys either.
        let fileKeys = try resolve(["AWS_SESSION_TOKEN": "env-token"]).credentials
        XCTAssertEqual(fileKeys.sessionToken, "file-token")
    }

    func testProvidersInOrderAndHalfGivenKeysRefused() throws {
        let fromConfig = try resolve([:], profile: "fromconfig").credentials
        XCTAssertEqual([fromConfig.accessKeyID, fromConfig.secretAccessKey], ["AKIACONFIG", "config-secret"])
        XCTAssertNil(fromConfig.sessionToken)

        // --profile names the provider: the environment's keys are not used.
        let named = try resolve(["AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env-secret"], profile: "fromconfig")
        XCTAssertEqual(named.credentials.accessKeyID, "AKIACONFIG")

        XCTAssertThrowsError(try resolve(["AWS_ACCESS_KEY_ID": "AKIAENV"])) { error in
            XCTAssertEqual((error as? ReportableError)?.exitStatus, .noPermission)
            XCTAssertEqual("\(error)", "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not: set both, or neither to use the profile")
        }
        XCTAssertThrowsError(try resolve([:], profile: "keyonly")) { error in
            XCTAssertTrue("\(error)".contains("has aws_access_key_id but no aws_secret_access_key"), "\(error)")
        }
    }

    func testCABundleFromTheEnvironmentOrTheProfile() throws {
        let keys = ["AWS_ACCESS_KEY_ID": "AKIAENV", "AWS_SECRET_ACCESS_KEY": "env-secret"]
        XCTAssertEqual(try resolve(keys).http.caBundle, directory + "/ca.pem")
        let other = directory + "/other.pem"
        try "pem\n".write(toFile: other, atomically: true, encoding: .utf8)
        XCTAssertEqual(try resolve(keys.merging(["AWS_CA_BUNDLE": other]) { $1 }).http.caBundle, other)

        let missing = directory + "/missing.pem"
        XCTAssertThrowsError(try resolve(keys.merging(["AWS_CA_BUNDLE": missing]) { $1 })) { error in
            XCTAssertEqual((error as? ReportableError)?.exitStatus, .unavailable)
            XCTAssertTrue("\(error)".hasPrefix("the CA bundle \(missing) (AWS_CA_BUNDLE) does not exist"), "\(error)")
        }
        // Plain HTTP never reads it: a stale setting does not stop a local endpoint.
        let plain = try resolve(keys.merging(["AWS_CA_BUNDLE": missing, "AWS_ENDPOINT_URL": "http://127.0.0.1:8333"]) { $1 })
        XCTAssertEqual(plain.http.caBundle, missing)
    }
}
