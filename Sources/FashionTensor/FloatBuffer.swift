/// A fixed-size, 64-byte aligned float32 buffer, allocated once (when a model is built)
/// and reused for every step. Activations, gradients and workspaces all live in these.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>

    public init(count: Int) {
        self.count = count
        let raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * MemoryLayout<Float>.stride, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { pointer.deallocate() }

    public var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: pointer, count: count) }
    public var array: [Float] { Array(buffer) }

    public func zero() { pointer.update(repeating: 0, count: count) }

    public func copy(from other: FloatBuffer) {
        precondition(other.count == count, "buffer sizes differ: \(other.count) vs \(count)")
        pointer.update(from: other.pointer, count: count)
    }
}

/// A workspace a layer may never use (the column buffer of a convolution whose passes are all
/// direct): allocated when the layer is built if it is known to be needed, else on first use,
/// and then kept.
public final class OnDemandBuffer: @unchecked Sendable {
    public let count: Int
    private var made: FloatBuffer?

    public init(count: Int, allocateNow: Bool) {
        self.count = count
        made = allocateNow ? FloatBuffer(count: count) : nil
    }

    public var buffer: FloatBuffer {
        if let made { return made }
        let fresh = FloatBuffer(count: count)
        made = fresh
        return fresh
    }

    /// Frees the memory until `buffer` is next asked for.
    public func release() { made = nil }
}
