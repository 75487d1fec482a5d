import Foundation

/// A PNG of images in rows and columns (augmentation previews, inputs beside their
/// reconstructions), each image enlarged by `zoom` (nearest) with a grey gap between tiles.
public struct ImageGrid {
    public let height: Int
    public let width: Int
    public let channels: Int
    public let zoom: Int
    public let gap = 1

    public init(height: Int, width: Int, channels: Int, zoom: Int) {
        precondition(channels == 1 || channels == 3, "ImageGrid: \(channels) channels (need 1 or 3)")
        self.height = height
        self.width = width
        self.channels = channels
        self.zoom = max(1, zoom)
    }

    /// `rows[r][c]` is one image, height × width × channels values in 0…255 (clamped, rounded).
    public func write(rows: [[[Float]]], to url: URL) throws {
        let columns = rows.map(\.count).max() ?? 0
        let tileW = width * zoom + gap, tileH = height * zoom + gap
        let canvasW = columns * tileW + gap, canvasH = rows.count * tileH + gap
        var canvas = [UInt8](repeating: 128, count: canvasW * canvasH * channels)
        for (r, row) in rows.enumerated() {
            for (c, image) in row.enumerated() {
                precondition(image.count == height * width * channels, "ImageGrid: an image of \(image.count) values")
                let x0 = gap + c * tileW, y0 = gap + r * tileH
                for y in 0..<(height * zoom) {
                    for x in 0..<(width * zoom) {
                        for k in 0..<channels {
                            let v = image[((y / zoom) * width + x / zoom) * channels + k]
                            canvas[((y0 + y) * canvasW + x0 + x) * channels + k] = UInt8(max(0, min(255, v.rounded())))
                        }
                    }
                }
            }
        }
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try PNGWriter.write(to: url, width: canvasW, height: canvasH, channels: channels, pixels: canvas)
    }
}
