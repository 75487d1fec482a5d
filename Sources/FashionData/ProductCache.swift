import Foundation

/// One uint8 file per product-image dataset configuration: a header line
/// `FBCACHE1 <key>`, a JSON line (shape, count, class names, unreadable images), then the labels
/// (int32, little-endian) and the pixels. Written to a temporary file and renamed, so a cache
/// file is either complete or absent; anything unexpected on reading means "no cache".
enum ProductCache {
    struct Header: Codable {
        var shape: [Int]
        var count: Int
        var classNames: [String]
        var unreadable: [String]
    }

    /// The cached set, or nil unless the file is complete, carries `key` and holds images of
    /// `shape` in `classNames` (a damaged header must not be trusted, not even for sizes).
    static func read(_ path: String, key: String, shape: [Int], classNames: [String]) -> (set: ImageSet, unreadable: [String])? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        guard let first = data.firstIndex(of: 0x0A), let second = data[(first + 1)...].firstIndex(of: 0x0A) else { return nil }
        guard String(decoding: data[data.startIndex..<first], as: UTF8.self) == "FBCACHE1 \(key)",
              let header = try? JSONDecoder().decode(Header.self, from: data[(first + 1)..<second]),
              header.shape == shape, header.classNames == classNames, header.count >= 0 else { return nil }
        let size = shape.reduce(1, *)
        let labelsStart = second + 1 - data.startIndex
        let (labelBytes, o1) = header.count.multipliedReportingOverflow(by: 4)
        let (pixelBytes, o2) = header.count.multipliedReportingOverflow(by: size)
        guard !o1, !o2, data.count - labelsStart - labelBytes == pixelBytes else { return nil }
        var labels = [Int32](repeating: 0, count: header.count)
        var pixels = [UInt8](repeating: 0, count: pixelBytes)
        let valid = data.withUnsafeBytes { raw -> Bool in
            let bytes = raw.bindMemory(to: UInt8.self)
            for i in 0..<header.count {
                let p = labelsStart + 4 * i
                labels[i] = Int32(bitPattern: UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24)
                guard labels[i] >= 0, Int(labels[i]) < classNames.count else { return false }
            }
            pixels.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[(labelsStart + labelBytes)...])) }
            return true
        }
        guard valid else { return nil }
        return (ImageSet(shape: shape, pixels: pixels, labels: labels, classNames: classNames), header.unreadable)
    }

    /// Best effort: a cache that cannot be written costs a re-decode next time, nothing more.
    static func write(_ set: ImageSet, unreadable: [String], key: String, to path: String) {
        let header = Header(shape: set.shape, count: set.count, classNames: set.classNames, unreadable: unreadable)
        guard let json = try? JSONEncoder().encode(header) else { return }
        var out = Data("FBCACHE1 \(key)\n".utf8)
        out.append(json)
        out.append(0x0A)
        var labels = [UInt8]()
        labels.reserveCapacity(4 * set.count)
        for l in set.labels {
            let u = UInt32(bitPattern: l)
            labels += [UInt8(u & 0xFF), UInt8(u >> 8 & 0xFF), UInt8(u >> 16 & 0xFF), UInt8(u >> 24)]
        }
        out.append(contentsOf: labels)
        out.append(contentsOf: set.pixels)
        let url = URL(fileURLWithPath: path)
        try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).\(getpid()).tmp")
        do {
            try out.write(to: temporary)
            if rename(temporary.path, url.path) != 0 { try? FileManager.default.removeItem(at: temporary) }
        } catch {
            try? FileManager.default.removeItem(at: temporary)
        }
    }
}
