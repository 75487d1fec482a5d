#if canImport(Glibc)
import Glibc
#endif

/// A fixed-size, 64-byte aligned float32 buffer of zeros, allocated once (when a model is
/// built) and reused for every step. Activations, gradients and workspaces all live in these.
public final class FloatBuffer: @unchecked Sendable {
    public let count: Int
    public let pointer: UnsafeMutablePointer<Float>
    /// Bytes mapped for a large buffer (0: allocated from the heap).
    private let mappedBytes: Int

    /// From this size on, buffers are fresh anonymous pages, which read as zero without being
    /// written: building a model then touches no memory (the autoencoder's buffers for an
    /// evaluation batch of 256 are 5.5 GB), and pages a run never uses are never faulted in.
    static let mappingThreshold = 1 << 20

    public init(count: Int) {
        self.count = count
        let bytes = max(count, 1) * MemoryLayout<Float>.stride
        #if canImport(Glibc)
        if bytes >= FloatBuffer.mappingThreshold,
           let raw = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), raw != MAP_FAILED {
            mappedBytes = bytes
            pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
            return
        }
        #endif
        mappedBytes = 0
        let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        pointer = raw.bindMemory(to: Float.self, capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { pointer.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit {
        #if canImport(Glibc)
        if mappedBytes > 0 { munmap(pointer, mappedBytes); return }
        #endif
        pointer.deallocate()
    }

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
