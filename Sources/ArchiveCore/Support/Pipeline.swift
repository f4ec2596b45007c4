import Foundation

/// A reusable byte buffer handed between threads by reference, so that its array is never shared: a shared
/// array would be copied on the next write, doubling memory and adding a copy per part.
final class ByteBuffer: @unchecked Sendable {
    var bytes: [UInt8]
    /// How many of `bytes` hold data.
    var count = 0

    init(capacity: Int) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    var filled: ArraySlice<UInt8> { bytes[..<count] }
}

/// A fixed number of reusable buffers: taking one blocks until another thread gives one back, which is what
/// bounds memory whatever the length of the stream passing through.
final class BufferPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var free: [ByteBuffer]

    init(count: Int, capacity: Int = 0) {
        free = (0..<count).map { _ in ByteBuffer(capacity: capacity) }
    }

    func take() -> ByteBuffer {
        condition.lock()
        defer { condition.unlock() }
        while free.isEmpty { condition.wait() }
        return free.removeLast()
    }

    func give(_ buffer: ByteBuffer) {
        condition.lock()
        free.append(buffer)
        condition.signal()
        condition.unlock()
    }
}

/// A first-in first-out hand-over between threads; `nil` from `pop` means the producer has closed it.
final class HandOff<Item>: @unchecked Sendable {
    private let condition = NSCondition()
    private var items: [Item] = []
    private var closed = false

    func push(_ item: Item) {
        condition.lock()
        items.append(item)
        condition.signal()
        condition.unlock()
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    func pop() -> Item? {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty && !closed { condition.wait() }
        return items.isEmpty ? nil : items.removeFirst()
    }
}
