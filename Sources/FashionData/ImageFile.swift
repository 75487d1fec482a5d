import Foundation
import CImageCodecs

/// An 8-bit RGB image, row-major (height × width × 3).
public struct RGBImage: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * 3, "RGBImage: \(pixels.count) bytes for \(width)x\(height)x3")
        self.width = width
        self.height = height
        self.pixels = pixels
    }
}

/// How images are resized to the experiment's size.
public enum Interpolation: String, CaseIterable, Sendable, Codable {
    /// PIL's NEAREST, which Keras' `load_img(target_size=…)` uses by default.
    case nearest
    /// PIL's BILINEAR: a triangle filter widened by the scale when shrinking (antialiased).
    case bilinear
}

/// JPEG and PNG files decoded by Debian's libjpeg-turbo and libpng (via CImageCodecs).
public enum ImageFile {
    /// Files larger than this are refused before being read (a product photo is kilobytes;
    /// a sparse or runaway file of gigabytes would otherwise be allocated whole).
    public static let maximumFileBytes = 1 << 28

    /// The file's bytes, or why they cannot be had in the system's words ("Is a directory",
    /// "Too many levels of symbolic links", "Permission denied").
    public static func read(_ path: String) throws(ImageDecodingError) -> [UInt8] {
        // O_NONBLOCK: a FIFO opens at once (and fstat refuses it) instead of waiting for a writer.
        let fd = open(path, O_RDONLY | O_NONBLOCK)
        guard fd >= 0 else { throw ImageDecodingError(reason: "cannot be opened: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw ImageDecodingError(reason: "cannot be read: \(String(cString: strerror(errno)))") }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw ImageDecodingError(reason: (info.st_mode & S_IFMT) == S_IFDIR ? "is a directory, not an image file" : "is not a regular file")
        }
        guard info.st_size <= maximumFileBytes else {
            throw ImageDecodingError(reason: "is \(info.st_size) bytes, more than an image file may be (\(maximumFileBytes >> 20) MiB)")
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var filled = 0
        while filled < bytes.count {
            let n = bytes.withUnsafeMutableBytes { Foundation.read(fd, $0.baseAddress! + filled, $0.count - filled) }
            if n < 0 && errno == EINTR { continue }
            guard n >= 0 else { throw ImageDecodingError(reason: "cannot be read: \(String(cString: strerror(errno)))") }
            if n == 0 { break }  // shrank while being read: decode what is there
            filled += n
        }
        if filled < bytes.count { bytes.removeLast(bytes.count - filled) }
        return bytes
    }

    /// Decodes a JPEG or PNG (told apart by their signatures, not by the file name) into RGB.
    /// Grey images are replicated into three channels, alpha is dropped, CMYK is converted as
    /// PIL does: the same pixels Keras' `load_img` sees.
    public static func decode(_ data: [UInt8]) throws(ImageDecodingError) -> RGBImage {
        guard data.count >= 8 else { throw ImageDecodingError(reason: "is \(data.count) bytes, too short to be an image") }
        let isJPEG = data[0] == 0xFF && data[1] == 0xD8
        let isPNG = data.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
        guard isJPEG || isPNG else {
            let head = data.prefix(4).map { String(format: "%02x", $0) }.joined(separator: " ")
            throw ImageDecodingError(reason: "is neither JPEG nor PNG (starts with \(head))")
        }
        var pixels: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0, height: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let status = data.withUnsafeBufferPointer { bytes in
            isJPEG
                ? fb_decode_jpeg(bytes.baseAddress, bytes.count, &pixels, &width, &height, &message, message.count)
                : fb_decode_png(bytes.baseAddress, bytes.count, &pixels, &width, &height, &message, message.count)
        }
        guard status == 0, let pixels else {
            throw ImageDecodingError(reason: String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        defer { fb_free(pixels) }
        let count = Int(width) * Int(height) * 3
        return RGBImage(width: Int(width), height: Int(height), pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
    }

    /// `image` resized to width × height, written as RGB bytes into `into` (width*height*3).
    public static func resize(_ image: RGBImage, width: Int, height: Int, interpolation: Interpolation,
                              into out: UnsafeMutablePointer<UInt8>) {
        if image.width == width && image.height == height {
            image.pixels.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: $0.count) }
            return
        }
        switch interpolation {
        case .nearest: resizeNearest(image, width: width, height: height, into: out)
        case .bilinear: resizeBilinear(image, width: width, height: height, into: out)
        }
    }

    public static func resize(_ image: RGBImage, width: Int, height: Int, interpolation: Interpolation) -> RGBImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        pixels.withUnsafeMutableBufferPointer { resize(image, width: width, height: height, interpolation: interpolation, into: $0.baseAddress!) }
        return RGBImage(width: width, height: height, pixels: pixels)
    }

    /// PIL's nearest-neighbour scaling (ImagingScaleAffine): source coordinate
    /// (x + ½)·in/out, accumulated step by step in double precision as PIL does, then truncated.
    static func nearestIndices(input: Int, output: Int) -> [Int] {
        let step = Double(input) / Double(output)
        var position = step * 0.5
        var indices = [Int](repeating: 0, count: output)
        for i in 0..<output {
            indices[i] = min(max(Int(position), 0), input - 1)
            position += step
        }
        return indices
    }

    static func resizeNearest(_ image: RGBImage, width: Int, height: Int, into out: UnsafeMutablePointer<UInt8>) {
        let xs = nearestIndices(input: image.width, output: width)
        let ys = nearestIndices(input: image.height, output: height)
        image.pixels.withUnsafeBufferPointer { src in
            for y in 0..<height {
                let row = src.baseAddress! + ys[y] * image.width * 3
                let dst = out + y * width * 3
                for x in 0..<width {
                    let p = row + xs[x] * 3
                    dst[3 * x] = p[0]; dst[3 * x + 1] = p[1]; dst[3 * x + 2] = p[2]
                }
            }
        }
    }

    /// Per output pixel along one axis: the first source pixel and the normalised weights of a
    /// triangle filter of support max(1, scale) centred at (i + ½)·scale (PIL's precompute_coeffs).
    static func bilinearWeights(input: Int, output: Int) -> [(first: Int, weights: [Double])] {
        let scale = Double(input) / Double(output)
        let filterScale = max(scale, 1)
        let support = filterScale
        return (0..<output).map { i in
            let center = (Double(i) + 0.5) * scale
            let lo = max(Int((center - support + 0.5).rounded(.down)), 0)
            let hi = min(Int((center + support + 0.5).rounded(.down)), input)
            var weights = (lo..<hi).map { j -> Double in
                let t = abs((Double(j) - center + 0.5) / filterScale)
                return t < 1 ? 1 - t : 0
            }
            let total = weights.reduce(0, +)
            if total > 0 { weights = weights.map { $0 / total } }
            return (lo, weights)
        }
    }

    static func resizeBilinear(_ image: RGBImage, width: Int, height: Int, into out: UnsafeMutablePointer<UInt8>) {
        let columns = bilinearWeights(input: image.width, output: width)
        let rows = bilinearWeights(input: image.height, output: height)
        // Horizontal pass into floats, then vertical pass, rounding once at the end.
        var horizontal = [Double](repeating: 0, count: image.height * width * 3)
        image.pixels.withUnsafeBufferPointer { src in
            for y in 0..<image.height {
                for x in 0..<width {
                    let (first, weights) = columns[x]
                    var r = 0.0, g = 0.0, b = 0.0
                    for (k, w) in weights.enumerated() {
                        let p = (y * image.width + first + k) * 3
                        r += w * Double(src[p]); g += w * Double(src[p + 1]); b += w * Double(src[p + 2])
                    }
                    let o = (y * width + x) * 3
                    horizontal[o] = r; horizontal[o + 1] = g; horizontal[o + 2] = b
                }
            }
        }
        for y in 0..<height {
            let (first, weights) = rows[y]
            for x in 0..<width {
                for c in 0..<3 {
                    var v = 0.0
                    for (k, w) in weights.enumerated() { v += w * horizontal[((first + k) * width + x) * 3 + c] }
                    out[(y * width + x) * 3 + c] = UInt8(min(max(v.rounded(), 0), 255))
                }
            }
        }
    }
}

/// Why an image file could not be decoded (the caller names the file).
public struct ImageDecodingError: Error, CustomStringConvertible {
    public let reason: String
    public var description: String { reason }
}
