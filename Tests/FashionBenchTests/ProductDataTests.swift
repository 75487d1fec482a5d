@testable import FashionData
import FashionReports
import Foundation
import Testing

/// A product-image set in Kaggle's layout (styles.csv + images/<id>.jpg|png), generated in a
/// temporary directory: PNG images with a class-dependent pattern, plus any styles.csv text.
struct ProductFixture {
    let path: String
    static let header = "id,gender,masterCategory,subCategory,articleType,baseColour,season,year,usage,productDisplayName"

    init() throws {
        path = FileManager.default.temporaryDirectory.appendingPathComponent("fashionbench-products-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: (path as NSString).appendingPathComponent("images"), withIntermediateDirectories: true)
    }

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    func writeStyles(_ lines: [String], lineEnding: String = "\n") throws {
        try Data((lines.joined(separator: lineEnding) + lineEnding).utf8).write(to: URL(fileURLWithPath: file("styles.csv")))
    }

    /// A width × height RGB PNG whose pixels encode the id (so a test can tell images apart).
    static func pattern(id: Int, width: Int, height: Int) -> [UInt8] {
        (0..<(width * height * 3)).map { UInt8(truncatingIfNeeded: $0 &* 13 &+ id &* 37) }
    }

    func writePNG(id: Int, width: Int = 12, height: Int = 16) throws {
        try PNGWriter.write(to: URL(fileURLWithPath: file("images/\(id).png")), width: width, height: height, channels: 3,
                            pixels: Self.pattern(id: id, width: width, height: height))
    }

    func writeImage(id: Int, bytes: [UInt8], ext: String = "jpg") throws {
        try Data(bytes).write(to: URL(fileURLWithPath: file("images/\(id).\(ext)")))
    }

    /// One styles.csv row.
    static func row(_ id: Int, sub: String, article: String = "Shirts", name: String = "Plain product") -> String {
        "\(id),Men,Apparel,\(sub),\(article),Blue,Summer,2012,Casual,\(name)"
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}

enum ProductFixtureFiles {
    static func url(_ name: String) throws -> URL {
        let base = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil), "no Fixtures resource")
        return base.appendingPathComponent("products").appendingPathComponent(name)
    }

    static func bytes(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: url(name))) }
}

@Suite("Product images: JPEG/PNG decoding and resizing against PIL")
struct ProductImageDecodingTests {
    /// Three JPEGs of the shared slice (RGB 60x80, greyscale 60x80, RGB 53x80) and the pixels
    /// PIL 13 (Keras' `load_img`) gives for them (Fixtures/products/make_expected.py).
    @Test(arguments: [("10000", 60, 80), ("12994", 60, 80), ("28092", 53, 80)])
    func jpegDecodesAsPIL(_ c: (id: String, width: Int, height: Int)) throws {
        let image = try ImageFile.decode(try ProductFixtureFiles.bytes("\(c.id).jpg"))
        #expect(image.width == c.width && image.height == c.height)
        let expected = try ProductFixtureFiles.bytes("\(c.id).rgb")
        #expect(image.pixels == expected, "\(c.id): \(zip(image.pixels, expected).filter { $0 != $1 }.count) bytes differ from PIL")
    }

    /// Nearest-neighbour resizing (Keras' default in load_img) is PIL's exactly.
    @Test(arguments: ["10000", "12994", "28092"])
    func nearestResizeMatchesPIL(_ id: String) throws {
        let image = try ImageFile.decode(try ProductFixtureFiles.bytes("\(id).jpg"))
        let resized = ImageFile.resize(image, width: 80, height: 80, interpolation: .nearest)
        let expected = try ProductFixtureFiles.bytes("\(id)_80x80_nearest.rgb")
        #expect(resized.pixels == expected, "\(id): \(zip(resized.pixels, expected).filter { $0 != $1 }.count) bytes differ from PIL")
    }

    /// Antialiased bilinear shrinking: PIL rounds its fixed-point filter, we round in floating
    /// point, so a byte may differ by one.
    @Test(arguments: ["10000", "12994", "28092"])
    func bilinearResizeMatchesPIL(_ id: String) throws {
        let image = try ImageFile.decode(try ProductFixtureFiles.bytes("\(id).jpg"))
        let resized = ImageFile.resize(image, width: 60, height: 60, interpolation: .bilinear)
        let expected = try ProductFixtureFiles.bytes("\(id)_60x60_bilinear.rgb")
        let worst = zip(resized.pixels, expected).map { abs(Int($0) - Int($1)) }.max() ?? 99
        #expect(resized.pixels.count == expected.count && worst <= 1, "\(id): largest difference from PIL \(worst)")
    }

    /// PNG (written by our own encoder, read by libpng): RGB and greyscale round-trip exactly.
    @Test(arguments: [1, 3])
    func pngRoundTrips(_ channels: Int) throws {
        let width = 7, height = 5
        let pixels = (0..<(width * height * channels)).map { UInt8(truncatingIfNeeded: $0 * 29 + 3) }
        let png = [UInt8](try PNGWriter.encode(width: width, height: height, channels: channels, pixels: pixels))
        let image = try ImageFile.decode(png)
        #expect(image.width == width && image.height == height)
        let rgb = channels == 3 ? pixels : pixels.flatMap { [$0, $0, $0] }
        #expect(image.pixels == rgb)
    }

    /// PNGs that libpng's conveniences read otherwise than PIL (Keras' load_img): 16-bit
    /// samples by their high byte, 16-bit grey clipped, gAMA ignored, palettes with tRNS,
    /// interlaced 2-bit grey (Fixtures/products/make_png_cases.py, with PIL 13's pixels).
    @Test(arguments: [("png_rgb16", 7, 1), ("png_grey16", 7, 1), ("png_greyalpha16", 7, 1), ("png_gamma", 5, 1),
                      ("png_palette_trns", 4, 1), ("png_grey2_interlaced", 9, 3), ("png_bad_idat_crc", 5, 1)])
    func pngDecodesAsPIL(_ c: (name: String, width: Int, height: Int)) throws {
        let image = try ImageFile.decode(try ProductFixtureFiles.bytes("\(c.name).png"))
        #expect(image.width == c.width && image.height == c.height)
        #expect(image.pixels == (try ProductFixtureFiles.bytes("\(c.name).rgb")), "\(c.name): \(image.pixels)")
    }

    /// A chunk before the image data with a bad CRC makes the file unreadable, as in PIL.
    @Test func pngWithABadChunkBeforeTheImageIsRefused() throws {
        let bytes = try ProductFixtureFiles.bytes("png_bad_text_crc.png")
        do {
            let image = try ImageFile.decode(bytes)
            Issue.record("decoded as \(image.width)x\(image.height)")
        } catch {
            #expect(error.reason.contains("CRC"), "\(error.reason)")
        }
    }

    /// Damaged files give an error that says what is wrong; nothing crashes.
    @Test func damagedFilesAreErrors() throws {
        let jpeg = try ProductFixtureFiles.bytes("10000.jpg")
        let png = [UInt8](try PNGWriter.encode(width: 4, height: 4, channels: 3, pixels: [UInt8](repeating: 9, count: 48)))
        var flipped = jpeg
        for i in stride(from: 200, to: flipped.count - 2, by: 3) { flipped[i] = 0xFF }
        let cases: [(String, [UInt8], String)] = [
            ("empty", [], "too short"),
            ("text", Array("hello, this is not an image".utf8), "neither JPEG nor PNG"),
            ("truncated JPEG", Array(jpeg.prefix(jpeg.count / 2)), ""),
            ("JPEG header only", Array(jpeg.prefix(20)), ""),
            ("truncated PNG", Array(png.prefix(png.count - 20)), ""),
            ("scrambled JPEG", flipped, ""),
            // Cut short but closed with an end-of-image marker: libjpeg only warns, and PIL
            // would hand out the lower half in grey.
            ("truncated JPEG closed by EOI", Array(jpeg.prefix(jpeg.count / 2)) + [0xFF, 0xD9], "premature end of data segment"),
        ]
        for (what, bytes, reason) in cases {
            do {
                let image = try ImageFile.decode(bytes)
                Issue.record("\(what): decoded as \(image.width)x\(image.height) instead of failing")
            } catch {
                #expect(!error.reason.isEmpty, "\(what): empty reason")
                if !reason.isEmpty { #expect(error.reason.contains(reason), "\(what): \(error.reason)") }
            }
        }
    }

    /// An image path that is not a readable file says what it is instead.
    @Test func unreadablePathsSayWhy() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("fashionbench-read-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("1.jpg").path, loop = dir.appendingPathComponent("2.jpg").path
        let folder = dir.appendingPathComponent("3.jpg").path
        let jpeg = try ProductFixtureFiles.bytes("10000.jpg")
        try Data(jpeg).write(to: URL(fileURLWithPath: file))
        #expect(try ImageFile.read(file) == jpeg)
        #expect(symlink(loop, loop) == 0)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: false)
        let huge = dir.appendingPathComponent("5.jpg").path
        #expect(FileManager.default.createFile(atPath: huge, contents: Data(jpeg)))
        #expect(truncate(huge, off_t(ImageFile.maximumFileBytes) + 1) == 0)  // sparse: nothing is written
        for (path, reason) in [(loop, "cannot be opened: Too many levels of symbolic links"), (folder, "is a directory"),
                               (dir.appendingPathComponent("4.jpg").path, "cannot be opened: No such file or directory"),
                               ("/dev/null", "is not a regular file"), (huge, "is \(ImageFile.maximumFileBytes + 1) bytes")] {
            do {
                _ = try ImageFile.read(path)
                Issue.record("\(path) was read")
            } catch {
                #expect(error.reason.hasPrefix(reason), "\(path): \(error.reason)")
            }
        }
    }

    /// Enlarging or shrinking a constant image keeps it constant; an identity resize is a copy.
    @Test(arguments: Interpolation.allCases)
    func resizeKeepsConstantsAndIdentity(_ interpolation: Interpolation) {
        let flat = RGBImage(width: 9, height: 5, pixels: (0..<135).map { [200, 17, 90][$0 % 3] })
        for (w, h) in [(3, 2), (20, 31), (9, 5)] {
            let r = ImageFile.resize(flat, width: w, height: h, interpolation: interpolation)
            #expect(r.pixels == (0..<(w * h * 3)).map { [200, 17, 90][$0 % 3] }, "\(interpolation) \(w)x\(h)")
        }
        let varied = RGBImage(width: 4, height: 3, pixels: (0..<36).map { UInt8($0 * 7) })
        #expect(ImageFile.resize(varied, width: 4, height: 3, interpolation: interpolation) == varied)
    }
}

@Suite("Product images: styles.csv quirks, classes, cache and balancing")
struct ProductDataTests {
    /// A styles.csv with what the real one has (unquoted commas in productDisplayName, ids
    /// without an image) and worse: a corrupt JPEG, a non-numeric id, a repeated id, an open
    /// quote, too few fields, blank lines, a BOM and CRLF line endings.
    static func quirkyFixture() throws -> ProductFixture {
        let f = try ProductFixture()
        var lines = ["\u{FEFF}" + ProductFixture.header]
        for id in 1...6 { lines.append(ProductFixture.row(id, sub: "Topwear")); try f.writePNG(id: id) }
        for id in 7...10 { lines.append(ProductFixture.row(id, sub: "Bottomwear", article: "Jeans")); try f.writePNG(id: id) }
        lines.append(ProductFixture.row(11, sub: "Bottomwear", article: "Jeans", name: "Levis Men, Women, Kids Jeans"))  // unquoted commas
        try f.writePNG(id: 11)
        lines.append(ProductFixture.row(12, sub: "Topwear", name: "\"Nike Women's Tempo 3.5\"\" Short, pink\""))  // quoted, as Kaggle's
        try f.writePNG(id: 12)
        lines.append(ProductFixture.row(13, sub: "Topwear"))  // no image file
        lines.append(ProductFixture.row(14, sub: "Bottomwear"))  // corrupt JPEG
        try f.writeImage(id: 14, bytes: Array(try ProductFixtureFiles.bytes("10000.jpg").prefix(300)))
        lines.append(ProductFixture.row(15, sub: "Shoes", article: "Casual Shoes"))  // a real JPEG
        try f.writeImage(id: 15, bytes: try ProductFixtureFiles.bytes("10000.jpg"))
        lines.append(ProductFixture.row(16, sub: "Shoes", article: "Casual Shoes"))
        try f.writeImage(id: 16, bytes: try ProductFixtureFiles.bytes("28092.jpg"))
        lines.append("abc,Men,Apparel,Topwear,Shirts,Blue,Summer,2012,Casual,Bad id")
        lines.append(ProductFixture.row(3, sub: "Bottomwear"))  // repeated id
        lines.append("17,Men,Apparel,Topwear,Shirts,Blue,Summer,2012,Casual,\"Open quote")
        lines.append("18,Men,Apparel,Topwear")  // too few fields
        lines.append("")
        lines.append(ProductFixture.row(19, sub: "Socks", name: "Puma 3.5\" socks"))  // a bare quote inside a field: literal
        try f.writePNG(id: 19)
        // A quoted name over three lines, with an escaped quote and a comma (RFC 4180).
        lines.append("20,Men,Apparel,Topwear,Shirts,Blue,Summer,2012,Casual,\"Striped shirt,\n  cotton \"\"slim\"\"\n  fit\"")
        try f.writePNG(id: 20)
        try f.writeStyles(lines, lineEnding: "\r\n")
        return f
    }

    @Test func quirksAreCountedAndSoundRowsLoaded() throws {
        let f = try Self.quirkyFixture()
        defer { f.remove() }
        let settings = ProductImageSettings(labelColumn: "subCategory", classes: .all, height: 8, width: 6)
        let (set, report) = try ProductImages.load(directory: f.path, settings: settings, cacheDirectory: nil)
        #expect(report.rows == 22)
        #expect(report.recoveredRows == 1)
        #expect(report.malformedRows == 4 && report.missingImages == 1 && report.unreadableImages == 1, "\(report.skipped)")
        // Every skipped row with its styles.csv line (the header is line 1, CRLF ends a line).
        #expect(report.skipped.map(\.kind) == [.malformedRow, .malformedRow, .malformedRow, .malformedRow, .missingImage, .unreadableImage])
        #expect(report.skipped.map(\.line) == [18, 19, 20, 21, 14, 15])
        #expect(report.skipped.map(\.id) == [nil, 3, nil, nil, 13, 14])
        #expect(report.skipped.map(\.file) == [nil, nil, nil, nil, nil, "14.jpg"])
        #expect(report.skipped[0].reason == "id \"abc\" is not a number")
        #expect(report.skipped[1].reason == "id 3 appears again")
        #expect(report.skipped[2].reason == "unterminated quote")
        #expect(report.skipped[3].reason == "4 fields, the header has 10")
        #expect(report.skipped[4].reason.contains("13.jpg"))
        #expect(report.skipped[5].reason.contains("JPEG"), "\(report.skipped[5].reason)")
        // Classes by count (ties by name): Topwear 8, Bottomwear 5, Shoes 2, Socks 1.
        #expect(set.classNames == ["Topwear", "Bottomwear", "Shoes", "Socks"])
        #expect(report.classCounts == [8, 5, 2, 1])
        #expect(set.count == 16 && set.shape == [8, 6, 3])
        #expect(report.lines.joined().contains("1 rows without an image file (ids 13)"))
        // Each image resized from its own file: the first Topwear row is id 1.
        let expected = ImageFile.resize(RGBImage(width: 12, height: 16, pixels: ProductFixture.pattern(id: 1, width: 12, height: 16)),
                                        width: 6, height: 8, interpolation: .nearest)
        #expect(Array(set.pixels[0..<144]) == expected.pixels)
    }

    /// Unquoted commas are joined back into productDisplayName wherever an edited file put
    /// that column, never into the last column (which would shift every label after the name);
    /// without such a column a row with extra fields is malformed. Spaces around the header's
    /// names do not hide a column.
    @Test func extraFieldsJoinIntoTheNameColumnWhereverItIs() throws {
        let f = try ProductFixture()
        defer { f.remove() }
        try f.writeStyles(["id, gender, productDisplayName, subCategory, articleType",
                           "1,Men,Plain tee,Topwear,Tshirts",
                           "2,Men,Levis Men, Women, Kids Jeans,Bottomwear,Jeans",
                           "3,Women,Tote, pack of 2,Bags,Handbags"])
        for id in 1...3 { try f.writePNG(id: id) }
        let settings = ProductImageSettings(labelColumn: "subCategory", classes: .all, height: 4, width: 4)
        let (set, report) = try ProductImages.load(directory: f.path, settings: settings, cacheDirectory: nil)
        #expect(report.recoveredRows == 2 && report.skipped.isEmpty, "\(report.skipped)")
        #expect(set.classNames.sorted() == ["Bags", "Bottomwear", "Topwear"])
        let byArticle = try ProductImages.load(directory: f.path, settings: ProductImageSettings(labelColumn: "articleType", classes: .all, height: 4, width: 4),
                                               cacheDirectory: nil)
        #expect(byArticle.set.classNames.sorted() == ["Handbags", "Jeans", "Tshirts"])

        try f.writeStyles(["id,gender,subCategory,articleType",
                           "1,Men,Topwear,Tshirts",
                           "2,Men,Bottomwear,Jeans,extra",
                           "3,Women,Bags,Handbags"])
        let (unnamed, unnamedReport) = try ProductImages.load(directory: f.path, settings: settings, cacheDirectory: nil)
        #expect(unnamedReport.recoveredRows == 0 && unnamedReport.malformedRows == 1)
        #expect(unnamedReport.skipped.first?.reason == "5 fields, the header has 4")
        #expect(unnamed.classNames.sorted() == ["Bags", "Topwear"])
    }

    /// A quoted field may span lines; a quote that never closes into a whole row, or runs
    /// into a line that starts a row, costs only its own line.
    @Test func quotedFieldsOverSeveralLines() throws {
        let f = try ProductFixture()
        defer { f.remove() }
        try f.writeStyles([ProductFixture.header,
                           "1,Men,Apparel,Topwear,Shirts,Blue,Summer,2012,Casual,\"Striped shirt,\n  cotton \"\"slim\"\"\n  fit\"",
                           "2,Men,Apparel,Topwear,Shirts,Blue,Summer,2012,Casual,\"Open quote",
                           "3,Men,Apparel,Topwear,Shirts,Blue,Summer,2012,Casual,Tee \"V\" neck\"",
                           "4,Men,Apparel,Topwear,Shirts,Blue,Summer,2012,Casual,\"Two",
                           "lines\",extra",
                           "5,Men,Apparel,Topwear,Shirts,Blue,Summer,2012,Casual,Plain"], lineEnding: "\r\n")
        let table = try ProductImages.readStyles(f.file("styles.csv"))
        #expect(table.rows.map(\.id) == [1, 3, 5])
        #expect(table.rows.first?.fields.last == "Striped shirt,\n  cotton \"slim\"\n  fit")
        #expect(table.malformed.map(\.example) == ["line 5: unterminated quote", "line 7: unterminated quote", "line 8: 2 fields, the header has 10"],
                "\(table.malformed)")
    }

    @Test func topClassesMinimumCountAndRelabelling() throws {
        let f = try Self.quirkyFixture()
        defer { f.remove() }
        var settings = ProductImageSettings(labelColumn: "subCategory", classes: .top(3), height: 4, width: 4)
        var (set, report) = try ProductImages.load(directory: f.path, settings: settings, cacheDirectory: nil)
        #expect(set.classNames == ["Topwear", "Bottomwear", "Shoes"] && report.classCounts == [8, 5, 2])

        settings.classes = .all
        settings.minCount = 3
        (set, report) = try ProductImages.load(directory: f.path, settings: settings, cacheDirectory: nil)
        #expect(set.classNames == ["Topwear", "Bottomwear"])
        #expect(report.droppedClasses == ["Shoes (2)", "Socks (1)"])

        // Relabelling: Jeans (an articleType) first, then the rest of Bottomwear; Shoes and
        // Socks merged into one class. First matching rule wins.
        settings.minCount = 1
        settings.classes = .rules([
            ProductClassRule(name: "Denim", column: "articleType", values: ["Jeans"]),
            ProductClassRule(name: "Bottoms", column: "subCategory", values: ["Bottomwear"]),
            ProductClassRule(name: "Feet", column: "subCategory", values: ["Shoes", "Socks"]),
        ])
        // "Bottoms" has one row with an image file (id 14), which does not decode: an explicit
        // class with no readable image is an error, not a class of 0 images.
        do {
            _ = try ProductImages.load(directory: f.path, settings: settings, cacheDirectory: nil)
            Issue.record("a class without readable images loaded")
        } catch let e as DataError {
            #expect(e.description.contains("class Bottoms (0 of its images decode)") && e.description.contains("14.jpg"), "\(e)")
        }
        settings.classes = .rules([
            ProductClassRule(name: "Denim", column: "articleType", values: ["Jeans"]),
            ProductClassRule(name: "Feet", column: "subCategory", values: ["Shoes", "Socks"]),
        ])
        (set, report) = try ProductImages.load(directory: f.path, settings: settings, cacheDirectory: nil)
        #expect(set.classNames == ["Denim", "Feet"] && report.classCounts == [5, 3])
    }

    /// Images that exist but do not decode can empty a class: an explicit one is an error, one
    /// of `all` is dropped (reported), from a fresh decode and from the cache alike. A cache
    /// that cannot be written is reported as such.
    @Test func classesWithoutReadableImages() throws {
        let f = try ProductFixture()
        defer { f.remove() }
        var lines = [ProductFixture.header]
        for id in 1...3 { lines.append(ProductFixture.row(id, sub: "Topwear")); try f.writePNG(id: id) }
        lines.append(ProductFixture.row(4, sub: "Shoes"))
        try f.writePNG(id: 4)
        for id in 5...7 { lines.append(ProductFixture.row(id, sub: id == 5 ? "Shoes" : "Bags")); try f.writeImage(id: id, bytes: []) }
        try f.writeStyles(lines)
        let cache = f.file("cache")
        for _ in 0..<2 {  // decoded, then from the cache
            let (set, report) = try ProductImages.load(directory: f.path, settings: ProductImageSettings(height: 4, width: 4), cacheDirectory: cache)
            #expect(set.classNames == ["Topwear", "Shoes"] && set.count == 4 && report.classCounts == [3, 1])
            #expect(set.labels == [0, 0, 0, 1], "relabelled after dropping Bags")
            #expect(report.droppedClasses == ["Bags (0 of its images decode)"] && report.unreadableImages == 3)
            // The cache keeps which files failed: the same rows, lines and files either way.
            #expect(report.skipped.map(\.id) == [5, 6, 7] && report.skipped.map(\.line) == [6, 7, 8])
            #expect(report.skipped.map(\.file) == ["5.jpg", "6.jpg", "7.jpg"], "\(report.skipped)")
        }
        let explicit = ProductImageSettings(classes: .rules(["Topwear", "Bags"].map { ProductClassRule(name: $0, column: "subCategory", values: [$0]) }),
                                            height: 4, width: 4)
        #expect(throws: DataError.self) { try ProductImages.load(directory: f.path, settings: explicit, cacheDirectory: nil) }
        var two = ProductImageSettings(height: 4, width: 4)
        two.minCount = 2  // Shoes and Bags have 2 files each, but 1 and 0 decode: one class left
        #expect(throws: DataError.self) { try ProductImages.load(directory: f.path, settings: two, cacheDirectory: nil) }

        // A cache directory that is a file: decoded all the same, and the report says why nothing was cached.
        try Data("not a directory".utf8).write(to: URL(fileURLWithPath: f.file("blocked")))
        let (_, report) = try ProductImages.load(directory: f.path, settings: ProductImageSettings(height: 5, width: 5), cacheDirectory: f.file("blocked"))
        #expect(report.cacheWriteFailure?.contains("is a file, not a directory") == true, "\(String(describing: report.cacheWriteFailure))")
        #expect(report.lines.joined().contains("could not be written") && !report.lines.joined().contains("Decoded and cached"))
    }

    /// `top_classes` ranks by images that decode: a class among the k with the most files that
    /// loses images to damage gives way to the next one, decoded for the purpose, and the
    /// images stay in styles.csv's row order (as when the classes are listed); the cache keeps
    /// every class decoded, so the second load decodes nothing and picks the same classes. One
    /// left with fewer than min_count images that decode is dropped as min_count drops.
    @Test func topClassesRankByImagesThatDecode() throws {
        let f = try ProductFixture()
        defer { f.remove() }
        var lines = [ProductFixture.header]
        // Topwear 6 files, Watches 5 (3 do not decode), Bags 4, Socks 1; rows interleaved.
        var rows: [(Int, String, Bool)] = []
        for (c, (sub, good, bad)) in [("Topwear", 6, 0), ("Watches", 2, 3), ("Bags", 4, 0), ("Socks", 1, 0)].enumerated() {
            for k in 0..<(good + bad) { rows.append((k * 4 + c, sub, k < good)) }
        }
        for (id, (_, sub, good)) in rows.sorted(by: { $0.0 < $1.0 }).enumerated() {
            lines.append(ProductFixture.row(id + 1, sub: sub))
            if good { try f.writePNG(id: id + 1) } else { try f.writeImage(id: id + 1, bytes: [0xFF, 0xD8, 0xFF]) }
        }
        try f.writeStyles(lines)
        let cache = f.file("cache")
        let listed = try ProductImages.load(directory: f.path, settings: ProductImageSettings(
            classes: .rules(["Topwear", "Bags"].map { ProductClassRule(name: $0, column: "subCategory", values: [$0]) }), height: 4, width: 4),
                                            cacheDirectory: nil).set
        let settings = ProductImageSettings(classes: .top(2), height: 4, width: 4)
        for pass in 0..<2 {
            let (set, report) = try ProductImages.load(directory: f.path, settings: settings, cacheDirectory: cache)
            #expect(set.classNames == ["Topwear", "Bags"] && report.classCounts == [6, 4], "pass \(pass): \(report.lines)")
            #expect(set.labels == listed.labels && set.pixels == listed.pixels, "pass \(pass): row order")
            #expect(report.outrankedClasses == ["Watches (2 of its 5 images decode)"] && report.replacingClasses == ["Bags (4)"])
            #expect(report.cacheHit == (pass == 1) && report.unreadableImages == 3)
            #expect(report.lines.contains("Outranked in top_classes: Watches (2 of its 5 images decode); in their place: Bags (4)"), "\(report.lines)")
        }
        // Without damage the order is by files, as before: a third class, no outranking.
        let (three, report) = try ProductImages.load(directory: f.path, settings: ProductImageSettings(classes: .top(3), height: 4, width: 4), cacheDirectory: cache)
        #expect(three.classNames == ["Topwear", "Bags", "Watches"] && report.outrankedClasses.isEmpty && report.classCounts == [6, 4, 2])
        // min_count 3: Watches (2 that decode) is dropped by it, and Bags takes the place.
        var counted = settings
        counted.minCount = 3
        let (set, dropped) = try ProductImages.load(directory: f.path, settings: counted, cacheDirectory: cache)
        #expect(set.classNames == ["Topwear", "Bags"] && dropped.droppedClasses == ["Watches (2 of its images decode)"] && dropped.outrankedClasses.isEmpty,
                "\(dropped.lines)")
    }

    /// Rows end only at \n, \r or \r\n: other Unicode line separators are text of their field.
    @Test func onlyNewlinesAndCarriageReturnsEndRows() throws {
        let f = try ProductFixture()
        defer { f.remove() }
        try f.writeStyles([ProductFixture.header,
                           ProductFixture.row(1, sub: "Topwear", name: "Shirt\u{2028}with separator"),
                           ProductFixture.row(2, sub: "Topwear", name: "Form\u{0C}feed and\u{0B}tab and \u{85}next"),
                           ProductFixture.row(3, sub: "Shoes")])
        let table = try ProductImages.readStyles(f.file("styles.csv"))
        #expect(table.rows.map(\.id) == [1, 2, 3] && table.malformed.isEmpty, "\(table.malformed)")
        #expect(table.rows.map(\.line) == [2, 3, 4])
        #expect(table.rows[0].fields.last == "Shirt\u{2028}with separator")
    }

    /// A class whose matching rows all went to a class listed before it: the order is named.
    @Test func classShadowedByAnEarlierRuleNamesTheOrder() throws {
        let f = try Self.quirkyFixture()
        defer { f.remove() }
        // Every Jeans row is a Bottomwear row.
        let settings = ProductImageSettings(classes: .rules([ProductClassRule(name: "Bottoms", column: "subCategory", values: ["Bottomwear"]),
                                                             ProductClassRule(name: "Denim", column: "articleType", values: ["Jeans"])]))
        do {
            _ = try ProductImages.load(directory: f.path, settings: settings, cacheDirectory: nil)
            Issue.record("a class whose rows all went to an earlier one loaded")
        } catch let e as DataError {
            #expect(e.key == "classes[1]" && e.description.contains("gets no row: its") && e.description.contains("its 5 matching rows all go to \"Bottoms\" (data.classes[0]), listed before it"),
                    "\(e)")
        }
    }

    @Test func explicitClassWithoutRowsNamesTheColumnValues() throws {
        let f = try Self.quirkyFixture()
        defer { f.remove() }
        let settings = ProductImageSettings(classes: .rules([ProductClassRule(name: "Topwear", column: "subCategory", values: ["Topwear"]),
                                                             ProductClassRule(name: "Kurta", column: "articleType", values: ["Kurtas"])]))
        do {
            _ = try ProductImages.load(directory: f.path, settings: settings, cacheDirectory: nil)
            Issue.record("a class without rows loaded")
        } catch let e as DataError {
            #expect(e.description.contains("class \"Kurta\" (articleType = Kurtas) has no row"), "\(e)")
            #expect(e.description.contains("Shirts ("), "\(e)")
        }
        // Rows that match but whose images are all missing (id 13's): the download is named, not the spelling.
        let missing = ProductImageSettings(classes: .rules([ProductClassRule(name: "Bottomwear", column: "subCategory", values: ["Bottomwear"]),
                                                            ProductClassRule(name: "Lost", column: "id", values: ["13"])]))
        do {
            _ = try ProductImages.load(directory: f.path, settings: missing, cacheDirectory: nil)
            Issue.record("a class without images loaded")
        } catch let e as DataError {
            #expect(e.description.contains("images") && e.description.contains("has none of the images of class \"Lost\" (id = 13): its 1 rows in styles.csv name files that are missing (ids 13)"), "\(e)")
            #expect(e.description.contains("kaggle.com") && !e.description.contains("spelling"), "\(e)")
        }
        let wrongColumn = ProductImageSettings(labelColumn: "colour")
        do {
            _ = try ProductImages.load(directory: f.path, settings: wrongColumn, cacheDirectory: nil)
            Issue.record("an unknown column loaded")
        } catch let e as DataError {
            #expect(e.description.contains("has no column \"colour\"") && e.description.contains("subCategory"), "\(e)")
        }
    }

    @Test func missingDataSaysWhereToGetIt() throws {
        let f = try ProductFixture()
        defer { f.remove() }
        for (directory, what) in [(f.path + "/nowhere", "does not exist"), (f.path, "styles.csv")] {
            do {
                _ = try ProductImages.load(directory: directory, settings: ProductImageSettings(), cacheDirectory: nil)
                Issue.record("loaded \(directory)")
            } catch let e as DataError {
                #expect(e.description.contains(what) && e.description.contains("kaggle.com") && e.description.contains("FASHION_PRODUCTS_DIR"), "\(e)")
            }
        }
        try f.writeStyles(["name,colour", "a,b"])
        do {
            _ = try ProductImages.load(directory: f.path, settings: ProductImageSettings(), cacheDirectory: nil)
            Issue.record("loaded a styles.csv without id")
        } catch let e as DataError {
            #expect(e.description.contains("no header row naming an `id` column"), "\(e)")
        }
        for (rows, what) in [([ProductFixture.header], "has a header but no rows"),
                             ([ProductFixture.header, "x,Men", "12,Women,Apparel"], "has no sound rows (2 malformed: line 2:")] {
            try f.writeStyles(rows)
            do {
                _ = try ProductImages.load(directory: f.path, settings: ProductImageSettings(), cacheDirectory: nil)
                Issue.record("loaded a styles.csv without rows")
            } catch let e as DataError {
                #expect(e.description.contains(what), "\(e)")
            }
        }
    }

    @Test func directoryResolution() {
        #expect(ProductImages.resolveDirectory("/a", fallbacks: [], environment: ["FASHION_PRODUCTS_DIR": "/b"]) == "/a")
        #expect(ProductImages.resolveDirectory(nil, fallbacks: [], environment: ["FASHION_PRODUCTS_DIR": "/b"]) == "/b")
        #expect(ProductImages.resolveDirectory(nil, fallbacks: ["/nonexistent/x"], environment: [:]) == nil)
        #expect(ProductImages.defaultCacheDirectory(environment: ["FASHIONBENCH_CACHE": "/c"]) == "/c")
        #expect(ProductImages.defaultCacheDirectory(environment: ["XDG_CACHE_HOME": "/x"]) == "/x/fashionbench")
    }

    /// The second load reads the cache (same images), a changed image or setting misses it, and
    /// a damaged cache file is rebuilt, never trusted.
    @Test func cacheHitsAndInvalidation() throws {
        let f = try Self.quirkyFixture()
        defer { f.remove() }
        let cache = f.file("cache")
        let settings = ProductImageSettings(classes: .top(2), height: 8, width: 6)
        let (first, r1) = try ProductImages.load(directory: f.path, settings: settings, cacheDirectory: cache)
        #expect(!r1.cacheHit)
        let cacheFile = try #require(r1.cacheFile)
        #expect(FileManager.default.fileExists(atPath: cacheFile))
        let (second, r2) = try ProductImages.load(directory: f.path, settings: settings, cacheDirectory: cache)
        #expect(r2.cacheHit && r2.cacheFile == cacheFile)
        #expect(second.pixels == first.pixels && second.labels == first.labels && second.classNames == first.classNames)
        #expect(r2.unreadableImages == 1 && r2.classCounts == r1.classCounts)

        // Other settings: another file.
        var bigger = settings
        bigger.height = 10
        let (_, r3) = try ProductImages.load(directory: f.path, settings: bigger, cacheDirectory: cache)
        #expect(!r3.cacheHit && r3.cacheFile != cacheFile)

        // A replaced image (new size and mtime) misses the cache and is decoded again, into the
        // configuration's file: one file per configuration, however often the source changes.
        try f.writePNG(id: 1, width: 13, height: 16)
        let (third, r4) = try ProductImages.load(directory: f.path, settings: settings, cacheDirectory: cache)
        #expect(!r4.cacheHit && r4.cacheOutdated && r4.cacheFile == cacheFile)
        #expect(r4.lines.contains { $0.contains("other versions of the source files") })
        #expect(third.pixels != first.pixels)
        #expect(r4.cacheDamage == nil)
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0.hasSuffix(".fbcache") }.count == 2)
        let (_, r4b) = try ProductImages.load(directory: f.path, settings: settings, cacheDirectory: cache)
        #expect(r4b.cacheHit && !r4b.cacheOutdated)

        // A truncated, overwritten or bit-flipped cache file is reported, ignored and rewritten.
        let file4 = try #require(r4.cacheFile)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file4))
        var flippedPixel = bytes
        flippedPixel[flippedPixel.count - 3] ^= 0x10
        var flippedLabel = bytes
        flippedLabel[bytes.count - third.pixels.count - 4] ^= 0x01
        let damages: [(Data, String)] = [
            (bytes.prefix(bytes.count - 7), "bytes, not the"), (bytes + Data(count: 4096), "bytes, not the"),
            (Data("FBCACHE1 nonsense\n{}\n".utf8), "first line"),
            (flippedPixel, "CRC-32"), (flippedLabel, "CRC-32"), (Data(), "no header"),
        ]
        for (damaged, reason) in damages {
            try damaged.write(to: URL(fileURLWithPath: file4))
            let (again, r5) = try ProductImages.load(directory: f.path, settings: settings, cacheDirectory: cache)
            #expect(!r5.cacheHit && again.pixels == third.pixels && again.labels == third.labels)
            #expect(r5.cacheDamage?.contains(reason) == true, "\(r5.cacheDamage ?? "nil") should name \(reason)")
            #expect(r5.lines.contains { $0.contains("was damaged") })
        }
        let (sixth, r6) = try ProductImages.load(directory: f.path, settings: settings, cacheDirectory: cache)
        #expect(r6.cacheHit && r6.cacheDamage == nil)

        // An image replaced by one of the same size, its mtime put back (cp -p, rsync -a):
        // the change time and inode tell, and it is decoded again.
        let image = f.file("images/2.png")
        var before = stat()
        #expect(stat(image, &before) == 0)
        let other = ProductFixture.pattern(id: 99, width: 12, height: 16)
        try PNGWriter.write(to: URL(fileURLWithPath: image + ".new"), width: 12, height: 16, channels: 3, pixels: other)
        #expect(rename(image + ".new", image) == 0)
        var times = [timespec](arrayLiteral: before.st_atim, before.st_mtim)
        #expect(utimensat(AT_FDCWD, image, &times, 0) == 0)
        var after = stat()
        #expect(stat(image, &after) == 0 && after.st_mtim.tv_sec == before.st_mtim.tv_sec && after.st_mtim.tv_nsec == before.st_mtim.tv_nsec)
        let (replaced, r7) = try ProductImages.load(directory: f.path, settings: settings, cacheDirectory: cache)
        #expect(!r7.cacheHit && r7.cacheOutdated)
        #expect(replaced.pixels != sixth.pixels)

        // A temporary cache file left by a process killed outright is removed on the next write;
        // one of a running process stays.
        let dead = (cacheFile as NSString).deletingLastPathComponent + "/." + (cacheFile as NSString).lastPathComponent + ".tmp-2147483646-abcdefgh"
        let alive = (cacheFile as NSString).deletingLastPathComponent + "/." + (cacheFile as NSString).lastPathComponent + ".tmp-1-abcdefgh"
        try Data("half".utf8).write(to: URL(fileURLWithPath: dead))
        try Data("half".utf8).write(to: URL(fileURLWithPath: alive))
        try f.writePNG(id: 1, width: 14, height: 16)
        let (_, r8) = try ProductImages.load(directory: f.path, settings: settings, cacheDirectory: cache)
        #expect(!r8.cacheHit)
        #expect(!FileManager.default.fileExists(atPath: dead) && FileManager.default.fileExists(atPath: alive))
    }

    /// What loading found instead of images: none of the chosen rows' files, or none that
    /// decodes, is said as such (not as classes too small); an images/ that cannot be listed
    /// says why; rows with an empty label are reported; styles.csv with NUL bytes or a
    /// repeated column is refused.
    @Test func dataThatIsNotThereSaysSo() throws {
        let f = try Self.quirkyFixture()
        defer { f.remove() }
        let settings = ProductImageSettings(labelColumn: "subCategory", classes: .all, height: 8, width: 6)
        func failure() -> String {
            do { _ = try ProductImages.load(directory: f.path, settings: settings, cacheDirectory: nil); return "loaded" } catch { return "\(error)" }
        }
        let images = f.file("images")
        let saved = f.file("saved-images")
        try FileManager.default.moveItem(atPath: images, toPath: saved)
        try FileManager.default.createDirectory(atPath: images, withIntermediateDirectories: false)
        #expect(failure().contains("images: has none of the") && failure().contains("Download"), "\(failure())")
        for name in try FileManager.default.contentsOfDirectory(atPath: saved) {
            try Data().write(to: URL(fileURLWithPath: images + "/" + name))
        }
        #expect(failure().contains("chosen images decodes (") && failure().contains("is 0 bytes"), "\(failure())")
        try FileManager.default.removeItem(atPath: images)
        try FileManager.default.moveItem(atPath: saved, toPath: images)

        let styles = try String(contentsOfFile: f.file("styles.csv"), encoding: .utf8)
        try (styles + "901,Men,Apparel,,Shirts,Blue,Summer,2012,Casual,No label\r\n").write(toFile: f.file("styles.csv"), atomically: true, encoding: .utf8)
        let (_, report) = try ProductImages.load(directory: f.path, settings: settings, cacheDirectory: nil)
        let empty = report.skipped.first { $0.kind == .emptyLabel }
        #expect(report.emptyLabels == 1 && empty?.id == 901 && empty?.reason == "empty subCategory", "\(report.skipped)")
        #expect(report.lines.joined().contains("1 rows with an empty label"))

        try Data(Array(styles.utf8) + [0, 0, 0]).write(to: URL(fileURLWithPath: f.file("styles.csv")))
        #expect(failure().contains("holds NUL bytes (the first at byte \(styles.utf8.count))"), "\(failure())")
        try styles.replacingOccurrences(of: "articleType", with: "subCategory").write(toFile: f.file("styles.csv"), atomically: true, encoding: .utf8)
        #expect(failure().contains("names the column \"subCategory\" twice"), "\(failure())")
    }

    @Test func balancingIsSeededAndReachesTheTarget() {
        let labels: [Int32] = Array(repeating: 0, count: 10) + Array(repeating: 1, count: 4) + Array(repeating: 2, count: 7)
        let set = ImageSet(shape: [1, 1, 1], pixels: (0..<labels.count).map(UInt8.init), labels: labels, classNames: ["a", "b", "c"])
        func counts(_ s: ImageSet) -> [Int] { (0..<3).map { c in s.labels.filter { $0 == c }.count } }

        let under = Balance.undersample(perClass: 5).apply(to: set, seed: 1)
        #expect(counts(under) == [5, 4, 5])
        #expect(under.pixels == Balance.undersample(perClass: 5).apply(to: set, seed: 1).pixels)
        #expect(under.pixels != Balance.undersample(perClass: 5).apply(to: set, seed: 2).pixels)
        #expect(zip(under.pixels, under.labels).allSatisfy { labels[Int($0)] == $1 }, "labels travel with their images")
        #expect(counts(Balance.undersample(perClass: nil).apply(to: set, seed: 1)) == [4, 4, 4])

        let over = Balance.oversample(perClass: 8).apply(to: set, seed: 1)
        #expect(counts(over) == [10, 8, 8])
        #expect(Array(over.pixels.prefix(labels.count)) == set.pixels, "originals kept in order, copies after them")
        #expect(zip(over.pixels, over.labels).allSatisfy { labels[Int($0)] == $1 })
        #expect(counts(Balance.oversample(perClass: nil).apply(to: set, seed: 1)) == [10, 10, 10])
    }
}
