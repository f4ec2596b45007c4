import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// A failed system call on a local file, with the path and the system's reason.
public struct LocalFileError: ReportableError {
    public let path: String
    public let errno: Errno
    public let action: String
    /// Opening something the user named: missing or unreadable input is exit 66, not an I/O fault.
    public let isInput: Bool

    public init(path: String, errno: Errno, action: String, isInput: Bool) {
        self.path = path
        self.errno = errno
        self.action = action
        self.isInput = isInput
    }

    public init(path: FilePath, errno: Errno, action: String, isInput: Bool) {
        self.init(path: path.displayString, errno: errno, action: action, isInput: isInput)
    }

    public var exitStatus: ExitStatus {
        let missing: [Errno] = [.noSuchFileOrDirectory, .permissionDenied, .isDirectory, .notDirectory, .tooManySymbolicLinkLevels]
        return isInput && missing.contains(errno) ? .noInput : .ioError
    }

    public var description: String {
        if isInput && errno == .noSuchFileOrDirectory { return "\(path): no such file: check the path" }
        if isInput && errno == .permissionDenied { return "\(path): permission denied: make it readable (chmod u+r)" }
        if isInput && errno == .isDirectory { return "\(path): is a directory: name a file" }
        if errno == .noSpace { return "\(path): cannot \(action): no space left on the device: free some space and run again" }
        return "\(path): cannot \(action): \(errno.description.lowercased())"
    }
}

extension Errno {
    /// Runs a system call that returns -1 and sets errno on failure, retrying on EINTR.
    @discardableResult
    static func check(_ call: () -> Int32) throws -> Int32 {
        while true {
            let result = call()
            if result != -1 { return result }
            let code = Errno(rawValue: Glibc.errno)
            if code != .interrupted { throw code }
        }
    }
}

extension FileDescriptor {
    /// Runs `body`, then closes the descriptor; the first error of the two is thrown, so a failed close is never lost.
    func closing<T>(_ body: () throws -> T) throws -> T {
        let result: Result<T, any Error>
        do { result = .success(try body()) } catch { result = .failure(error) }
        do { try close() } catch {
            if case .success = result { throw error }
        }
        return try result.get()
    }
}
