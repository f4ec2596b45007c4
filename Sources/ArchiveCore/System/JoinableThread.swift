import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A thread that can be waited for to its very end, its thread-local destructors included, which Foundation's
/// `Thread` cannot do. A worker whose OpenSSL per-thread clean-up runs while the process exits (and OpenSSL's
/// exit handler frees the same state) corrupts the heap: the transfer engine joins its workers first.
final class JoinableThread: @unchecked Sendable {
    // @unchecked: `handle` is written once, by pthread_create, before any other use.
    private var handle = pthread_t()

    private final class Body {
        let run: @Sendable () -> Void
        init(_ run: @escaping @Sendable () -> Void) { self.run = run }
    }

    init(name: String, _ run: @escaping @Sendable () -> Void) {
        let body = Unmanaged.passRetained(Body {
            Thread.current.name = name
            run()
        }).toOpaque()
        let result = pthread_create(&handle, nil, { raw in
            Unmanaged<Body>.fromOpaque(raw!).takeRetainedValue().run()
            return nil
        }, body)
        precondition(result == 0, "cannot start a thread: \(String(cString: strerror(result)))")
    }

    /// Returns when the thread has ended, its thread-local storage freed.
    func join() { pthread_join(handle, nil) }
}
