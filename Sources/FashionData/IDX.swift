import CZlib
import Foundation
import FashionConfig

/// Reader for the IDX format of (Fashion-)MNIST: a 4-byte magic `00 00 <type> <ndims>`, then
/// `ndims` big-endian UInt32 sizes, then the payload. Only type 0x08 (unsigned byte) is used by
/// Fashion-MNIST, so only that is accepted.
public enum IDX {
    /// The largest IDX file read, compressed or not (2 GiB: EMNIST's largest is about 550 MB).
    public static let maximumFileBytes: Int64 = 1 << 31

    /// Reads an IDX file (optionally gzip-compressed: detect by the 1f 8b magic, not by the name) fully into memory, returns decompressed bytes.
    /// `expectedRank`: a compressed file whose header declares another rank is inflated no
    /// further, so `parse` reports the rank rather than the payload's size.
    public static func readBytes(path: String, expectedRank: Int? = nil) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw DataError(file: path, problem: "file is missing", remedy: DataError.installRemedy)
        }
        if isDirectory.boolValue {
            throw DataError(file: path, problem: "is a directory, expected an IDX file",
                            remedy: DataError.replaceRemedy)
        }
        if let why = FileKind.notRegular(path) {
            throw DataError(file: path, problem: "\(why), expected an IDX file", remedy: DataError.replaceRemedy)
        }
        // Its size first: a file that no IDX set comes near (a sparse or runaway download) is
        // refused before it is read into memory.
        var status = stat()
        if stat(path, &status) == 0, Int64(status.st_size) > maximumFileBytes {
            throw DataError(file: path, problem: "is \(status.st_size) bytes; an IDX file this tool reads is at most \(maximumFileBytes) (Fashion-MNIST's largest is 47,040,016)",
                            remedy: DataError.replaceRemedy)
        }
        // An uncompressed file's header gives its exact size: a file of another size (a damaged
        // copy, gigabytes long) is refused from its first bytes, unread.
        if let expectedRank, let head = FileHandle(forReadingAtPath: path).flatMap({ try? $0.read(upToCount: 4 + 4 * 255) }),
           !(head.count >= 2 && head[head.startIndex] == 0x1f && head[head.startIndex + 1] == 0x8b) {
            _ = try parse(header: [UInt8](head), fileSize: Int(status.st_size), path: path, expectedRank: expectedRank)
        }
        let raw: [UInt8]
        do {
            raw = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            let reason = FileProblem.reason(error, path: path)
            let permissions = access(path, R_OK) != 0 ? "Check the file's permissions. " : ""
            throw DataError(file: path, problem: "cannot be read (\(reason))", remedy: permissions + DataError.replaceRemedy)
        }
        // The name is not trusted: Debian ships .gz files, users often gunzip them and some tools
        // keep the .gz name on decompressed files. The gzip magic decides.
        if raw.count >= 2 && raw[0] == 0x1f && raw[1] == 0x8b {
            return try gunzip(raw, path: path, expectedRank: expectedRank)
        }
        return raw
    }

    /// Parses the header: magic 0x00 0x00 0x08(unsigned byte) ndims; dims big-endian UInt32. Verifies expectedDims count and that the payload length equals the product of dims exactly (truncated → error saying expected vs actual byte counts; trailing garbage → error too).
    public static func parse(_ bytes: [UInt8], path: String, expectedRank: Int) throws -> (dims: [Int], payloadOffset: Int) {
        try parse(header: bytes, fileSize: bytes.count, path: path, expectedRank: expectedRank)
    }

    /// `parse` from the file's first bytes (at least its header, or the whole file) and its size.
    static func parse(header bytes: [UInt8], fileSize: Int, path: String, expectedRank: Int) throws -> (dims: [Int], payloadOffset: Int) {
        let expectedMagic = String(format: "0x000008%02x", expectedRank)
        guard bytes.count >= 4 else {
            throw DataError(file: path,
                            problem: "truncated: \(bytes.count) bytes, too short for an IDX header (magic \(expectedMagic))",
                            remedy: DataError.replaceRemedy)
        }
        let magic = String(format: "0x%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2], bytes[3])
        guard bytes[0] == 0, bytes[1] == 0, bytes[2] == 0x08 else {
            throw DataError(file: path,
                            problem: "wrong magic number \(magic), expected \(expectedMagic) (IDX, unsigned bytes, \(expectedRank) dimensions); this is not a Fashion-MNIST IDX file",
                            remedy: DataError.replaceRemedy)
        }
        let rank = Int(bytes[3])
        guard rank == expectedRank else {
            throw DataError(file: path,
                            problem: "wrong rank: magic number \(magic) declares \(rank) dimensions, expected \(expectedRank) (\(expectedMagic))",
                            remedy: DataError.replaceRemedy)
        }
        let payloadOffset = 4 + 4 * rank
        guard bytes.count >= payloadOffset else {
            throw DataError(file: path,
                            problem: "truncated: header needs \(payloadOffset) bytes, file has \(bytes.count)",
                            remedy: DataError.replaceRemedy)
        }
        var dims = [Int]()
        var expectedPayload = 1
        for d in 0..<rank {
            let o = 4 + 4 * d
            let size = Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3])
            dims.append(size)
            // Four UInt32 factors can overflow Int64; such a header is garbage anyway.
            let (product, overflow) = expectedPayload.multipliedReportingOverflow(by: size)
            guard !overflow else {
                throw DataError(file: path, problem: "corrupt header: dimensions \(dims) are impossibly large",
                                remedy: DataError.replaceRemedy)
            }
            expectedPayload = product
        }
        let actualPayload = fileSize - payloadOffset
        let shape = dims.map(String.init).joined(separator: "×")
        if actualPayload < expectedPayload {
            throw DataError(file: path,
                            problem: "truncated: dimensions \(shape) need \(expectedPayload) payload bytes (\(payloadOffset + expectedPayload) in total), found \(actualPayload) (\(fileSize) in total)",
                            remedy: DataError.replaceRemedy)
        }
        if actualPayload > expectedPayload {
            throw DataError(file: path,
                            problem: "trailing data: dimensions \(shape) need \(expectedPayload) payload bytes (\(payloadOffset + expectedPayload) in total), found \(actualPayload) (\(fileSize) in total)",
                            remedy: DataError.replaceRemedy)
        }
        return (dims, payloadOffset)
    }

    /// Decompresses a whole gzip file in one go with zlib's inflate (gzip wrapper via 16+MAX_WBITS,
    /// which also checks the CRC-32 and length trailer). Concatenated gzip members are accepted, as
    /// `gunzip` does; anything else after the last member, or a premature end, is an error.
    static func gunzip(_ input: [UInt8], path: String, expectedRank: Int? = nil) throws -> [UInt8] {
        func failure(_ problem: String) -> DataError {
            DataError(file: path, problem: problem, remedy: DataError.replaceRemedy)
        }
        guard input.count < Int(UInt32.max) else { throw failure("gzip file over 4 GiB, too large for an IDX data set") }

        var stream = z_stream()
        // inflateInit2 is a C macro; call the function it expands to.
        guard inflateInit2_(&stream, 16 + MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw failure("zlib could not be initialised")
        }
        defer { inflateEnd(&stream) }

        // The gzip trailer's last 4 bytes are the uncompressed size mod 2^32: an exact first guess
        // for a single-member file, so the 47 MB output is normally allocated once. In a truncated
        // or corrupt file those bytes are arbitrary, so the hint is only trusted up to deflate's
        // maximum ratio (~1032:1); otherwise start at 4× and grow.
        let n = input.count
        let sizeHint = n >= 18 ? Int(input[n - 4]) | Int(input[n - 3]) << 8 | Int(input[n - 2]) << 16 | Int(input[n - 1]) << 24 : 0
        let plausibleHint = sizeHint > 0 && sizeHint <= 1032 * n
        // +64 spare bytes so an exact hint never needs a doubling just to let inflate read the trailer.
        // At most 64 KiB before the IDX header is read: the trailer of a gzip bomb may claim a GiB.
        var out = [UInt8](repeating: 0, count: min(plausibleHint ? sizeHint + 64 : max(4 * n, 1024), 65_536))
        var produced = 0
        // The size the IDX header declares (header + payload), once its dimensions are out: more
        // output than that is an error, found without inflating the rest.
        var declared: Int?
        func readHeader() -> Bool {
            guard declared == nil, produced >= 4 else { return true }
            // Not IDX (wrong magic): stop; `parse` names what the magic should be.
            guard out[0] == 0, out[1] == 0, out[2] == 0x08 else { return false }
            let rank = Int(out[3]), headerBytes = 4 + 4 * rank
            if let expectedRank, rank != expectedRank { return false }
            guard produced >= headerBytes else { return true }
            var total = 1
            for d in 0..<rank {
                let o = 4 + 4 * d
                let (t, overflow) = total.multipliedReportingOverflow(by: Int(out[o]) << 24 | Int(out[o + 1]) << 16 | Int(out[o + 2]) << 8 | Int(out[o + 3]))
                // Deflate cannot expand more than ~1032:1: a larger claim is a corrupt header.
                guard !overflow, t <= 1032 * n else { return false }
                total = t
            }
            declared = headerBytes + total
            // A header may declare what no IDX set holds: refused before it is inflated into memory.
            if Int64(declared!) > maximumFileBytes { return false }
            if declared! + 64 > out.count { out.append(contentsOf: repeatElement(0, count: declared! + 64 - out.count)) }
            return true
        }

        try input.withUnsafeBufferPointer { inBuf in
            stream.next_in = UnsafeMutablePointer(mutating: inBuf.baseAddress!)
            stream.avail_in = UInt32(inBuf.count)
            while true {
                if produced == out.count { out.append(contentsOf: repeatElement(0, count: out.count)) }
                let status: Int32 = out.withUnsafeMutableBufferPointer { outBuf in
                    let room = min(outBuf.count - produced, Int(UInt32.max))
                    stream.next_out = outBuf.baseAddress! + produced
                    stream.avail_out = UInt32(room)
                    let status = inflate(&stream, Z_NO_FLUSH)
                    produced += room - Int(stream.avail_out)
                    return status
                }
                guard readHeader() else {
                    // Stopped once a size was declared: the size is the reason (every other stop comes before).
                    if let declared { throw failure("its IDX header declares \(declared) bytes; an IDX file this tool reads is at most \(maximumFileBytes)") }
                    break
                }
                if let declared, produced > declared {
                    throw failure("trailing data: decompresses to more than the \(declared) bytes its IDX header declares")
                }
                switch status {
                case Z_STREAM_END:
                    if stream.avail_in == 0 { return }
                    if stream.avail_in >= 2 && stream.next_in[0] == 0x1f && stream.next_in[1] == 0x8b {
                        inflateReset(&stream)  // next gzip member
                        continue
                    }
                    throw failure("corrupt gzip: \(stream.avail_in) bytes of trailing data after the compressed stream")
                case Z_OK, Z_BUF_ERROR:
                    // All input consumed, room left for output, yet no end marker: the file was cut
                    // short (an interrupted download or copy).
                    if stream.avail_in == 0 && stream.avail_out > 0 {
                        throw failure("truncated gzip: the compressed data ends before the end of the stream (\(n) compressed bytes, \(produced) decompressed so far)")
                    }
                case Z_DATA_ERROR, Z_NEED_DICT:
                    let reason = stream.msg.map { String(cString: $0) } ?? "invalid data"
                    throw failure("corrupt gzip data (zlib: \(reason)) after \(produced) decompressed bytes")
                case Z_MEM_ERROR:
                    throw failure("out of memory while decompressing")
                default:
                    throw failure("zlib inflate failed with status \(status)")
                }
            }
        }
        out.removeLast(out.count - produced)
        return out
    }
}
