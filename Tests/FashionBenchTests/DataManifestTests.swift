import FashionData
import Foundation
import Testing

/// Data/fashion-mnist.yaml must agree with the checksums and class names compiled into FashionData.
@Suite("Data: manifest")
struct DataManifestTests {
    /// Tests/FashionBenchTests/<this file> → repository root.
    static let manifestPath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Data/fashion-mnist.yaml").path

    /// First capture group of every line matching `pattern` as a whole, in file order.
    func captures(_ pattern: String, in lines: [Substring]) throws -> [String] {
        let regex = try Regex(pattern)
        return lines.compactMap { line in
            guard let match = line.wholeMatch(of: regex), let capture = match.output[1].substring else { return nil }
            return String(capture)
        }
    }

    @Test func manifestMatchesCode() throws {
        let text = try String(contentsOfFile: Self.manifestPath, encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)

        let names = try captures(#"\s*- name:\s*(\S+)\s*"#, in: lines)
        let hashes = try captures(#"\s*sha256:\s*([0-9a-f]{64})\s*"#, in: lines)
        let sizes = try captures(#"\s*bytes:\s*([0-9]+)\s*"#, in: lines).compactMap { Int($0) }
        let md5s = try captures(#"\s*upstream_gz_md5:\s*([0-9a-f]{32})\s*"#, in: lines)
        #expect(names == FashionMNIST.files.map(\.name))
        #expect(hashes == FashionMNIST.files.map(\.sha256))
        #expect(sizes == FashionMNIST.files.map(\.bytes))
        #expect(md5s.count == 4)

        // Class lines are the only ones of the form "  <digit>: <name>".
        let classLines = try Regex(#"\s+([0-9]+):\s*(.+?)\s*"#)
        var classes = [(Int, String)]()
        for line in lines {
            if let m = line.wholeMatch(of: classLines), let id = m.output[1].substring, let name = m.output[2].substring {
                classes.append((Int(id)!, String(name)))
            }
        }
        #expect(classes.map(\.0) == Array(0..<10))
        #expect(classes.map(\.1) == FashionMNIST.classNames)

        #expect(try captures(#"\s*train:\s*([0-9]+)\s*"#, in: lines) == ["60000"])
        #expect(try captures(#"\s*test:\s*([0-9]+)\s*"#, in: lines) == ["10000"])
        #expect(try captures(#"debian_package:\s*(\S+)\s*"#, in: lines) == ["dataset-fashion-mnist"])
        #expect(try captures(#"directory:\s*(\S+)\s*"#, in: lines) == [FashionMNIST.defaultDirectory])
    }
}
