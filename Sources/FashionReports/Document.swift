import Foundation
import FashionConfig

/// A report as a list of blocks, rendered to Markdown (images linked) or to one
/// self-contained HTML file (images embedded as data URIs, so it can be mailed or archived).
public struct Document {
    public enum Block {
        case heading(Int, String)
        case paragraph(String)
        case table([String], [[String]])
        /// alt text and a path relative to the report's directory
        case image(String, String)
        case preformatted(String)
    }

    public var title: String
    public var blocks: [Block] = []

    public init(title: String) { self.title = title }

    public mutating func add(_ block: Block) { blocks.append(block) }

    public func markdown() -> String {
        var out = "# \(title)\n\n"
        for block in blocks {
            switch block {
            case let .heading(level, text): out += String(repeating: "#", count: min(max(level, 2), 6)) + " \(text)\n\n"
            case let .paragraph(text): out += "\(text)\n\n"
            case let .table(header, rows):
                func cells(_ r: [String]) -> String { "| " + r.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |" }
                out += cells(header) + "\n" + "|" + String(repeating: "---|", count: header.count) + "\n"
                out += rows.map(cells).joined(separator: "\n") + "\n\n"
            case let .image(alt, path): out += "![\(alt)](\(path))\n\n"
            case let .preformatted(text): out += "```\n\(text)\n```\n\n"
            }
        }
        return out
    }

    /// `directory` is where image paths are resolved; a missing image becomes a note.
    public func html(directory: URL) -> String {
        var out = """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
        <style>
        body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
        table { border-collapse: collapse; margin: 1em 0; } th, td { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
        th:first-child, td:first-child { text-align: left; } pre { background: #f6f6f6; padding: 1em; overflow-x: auto; }
        img { max-width: 100%; } .images { display: flex; flex-wrap: wrap; gap: 1em; } .images img { max-width: 540px; }
        </style></head><body>
        <h1>\(escape(title))</h1>

        """
        var pendingImages: [String] = []
        func flushImages() {
            if !pendingImages.isEmpty { out += "<div class=\"images\">\n" + pendingImages.joined(separator: "\n") + "\n</div>\n"; pendingImages = [] }
        }
        for block in blocks {
            if case let .image(alt, path) = block {
                let url = directory.appendingPathComponent(path)
                if FileKind.notRegular(url.path) == nil, let data = try? Data(contentsOf: url) {
                    let type = path.hasSuffix(".svg") ? "image/svg+xml" : "image/png"
                    pendingImages.append("<img alt=\"\(escape(alt))\" src=\"data:\(type);base64,\(data.base64EncodedString())\">")
                } else {
                    pendingImages.append("<p><em>\(escape(alt)): not drawn (\(escape(path)) missing)</em></p>")
                }
                continue
            }
            flushImages()
            switch block {
            case let .heading(level, text): let l = min(max(level, 2), 6); out += "<h\(l)>\(escape(text))</h\(l)>\n"
            case let .paragraph(text): out += "<p>\(escape(text))</p>\n"
            case let .table(header, rows):
                out += "<table><thead><tr>" + header.map { "<th>\(escape($0))</th>" }.joined() + "</tr></thead><tbody>\n"
                for r in rows { out += "<tr>" + r.map { "<td>\(escape($0))</td>" }.joined() + "</tr>\n" }
                out += "</tbody></table>\n"
            case let .preformatted(text): out += "<pre>\(escape(text))</pre>\n"
            case .image: break
            }
        }
        flushImages()
        return out + "</body></html>\n"
    }

    func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}
