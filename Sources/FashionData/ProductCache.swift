import Foundation
import FashionConfig
import CZlib

/// One uint8 file per product-image dataset configuration: a header line
/// `FBCACHE2 <key>`, a JSON line (shape, count, class names, unreadable images, the CRC-32 of
/// what follows), then the labels (int32, little-endian) and the pixels. Written to a temporary
/// file and renamed, so a cache file is either complete or absent; a file that is there but
/// does not check out is reported as damaged and rebuilt, never trusted. The file's name
/// comes from the configuration and the key also covers the source files' sizes and times, so
/// a changed source replaces its configuration's file instead of adding one beside it.
enum ProductCache {
    static let magic = "FBCACHE2"

    struct Header: Codable {
        var shape: [Int]
        var count: Int
        var classNames: [String]
        var unreadable: [String]
        var crc32: UInt32
    }

    enum Lookup {
        case hit(set: ImageSet, unreadable: [String])
        case absent
        /// A sound-looking cache of this configuration, written from other versions of the
        /// source files (its key differs).
        case outdated
        /// The file exists but is not a sound cache of this configuration (why, in words).
        case damaged(String)
    }

    /// The longest header line read (its class names and the unreadable files it lists).
    static let maximumHeaderBytes = 64 << 20

    /// The cached set if the file is complete, carries `key`, holds images of `shape` in
    /// `classNames` and its payload matches its checksum (a damaged header must not be trusted,
    /// not even for sizes).
    static func read(_ path: String, key: String, shape: [Int], classNames: [String]) -> Lookup {
        guard FileManager.default.fileExists(atPath: path) else { return .absent }
        if let why = FileKind.notRegular(path) { return .damaged(why) }
        // The key line first, so an outdated cache (hundreds of MB) is not read to be replaced.
        guard let handle = FileHandle(forReadingAtPath: path) else { return .damaged("cannot be read") }
        defer { try? handle.close() }
        let start = (try? handle.read(upToCount: magic.count + key.count + 2)) ?? Data()
        let expected = Data("\(magic) \(key)\n".utf8)
        guard start == expected else {
            if !start.contains(0x0A), start.count < expected.count { return .damaged("no header") }
            let line = String(decoding: start.prefix { $0 != 0x0A }, as: UTF8.self)
            let other = line.dropFirst(magic.count + 1)
            if line.hasPrefix("\(magic) "), other.count == key.count, other.allSatisfy(\.isHexDigit), start.last == 0x0A {
                return .outdated
            }
            return .damaged("its first line is not \"\(magic) <this configuration's key>\"")
        }
        // The rest, from the same handle: the header line, then labels and pixels. The header
        // is read alone first, so a file longer than it implies (a damaged copy, gigabytes) is
        // refused by its size, before it is read.
        guard let (headerBytes, newline) = readLine(handle) else { return .damaged("no header") }
        var data = headerBytes
        guard let header = try? JSONDecoder().decode(Header.self, from: data[..<newline]) else {
            return .damaged("its header is not valid")
        }
        guard header.shape == shape, header.classNames == classNames, header.count >= 0 else {
            return .damaged("its header describes other images (\(header.shape), \(header.classNames.count) classes)")
        }
        let size = shape.reduce(1, *)
        let labelsStart = newline + 1 - data.startIndex  // an offset into `data`, as the raw buffers below count
        let (labelBytes, o1) = header.count.multipliedReportingOverflow(by: 4)
        let (pixelBytes, o2) = header.count.multipliedReportingOverflow(by: size)
        let fileBytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
        guard !o1, !o2, let fileBytes, fileBytes - expected.count - labelsStart - labelBytes == pixelBytes else {
            let implied = o1 || o2 ? "(overflowing)" : String(expected.count + labelsStart + labelBytes + pixelBytes)
            return .damaged("\(fileBytes.map(String.init) ?? "an unknown number of") bytes, not the \(implied) its header implies")
        }
        let rest: Data
        do { rest = try handle.readToEnd() ?? Data() } catch { return .damaged("cannot be read") }
        guard data.count + rest.count == fileBytes - expected.count else { return .damaged("changed while it was read") }
        data += rest
        var labels = [Int32](repeating: 0, count: header.count)
        var pixels = [UInt8](repeating: 0, count: pixelBytes)
        let problem = data.withUnsafeBytes { raw -> String? in
            let payload = UnsafeRawBufferPointer(rebasing: raw[labelsStart...])
            guard checksum(payload) == header.crc32 else { return "its contents do not match their CRC-32" }
            let bytes = raw.bindMemory(to: UInt8.self)
            for i in 0..<header.count {
                let p = labelsStart + 4 * i
                labels[i] = Int32(bitPattern: UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24)
                guard labels[i] >= 0, Int(labels[i]) < classNames.count else { return "label \(labels[i]) of image \(i) is out of range" }
            }
            pixels.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[(labelsStart + labelBytes)...])) }
            return nil
        }
        if let problem { return .damaged(problem) }
        return .hit(set: ImageSet(shape: shape, pixels: pixels, labels: labels, classNames: classNames), unreadable: header.unreadable)
    }

    /// The bytes read from `handle` up to and past the end of its current line (at most
    /// `maximumHeaderBytes`), and where that line ends; nil if no line ends there.
    private static func readLine(_ handle: FileHandle) -> (Data, Data.Index)? {
        var data = Data()
        while true {
            guard data.count < maximumHeaderBytes, let chunk = try? handle.read(upToCount: 1 << 16), !chunk.isEmpty else { return nil }
            // Only the new chunk is searched: rescanning all that came before would be quadratic.
            let start = data.endIndex
            data += chunk
            if let newline = data[start...].firstIndex(of: 0x0A) { return (data, newline) }
        }
    }

    /// The class names a cache file's header lists (whatever its key), or nil: which classes an
    /// earlier load decoded, to look the file up by them.
    static func storedClassNames(_ path: String) -> [String]? {
        guard FileKind.notRegular(path) == nil, let handle = FileHandle(forReadingAtPath: path) else { return nil }
        defer { try? handle.close() }
        guard let (first, end) = readLine(handle), first[..<end].starts(with: Data("\(magic) ".utf8)) else { return nil }
        // The header line starts after the key line, in the bytes already read or the next ones.
        var rest = Data(first[(end + 1)...])
        if !rest.contains(0x0A) {
            guard let (more, _) = readLine(handle) else { return nil }
            rest += more
        }
        guard let newline = rest.firstIndex(of: 0x0A) else { return nil }
        return (try? JSONDecoder().decode(Header.self, from: rest[..<newline]))?.classNames
    }

    /// Best effort: a cache that cannot be written costs a re-decode next time, nothing more.
    /// Returns why the file could not be written, or nil.
    @discardableResult
    static func write(_ set: ImageSet, unreadable: [String], key: String, to path: String) -> String? {
        var payload = [UInt8]()
        payload.reserveCapacity(4 * set.count + set.pixels.count)
        for l in set.labels {
            let u = UInt32(bitPattern: l)
            payload += [UInt8(u & 0xFF), UInt8(u >> 8 & 0xFF), UInt8(u >> 16 & 0xFF), UInt8(u >> 24)]
        }
        payload.append(contentsOf: set.pixels)
        let crc = payload.withUnsafeBytes { checksum($0) }
        let header = Header(shape: set.shape, count: set.count, classNames: set.classNames, unreadable: unreadable, crc32: crc)
        guard let json = try? JSONEncoder().encode(header) else { return "its header could not be encoded" }
        var out = Data("\(magic) \(key)\n".utf8)
        out.append(json)
        out.append(0x0A)
        out.append(contentsOf: payload)
        let url = URL(fileURLWithPath: path)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            TemporaryFiles.removeLeftovers(beside: url)
            try TemporaryFiles.writeAtomically(out, to: url)
            return nil
        } catch {
            return FileProblem.reason(error, path: url.path)
        }
    }

    /// zlib's CRC-32, fed in chunks (its length argument is 32-bit).
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = crc32(0, nil, 0)
        var offset = 0
        while offset < bytes.count {
            let n = min(bytes.count - offset, 1 << 30)
            crc = crc32(crc, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset, uInt(n))
            offset += n
        }
        return UInt32(crc)
    }
}
