import CHDF5
import Foundation
import FashionConfig

/// An HDF5 failure, with a message naming the file (and dataset or attribute) involved.
public struct HDF5Error: Error, CustomStringConvertible, LocalizedError {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}

/// Every HDF5 call goes through one lock: Debian's library is built thread-safe, but other
/// builds (e.g. Homebrew's) are not, and tests run in parallel. Error printing is silenced on
/// each entry because HDF5 keeps that setting per thread; failures are reported by return
/// value as Swift errors instead.
enum HDF5Library {
    private static let lock = NSRecursiveLock()

    static func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        chdf5_silence_errors()
        return try body()
    }

    /// H5T_VARIABLE is `((size_t)-1)`, a macro Swift cannot import; size_t is `Int` in Swift.
    static let variableLength = Int(bitPattern: UInt.max)

    /// A variable-length UTF-8 string type, the kind h5py writes for `attrs["x"] = "text"`
    /// and reads back as `str`. The caller closes it.
    static func utf8StringType() -> hid_t {
        let type = H5Tcopy(chdf5_c_s1())
        H5Tset_size(type, variableLength)
        H5Tset_cset(type, H5T_CSET_UTF8)
        H5Tset_strpad(type, H5T_STR_NULLTERM)
        return type
    }

    /// "/" for the file itself, else the dataset (or group) path.
    static func objectPath(_ dataset: String?) -> String { dataset ?? "/" }

    static func describe(_ dataset: String?) -> String { dataset.map { "dataset '\($0)'" } ?? "the file" }

    /// Why the last HDF5 call on this thread failed, as HDF5 says it where the failure began
    /// ("data error detected by Fletcher32 checksum"), or "" when it left no message.
    static func innermostError() -> String {
        var buffer = [CChar](repeating: 0, count: 512)
        chdf5_innermost_error(&buffer, buffer.count)
        return String(cString: buffer)
    }
}

/// Writes an HDF5 file of plain arrays and attributes, readable by h5py without options.
///
/// The file is built under a temporary name beside the final one (`.<name>.tmp-…`) and renamed
/// into place by `close()` (or deinit), so a crash never leaves half a file under the final
/// name. If any operation on the writer failed, `close()` deletes the temporary file instead
/// and throws: an incomplete file is never published. Names may contain `/`; missing
/// intermediate groups are created.
public final class HDF5Writer {
    /// The final path, which exists only after a successful `close()`.
    public let path: String
    private let temporaryPath: String
    private var file: hid_t = -1
    private var failed = false

    /// Creates (or, at close, replaces) the file at `path`. Throws if the directory is missing or
    /// not writable, naming the path.
    public init(path: String) throws {
        self.path = path
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw HDF5Error("Cannot create HDF5 file \(path): directory \(directory) does not exist")
        }
        guard access(directory, W_OK) == 0 else {
            throw HDF5Error("Cannot create HDF5 file \(path): directory \(directory) is not writable")
        }
        temporaryPath = TemporaryFiles.path(beside: url)
        let tmp = temporaryPath
        file = TemporaryFiles.create(tmp) { HDF5Library.locked { H5Fcreate(tmp, chdf5_f_acc_excl(), chdf5_p_default(), chdf5_p_default()) } }
        guard file >= 0 else {
            TemporaryFiles.unregister(tmp)
            throw HDF5Error("Cannot create HDF5 file \(path) (temporary file \(tmp))")
        }
    }

    deinit { try? close() }

    /// A 1-D float64 dataset.
    public func write(_ name: String, doubles: [Double]) throws {
        try doubles.withUnsafeBytes { try writeDataset(name, dims: [doubles.count], type: chdf5_native_double(), buffer: $0.baseAddress) }
    }

    /// A 1-D float32 dataset.
    public func write(_ name: String, floats: [Float]) throws {
        try floats.withUnsafeBytes { try writeDataset(name, dims: [floats.count], type: chdf5_native_float(), buffer: $0.baseAddress) }
    }

    /// A float32 dataset of the given shape (row-major; h5py reads it as an array of that
    /// shape). `checksummed` stores it in chunks under HDF5's Fletcher-32 checksum, which
    /// h5py and every HDF5 reader verify: a file damaged after writing then fails to read
    /// instead of handing back wrong numbers.
    public func write(_ name: String, floats: [Float], shape: [Int], checksummed: Bool) throws {
        guard shape.reduce(1, *) == floats.count else {
            failed = true
            throw HDF5Error("Cannot write dataset '\(name)' to \(path): \(floats.count) values do not fill the shape \(shape)")
        }
        try floats.withUnsafeBytes {
            try writeDataset(name, dims: shape, type: chdf5_native_float(), buffer: $0.baseAddress, checksummed: checksummed)
        }
    }

    /// A 1-D int64 dataset.
    public func write(_ name: String, ints: [Int]) throws {
        let values = ints.map { Int64($0) }
        try values.withUnsafeBytes { try writeDataset(name, dims: [values.count], type: chdf5_native_int64(), buffer: $0.baseAddress) }
    }

    /// A 2-D int64 dataset, row-major (`matrix[i][j]` is h5py's `d[i, j]`). Rows must be of equal length.
    public func writeMatrix(_ name: String, ints: [[Int]]) throws {
        let columns = ints.first?.count ?? 0
        guard ints.allSatisfy({ $0.count == columns }) else {
            failed = true
            throw HDF5Error("Cannot write dataset '\(name)' to \(path): matrix rows have different lengths")
        }
        let values = ints.flatMap { $0.map { Int64($0) } }
        try values.withUnsafeBytes { try writeDataset(name, dims: [ints.count, columns], type: chdf5_native_int64(), buffer: $0.baseAddress) }
    }

    /// A 2-D float64 dataset, row-major. Rows must be of equal length.
    public func writeMatrix(_ name: String, doubles: [[Double]]) throws {
        let columns = doubles.first?.count ?? 0
        guard doubles.allSatisfy({ $0.count == columns }) else {
            failed = true
            throw HDF5Error("Cannot write dataset '\(name)' to \(path): matrix rows have different lengths")
        }
        let values = doubles.flatMap { $0 }
        try values.withUnsafeBytes { try writeDataset(name, dims: [doubles.count, columns], type: chdf5_native_double(), buffer: $0.baseAddress) }
    }

    /// A 1-D dataset of variable-length UTF-8 strings (h5py reads the elements as `bytes`;
    /// `d.asstr()[:]` gives `str`).
    public func write(_ name: String, strings: [String]) throws {
        // strdup'ed copies: HDF5 wants an array of char*, alive until the write returns.
        let pointers = strings.map { strdup($0) }
        defer { pointers.forEach { free($0) } }
        try HDF5Library.locked {
            let type = HDF5Library.utf8StringType()
            defer { H5Tclose(type) }
            try pointers.withUnsafeBytes { try writeDataset(name, dims: [strings.count], type: type, buffer: $0.baseAddress) }
        }
    }

    /// A scalar variable-length UTF-8 string attribute on the file (root group) or on a
    /// dataset; h5py reads it as `str`. Setting an existing attribute replaces it.
    public func setAttribute(_ name: String, string: String, on dataset: String? = nil) throws {
        try string.withCString { cString in
            var pointer: UnsafePointer<CChar>? = cString
            try HDF5Library.locked {
                let type = HDF5Library.utf8StringType()
                defer { H5Tclose(type) }
                try withUnsafePointer(to: &pointer) { try writeAttribute(name, on: dataset, type: type, buffer: $0) }
            }
        }
    }

    /// A scalar float64 attribute on the file or a dataset.
    public func setAttribute(_ name: String, double: Double, on dataset: String? = nil) throws {
        var value = double
        try writeAttribute(name, on: dataset, type: chdf5_native_double(), buffer: &value)
    }

    /// A scalar int64 attribute on the file or a dataset.
    public func setAttribute(_ name: String, int: Int, on dataset: String? = nil) throws {
        var value = Int64(int)
        try writeAttribute(name, on: dataset, type: chdf5_native_int64(), buffer: &value)
    }

    /// Closes the file and renames it into place. Idempotent. If an earlier operation failed,
    /// deletes the temporary file and throws instead.
    public func close() throws {
        guard file >= 0 else { return }
        // Closing flushes the data: a full disk shows here, and HDF5 only says that it failed.
        errno = 0
        let status = HDF5Library.locked { H5Fclose(file) }
        let systemError = errno
        file = -1
        defer { TemporaryFiles.unregister(temporaryPath) }
        if failed || status < 0 {
            unlink(temporaryPath)
            throw HDF5Error(failed ? "HDF5 file \(path) not written: an earlier write to it failed"
                                   : "Cannot close HDF5 file \(path)" + (systemError != 0 ? ": \(String(cString: strerror(systemError)))" : ""))
        }
        guard rename(temporaryPath, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporaryPath)
            throw HDF5Error("Cannot move HDF5 file into place at \(path): \(reason)")
        }
    }

    /// Closes and deletes the temporary file without publishing anything.
    public func discard() {
        guard file >= 0 else { return }
        HDF5Library.locked { _ = H5Fclose(file) }
        file = -1
        unlink(temporaryPath)
        TemporaryFiles.unregister(temporaryPath)
    }

    // MARK: - Internals

    /// Marks the writer failed and returns the error, so every failure poisons the file.
    private func failure(_ message: String) -> HDF5Error {
        failed = true
        return HDF5Error(message)
    }

    private func ensureOpen(_ what: String) throws {
        guard file >= 0 else { throw HDF5Error("Cannot write \(what) to \(path): the file is already closed") }
    }

    /// Creates the groups above `name` ("a/b/c" needs "a" and "a/b").
    private func createParentGroups(of name: String) throws {
        let parts = name.split(separator: "/").dropLast()
        var prefix = name.hasPrefix("/") ? "/" : ""
        for part in parts {
            prefix += (prefix.isEmpty || prefix == "/" ? "" : "/") + part
            if H5Lexists(file, prefix, chdf5_p_default()) > 0 { continue }
            let group = H5Gcreate2(file, prefix, chdf5_p_default(), chdf5_p_default(), chdf5_p_default())
            guard group >= 0 else { throw failure("Cannot create group '\(prefix)' in \(path)") }
            H5Gclose(group)
        }
    }

    /// Chunks of about 4 MB of float32 (whole leading-axis slices): big enough to read fast,
    /// small enough that HDF5 verifies a large kernel piece by piece.
    public static let checksumChunkElements = 1 << 20

    /// Chunk extents for `dims`: all of every axis but the first, and as many of the first as
    /// fit in `checksumChunkElements` (at least one).
    public static func chunkExtents(_ dims: [Int]) -> [Int] {
        let inner = dims.dropFirst().reduce(1, *)
        let leading = max(1, min(dims[0], checksumChunkElements / max(inner, 1)))
        return [leading] + dims.dropFirst()
    }

    private func writeDataset(_ name: String, dims: [Int], type: hid_t, buffer: UnsafeRawPointer?, checksummed: Bool = false) throws {
        try ensureOpen("dataset '\(name)'")
        try HDF5Library.locked {
            try createParentGroups(of: name)
            if H5Lexists(file, name, chdf5_p_default()) > 0 {
                throw failure("Cannot write dataset '\(name)' to \(path): it already exists")
            }
            let extents = dims.map { hsize_t($0) }
            let space = H5Screate_simple(Int32(extents.count), extents, nil)
            guard space >= 0 else { throw failure("Cannot write dataset '\(name)' to \(path): bad shape \(dims)") }
            defer { H5Sclose(space) }
            // HDF5 cannot chunk a scalar or an empty extent; those are written plainly.
            var layout = chdf5_p_default()
            if checksummed, !dims.isEmpty, !dims.contains(0) {
                layout = Self.chunkExtents(dims).map { hsize_t($0) }.withUnsafeBufferPointer { chdf5_checksummed_layout(Int32(dims.count), $0.baseAddress) }
                guard layout >= 0 else { throw failure("Cannot lay out dataset '\(name)' in \(path) with a checksum") }
            }
            defer { if layout != chdf5_p_default() { H5Pclose(layout) } }
            let dataset = H5Dcreate2(file, name, type, space, chdf5_p_default(), layout, chdf5_p_default())
            guard dataset >= 0 else { throw failure("Cannot create dataset '\(name)' in \(path)") }
            defer { H5Dclose(dataset) }
            // Nothing to write for an empty array (and HDF5 rejects a null buffer).
            guard dims.reduce(1, *) > 0 else { return }
            guard H5Dwrite(dataset, type, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), buffer) >= 0 else {
                throw failure("Cannot write dataset '\(name)' to \(path)")
            }
        }
    }

    private func writeAttribute(_ name: String, on dataset: String?, type: hid_t, buffer: UnsafeRawPointer) throws {
        let target = HDF5Library.describe(dataset)
        try ensureOpen("attribute '\(name)' on \(target)")
        try HDF5Library.locked {
            let object = H5Oopen(file, HDF5Library.objectPath(dataset), chdf5_p_default())
            guard object >= 0 else { throw failure("Cannot set attribute '\(name)' in \(path): no \(target)") }
            defer { H5Oclose(object) }
            if H5Aexists(object, name) > 0 { H5Adelete(object, name) }
            let space = H5Screate(H5S_SCALAR)
            defer { H5Sclose(space) }
            let attribute = H5Acreate2(object, name, type, space, chdf5_p_default(), chdf5_p_default())
            guard attribute >= 0 else { throw failure("Cannot create attribute '\(name)' on \(target) in \(path)") }
            defer { H5Aclose(attribute) }
            guard H5Awrite(attribute, type, buffer) >= 0 else {
                throw failure("Cannot write attribute '\(name)' on \(target) in \(path)")
            }
        }
    }
}

/// Reads back what `HDF5Writer` writes (and plain h5py files of the same kinds): numeric
/// datasets converted to the requested type, shapes, string and number attributes.
public final class HDF5Reader {
    public let path: String
    private var file: hid_t = -1

    public init(path: String) throws {
        self.path = path
        guard FileManager.default.fileExists(atPath: path) else { throw HDF5Error("Cannot open HDF5 file \(path): no such file") }
        if let why = FileKind.notRegular(path) { throw HDF5Error("Cannot open HDF5 file \(path): it \(why)") }
        file = HDF5Library.locked { H5Fopen(path, chdf5_f_acc_rdonly(), chdf5_p_default()) }
        guard file >= 0 else { throw HDF5Error("Cannot open HDF5 file \(path): not an HDF5 file or unreadable") }
    }

    deinit { close() }

    public func close() {
        guard file >= 0 else { return }
        HDF5Library.locked { _ = H5Fclose(file) }
        file = -1
    }

    /// Paths of all datasets, groups searched recursively, sorted ("a", "g/b", …).
    public func datasetNames() throws -> [String] {
        try HDF5Library.locked {
            var names: [String] = []
            var visited = 0
            try collectDatasets(in: "/", prefix: "", depth: 0, visited: &visited, into: &names)
            return names.sorted()
        }
    }

    /// The dataset's dimensions ([] for a scalar).
    public func shape(_ name: String) throws -> [Int] {
        try HDF5Library.locked {
            try withDataset(name) { dataset in try dims(of: dataset, name) }
        }
    }

    /// What the dataset's elements are, as stored.
    public enum ElementClass: String, Sendable {
        case floatingPoint = "floating-point numbers", integer = "integers", string = "strings", other = "neither numbers nor strings"
    }

    /// The class of the dataset's elements and their size in bytes as stored.
    public func elementType(_ name: String) throws -> (kind: ElementClass, bytes: Int) {
        try HDF5Library.locked {
            try withDataset(name) { dataset in
                let type = H5Dget_type(dataset)
                guard type >= 0 else { throw HDF5Error("Cannot read the type of dataset '\(name)' in \(path)") }
                defer { H5Tclose(type) }
                let kind: ElementClass
                switch H5Tget_class(type) {
                case H5T_FLOAT: kind = .floatingPoint
                case H5T_INTEGER: kind = .integer
                case H5T_STRING: kind = .string
                default: kind = .other
                }
                return (kind, Int(H5Tget_size(type)))
            }
        }
    }

    /// All elements in row-major order, converted to float64 by HDF5.
    public func readDoubles(_ name: String) throws -> [Double] {
        try read(name, as: Double.self, type: chdf5_native_double())
    }

    /// All elements in row-major order, converted to float32 by HDF5.
    public func readFloats(_ name: String) throws -> [Float] {
        try read(name, as: Float.self, type: chdf5_native_float())
    }

    /// All elements in row-major order, converted to int64 by HDF5.
    public func readInts(_ name: String) throws -> [Int] {
        try read(name, as: Int64.self, type: chdf5_native_int64()).map { Int($0) }
    }

    /// A 2-D integer dataset as rows.
    public func readIntMatrix(_ name: String) throws -> [[Int]] {
        let dims = try shape(name)
        guard dims.count == 2 else { throw HDF5Error("Dataset '\(name)' in \(path) is \(dims.count)-D, not 2-D") }
        let flat = try readInts(name)
        return (0..<dims[0]).map { Array(flat[($0 * dims[1])..<(($0 + 1) * dims[1])]) }
    }

    /// A 1-D dataset of variable-length strings.
    public func readStrings(_ name: String) throws -> [String] {
        try HDF5Library.locked {
            try withDataset(name) { dataset in
                let count = try dims(of: dataset, name).reduce(1, *)
                let type = HDF5Library.utf8StringType()
                defer { H5Tclose(type) }
                var pointers = [UnsafeMutablePointer<CChar>?](repeating: nil, count: count)
                guard count == 0 || H5Dread(dataset, type, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), &pointers) >= 0 else {
                    throw HDF5Error("Cannot read strings from dataset '\(name)' in \(path)")
                }
                // HDF5 allocated each string; H5free_memory is the matching free in every version.
                defer { pointers.forEach { H5free_memory($0) } }
                return pointers.map { $0.map { String(cString: $0) } ?? "" }
            }
        }
    }

    /// A string attribute on the file (`dataset == nil`) or a dataset, variable-length or fixed-size.
    public func stringAttribute(_ name: String, on dataset: String? = nil) throws -> String {
        try HDF5Library.locked {
            try withAttribute(name, on: dataset) { attribute in
                let stored = H5Aget_type(attribute)
                defer { H5Tclose(stored) }
                guard H5Tget_class(stored) == H5T_STRING else {
                    throw HDF5Error("Attribute '\(name)' on \(HDF5Library.describe(dataset)) in \(path) is not a string")
                }
                if H5Tis_variable_str(stored) > 0 {
                    let type = HDF5Library.utf8StringType()
                    defer { H5Tclose(type) }
                    var pointer: UnsafeMutablePointer<CChar>?
                    guard H5Aread(attribute, type, &pointer) >= 0 else {
                        throw HDF5Error("Cannot read attribute '\(name)' in \(path)")
                    }
                    defer { H5free_memory(pointer) }
                    return pointer.map { String(cString: $0) } ?? ""
                }
                // Fixed size: read the bytes, stop at the first NUL (null-terminated or null-padded).
                let size = H5Tget_size(stored)
                let type = H5Tcopy(stored)
                defer { H5Tclose(type) }
                var bytes = [UInt8](repeating: 0, count: size + 1)
                guard H5Aread(attribute, type, &bytes) >= 0 else {
                    throw HDF5Error("Cannot read attribute '\(name)' in \(path)")
                }
                let end = bytes.firstIndex(of: 0) ?? size
                return String(decoding: bytes[..<end], as: UTF8.self)
            }
        }
    }

    /// A numeric scalar attribute, converted to float64.
    public func doubleAttribute(_ name: String, on dataset: String? = nil) throws -> Double {
        try HDF5Library.locked {
            try withAttribute(name, on: dataset) { attribute in
                var value = 0.0
                guard H5Aread(attribute, chdf5_native_double(), &value) >= 0 else {
                    throw HDF5Error("Cannot read attribute '\(name)' on \(HDF5Library.describe(dataset)) in \(path) as a number")
                }
                return value
            }
        }
    }

    /// Names of the attributes on the file or a dataset, sorted.
    public func attributeNames(on dataset: String? = nil) throws -> [String] {
        try HDF5Library.locked {
            let object = try openObject(dataset)
            defer { H5Oclose(object) }
            var names: [String] = []
            var index: hsize_t = 0
            while true {
                let length = H5Aget_name_by_idx(object, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, chdf5_p_default())
                if length < 0 { break }
                var buffer = [CChar](repeating: 0, count: length + 1)
                H5Aget_name_by_idx(object, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, length + 1, chdf5_p_default())
                names.append(String(cString: buffer))
                index += 1
            }
            return names.sorted()
        }
    }

    // MARK: - Internals

    private func ensureOpen() throws {
        guard file >= 0 else { throw HDF5Error("HDF5 file \(path) is closed") }
    }

    private func openObject(_ dataset: String?) throws -> hid_t {
        try ensureOpen()
        let object = H5Oopen(file, HDF5Library.objectPath(dataset), chdf5_p_default())
        guard object >= 0 else { throw HDF5Error("No \(HDF5Library.describe(dataset)) in \(path)") }
        return object
    }

    private func withDataset<T>(_ name: String, _ body: (hid_t) throws -> T) throws -> T {
        try ensureOpen()
        let dataset = H5Dopen2(file, name, chdf5_p_default())
        guard dataset >= 0 else { throw HDF5Error("No dataset '\(name)' in \(path)") }
        defer { H5Dclose(dataset) }
        return try body(dataset)
    }

    private func withAttribute<T>(_ name: String, on dataset: String?, _ body: (hid_t) throws -> T) throws -> T {
        let object = try openObject(dataset)
        defer { H5Oclose(object) }
        guard H5Aexists(object, name) > 0 else {
            throw HDF5Error("No attribute '\(name)' on \(HDF5Library.describe(dataset)) in \(path)")
        }
        let attribute = H5Aopen(object, name, chdf5_p_default())
        guard attribute >= 0 else { throw HDF5Error("Cannot open attribute '\(name)' in \(path)") }
        defer { H5Aclose(attribute) }
        return try body(attribute)
    }

    private func dims(of dataset: hid_t, _ name: String) throws -> [Int] {
        let space = H5Dget_space(dataset)
        defer { H5Sclose(space) }
        let rank = H5Sget_simple_extent_ndims(space)
        guard rank >= 0 else { throw HDF5Error("Cannot read the shape of dataset '\(name)' in \(path)") }
        var extents = [hsize_t](repeating: 0, count: Int(rank))
        H5Sget_simple_extent_dims(space, &extents, nil)
        return extents.map { Int($0) }
    }

    private func read<T: Numeric>(_ name: String, as: T.Type, type: hid_t) throws -> [T] {
        try HDF5Library.locked {
            try withDataset(name) { dataset in
                let count = try dims(of: dataset, name).reduce(1, *)
                var values = [T](repeating: 0, count: count)
                guard count > 0 else { return values }
                let status = values.withUnsafeMutableBytes {
                    H5Dread(dataset, type, chdf5_s_all(), chdf5_s_all(), chdf5_p_default(), $0.baseAddress)
                }
                guard status >= 0 else {
                    let why = HDF5Library.innermostError()
                    throw HDF5Error("Cannot read dataset '\(name)' in \(path) as \(T.self)" + (why.isEmpty ? "" : ": \(why)"))
                }
                return values
            }
        }
    }

    /// Lists a group's links; datasets are added with their full path, groups are descended.
    /// A group linked into itself (a hard-link cycle, or an external link back to the file)
    /// would be descended forever: the walk stops at a depth and a number of links no weights
    /// file comes near.
    private func collectDatasets(in group: String, prefix: String, depth: Int, visited: inout Int, into names: inout [String]) throws {
        guard depth <= 32 else {
            throw HDF5Error("\(path) nests groups more than 32 deep ('\(prefix.prefix(60))…'): a group linked into itself? It is not a weights file this tool wrote")
        }
        let id = H5Gopen2(file, group, chdf5_p_default())
        guard id >= 0 else { throw HDF5Error("Cannot open group '\(group)' in \(path)") }
        defer { H5Gclose(id) }
        var info = H5G_info_t()
        guard H5Gget_info(id, &info) >= 0 else { throw HDF5Error("Cannot list group '\(group)' in \(path)") }
        for index in 0..<info.nlinks {
            let length = H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, nil, 0, chdf5_p_default())
            guard length >= 0 else { continue }
            var buffer = [CChar](repeating: 0, count: length + 1)
            H5Lget_name_by_idx(id, ".", H5_INDEX_NAME, H5_ITER_INC, index, &buffer, length + 1, chdf5_p_default())
            let link = String(cString: buffer)
            visited += 1
            guard visited <= 100_000 else {
                throw HDF5Error("\(path) holds more than 100000 links (groups linked more than once?): it is not a weights file this tool wrote")
            }
            // Opening the object tells its kind without version-specific info structs;
            // dangling soft links just fail to open and are skipped.
            let object = H5Oopen(id, link, chdf5_p_default())
            guard object >= 0 else { continue }
            let kind = H5Iget_type(object)
            H5Oclose(object)
            let full = prefix.isEmpty ? link : prefix + "/" + link
            if kind == H5I_DATASET {
                names.append(full)
            } else if kind == H5I_GROUP {
                try collectDatasets(in: "/" + full, prefix: full, depth: depth + 1, visited: &visited, into: &names)
            }
        }
    }
}
