import Foundation

/// The base64 MD5 that S3 checks a body against (`Content-MD5`), and the SSE-C key against
/// (`x-amz-server-side-encryption-customer-key-MD5`): a body damaged on the way is refused, not stored.
public enum ContentMD5 {
    public static let name = "Content-MD5"

    /// The header for a body whose MD5 is already known: uploads hash each part once, for the ETag as well.
    public static func header(_ md5: [UInt8]) -> (name: String, value: String) {
        (name, Data(md5).base64EncodedString())
    }

    /// The header for `body`.
    public static func header<Bytes: ContiguousBytes>(of body: Bytes) -> (name: String, value: String) {
        header(Digest.md5(body))
    }

    /// The header's value for `bytes`, for the other headers S3 writes the same way.
    public static func value<Bytes: ContiguousBytes>(of bytes: Bytes) -> String {
        header(of: bytes).value
    }
}
