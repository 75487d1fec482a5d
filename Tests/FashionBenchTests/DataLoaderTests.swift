import FashionData
import FashionExperiments
import Foundation
import Testing

/// Loading tiny generated IDX files, and every way such a file can be wrong.
@Suite("Data: IDX / Fashion-MNIST loader")
struct DataLoaderTests {
    let names = DataFixtureDirectory.names  // train-images, train-labels, t10k-images, t10k-labels

    /// Loads the fixture and expects a DataError; returns it for message checks.
    func loadError(_ fixture: DataFixtureDirectory, checksums: [String: String]? = nil) -> DataError? {
        #expect(throws: DataError.self) { try FashionMNIST.load(directory: fixture.path, checksums: checksums) }
    }

    func checkValidLoad(_ fixture: DataFixtureDirectory) throws {
        let (train, test) = try FashionMNIST.load(directory: fixture.path, checksums: nil)
        #expect(train.shape == [28, 28, 1])
        #expect(train.count == 5)
        #expect(train.labels == DataFixtureDirectory.trainLabels.map(Int32.init))
        #expect(train.pixels == DataFixtureDirectory.pixels(count: 5, salt: 0))
        #expect(train.classNames == FashionMNIST.classNames)
        #expect(test.count == 3)
        #expect(test.labels == DataFixtureDirectory.testLabels.map(Int32.init))
        #expect(test.pixels == DataFixtureDirectory.pixels(count: 3, salt: 100))
    }

    @Test func rawFilesRoundTrip() throws {
        let fixture = try DataFixtureDirectory()
        defer { fixture.remove() }
        try checkValidLoad(fixture)
    }

    @Test func gzipFilesRoundTrip() throws {
        let fixture = try DataFixtureDirectory(gzipped: Set(names))
        defer { fixture.remove() }
        #expect(FileManager.default.fileExists(atPath: fixture.file(names[0] + ".gz")))
        try checkValidLoad(fixture)
    }

    @Test func mixedGzipAndRawFiles() throws {
        let fixture = try DataFixtureDirectory(gzipped: [names[0], names[3]])
        defer { fixture.remove() }
        try checkValidLoad(fixture)
    }

    @Test func gzipIsDetectedByMagicNotName() throws {
        let fixture = try DataFixtureDirectory()
        defer { fixture.remove() }
        // gzip content under the plain name, and plain content under a .gz name.
        try fixture.write(DataFixtureDirectory.gzip(DataFixtureDirectory.trainImages), to: "compressed-but-plain-name")
        try fixture.write(DataFixtureDirectory.trainImages, to: "plain-but-gz-name.gz")
        #expect(try IDX.readBytes(path: fixture.file("compressed-but-plain-name")) == DataFixtureDirectory.trainImages)
        #expect(try IDX.readBytes(path: fixture.file("plain-but-gz-name.gz")) == DataFixtureDirectory.trainImages)
        // And inside the loader: a gzip stream stored as the uncompressed name.
        try fixture.write(DataFixtureDirectory.gzip(DataFixtureDirectory.trainImages), to: names[0])
        try checkValidLoad(fixture)
    }

    @Test func concatenatedGzipMembersAreOneStream() throws {
        let fixture = try DataFixtureDirectory()
        defer { fixture.remove() }
        let bytes = DataFixtureDirectory.trainImages
        let twoMembers = try DataFixtureDirectory.gzip(Array(bytes[0..<1000])) + DataFixtureDirectory.gzip(Array(bytes[1000...]))
        try fixture.write(twoMembers, to: "two.gz")
        #expect(try IDX.readBytes(path: fixture.file("two.gz")) == bytes)
    }

    @Test func parseReturnsDimsAndOffset() throws {
        let parsed = try IDX.parse(DataFixtureDirectory.trainImages, path: "x", expectedRank: 3)
        #expect(parsed.dims == [5, 28, 28])
        #expect(parsed.payloadOffset == 16)
        let labels = try IDX.parse(DataFixtureDirectory.idx(dims: [300], payload: [UInt8](repeating: 1, count: 300)),
                                   path: "y", expectedRank: 1)
        #expect(labels.dims == [300])  // multi-byte big-endian dimension
        #expect(labels.payloadOffset == 8)
    }

    @Test func truncatedRawFile() throws {
        let fixture = try DataFixtureDirectory()
        defer { fixture.remove() }
        let full = DataFixtureDirectory.trainImages  // 16 + 3920 bytes
        try fixture.write(Array(full.dropLast(100)), to: names[0])
        let error = try #require(loadError(fixture))
        #expect(error.file == fixture.file(names[0]))
        #expect(error.problem.contains("truncated"))
        #expect(error.problem.contains("3920"))  // expected payload
        #expect(error.problem.contains("3820"))  // actual payload
        #expect(error.description.hasPrefix(fixture.file(names[0]) + ": "))
    }

    @Test func truncatedHeader() throws {
        let fixture = try DataFixtureDirectory()
        defer { fixture.remove() }
        try fixture.write(Array(DataFixtureDirectory.trainImages.prefix(10)), to: names[0])
        let error = try #require(loadError(fixture))
        #expect(error.file == fixture.file(names[0]))
        #expect(error.problem.contains("truncated"))
    }

    @Test func trailingGarbageInRawFile() throws {
        let fixture = try DataFixtureDirectory()
        defer { fixture.remove() }
        try fixture.write(DataFixtureDirectory.trainImages + [1, 2, 3], to: names[0])
        let error = try #require(loadError(fixture))
        #expect(error.file == fixture.file(names[0]))
        #expect(error.problem.contains("trailing"))
        #expect(error.problem.contains("3923"))
    }

    @Test(arguments: [0.5, 0.9, 0.999])
    func truncatedGzipFile(keptFraction: Double) throws {
        let fixture = try DataFixtureDirectory(gzipped: Set(names))
        defer { fixture.remove() }
        let path = fixture.file(names[0] + ".gz")
        let gz = try fixture.read(names[0] + ".gz")
        try fixture.write(Array(gz.prefix(Int(Double(gz.count) * keptFraction))), to: names[0] + ".gz")
        let error = try #require(loadError(fixture))
        #expect(error.file == path)
        #expect(error.problem.contains("truncated gzip"))
    }

    @Test func gzipMissingOnlyItsTrailer() throws {
        let fixture = try DataFixtureDirectory(gzipped: Set(names))
        defer { fixture.remove() }
        let gz = try fixture.read(names[1] + ".gz")
        try fixture.write(Array(gz.dropLast(4)), to: names[1] + ".gz")  // CRC present, length missing
        let error = try #require(loadError(fixture))
        #expect(error.file == fixture.file(names[1] + ".gz"))
        #expect(error.problem.contains("truncated gzip"))
    }

    @Test func corruptGzipData() throws {
        let fixture = try DataFixtureDirectory(gzipped: Set(names))
        defer { fixture.remove() }
        // A gzip magic followed by garbage.
        try fixture.write([0x1f, 0x8b] + (0..<500).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }, to: names[0] + ".gz")
        let error = try #require(loadError(fixture))
        #expect(error.file == fixture.file(names[0] + ".gz"))
        #expect(error.problem.contains("corrupt gzip"))
    }

    @Test func flippedByteInGzipIsCaught() throws {
        let fixture = try DataFixtureDirectory(gzipped: Set(names))
        defer { fixture.remove() }
        var gz = try fixture.read(names[2] + ".gz")
        gz[gz.count / 2] ^= 0xff
        try fixture.write(gz, to: names[2] + ".gz")
        let error = try #require(loadError(fixture))
        #expect(error.file == fixture.file(names[2] + ".gz"))
        #expect(error.problem.contains("corrupt gzip") || error.problem.contains("truncated gzip"))
    }

    @Test func garbageAfterGzipStream() throws {
        let fixture = try DataFixtureDirectory(gzipped: Set(names))
        defer { fixture.remove() }
        let gz = try fixture.read(names[0] + ".gz")
        try fixture.write(gz + Array("junk".utf8), to: names[0] + ".gz")
        let error = try #require(loadError(fixture))
        #expect(error.problem.contains("trailing data"))
    }

    /// A small gzip file that inflates to far more than its IDX header declares (or to zeros,
    /// no IDX at all) stops at the header's size instead of filling memory; the trailer's
    /// claimed size is not believed either.
    @Test func gzipBombsStopAtTheDeclaredSize() throws {
        let fixture = try DataFixtureDirectory()
        defer { fixture.remove() }
        let declared = DataFixtureDirectory.idx(dims: [5, 28, 28], payload: DataFixtureDirectory.pixels(count: 5, salt: 0))
        let bomb = try DataFixtureDirectory.gzip(declared + [UInt8](repeating: 0, count: 64 << 20))
        #expect(bomb.count < 200_000)
        try fixture.write(bomb, to: "bomb.gz")
        let error = try #require(#expect(throws: DataError.self) { try IDX.readBytes(path: fixture.file("bomb.gz")) })
        #expect(error.problem.contains("more than the \(declared.count) bytes its IDX header declares"), "\(error)")
        try fixture.write(try DataFixtureDirectory.gzip([UInt8](repeating: 0, count: 64 << 20)), to: names[0] + ".gz")
        try FileManager.default.removeItem(atPath: fixture.file(names[0]))
        #expect(loadError(fixture)?.problem.contains("wrong magic number 0x00000000") == true)
    }

    @Test func headerDeclaringNoImages() throws {
        let fixture = try DataFixtureDirectory()
        defer { fixture.remove() }
        try fixture.write(DataFixtureDirectory.idx(dims: [0, 28, 28], payload: []), to: names[0])
        try fixture.write(DataFixtureDirectory.idx(dims: [0], payload: []), to: names[1])
        #expect(loadError(fixture)?.problem.contains("holds no images") == true)
    }

    @Test func nonGzipGarbage() throws {
        let fixture = try DataFixtureDirectory(gzipped: Set(names))
        defer { fixture.remove() }
        try fixture.write(Array("<html>404 Not Found</html>".utf8), to: names[0] + ".gz")  // a typical failed download
        let error = try #require(loadError(fixture))
        #expect(error.file == fixture.file(names[0] + ".gz"))
        #expect(error.problem.contains("wrong magic number 0x3c68746d"))  // "<htm"
    }

    @Test func wrongMagicNumber() throws {
        let fixture = try DataFixtureDirectory()
        defer { fixture.remove() }
        // Type 0x0D (float32) instead of 0x08 (unsigned byte).
        try fixture.write(DataFixtureDirectory.idx(dims: [5, 28, 28], payload: DataFixtureDirectory.pixels(count: 5, salt: 0), type: 0x0d), to: names[0])
        let error = try #require(loadError(fixture))
        #expect(error.file == fixture.file(names[0]))
        #expect(error.problem.contains("wrong magic number 0x00000d03"))
        #expect(error.problem.contains("0x00000803"))
    }

    @Test func wrongRank() throws {
        let fixture = try DataFixtureDirectory()
        defer { fixture.remove() }
        // Images stored as 5 × 784 (rank 2).
        try fixture.write(DataFixtureDirectory.idx(dims: [5, 784], payload: DataFixtureDirectory.pixels(count: 5, salt: 0)), to: names[0])
        let error = try #require(loadError(fixture))
        #expect(error.file == fixture.file(names[0]))
        #expect(error.problem.contains("wrong rank"))
        #expect(error.problem.contains("0x00000802"))
        // Compressed, the same: the rank, not the size the other rank implies.
        try FileManager.default.removeItem(atPath: fixture.file(names[0]))
        try fixture.write(try DataFixtureDirectory.gzip(DataFixtureDirectory.idx(dims: [5, 784], payload: DataFixtureDirectory.pixels(count: 5, salt: 0))),
                          to: names[0] + ".gz")
        let compressed = try #require(loadError(fixture))
        #expect(compressed.problem.contains("wrong rank") && compressed.problem.contains("0x00000802"), "\(compressed.problem)")
    }

    @Test func labelsFileGivenAsImages() throws {
        let fixture = try DataFixtureDirectory()
        defer { fixture.remove() }
        try fixture.write(DataFixtureDirectory.trainImages, to: names[1])
        let error = try #require(loadError(fixture))
        #expect(error.file == fixture.file(names[1]))
        #expect(error.problem.contains("wrong rank"))
    }

    @Test func wrongImageDimensions() throws {
        let fixture = try DataFixtureDirectory()
        defer { fixture.remove() }
        try fixture.write(DataFixtureDirectory.idx(dims: [5, 28, 27], payload: [UInt8](repeating: 0, count: 5 * 28 * 27)), to: names[2])
        let error = try #require(loadError(fixture))
        #expect(error.file == fixture.file(names[2]))
        #expect(error.problem.contains("wrong dimensions 5×28×27"))
    }

    @Test func labelCountDiffersFromImageCount() throws {
        let fixture = try DataFixtureDirectory()
        defer { fixture.remove() }
        try fixture.write(DataFixtureDirectory.idx(dims: [4], payload: [1, 2, 3, 4]), to: names[1])
        let error = try #require(loadError(fixture))
        #expect(error.file == fixture.file(names[1]))
        #expect(error.problem.contains("label count 4 ≠ image count 5"))
        #expect(error.problem.contains(fixture.file(names[0])))
    }

    @Test func labelOutOfRange() throws {
        let fixture = try DataFixtureDirectory()
        defer { fixture.remove() }
        try fixture.write(DataFixtureDirectory.idx(dims: [3], payload: [1, 10, 2]), to: names[3])
        let error = try #require(loadError(fixture))
        #expect(error.file == fixture.file(names[3]))
        #expect(error.problem.contains("label 10 of example 1 is out of range 0..<10"))
    }

    @Test func missingFile() throws {
        var files = DataFixtureDirectory.validFiles
        files[names[3]] = nil
        let fixture = try DataFixtureDirectory(files: files)
        defer { fixture.remove() }
        let error = try #require(loadError(fixture))
        #expect(error.file.hasPrefix(fixture.file(names[3])))
        #expect(error.description.contains(fixture.file(names[3])))
        #expect(error.description.contains("missing"))
        #expect(error.description.contains("apt-get install dataset-fashion-mnist"))
        #expect(error.description.contains("FASHION_MNIST_DIR"))
    }

    @Test func missingDirectory() throws {
        let directory = "/nonexistent/fashion-mnist-\(UUID().uuidString)"
        let error = try #require(#expect(throws: DataError.self) { try FashionMNIST.load(directory: directory) })
        #expect(error.description.contains(directory))
        #expect(error.problem.contains("does not exist"))
        #expect(error.description.contains("apt-get install dataset-fashion-mnist"))
    }

    @Test func readBytesOfMissingFile() throws {
        let error = try #require(#expect(throws: DataError.self) { try IDX.readBytes(path: "/nonexistent/file.gz") })
        #expect(error.file == "/nonexistent/file.gz")
        #expect(error.description.contains("apt-get install dataset-fashion-mnist"))
    }

    /// A file far larger than any IDX set (here sparse: no disk used) is refused by its size,
    /// before it is read into memory.
    @Test func hugeFileIsRefusedBeforeReading() throws {
        let fixture = try DataFixtureDirectory()
        defer { fixture.remove() }
        let path = fixture.path + "/huge"
        #expect(FileManager.default.createFile(atPath: path, contents: nil))
        #expect(truncate(path, off_t(IDX.maximumFileBytes + 1)) == 0)
        do {
            _ = try IDX.readBytes(path: path)
            Issue.record("a \(IDX.maximumFileBytes + 1)-byte file was read")
        } catch let e as DataError {
            #expect(e.description.contains("is \(IDX.maximumFileBytes + 1) bytes; an IDX file this tool reads is at most"), "\(e)")
        }
    }

    /// An uncompressed file longer than its header implies (here 1 GiB, sparse) is refused from
    /// its header and size alone, without reading a gigabyte of zeros into memory.
    @Test func overlongRawFileIsRefusedFromItsHeader() throws {
        let fixture = try DataFixtureDirectory()
        defer { fixture.remove() }
        try fixture.write(DataFixtureDirectory.trainImages, to: names[0])
        let path = fixture.file(names[0])
        #expect(truncate(path, off_t(1) << 30) == 0)
        let error = try #require(loadError(fixture))
        #expect(error.file == path)
        #expect(error.problem.contains("trailing data") && error.problem.contains("(1073741824 in total)"), "\(error.problem)")
    }

    /// `data.classes` naming a class the training files lack is refused at that key.
    @Test func aChosenClassWithoutTrainingImagesIsRefused() throws {
        let fixture = try DataFixtureDirectory()
        defer { fixture.remove() }
        let yaml = """
        data: {path: "\(fixture.path)", verify_checksums: false, classes: [0, 6]}
        model: {input_shape: [28, 28, 1], layers: [{type: Flatten}, {type: Dense, units: 2, activation: softmax}]}
        """
        do {
            _ = try RunPlan(experiment: try Experiment.parse(yaml: yaml, file: "x.yaml"))
            Issue.record("class 6 (absent) was accepted")
        } catch {
            #expect("\(error)".hasPrefix("x.yaml:1: data.classes names class 6 (Shirt), which has no training images in \(fixture.path)"), "\(error)")
        }
    }

    /// A small gzip whose IDX header declares more than any IDX set holds is refused before
    /// it is inflated into memory.
    @Test func headerDeclaringTooMuchIsRefusedBeforeInflating() throws {
        let fixture = try DataFixtureDirectory()
        defer { fixture.remove() }
        var header: [UInt8] = [0, 0, 8, 3]
        for d in [3_000_000, 28, 28] { header += [UInt8(d >> 24 & 0xFF), UInt8(d >> 16 & 0xFF), UInt8(d >> 8 & 0xFF), UInt8(d & 0xFF)] }
        try FileManager.default.removeItem(atPath: fixture.file(names[0]))
        // Incompressible bytes, so the claim is within deflate's ratio for the file's size.
        var x: UInt32 = 12345
        let noise = (0..<(3 << 20)).map { _ in x = x &* 1_664_525 &+ 1_013_904_223; return UInt8(x >> 24) }
        try fixture.write(try DataFixtureDirectory.gzip(header + noise), to: names[0] + ".gz")
        let error = try #require(loadError(fixture))
        #expect(error.problem.contains("its IDX header declares 2352000016 bytes"), "\(error.problem)")
    }

    @Test func correctChecksumsPass() throws {
        let fixture = try DataFixtureDirectory(gzipped: [names[0]])
        defer { fixture.remove() }
        var checksums = [String: String]()
        for (name, bytes) in DataFixtureDirectory.validFiles {
            checksums[name] = try DataFixtureDirectory.sha256sum(bytes)
            #expect(FashionMNIST.sha256Hex(bytes) == checksums[name])
        }
        try checkValidLoad(fixture)
        _ = try FashionMNIST.load(directory: fixture.path, checksums: checksums)
    }

    @Test func checksumMismatch() throws {
        let fixture = try DataFixtureDirectory(gzipped: [names[0]])
        defer { fixture.remove() }
        var checksums = [String: String]()
        for (name, bytes) in DataFixtureDirectory.validFiles { checksums[name] = try DataFixtureDirectory.sha256sum(bytes) }
        let wrong = String(repeating: "ab", count: 32)
        checksums[names[0]] = wrong
        let error = try #require(loadError(fixture, checksums: checksums))
        #expect(error.file == fixture.file(names[0] + ".gz"))
        #expect(error.problem.contains("checksum mismatch"))
        #expect(error.problem.contains(wrong))
        #expect(error.problem.contains(try DataFixtureDirectory.sha256sum(DataFixtureDirectory.trainImages)))
        #expect(error.description.contains("dataset-fashion-mnist"))
    }

    @Test func realChecksumsRejectTinyFiles() throws {
        // The default (verifying) loader on a directory of well-formed but foreign files.
        let fixture = try DataFixtureDirectory()
        defer { fixture.remove() }
        let error = try #require(#expect(throws: DataError.self) { try FashionMNIST.load(directory: fixture.path) })
        #expect(error.problem.contains("checksum mismatch"))
        #expect(error.problem.contains(FashionMNIST.files[0].sha256))
        #expect(error.problem.contains("instead of 47040016"))
        _ = try FashionMNIST.load(directory: fixture.path, verifyChecksums: false)
    }

    @Test func everyErrorDescriptionIsOneLine() throws {
        let fixture = try DataFixtureDirectory()
        defer { fixture.remove() }
        try fixture.write(DataFixtureDirectory.idx(dims: [3], payload: [1, 10, 2]), to: names[3])
        let error = try #require(loadError(fixture))
        #expect(!error.description.contains("\n"))
        #expect(error.description == "\(error.file): \(error.problem). \(error.remedy)")
        #expect(error.localizedDescription == error.description)
    }

    @Test func directoryResolution() {
        #expect(FashionMNIST.resolveDirectory("/given", environment: ["FASHION_MNIST_DIR": "/env"]) == "/given")
        #expect(FashionMNIST.resolveDirectory(nil, environment: ["FASHION_MNIST_DIR": "/env"]) == "/env")
        #expect(FashionMNIST.resolveDirectory(nil, environment: ["FASHION_MNIST_DIR": ""]) == FashionMNIST.defaultDirectory)
        #expect(FashionMNIST.resolveDirectory(nil, environment: [:]) == "/usr/share/datasets/fashion-mnist")
    }
}
