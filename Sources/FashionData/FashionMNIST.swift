import COpenSSL
import Foundation

/// Loader for Zalando's Fashion-MNIST (four IDX files, 60k train / 10k test, 28×28 grey, 10 classes).
public enum FashionMNIST {
    public static let defaultDirectory = "/usr/share/datasets/fashion-mnist"
    public static let environmentVariable = "FASHION_MNIST_DIR"
    public static let classNames = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]

    /// The expected files: base name (without .gz), SHA-256 of the DECOMPRESSED bytes, decompressed size (values in seed-models.md).
    /// Hashing the decompressed bytes lets the Debian package (re-compressed .gz), upstream .gz
    /// files and gunzipped copies all verify against one value. Mirrored in Data/fashion-mnist.yaml.
    public static let files: [(name: String, sha256: String, bytes: Int)] = [
        ("train-images-idx3-ubyte", "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888", 47_040_016),
        ("train-labels-idx1-ubyte", "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9", 60_008),
        ("t10k-images-idx3-ubyte", "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b", 7_840_016),
        ("t10k-labels-idx1-ubyte", "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34", 10_008),
    ]

    static let imageHeight = 28
    static let imageWidth = 28

    /// The directory `load(directory:)` uses: the given one, else $FASHION_MNIST_DIR if set and
    /// non-empty, else `defaultDirectory`. Takes the environment as a parameter so it is testable
    /// without mutating the process environment.
    public static func resolveDirectory(_ directory: String?,
                                        environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let directory { return directory }
        if let fromEnvironment = environment[environmentVariable], !fromEnvironment.isEmpty { return fromEnvironment }
        return defaultDirectory
    }

    /// directory nil → $FASHION_MNIST_DIR if set and non-empty → defaultDirectory. For each of the 4 files accept `<name>.gz` or `<name>` (uncompressed). Verifies SHA-256 when verifyChecksums (mismatch → DataError naming the file, the expected and actual hash, and the remedy). Checks that images have rank 3 (n, 28, 28), labels rank 1, counts of images and labels agree, labels < 10.
    public static func load(directory: String?, verifyChecksums: Bool = true) throws -> (train: ImageSet, test: ImageSet) {
        var checksums: [String: String]? = nil
        if verifyChecksums {
            checksums = Dictionary(uniqueKeysWithValues: files.map { ($0.name, $0.sha256) })
        }
        return try load(directory: resolveDirectory(directory), checksums: checksums)
    }

    /// Same checks on a directory holding files of any size (used by tests with tiny generated files): checksums are only checked when `checksums` is non-nil.
    /// `checksums` maps base names (without .gz) to SHA-256 hex of the decompressed bytes; files not in it are not checked.
    public static func load(directory: String, checksums: [String: String]?) throws -> (train: ImageSet, test: ImageSet) {
        let train = try loadPair(directory: directory, images: files[0].name, labels: files[1].name, checksums: checksums)
        let test = try loadPair(directory: directory, images: files[2].name, labels: files[3].name, checksums: checksums)
        return (train, test)
    }

    /// Lower-case hex SHA-256, the form used in `files` and the manifest.
    public static func sha256Hex(_ bytes: [UInt8]) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        var length: UInt32 = 0
        let ok = bytes.withUnsafeBytes { raw in
            EVP_Digest(raw.baseAddress, raw.count, &digest, &length, EVP_sha256(), nil)
        }
        precondition(ok == 1 && length == 32, "OpenSSL's SHA-256 failed")
        return digest.map { String(format: "%02x", $0) }.joined()
    }

    /// `<name>.gz` if present (the Debian/upstream form), else `<name>`; both hold the same bytes
    /// once decompressed, so which one wins only matters if both exist.
    static func locate(_ name: String, in directory: String) throws -> String {
        let base = (directory as NSString).appendingPathComponent(name)
        for candidate in [base + ".gz", base] where FileManager.default.fileExists(atPath: candidate) {
            return candidate
        }
        // A link whose target is missing (or loops) is there but cannot be followed: say so.
        for candidate in [base + ".gz", base] {
            var status = stat()
            if lstat(candidate, &status) == 0, status.st_mode & S_IFMT == S_IFLNK, stat(candidate, &status) != 0 {
                throw DataError(file: candidate, problem: "is a symbolic link that cannot be followed (\(String(cString: strerror(errno))))",
                                remedy: DataError.replaceRemedy)
            }
        }
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory)
        // A directory that cannot be searched hides its files: say so, not that they are missing.
        if exists, isDirectory.boolValue, access(directory, X_OK) != 0 {
            throw DataError(file: directory, problem: "cannot be searched (\(String(cString: strerror(errno)))), so \(name) cannot be found in it",
                            remedy: "Check the directory's permissions")
        }
        let problem = exists && isDirectory.boolValue
            ? "file is missing (neither \(name).gz nor \(name) is in \(directory))"
            : exists ? "file is missing (\(directory) is a file, not a directory)"
            : "file is missing (directory \(directory) does not exist)"
        throw DataError(file: base + ".gz", problem: problem, remedy: DataError.installRemedy)
    }

    /// Reads, structurally parses, then (optionally) hashes one file. Structure is checked before
    /// the hash so a cut-off file reports "truncated: expected … found …" rather than a bare hash mismatch.
    static func readIDX(_ name: String, directory: String, rank: Int,
                        checksums: [String: String]?) throws -> (path: String, bytes: [UInt8], dims: [Int], offset: Int) {
        let path = try locate(name, in: directory)
        let bytes = try IDX.readBytes(path: path, expectedRank: rank)
        let (dims, offset) = try IDX.parse(bytes, path: path, expectedRank: rank)
        if let expected = checksums?[name] {
            let actual = sha256Hex(bytes)
            if actual != expected.lowercased() {
                var sizeNote = ""
                if let known = files.first(where: { $0.name == name }), known.sha256 == expected.lowercased(), known.bytes != bytes.count {
                    sizeNote = ", \(bytes.count) decompressed bytes instead of \(known.bytes)"
                }
                throw DataError(file: path,
                                problem: "checksum mismatch: SHA-256 of the decompressed data is \(actual), expected \(expected)\(sizeNote)",
                                remedy: DataError.replaceRemedy)
            }
        }
        return (path, bytes, dims, offset)
    }

    static func loadPair(directory: String, images imagesName: String, labels labelsName: String,
                         checksums: [String: String]?) throws -> ImageSet {
        var images = try readIDX(imagesName, directory: directory, rank: 3, checksums: checksums)
        guard images.dims[0] > 0 else {
            throw DataError(file: images.path, problem: "holds no images (its header declares 0×\(images.dims[1])×\(images.dims[2]))",
                            remedy: DataError.replaceRemedy)
        }
        guard images.dims[1] == imageHeight, images.dims[2] == imageWidth else {
            throw DataError(file: images.path,
                            problem: "wrong dimensions \(images.dims.map(String.init).joined(separator: "×")), expected n×\(imageHeight)×\(imageWidth)",
                            remedy: DataError.replaceRemedy)
        }
        let labelFile = try readIDX(labelsName, directory: directory, rank: 1, checksums: checksums)
        let imageCount = images.dims[0]
        let labelCount = labelFile.dims[0]
        guard labelCount == imageCount else {
            throw DataError(file: labelFile.path,
                            problem: "label count \(labelCount) ≠ image count \(imageCount) of \(images.path)",
                            remedy: DataError.replaceRemedy)
        }
        var labels = [Int32](repeating: 0, count: labelCount)
        for i in 0..<labelCount {
            let label = labelFile.bytes[labelFile.offset + i]
            guard Int(label) < classNames.count else {
                throw DataError(file: labelFile.path,
                                problem: "label \(label) of example \(i) is out of range 0..<\(classNames.count)",
                                remedy: DataError.replaceRemedy)
            }
            labels[i] = Int32(label)
        }
        // Drop the header in place (a memmove) rather than copying 47 MB into a new array.
        images.bytes.removeFirst(images.offset)
        return ImageSet(shape: [imageHeight, imageWidth, 1], pixels: images.bytes, labels: labels, classNames: classNames)
    }
}
