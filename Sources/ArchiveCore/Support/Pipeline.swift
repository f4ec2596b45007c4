import Foundation

/// A fixed number of reusable buffers: taking one blocks until another thread gives one back, which is what
/// bounds memory whatever the length of the stream passing through.
final class BufferPool: @unchecked Sendable {
    private let condition = NSCondition()
    private var free: [[UInt8]]

    init(count: Int, capacity: Int = 0) {
        free = (0..<count).map { _ in
            var buffer: [UInt8] = []
            buffer.reserveCapacity(capacity)
            return buffer
        }
    }

    func take() -> [UInt8] {
        condition.lock()
        defer { condition.unlock() }
        while free.isEmpty { condition.wait() }
        return free.removeLast()
    }

    func give(_ buffer: [UInt8]) {
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
