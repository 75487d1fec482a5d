import FashionReports
import Foundation
import Testing

@Suite("Reports: HDF5")
struct ReportsHDF5Tests {
    @Test func roundTrip() throws {
        let dir = try makeReportsDirectory()
        defer { removeReportsDirectory(dir) }
        let path = dir.appendingPathComponent("results.h5").path

        let doubles = [1.5, -2.25, Double.pi, 1e-300, -0.0]
        let ints = [0, -1, 7, Int.max, Int.min]
        let floats: [Float] = [0.1, -3.5, .greatestFiniteMagnitude]
        let matrix = [[1, 2, 3], [4, 5, -6]]
        let writer = try HDF5Writer(path: path)
        try writer.write("loss", doubles: doubles)
        try writer.write("labels", ints: ints)
        try writer.write("probabilities", floats: floats)
        try writer.write("empty", doubles: [])
        try writer.writeMatrix("confusion/counts", ints: matrix)
        try writer.write("class_names", strings: ["T-shirt/top", "Tröja 👕", ""])
        try writer.setAttribute("experiment", string: "model_2 \"quoted\", Tröja – 👕")
        try writer.setAttribute("empty", string: "")
        try writer.setAttribute("seed", int: 42)
        try writer.setAttribute("test_accuracy", double: 0.9123)
        try writer.setAttribute("units", string: "cross-entropy", on: "loss")
        try writer.setAttribute("units", string: "nats", on: "loss")  // replaces
        try writer.setAttribute("scale", double: 0.5, on: "confusion/counts")
        // Nothing under the final name until close.
        #expect(!FileManager.default.fileExists(atPath: path))
        try writer.close()
        try writer.close()  // idempotent
        #expect(reportsDirectoryContents(dir) == ["results.h5"])

        let reader = try HDF5Reader(path: path)
        #expect(try reader.datasetNames() == ["class_names", "confusion/counts", "empty", "labels", "loss", "probabilities"])
        #expect(try reader.readDoubles("loss") == doubles)
        #expect(try reader.readDoubles("loss")[4].sign == .minus)
        #expect(try reader.readInts("labels") == ints)
        #expect(try reader.readFloats("probabilities") == floats)
        #expect(try reader.readDoubles("probabilities") == floats.map(Double.init))
        #expect(try reader.readDoubles("empty") == [])
        #expect(try reader.shape("empty") == [0])
        #expect(try reader.shape("confusion/counts") == [2, 3])
        #expect(try reader.readInts("confusion/counts") == [1, 2, 3, 4, 5, -6])
        #expect(try reader.readIntMatrix("confusion/counts") == matrix)
        #expect(try reader.readStrings("class_names") == ["T-shirt/top", "Tröja 👕", ""])
        #expect(try reader.stringAttribute("experiment") == "model_2 \"quoted\", Tröja – 👕")
        #expect(try reader.stringAttribute("empty") == "")
        #expect(try reader.doubleAttribute("seed") == 42)
        #expect(try reader.doubleAttribute("test_accuracy") == 0.9123)
        #expect(try reader.stringAttribute("units", on: "loss") == "nats")
        #expect(try reader.doubleAttribute("scale", on: "confusion/counts") == 0.5)
        #expect(try reader.attributeNames() == ["empty", "experiment", "seed", "test_accuracy"])
        #expect(try reader.attributeNames(on: "loss") == ["units"])
        #expect(throws: HDF5Error.self) { try reader.readDoubles("missing") }
        #expect(throws: HDF5Error.self) { try reader.stringAttribute("seed") }
        #expect(throws: HDF5Error.self) { try reader.stringAttribute("nope", on: "loss") }
    }

    @Test func replacesAnExistingFile() throws {
        let dir = try makeReportsDirectory()
        defer { removeReportsDirectory(dir) }
        let path = dir.appendingPathComponent("a.h5").path
        for value in [1.0, 2.0] {
            let writer = try HDF5Writer(path: path)
            try writer.write("x", doubles: [value])
            try writer.close()
        }
        #expect(try HDF5Reader(path: path).readDoubles("x") == [2.0])
    }

    @Test func deinitPublishes() throws {
        let dir = try makeReportsDirectory()
        defer { removeReportsDirectory(dir) }
        let path = dir.appendingPathComponent("b.h5").path
        do {
            let writer = try HDF5Writer(path: path)
            try writer.write("x", ints: [3])
        }
        #expect(try HDF5Reader(path: path).readInts("x") == [3])
    }

    @Test func missingDirectoryNamesThePath() throws {
        let path = "/nonexistent-fashionbench-\(UUID().uuidString.prefix(6))/run/results.h5"
        do {
            _ = try HDF5Writer(path: path)
            Issue.record("expected an error")
        } catch let error as HDF5Error {
            #expect(error.description.contains(path))
            #expect(error.localizedDescription.contains(path))
        }
        do {
            _ = try HDF5Reader(path: path)
            Issue.record("expected an error")
        } catch let error as HDF5Error {
            #expect(error.description.contains(path))
        }
    }

    /// A failed write (here a duplicate name, or a ragged matrix) poisons the writer: close
    /// throws and no file, half or whole, appears.
    @Test func failedWriteLeavesNoFile() throws {
        let dir = try makeReportsDirectory()
        defer { removeReportsDirectory(dir) }
        let path = dir.appendingPathComponent("c.h5").path
        let writer = try HDF5Writer(path: path)
        try writer.write("x", doubles: [1])
        #expect(throws: HDF5Error.self) { try writer.write("x", doubles: [2]) }
        #expect(throws: HDF5Error.self) { try writer.close() }
        #expect(reportsDirectoryContents(dir) == [])

        let ragged = try HDF5Writer(path: path)
        #expect(throws: HDF5Error.self) { try ragged.writeMatrix("m", ints: [[1, 2], [3]]) }
        #expect(throws: HDF5Error.self) { try ragged.setAttribute("a", string: "x", on: "no-such-dataset") }
        #expect(throws: HDF5Error.self) { try ragged.close() }
        #expect(reportsDirectoryContents(dir) == [])

        let discarded = try HDF5Writer(path: path)
        try discarded.write("x", doubles: [1])
        discarded.discard()
        #expect(reportsDirectoryContents(dir) == [])
    }
}

@Suite("Reports: HDF5 checksums")
struct ReportsHDF5ChecksumTests {
    /// Flips one byte of the stored copy of `values` (found by its bytes) in the file.
    static func damage(_ path: String, whereStored values: [Float]) throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let needle = values.prefix(8).withUnsafeBytes { [UInt8]($0) }
        let at = try #require((0...(bytes.count - needle.count)).first { bytes[$0..<($0 + needle.count)].elementsEqual(needle) })
        bytes[at + 5] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    @Test func shapedChecksummedDatasetsReadBackAndDamageIsDetected() throws {
        let dir = try makeReportsDirectory()
        defer { removeReportsDirectory(dir) }
        let path = dir.appendingPathComponent("weights.h5").path
        // 2,100 x 600 floats: more than one chunk of 2^20 values.
        let big = (0..<(2_100 * 600)).map { Float($0) / 1_024 - 7 }
        let small: [Float] = [1, 2, 3, 4, 5, 6]
        let writer = try HDF5Writer(path: path)
        try writer.write("dense/kernel", floats: big, shape: [2_100, 600], checksummed: true)
        try writer.write("conv/kernel", floats: small, shape: [1, 2, 3, 1], checksummed: true)
        try writer.write("labels", ints: [1, 2])
        try writer.write("names", strings: ["a"])
        #expect(throws: HDF5Error.self) { try writer.write("wrong", floats: small, shape: [4], checksummed: true) }
        writer.discard()

        let good = try HDF5Writer(path: path)
        try good.write("dense/kernel", floats: big, shape: [2_100, 600], checksummed: true)
        try good.write("conv/kernel", floats: small, shape: [1, 2, 3, 1], checksummed: true)
        try good.write("labels", ints: [1, 2])
        try good.write("names", strings: ["a"])
        try good.close()
        do {
            let reader = try HDF5Reader(path: path)
            defer { reader.close() }
            #expect(try reader.shape("dense/kernel") == [2_100, 600])
            #expect(try reader.shape("conv/kernel") == [1, 2, 3, 1])
            #expect(try reader.readFloats("dense/kernel") == big)
            #expect(try reader.readFloats("conv/kernel") == small)
            #expect(try reader.elementType("dense/kernel").kind == .floatingPoint)
            #expect(try reader.elementType("labels").kind == .integer)
            #expect(try reader.elementType("names").kind == .string)
        }
        #expect(HDF5Writer.chunkExtents([2_100, 600]) == [1_747, 600])
        #expect(HDF5Writer.chunkExtents([3, 3, 64, 128]) == [3, 3, 64, 128])
        #expect(HDF5Writer.chunkExtents([4, 2_000_000]) == [1, 2_000_000])

        // A byte changed in the second chunk of the big dataset: reading it fails, saying why.
        try Self.damage(path, whereStored: Array(big[(1_800 * 600)...]))
        let reader = try HDF5Reader(path: path)
        defer { reader.close() }
        #expect(try reader.readFloats("conv/kernel") == small)
        do {
            _ = try reader.readFloats("dense/kernel")
            Issue.record("a damaged dataset was read")
        } catch {
            #expect("\(error)".contains("Cannot read dataset 'dense/kernel'") && "\(error)".lowercased().contains("checksum"), "\(error)")
        }
    }
}
