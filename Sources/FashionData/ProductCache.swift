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

    static func read(_ path: String, key: String) -> (set: ImageSet, unreadable: [String])? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        let bytes = [UInt8](data)
        guard let first = bytes.firstIndex(of: 0x0A), let second = bytes[(first + 1)...].firstIndex(of: 0x0A) else { return nil }
        guard String(decoding: bytes[..<first], as: UTF8.self) == "FBCACHE1 \(key)",
              let header = try? JSONDecoder().decode(Header.self, from: Data(bytes[(first + 1)..<second])),
              header.shape.count == 3, header.shape.allSatisfy({ $0 > 0 }), header.count >= 0, !header.classNames.isEmpty else { return nil }
        let size = header.shape.reduce(1, *)
        let labelsStart = second + 1, pixelsStart = labelsStart + 4 * header.count
        guard bytes.count == pixelsStart + header.count * size else { return nil }
        var labels = [Int32](repeating: 0, count: header.count)
        for i in 0..<header.count {
            let p = labelsStart + 4 * i
            labels[i] = Int32(bitPattern: UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24)
            guard labels[i] >= 0, Int(labels[i]) < header.classNames.count else { return nil }
        }
        let set = ImageSet(shape: header.shape, pixels: Array(bytes[pixelsStart...]), labels: labels, classNames: header.classNames)
        return (set, header.unreadable)
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
