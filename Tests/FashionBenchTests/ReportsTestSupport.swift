import Foundation

/// A fresh empty directory for one test; the caller removes it (`defer { removeReportsDirectory(dir) }`).
func makeReportsDirectory(_ label: String = #function) throws -> URL {
    let safe = label.filter { $0.isLetter || $0.isNumber }
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("reports-\(safe)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

func removeReportsDirectory(_ url: URL) {
    try? FileManager.default.removeItem(at: url)
}

func reportsDirectoryContents(_ url: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).sorted()
}
