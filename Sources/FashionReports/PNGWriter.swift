import Foundation
import FashionConfig
import CZlib

/// A minimal PNG encoder: 8-bit grayscale or RGB, no interlace, filter 0 on every row,
/// zlib-compressed IDAT (one chunk).
public enum PNGWriter {
    public enum Failure: Error, CustomStringConvertible {
        case badSize(String)
        case zlib(Int32)
        public var description: String {
            switch self {
            case let .badSize(s): return "PNG: \(s)"
            case let .zlib(code): return "PNG: zlib compress2 failed (\(code))"
            }
        }
    }

    /// `pixels`: row-major, `channels` (1 gray, 3 RGB) bytes per pixel.
    public static func encode(width: Int, height: Int, channels: Int, pixels: [UInt8]) throws -> Data {
        guard width > 0, height > 0, width < 1 << 31, height < 1 << 31 else { throw Failure.badSize("size \(width)x\(height)") }
        guard channels == 1 || channels == 3 else { throw Failure.badSize("\(channels) channels (1 or 3 supported)") }
        guard pixels.count == width * height * channels else {
            throw Failure.badSize("\(pixels.count) bytes for \(width)x\(height)x\(channels)")
        }
        let rowBytes = width * channels
        var raw = [UInt8](repeating: 0, count: height * (rowBytes + 1))
        for r in 0..<height {
            raw[r * (rowBytes + 1)] = 0  // filter: none
            for i in 0..<rowBytes { raw[r * (rowBytes + 1) + 1 + i] = pixels[r * rowBytes + i] }
        }
        var destLen = compressBound(uLong(raw.count))
        var compressed = [UInt8](repeating: 0, count: Int(destLen))
        let rc = compress2(&compressed, &destLen, raw, uLong(raw.count), Z_DEFAULT_COMPRESSION)
        guard rc == Z_OK else { throw Failure.zlib(rc) }
        compressed.removeSubrange(Int(destLen)...)

        var png = Data(PNGInfo.signature)
        var ihdr = [UInt8]()
        ihdr += bigEndian(UInt32(width)) + bigEndian(UInt32(height))
        ihdr += [8, channels == 1 ? 0 : 2, 0, 0, 0]  // depth 8, gray/RGB, deflate, filter 0, no interlace
        chunk("IHDR", ihdr, into: &png)
        chunk("IDAT", compressed, into: &png)
        chunk("IEND", [], into: &png)
        return png
    }

    public static func write(to url: URL, width: Int, height: Int, channels: Int, pixels: [UInt8]) throws {
        try TemporaryFiles.writeAtomically(encode(width: width, height: height, channels: channels, pixels: pixels), to: url)
    }

    static func bigEndian(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }

    static func chunk(_ type: String, _ body: [UInt8], into png: inout Data) {
        let typeBytes = Array(type.utf8)
        png.append(contentsOf: bigEndian(UInt32(body.count)))
        let both = typeBytes + body
        png.append(contentsOf: both)
        let crc = both.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
        png.append(contentsOf: bigEndian(UInt32(crc)))
    }
}
