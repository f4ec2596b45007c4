import Foundation
import Synchronization

/// A reusable byte buffer handed between threads by reference, so that its array is never shared: a shared
/// array would be copied on the next write, doubling memory and adding a copy per part. Only one thread uses
/// a buffer at a time (the pool or queue hands it over), which is why it may cross threads unlocked.
final class ByteBuffer: @unchecked Sendable {
    var bytes: [UInt8]
    /// How many of `bytes` hold data.
    var count = 0

    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    var filled: ArraySlice<UInt8> { bytes[..<count] }

    /// Gives the memory back (the buffer stays usable and grows again when next filled).
    func release() {
        bytes = []
        count = 0
    }
}

/// A fixed number of reusable buffers: taking one blocks until another thread gives one back, which is what
/// bounds memory whatever the length of the stream passing through.
final class BufferPool<Buffer: AnyObject & Sendable>: Sendable {
    private let free: Mutex<[Buffer]>
    private let available: DispatchSemaphore

    init(_ buffers: [Buffer]) {
        free = Mutex(buffers)
        available = countingSemaphore(buffers.count)
    }

    func take() -> Buffer {
        available.wait()
        return free.withLock { $0.removeLast() }
    }

    func give(_ buffer: Buffer) {
        free.withLock { $0.append(buffer) }
        available.signal()
    }
}

extension BufferPool where Buffer == ByteBuffer {
    convenience init(count: Int, capacity: Int = 0) {
        self.init((0..<count).map { _ in ByteBuffer(capacity: capacity) })
    }
}

/// A first-in first-out hand-over between threads; `nil` from `pop` means the producer has closed it.
/// With a capacity, `push` blocks while that many items wait (the producer is held back, not memory grown).
final class HandOff<Item: Sendable>: Sendable {
    private struct State {
        var items: [Item?] = []
        var head = 0
        var closed = false
    }
    private let state = Mutex(State())
    private let waiting = DispatchSemaphore(value: 0)
    private let room: DispatchSemaphore?

    init(capacity: Int? = nil) {
        room = capacity.map { countingSemaphore(max(1, $0)) }
    }

    func push(_ item: Item) {
        room?.wait()
        state.withLock { $0.items.append(item) }
        waiting.signal()
    }

    /// No more items; every consumer blocked in `pop` (and each later call) gets nil once the queue is empty.
    /// `consumers` is how many threads pop, so each is woken.
    func close(consumers: Int = 1) {
        state.withLock { $0.closed = true }
        for _ in 0..<max(1, consumers) { waiting.signal() }
    }

    func pop() -> Item? {
        while true {
            waiting.wait()
            let (item, ended): (Item?, Bool) = state.withLock { state in
                guard state.head < state.items.count else { return (nil, state.closed) }
                let item = state.items[state.head]
                state.items[state.head] = nil
                state.head += 1
                // Compact now and then so a long-lived queue does not keep every slot it ever had.
                if state.head > 64, state.head * 2 > state.items.count {
                    state.items.removeFirst(state.head)
                    state.head = 0
                }
                return (item, false)
            }
            if let item {
                room?.signal()
                return item
            }
            if ended {
                // Leave the wake-up for the next consumer: a closed queue answers nil to every pop.
                waiting.signal()
                return nil
            }
        }
    }
}

/// A semaphore holding `count`, made from zero: libdispatch traps when a semaphore is freed holding less than
/// it was created with, as a pool does when its owner stops early with buffers still out.
func countingSemaphore(_ count: Int) -> DispatchSemaphore {
    let semaphore = DispatchSemaphore(value: 0)
    for _ in 0..<count { semaphore.signal() }
    return semaphore
}

/// `transform` of each item, in order, the items shared among `workers` threads (each takes every `workers`-th):
/// for work that is mostly a system call per item (an lstat), where one thread would leave the other cores idle.
func concurrentMap<Item: Sendable, Result: Sendable>(_ items: [Item], workers: Int,
                                                     _ transform: @Sendable (Item) -> Result) -> [Result] {
    let workers = max(1, min(workers, items.count))
    guard workers > 1 else { return items.map(transform) }
    let shares = Mutex<[Int: [Result]]>([:])
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
        let share = stride(from: worker, to: items.count, by: workers).map { transform(items[$0]) }
        shares.withLock { $0[worker] = share }
    }
    let done = shares.withLock { $0 }
    return items.indices.map { done[$0 % workers]![$0 / workers] }
}
