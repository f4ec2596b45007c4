import COpenSSL
import Foundation

/// A running MD5 or SHA-256 over OpenSSL's EVP interface. Owns its context; one per thread of work.
///
/// Every EVP call is checked. A libcrypto that refuses an algorithm (a configuration without the default
/// provider, a FIPS-only build and MD5) is found before any work by `checkAvailable()`, a typed error; after
/// that a failing call means a broken library, and stops the process with the call and OpenSSL's reason rather
/// than making every hash of every buffer a `try` for a state no caller could recover from.
public final class Digest {
    public enum Algorithm: Sendable, CustomStringConvertible {
        case md5, sha256
        public var description: String { self == .md5 ? "MD5" : "SHA-256" }
    }

    private let context: OpaquePointer
    public let algorithm: Algorithm

    public init(_ algorithm: Algorithm) {
        self.algorithm = algorithm
        guard let ctx = EVP_MD_CTX_new() else { fatalError("OpenSSL: out of memory for a digest context") }
        context = ctx
        reset()
    }

    deinit { EVP_MD_CTX_free(context) }

    public func reset() {
        Self.check(EVP_DigestInit_ex(context, algorithm.evp, nil) == 1, "EVP_DigestInit_ex", algorithm)
    }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        Self.check(EVP_DigestUpdate(context, base, bytes.count) == 1, "EVP_DigestUpdate", algorithm)
    }

    public func update<Bytes: ContiguousBytes>(_ bytes: Bytes) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest of everything fed since the last reset; resets for the next use.
    public func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let finished = out.withUnsafeMutableBufferPointer { EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
        Self.check(finished == 1 && length == algorithm.length, "EVP_DigestFinal_ex", algorithm)
        reset()
        return Array(out.prefix(Int(length)))
    }

    public static func md5<Bytes: ContiguousBytes>(_ bytes: Bytes) -> [UInt8] {
        let d = Digest(.md5); d.update(bytes); return d.finish()
    }

    public static func sha256<Bytes: ContiguousBytes>(_ bytes: Bytes) -> [UInt8] {
        let d = Digest(.sha256); d.update(bytes); return d.finish()
    }

    /// HMAC-SHA256, the building block of SigV4 key derivation.
    public static func hmacSHA256<Key: ContiguousBytes, Bytes: ContiguousBytes>(key: Key, _ bytes: Bytes) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let result = key.withUnsafeBytes { k in
            bytes.withUnsafeBytes { b in
                out.withUnsafeMutableBufferPointer { o in
                    HMAC(EVP_sha256(), k.baseAddress, Int32(k.count),
                         b.baseAddress?.assumingMemoryBound(to: UInt8.self), b.count, o.baseAddress, &length)
                }
            }
        }
        check(result != nil && length == Algorithm.sha256.length, "HMAC", .sha256)
        return Array(out.prefix(Int(length)))
    }

    /// Fails when OpenSSL refuses MD5 or SHA-256 here; every tool asks once, before any work, so that a
    /// refusing libcrypto ends the run with one line instead of a trap half way through a transfer.
    public static func checkAvailable() throws {
        guard let context = EVP_MD_CTX_new() else { fatalError("OpenSSL: out of memory for a digest context") }
        defer { EVP_MD_CTX_free(context) }
        for algorithm in [Algorithm.md5, .sha256] where EVP_DigestInit_ex(context, algorithm.evp, nil) != 1 {
            throw CryptoLibraryError(message: "OpenSSL refuses \(algorithm) (\(openSSLReason())): S3 checks every "
                + "body by MD5 and SigV4 signs with SHA-256; run with OpenSSL's default provider (check OPENSSL_CONF)")
        }
    }

    /// Stops the process when an EVP call failed, naming the call and OpenSSL's reason.
    private static func check(_ succeeded: Bool, _ call: String, _ algorithm: Algorithm) {
        guard !succeeded else { return }
        fatalError("OpenSSL \(call) failed for \(algorithm) (\(openSSLReason())): the libcrypto in use is broken; reinstall OpenSSL 3")
    }

    /// The oldest error on OpenSSL's per-thread queue, in its own words, and the queue cleared.
    private static func openSSLReason() -> String {
        let code = ERR_get_error()
        defer { ERR_clear_error() }
        guard code != 0 else { return "no reason given" }
        var text = [CChar](repeating: 0, count: 256)
        text.withUnsafeMutableBufferPointer { ERR_error_string_n(code, $0.baseAddress, $0.count) }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

extension Digest.Algorithm {
    /// The digest's length in bytes, which every finished digest must have.
    var length: UInt32 { self == .md5 ? 16 : 32 }

    var evp: OpaquePointer? { self == .md5 ? EVP_md5() : EVP_sha256() }
}

/// OpenSSL refuses a digest the tools cannot work without: internal (70), since no option of ours changes it.
public struct CryptoLibraryError: ReportableError {
    public let message: String
    public var exitStatus: ExitStatus { .software }
    public var description: String { message }
}

extension Sequence where Element == UInt8 {
    /// Lower-case hexadecimal, as ETags and SigV4 write digests.
    public var hex: String {
        let digits = Array("0123456789abcdef".utf8)
        var chars = [UInt8]()
        for byte in self {
            chars.append(digits[Int(byte >> 4)])
            chars.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: chars, as: UTF8.self)
    }
}
