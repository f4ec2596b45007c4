import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Catches SIGINT and SIGTERM while work that must be cleaned up is under way: runs `cleanup`, then exits with
/// 128 + the signal's number, as a shell would report it.
public final class SignalGuard: @unchecked Sendable {
    private var sources: [DispatchSourceSignal] = []

    public init(_ cleanup: @escaping @Sendable (Int32) -> Void) {
        for number in [SIGINT, SIGTERM] {
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                cleanup(number)
                exit(128 + number)
            }
            source.resume()
            sources.append(source)
        }
    }

    public func cancel() {
        for source in sources { source.cancel() }
        sources.removeAll()
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}
