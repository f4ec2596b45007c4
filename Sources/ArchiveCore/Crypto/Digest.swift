import COpenSSL
import Foundation

/// A running MD5 or SHA-256 over OpenSSL's EVP interface. Owns its context; one per thread of work.
public final class Digest {
    public enum Algorithm: Sendable { case md5, sha256 }

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
        let md = algorithm == .md5 ? EVP_md5() : EVP_sha256()
        EVP_DigestInit_ex(context, md, nil)
    }

    public func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
        EVP_DigestUpdate(context, base, bytes.count)
    }

    public func update<Bytes: ContiguousBytes>(_ bytes: Bytes) {
        bytes.withUnsafeBytes { update($0) }
    }

    /// The digest of everything fed since the last reset; resets for the next use.
    public func finish() -> [UInt8] {
        var out = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        out.withUnsafeMutableBufferPointer { _ = EVP_DigestFinal_ex(context, $0.baseAddress, &length) }
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
        var out = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        key.withUnsafeBytes { k in
            bytes.withUnsafeBytes { b in
                out.withUnsafeMutableBufferPointer { o in
                    _ = HMAC(EVP_sha256(), k.baseAddress, Int32(k.count),
                             b.baseAddress?.assumingMemoryBound(to: UInt8.self), b.count, o.baseAddress, &length)
                }
            }
        }
        return out
    }
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
