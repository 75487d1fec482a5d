import Foundation
import FashionConfig

/// What a PNG header says, read without decoding the image.
public enum PNGInfo {
    /// The 8-byte signature every PNG starts with.
    public static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Width and height from the IHDR chunk, which the format requires to come first right
    /// after the signature; nil if the file is missing or not a PNG.
    public static func size(of url: URL) -> (width: Int, height: Int)? {
        guard FileKind.notRegular(url.path) == nil, let handle = try? FileHandle(forReadingFrom: url) else { return nil }
        defer { try? handle.close() }
        // signature (8) + chunk length (4) + "IHDR" (4) + width (4) + height (4), big-endian.
        guard let head = try? handle.read(upToCount: 24), head.count == 24 else { return nil }
        let bytes = [UInt8](head)
        guard Array(bytes[0..<8]) == signature, bytes[12..<16].elementsEqual("IHDR".utf8) else { return nil }
        let be = { (i: Int) in bytes[i..<(i + 4)].reduce(0) { $0 << 8 | Int($1) } }
        return (be(16), be(20))
    }
}
