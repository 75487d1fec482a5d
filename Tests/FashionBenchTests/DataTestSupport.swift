import FashionData
import Foundation

/// Tiny Fashion-MNIST-shaped IDX files written into a fresh temporary directory, so loader tests
/// need neither the real 30 MB data set nor any fixture files in the repository.
struct DataFixtureDirectory {
    let path: String

    static let names = FashionMNIST.files.map(\.name)
    static let trainLabels: [UInt8] = [9, 0, 0, 3, 7]
    static let testLabels: [UInt8] = [1, 2, 8]

    /// A recognisable, non-constant pixel pattern per image.
    static func pixels(count: Int, salt: Int) -> [UInt8] {
        (0..<(count * 28 * 28)).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ ($0 / 784) &* 31 &+ salt) }
    }

    /// IDX bytes: magic 00 00 <type> <rank>, big-endian UInt32 dims, payload.
    static func idx(dims: [Int], payload: [UInt8], type: UInt8 = 0x08) -> [UInt8] {
        var bytes: [UInt8] = [0, 0, type, UInt8(dims.count)]
        for d in dims { bytes += [UInt8(d >> 24 & 0xff), UInt8(d >> 16 & 0xff), UInt8(d >> 8 & 0xff), UInt8(d & 0xff)] }
        return bytes + payload
    }

    static let trainImages = idx(dims: [5, 28, 28], payload: pixels(count: 5, salt: 0))
    static let testImages = idx(dims: [3, 28, 28], payload: pixels(count: 3, salt: 100))

    /// The four decompressed files by base name.
    static var validFiles: [String: [UInt8]] {
        [names[0]: trainImages, names[1]: idx(dims: [5], payload: trainLabels),
         names[2]: testImages, names[3]: idx(dims: [3], payload: testLabels)]
    }

    /// Writes `files` (base name → decompressed bytes); names in `gzipped` are stored as `<name>.gz`.
    init(files: [String: [UInt8]] = DataFixtureDirectory.validFiles, gzipped: Set<String> = []) throws {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("fashionbench-data-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for (name, bytes) in files {
            if gzipped.contains(name) {
                try write(DataFixtureDirectory.gzip(bytes), to: name + ".gz")
            } else {
                try write(bytes, to: name)
            }
        }
    }

    func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }

    func write(_ bytes: [UInt8], to name: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: file(name)))
    }

    func read(_ name: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: URL(fileURLWithPath: file(name)))) }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    /// Compressed by the system's gzip, independent of the zlib code under test.
    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        try run("/bin/gzip", ["-c", "-n"], input: bytes)
    }

    /// SHA-256 by coreutils, independent of the hashing code under test.
    static func sha256sum(_ bytes: [UInt8]) throws -> String {
        let output = try run("/usr/bin/sha256sum", [], input: bytes)
        return String(decoding: output.prefix(64), as: UTF8.self)
    }

    static func run(_ executable: String, _ arguments: [String], input: [UInt8]) throws -> [UInt8] {
        // Go through a temporary file rather than a pipe for stdin, so a large input cannot deadlock.
        let inputURL = FileManager.default.temporaryDirectory.appendingPathComponent("fashionbench-in-\(UUID().uuidString)")
        try Data(input).write(to: inputURL)
        defer { try? FileManager.default.removeItem(at: inputURL) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardInput = try FileHandle(forReadingFrom: inputURL)
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw DataError(file: executable, problem: "exited with \(process.terminationStatus)", remedy: "test helper failed")
        }
        return [UInt8](data)
    }
}
