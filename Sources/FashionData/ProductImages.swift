import Foundation
import CSV
import FashionConfig

/// One class of a product-image experiment: the rows whose `column` holds one of `values`.
/// Several rules may share a name (relabelling several values, or columns, into one class).
public struct ProductClassRule: Sendable, Equatable, Codable {
    public var name: String
    public var column: String
    public var values: [String]

    public init(name: String, column: String, values: [String]) {
        self.name = name
        self.column = column
        self.values = values
    }
}

/// Which classes a product-image set keeps.
public enum ProductClassSelection: Sendable, Equatable {
    /// Every value of the label column.
    case all
    /// The k most frequent values of the label column (ties: by name).
    case top(Int)
    /// Explicit classes, in this order; a row belongs to the first rule it matches.
    case rules([ProductClassRule])
}

/// How the product images of one dataset configuration are chosen and prepared. Everything
/// here is part of the cache key.
public struct ProductImageSettings: Sendable, Equatable {
    public var labelColumn: String
    public var classes: ProductClassSelection
    /// Classes with fewer usable images are dropped (and reported).
    public var minCount: Int
    public var height: Int
    public var width: Int
    public var interpolation: Interpolation

    public init(labelColumn: String = "subCategory", classes: ProductClassSelection = .all, minCount: Int = 1,
                height: Int = 80, width: Int = 60, interpolation: Interpolation = .nearest) {
        self.labelColumn = labelColumn
        self.classes = classes
        self.minCount = minCount
        self.height = height
        self.width = width
        self.interpolation = interpolation
    }

    /// The key that decided how many classes there are: what to change when too few remain.
    var classCountKey: String {
        if minCount > 1 { return "min_count" }
        switch classes {
        case .all: return "label"
        case .top: return "top_classes"
        case .rules: return "classes"
        }
    }

    /// A stable text form of the settings, for the cache key and the report.
    var keyText: String {
        let selection: String
        switch classes {
        case .all: selection = "all"
        case let .top(k): selection = "top \(k)"
        case let .rules(rules): selection = rules.map { "\($0.name)=\($0.column):\($0.values.joined(separator: "|"))" }.joined(separator: ";")
        }
        return "label=\(labelColumn)\nclasses=\(selection)\nmin_count=\(minCount)\nsize=\(height)x\(width)\ninterpolation=\(interpolation.rawValue)"
    }
}

/// One styles.csv row or image file that loading left out, and why. A run lists them all in
/// `data_skipped.csv`; the log names the first few.
public struct SkippedProduct: Sendable, Codable, Equatable {
    public enum Kind: String, Sendable, Codable {
        /// Too few fields, an unterminated quote, a bad or repeated id.
        case malformedRow = "malformed_row"
        /// A row of the selected classes whose image file does not exist.
        case missingImage = "missing_image"
        /// An image file that exists but does not decode.
        case unreadableImage = "unreadable_image"
        /// A row whose label column is empty (classes chosen by label: all or top_classes).
        case emptyLabel = "empty_label"
    }
    public var kind: Kind
    /// The row's line in styles.csv (its first line when a quoted field spans several).
    public var line: Int?
    public var id: Int?
    /// The image file, relative to images/.
    public var file: String?
    public var reason: String

    public init(kind: Kind, line: Int?, id: Int? = nil, file: String? = nil, reason: String) {
        self.kind = kind
        self.line = line
        self.id = id
        self.file = file
        self.reason = reason
    }

    /// "line N: reason", "<id>" or "<file>: reason", as the log names it.
    var example: String {
        switch kind {
        case .malformedRow: return "line \(line ?? 0): \(reason)"
        case .missingImage: return id.map(String.init) ?? "?"
        case .unreadableImage: return "\(file ?? "?"): \(reason)"
        case .emptyLabel: return "line \(line ?? 0)"
        }
    }
}

/// What loading found: how many rows were usable and why the others were not.
public struct ProductLoadReport: Sendable, Codable, Equatable {
    /// How the log lines of `droppedClasses` and `outrankedClasses` begin.
    public static let droppedPrefix = "Dropped by min_count:", outrankedPrefix = "Outranked in top_classes:"
    public var directory: String
    /// Data rows in styles.csv (blank lines not counted).
    public var rows: Int
    /// Rows with more fields than the header because productDisplayName (Kaggle's last
    /// column) holds unquoted commas: kept, the extra fields joined back into that column.
    public var recoveredRows: Int
    /// Every row and image file left out, in file order within each kind.
    public var skipped: [SkippedProduct]
    public var malformedRows: Int { skipped.count { $0.kind == .malformedRow } }
    public var missingImages: Int { skipped.count { $0.kind == .missingImage } }
    public var unreadableImages: Int { skipped.count { $0.kind == .unreadableImage } }
    public var emptyLabels: Int { skipped.count { $0.kind == .emptyLabel } }
    /// The first few of one kind, as the log names them.
    public func examples(_ kind: SkippedProduct.Kind) -> [String] {
        Array(skipped.lazy.filter { $0.kind == kind }.prefix(ProductImages.examplesKept).map(\.example))
    }
    /// Classes left out by `min_count` (name and count).
    public var droppedClasses: [String]
    /// Classes among the `top_classes` with the most image files that others with more
    /// images that decode replaced (name and counts), and those others (name and count).
    public var outrankedClasses: [String] = [], replacingClasses: [String] = []
    /// The kept classes and their image counts, in label order.
    public var classNames: [String]
    public var classCounts: [Int]
    /// The cache file used or written (nil when caching is off), and whether it was a hit.
    public var cacheFile: String?
    public var cacheHit: Bool
    /// Why the cache file that was there could not be used (it was rebuilt), or nil.
    public var cacheDamage: String? = nil
    /// The cache file was written from other versions of the source files (it was rebuilt).
    public var cacheOutdated = false
    /// Why the cache file could not be written (the images were decoded all the same), or nil.
    public var cacheWriteFailure: String? = nil

    /// One-paragraph summary for the run log.
    public var lines: [String] {
        var out = ["Product images in \(directory): \(rows) rows in styles.csv, \(classCounts.reduce(0, +)) images in \(classNames.count) classes"
                   + " (" + zip(classNames, classCounts).map { "\($0) \($1)" }.joined(separator: ", ") + ")"]
        func more(_ count: Int) -> String { count > ProductImages.examplesKept ? ", …" : "" }
        var parts: [String] = []
        if malformedRows > 0 { parts.append("\(malformedRows) malformed rows (\(examples(.malformedRow).joined(separator: "; "))\(more(malformedRows)))") }
        if missingImages > 0 { parts.append("\(missingImages) rows without an image file (ids \(examples(.missingImage).joined(separator: ", "))\(more(missingImages)))") }
        if unreadableImages > 0 { parts.append("\(unreadableImages) unreadable images (\(examples(.unreadableImage).joined(separator: "; "))\(more(unreadableImages)))") }
        if emptyLabels > 0 { parts.append("\(emptyLabels) rows with an empty label (\(examples(.emptyLabel).joined(separator: "; "))\(more(emptyLabels)))") }
        out.append(parts.isEmpty ? "Skipped: nothing" : "Skipped: " + parts.joined(separator: "; "))
        if recoveredRows > 0 { out.append("Recovered \(recoveredRows) rows whose productDisplayName holds unquoted commas") }
        if !droppedClasses.isEmpty { out.append("\(ProductLoadReport.droppedPrefix) \(droppedClasses.joined(separator: ", "))") }
        if !outrankedClasses.isEmpty {
            out.append("\(ProductLoadReport.outrankedPrefix) \(outrankedClasses.joined(separator: ", ")); in their place: \(replacingClasses.joined(separator: ", "))")
        }
        if let cacheFile {
            if let cacheDamage { out.append("The cache file \(cacheFile) was damaged (\(cacheDamage)); decoded the images again") }
            if cacheOutdated { out.append("The cache file \(cacheFile) was written from other versions of the source files; decoded the images again") }
            if cacheHit {
                out.append("Decoded images from the cache \(cacheFile)")
            } else if let cacheWriteFailure {
                out.append("Decoded the images; the cache file \(cacheFile) could not be written (\(cacheWriteFailure)), so the next run decodes them again")
            } else {
                out.append("Decoded and cached the images in \(cacheFile)")
            }
        }
        return out
    }
}

/// Kaggle's "Fashion Product Images (Small)" layout: `styles.csv` (id, gender, masterCategory,
/// subCategory, articleType, baseColour, season, year, usage, productDisplayName) and
/// `images/<id>.jpg`. Loads what is sound, counts and reports what is not, never crashes on a
/// bad row or file.
public enum ProductImages {
    public static let environmentVariable = "FASHION_PRODUCTS_DIR"
    public static let cacheEnvironmentVariable = "FASHIONBENCH_CACHE"
    public static let downloadRemedy =
        "Download \"Fashion Product Images (Small)\" from https://www.kaggle.com/datasets/paramaggarwal/fashion-product-images-small, unzip it so that styles.csv and images/ are in one directory, and set FASHION_PRODUCTS_DIR or data.path to it"
    /// Where a checkout finds the shared 14,999-image slice (relative to the working directory).
    public static let sharedSlice = "../shared/data/fashion-product-images-small"
    static let examplesKept = 5

    /// The directory to load: `path`, else $FASHION_PRODUCTS_DIR, else the first of
    /// `fallbacks` holding a styles.csv (the shared slice), else nil.
    public static func resolveDirectory(_ path: String?, fallbacks: [String] = [sharedSlice],
                                        environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        if let path { return path }
        if let fromEnvironment = environment[environmentVariable], !fromEnvironment.isEmpty { return fromEnvironment }
        return fallbacks.first { FileManager.default.fileExists(atPath: ($0 as NSString).appendingPathComponent("styles.csv")) }
    }

    /// The cache directory: $FASHIONBENCH_CACHE, else $XDG_CACHE_HOME/fashionbench, else ~/.cache/fashionbench.
    public static func defaultCacheDirectory(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let d = environment[cacheEnvironmentVariable], !d.isEmpty { return d }
        if let d = environment["XDG_CACHE_HOME"], !d.isEmpty { return (d as NSString).appendingPathComponent("fashionbench") }
        return (NSHomeDirectory() as NSString).appendingPathComponent(".cache/fashionbench")
    }

    /// Loads the images of the selected classes, resized to the settings' size, labels in class
    /// order. `cacheDirectory` nil: no cache.
    /// `threads`: decoding threads (0: one per core, at most 16), as `training.threads`.
    public static func load(directory: String, settings: ProductImageSettings, cacheDirectory: String?,
                            threads: Int = 0) throws -> (set: ImageSet, report: ProductLoadReport) {
        let stylesPath = (directory as NSString).appendingPathComponent("styles.csv")
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            let exists = FileManager.default.fileExists(atPath: directory)
            throw DataError(file: directory.isEmpty ? "\"\"" : directory,
                            problem: exists ? "is a file, not the product-image directory (styles.csv and images/)"
                                            : directory.isEmpty ? "the product-image directory is an empty path" : "the product-image directory does not exist",
                            remedy: downloadRemedy)
        }
        guard FileManager.default.fileExists(atPath: stylesPath) else {
            throw DataError(file: stylesPath, problem: "file is missing", remedy: downloadRemedy)
        }
        let table = try readStyles(stylesPath)
        guard !table.rows.isEmpty else {
            throw DataError(file: stylesPath, problem: table.malformed.isEmpty ? "has a header but no rows" : "has no sound rows (\(table.malformed.count) malformed: \(table.malformed.prefix(examplesKept).map(\.example).joined(separator: "; ")))",
                            remedy: "Use the styles.csv of the Kaggle download (one row per product: id,gender,masterCategory,subCategory,…). " + downloadRemedy)
        }
        var report = ProductLoadReport(directory: directory, rows: table.rows.count + table.malformed.count, recoveredRows: table.recovered,
                                       skipped: table.malformed,
                                       droppedClasses: [], classNames: [], classCounts: [], cacheFile: nil, cacheHit: false)

        // Class of every row (nil: not selected).
        let (names, classOfRow) = try assignClasses(table, settings: settings, stylesPath: stylesPath)
        // Chosen by label, a row has no class only when its label is empty: left out and said
        // so (with explicit classes, such a row is simply not among them).
        if case .rules = settings.classes {} else {
            for (row, name) in zip(table.rows, classOfRow) where name == nil {
                report.skipped.append(SkippedProduct(kind: .emptyLabel, line: row.line, id: row.id, reason: "empty \(settings.labelColumn)"))
            }
        }

        // Image files: one listing of images/, then a stat of each selected file (size and
        // mtime go into the cache key).
        let imagesDirectory = (directory as NSString).appendingPathComponent("images")
        guard FileManager.default.fileExists(atPath: imagesDirectory, isDirectory: &isDirectory), isDirectory.boolValue else {
            let isFile = FileManager.default.fileExists(atPath: imagesDirectory)
            throw DataError(file: imagesDirectory, problem: isFile ? "is a file, not the images directory" : "the images directory is missing", remedy: downloadRemedy)
        }
        let listing: Set<String>
        do {
            listing = Set(try FileManager.default.contentsOfDirectory(atPath: imagesDirectory))
        } catch {
            throw DataError(file: imagesDirectory, problem: "cannot be listed (\(FileProblem.reason(error, path: imagesDirectory)))",
                            remedy: "Check the directory's permissions")
        }
        var selected: [(id: Int, file: String, name: String, line: Int)] = []
        for (row, name) in zip(table.rows, classOfRow) {
            guard let name else { continue }
            guard let file = ["\(row.id).jpg", "\(row.id).jpeg", "\(row.id).png"].first(where: listing.contains) else {
                report.skipped.append(SkippedProduct(kind: .missingImage, line: row.line, id: row.id,
                                                     reason: "images/ has no \(row.id).jpg, .jpeg or .png"))
                continue
            }
            selected.append((row.id, file, name, row.line))
        }
        // Not one image of the chosen rows: the images are missing, not the classes too small.
        let wanted = classOfRow.count { $0 != nil }
        if selected.isEmpty, wanted > 0 {
            throw DataError(file: imagesDirectory, problem: "has none of the \(wanted) images named by the rows of styles.csv that have a class (\(listing.count) files in it)",
                            remedy: downloadRemedy)
        }

        // Keep the classes with enough images (in the selection's order); top-k counts what is usable.
        var counts: [String: Int] = [:]
        for s in selected { counts[s.name, default: 0] += 1 }
        var classNames = names.filter { counts[$0, default: 0] > 0 }
        if case let .top(k) = settings.classes {
            classNames = classNames.sorted { (counts[$0]!, $1) > (counts[$1]!, $0) }
            classNames = Array(classNames.prefix(k))
        }
        report.droppedClasses = classNames.filter { counts[$0]! < settings.minCount }.map { "\($0) (\(counts[$0]!))" }
        classNames = classNames.filter { counts[$0]! >= settings.minCount }
        if case let .rules(rules) = settings.classes, let empty = names.first(where: { counts[$0, default: 0] == 0 }) {
            let rule = rules.first { $0.name == empty }!
            let key = "classes[\(rules.firstIndex { $0.name == empty }!)]"
            let rows = classOfRow.count { $0 == empty }
            // Rows that match but whose image files are all missing: the download, not the spelling.
            if rows > 0 {
                let ids = zip(table.rows, classOfRow).filter { $0.1 == empty }.prefix(examplesKept).map { String($0.0.id) }
                throw DataError(file: imagesDirectory, problem: "has none of the images of class \"\(empty)\" (\(rule.column) = \(rule.values.joined(separator: " or "))): "
                                + "its \(rows) rows in styles.csv name files that are missing (ids \(ids.joined(separator: ", "))\(rows > ids.count ? ", …" : ""))",
                                remedy: downloadRemedy, key: key)
            }
            // Rows that match, all taken by a class listed before it (a row goes to the first
            // class whose rule it matches): the order, not the spelling.
            if let c = table.header.firstIndex(of: rule.column) {
                let values = Set(rule.values)
                let matching = zip(table.rows, classOfRow).filter { values.contains($0.0.fields[c].trimmingCharacters(in: .whitespaces)) }
                func position(_ name: String) -> Int { rules.firstIndex { $0.name == name }! }
                let takers = Set(matching.compactMap(\.1)).sorted { position($0) < position($1) }
                if let earliest = takers.first {
                    let index = position(earliest)
                    throw DataError(file: stylesPath,
                                    problem: "class \"\(empty)\" (\(rule.column) = \(rule.values.joined(separator: " or "))) gets no row: its \(matching.count) matching rows all go to "
                                    + takers.map { "\"\($0)\" (data.classes[\(position($0))])" }.joined(separator: ", ")
                                    + ", listed before it (a row belongs to the first class whose rule it matches)",
                                    remedy: "List \"\(empty)\" before data.classes[\(index)] to give it those rows",
                                    key: key)
                }
            }
            throw DataError(file: stylesPath, problem: "class \"\(empty)\" (\(rule.column) = \(rule.values.joined(separator: " or "))) has no row",
                            remedy: "Check the spelling against the column's values: \(commonValues(table, column: rule.column))",
                            key: key)
        }
        guard classNames.count >= 2 else {
            throw DataError(file: stylesPath, problem: "only \(classNames.count) class(es) with at least \(settings.minCount) images remain",
                            remedy: settings.minCount > 1 ? "Lower data.min_count or choose other classes" : "Choose more classes",
                            key: settings.classCountKey)
        }
        // The file is named by the configuration (directory and settings); its key adds the
        // source's sizes, modification and change times and inodes. v3: PNGs decoded as PIL
        // does; v4: JPEGs with damaged entropy-coded data refused.
        let configuration = "fashionbench product-image cache v4\n\((directory as NSString).standardizingPath)\n\(settings.keyText)\n"
        let name = FashionMNIST.sha256Hex(Array(configuration.utf8)).prefix(24)
        let cacheFile = cacheDirectory.map { ($0 as NSString).appendingPathComponent("products-\(name).fbcache") }
        report.cacheFile = cacheFile
        func selectedRows(of classes: [String]) -> [(id: Int, file: String, name: String, line: Int)] {
            let wanted = Set(classes)
            return selected.filter { wanted.contains($0.name) }
        }
        // The key stats every image file: computed once per list of classes (a lookup, then the
        // write of what a miss decoded, use the same).
        var lastKey: (classes: [String], key: String)?
        func cacheKey(_ classes: [String]) -> String {
            if let lastKey, lastKey.classes == classes { return lastKey.key }
            let key = stampedKey(classes)
            lastKey = (classes, key)
            return key
        }
        func stampedKey(_ classes: [String]) -> String {
            let classIndex = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
            var key = configuration + "styles.csv \(fileStamp(stylesPath))\n" + classes.joined(separator: "\n") + "\n"
            for c in selectedRows(of: classes) { key += "\(c.file) \(classIndex[c.name]!) \(fileStamp((imagesDirectory as NSString).appendingPathComponent(c.file)))\n" }
            return FashionMNIST.sha256Hex(Array(key.utf8))
        }
        // Top-k: an earlier load may have decoded more classes than the k with the most files
        // (when images of those did not decode); its cache holds them all.
        var decoded = classNames
        if case .top = settings.classes, let cacheFile, let stored = ProductCache.storedClassNames(cacheFile),
           Set(stored).isSuperset(of: classNames), stored.allSatisfy({ counts[$0, default: 0] >= settings.minCount }) {
            decoded = stored
        }
        var set: ImageSet?
        var unreadable: [String] = []
        // The files of a set's images: its classes' rows in styles.csv's order, less the failures.
        func keptFiles(_ classes: [String], _ failures: [String]) -> [String] {
            let failed = Set(failures.map { failedFile($0).file })
            return selectedRows(of: classes).map(\.file).filter { !failed.contains($0) }
        }
        if let cacheFile {
            switch ProductCache.read(cacheFile, key: cacheKey(decoded), shape: [settings.height, settings.width, 3], classNames: decoded) {
            case .hit(let cached, let failures):
                let expected = keptFiles(decoded, failures).count
                if cached.count == expected {
                    report.cacheHit = true
                    (set, unreadable) = (cached, failures)
                } else {
                    report.cacheDamage = "it holds \(cached.count) images where its key names \(expected)"
                }
            case .outdated:
                report.cacheOutdated = true
            case .damaged(let why):
                report.cacheDamage = why
            case .absent:
                break
            }
        }
        if set == nil {
            decoded = classNames
            (set, unreadable) = try decode(selectedRows(of: decoded), classNames: decoded, imagesDirectory: imagesDirectory, settings: settings,
                                           stylesPath: stylesPath, threads: threads)
        }
        var images = set!
        let fromCache = report.cacheHit
        // Top-k by usable images: a class whose images do not all decode may fall behind one
        // not decoded yet (its file count is the most it could have); decode those until the
        // k first are all decoded. Classes below min_count take no place among the k.
        if case let .top(k) = settings.classes {
            let before = decoded
            let position = Dictionary(selected.enumerated().map { ($1.file, $0) }, uniquingKeysWith: { first, _ in first })
            var files = keptFiles(decoded, unreadable)
            var ranking: [String] = []
            var usable: [String: Int] = [:]
            while true {
                usable = Dictionary(uniqueKeysWithValues: zip(images.classNames, images.classCounts))
                let score = { (c: String) in usable[c] ?? counts[c]! }
                ranking = counts.keys.filter { score($0) >= settings.minCount }.sorted { (score($0), $1) > (score($1), $0) }
                let missing = ranking.prefix(k).filter { usable[$0] == nil }
                if missing.isEmpty { break }
                let more = try decode(selectedRows(of: missing), classNames: missing, imagesDirectory: imagesDirectory, settings: settings,
                                      stylesPath: stylesPath, threads: threads, alongside: images.count)
                // Back into styles.csv's row order, as a single decode of these classes gives.
                let merged = images.appending(more.set), mergedFiles = files + keptFiles(missing, more.unreadable)
                let order = mergedFiles.indices.sorted { position[mergedFiles[$0]]! < position[mergedFiles[$1]]! }
                images = merged.subset(order)
                files = order.map { mergedFiles[$0] }
                unreadable += more.unreadable
                decoded += missing
                report.cacheHit = false
            }
            let top = Array(ranking.prefix(k))
            // Of the k with the most files: those with too few images that decode are dropped
            // by min_count (kept here for keepingClassesThatDecode to report), those others
            // outranked are replaced.
            let short = classNames.filter { !top.contains($0) && usable[$0]! < settings.minCount }
            report.outrankedClasses = classNames.filter { !top.contains($0) && usable[$0]! >= settings.minCount }
                .map { "\($0) (\(usable[$0]!) of its \(counts[$0]!) images decode)" }
            report.replacingClasses = top.filter { !classNames.contains($0) }.map { "\($0) (\(usable[$0]!))" }
            if !fromCache || decoded != before, let cacheFile {
                report.cacheWriteFailure = ProductCache.write(images, unreadable: unreadable, key: cacheKey(decoded), to: cacheFile)
            }
            images = images.selectingClasses((top + short).map { images.classNames.firstIndex(of: $0)! })
        } else if !fromCache, let cacheFile {
            // The cache holds what decoded; which classes that leaves is decided on every load.
            report.cacheWriteFailure = ProductCache.write(images, unreadable: unreadable, key: cacheKey(decoded), to: cacheFile)
        }
        report.skipped += unreadableImages(unreadable, of: selectedRows(of: decoded))
        images = try keepingClassesThatDecode(images, settings: settings, report: &report, stylesPath: stylesPath)
        report.classNames = images.classNames
        report.classCounts = images.classCounts
        return (images, report)
    }

    /// Decodes and resizes `chosen` in parallel, each image into its own slot; labels index
    /// `classNames`. Returns what decoded and the failures ("<file>: reason"). `alongside`:
    /// images of this size already held, which the memory check counts too.
    static func decode(_ chosen: [(id: Int, file: String, name: String, line: Int)], classNames: [String], imagesDirectory: String,
                       settings: ProductImageSettings, stylesPath: String, threads: Int, alongside: Int = 0) throws -> (set: ImageSet, unreadable: [String]) {
        let classIndex = Dictionary(uniqueKeysWithValues: classNames.enumerated().map { ($1, Int32($0)) })
        let size = settings.height * settings.width * 3
        if let needed = ImageSet.sizeBeyondHalfMemory(images: alongside + chosen.count, imageBytes: size) {
            throw DataError(file: stylesPath, problem: "\(alongside + chosen.count) images of \(settings.height)x\(settings.width)x3 need \(needed) of memory, more than half of this machine's",
                            remedy: "Choose a smaller data.image_size or fewer classes", key: "image_size")
        }
        var pixels = [UInt8](repeating: 0, count: chosen.count * size)
        var failures = [String?](repeating: nil, count: chosen.count)
        pixels.withUnsafeMutableBufferPointer { out in
            failures.withUnsafeMutableBufferPointer { failed in
                nonisolated(unsafe) let out = out, failed = failed
                let workers = threads > 0 ? threads : max(1, min(ProcessInfo.processInfo.activeProcessorCount, 16))
                DispatchQueue.concurrentPerform(iterations: workers) { w in
                    for i in stride(from: w, to: chosen.count, by: workers) {
                        let path = (imagesDirectory as NSString).appendingPathComponent(chosen[i].file)
                        do {
                            let image = try ImageFile.decode(try ImageFile.read(path))
                            ImageFile.resize(image, width: settings.width, height: settings.height, interpolation: settings.interpolation,
                                             into: out.baseAddress! + i * size)
                        } catch {
                            failed[i] = "\(chosen[i].file): \(error)"
                        }
                    }
                }
            }
        }
        var keep: [Int] = []
        var unreadable: [String] = []
        for i in 0..<chosen.count {
            if let f = failures[i] { unreadable.append(f) } else { keep.append(i) }
        }
        var set = ImageSet(shape: [settings.height, settings.width, 3], pixels: pixels,
                           labels: chosen.map { classIndex[$0.name]! }, classNames: classNames)
        if !unreadable.isEmpty { set = set.subset(keep) }
        return (set, unreadable)
    }

    /// The decoder's failures (and the cache's record of them), "<file>: reason", with the id
    /// and styles.csv line of the row that named each file.
    static func unreadableImages(_ failures: [String], of chosen: [(id: Int, file: String, name: String, line: Int)]) -> [SkippedProduct] {
        let rowOfFile = Dictionary(chosen.map { ($0.file, ($0.id, $0.line)) }, uniquingKeysWith: { first, _ in first })
        return failures.map { failure in
            let (file, reason) = failedFile(failure)
            let row = rowOfFile[file]
            return SkippedProduct(kind: .unreadableImage, line: row?.1, id: row?.0, file: file, reason: reason ?? "does not decode")
        }
    }

    /// A decoder failure's parts: "<file>: reason".
    static func failedFile(_ failure: String) -> (file: String, reason: String?) {
        guard let colon = failure.range(of: ": ") else { return (failure, nil) }
        return (String(failure[..<colon.lowerBound]), String(failure[colon.upperBound...]))
    }

    /// Images that exist but do not decode can leave a class with fewer than `min_count`
    /// images (or none). An explicitly listed class is then an error, as one without rows is;
    /// of `all` or `top` classes, it is dropped as `min_count` drops classes before decoding.
    static func keepingClassesThatDecode(_ set: ImageSet, settings: ProductImageSettings, report: inout ProductLoadReport,
                                         stylesPath: String) throws -> ImageSet {
        let counts = set.classCounts
        let short = set.classNames.indices.filter { counts[$0] < settings.minCount }
        guard !short.isEmpty else { return set }
        let described = short.map { "\(set.classNames[$0]) (\(counts[$0]) of its images decode)" }
        let unreadable = "\(report.unreadableImages) images do not decode: \(report.examples(.unreadableImage).joined(separator: "; "))"
        if case let .rules(rules) = settings.classes {
            throw DataError(file: stylesPath,
                            problem: "\(short.count == 1 ? "class" : "classes") \(described.joined(separator: ", ")) \(short.count == 1 ? "has" : "have") fewer than min_count = \(settings.minCount) readable images (\(unreadable))",
                            remedy: "Replace the damaged image files (download the data set again) or leave the class out of data.classes",
                            key: rules.firstIndex { $0.name == set.classNames[short[0]] }.map { "classes[\($0)]" } ?? "classes")
        }
        report.droppedClasses += described
        let kept = set.classNames.indices.filter { counts[$0] >= settings.minCount }
        if counts.allSatisfy({ $0 == 0 }) {
            throw DataError(file: (report.directory as NSString).appendingPathComponent("images"),
                            problem: "none of the \(report.unreadableImages) chosen images decodes (\(report.examples(.unreadableImage).joined(separator: "; ")))",
                            remedy: downloadRemedy)
        }
        guard kept.count >= 2 else {
            throw DataError(file: stylesPath, problem: "only \(kept.count) class(es) with at least \(settings.minCount) readable images remain (\(unreadable))",
                            remedy: "Replace the damaged image files (download the data set again), lower data.min_count or choose other classes",
                            key: settings.classCountKey)
        }
        return set.selectingClasses(kept)
    }

    // MARK: - styles.csv

    struct StylesTable {
        var header: [String]
        var rows: [(id: Int, fields: [String], line: Int)]
        var malformed: [SkippedProduct]
        var recovered: Int
    }

    /// The largest styles.csv read (256 MiB; Kaggle's is 4.3 MB).
    public static let maximumStylesBytes = 1 << 28

    /// Reads styles.csv one line at a time; a quoted field may span up to 20 lines, and a quote
    /// that does not close into a whole row is an error of its line alone (a stray quote cannot
    /// swallow the rest of the file). A row with more fields than the header has unquoted
    /// commas in its productDisplayName, wherever that column is; those fields are joined back.
    /// Rows without an id, with too few fields or a repeated id are malformed: counted, never
    /// fatal, unless they outnumber the sound rows past `maximumMalformedRows`.
    static func readStyles(_ path: String) throws -> StylesTable {
        if let why = FileKind.notRegular(path) { throw DataError(file: path, problem: why, remedy: downloadRemedy) }
        // The Kaggle file is 4.3 MB; a file far larger (a sparse or runaway download) is refused
        // before it is read into memory.
        var status = stat()
        if stat(path, &status) == 0, status.st_size > maximumStylesBytes {
            throw DataError(file: path, problem: "is \(status.st_size) bytes; a styles.csv this tool reads is at most \(maximumStylesBytes) (Kaggle's is 4.3 MB)",
                            remedy: downloadRemedy)
        }
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw DataError(file: path, problem: "cannot be read (\(FileProblem.reason(error, path: path)))", remedy: downloadRemedy)
        }
        // NUL bytes are no CSV: an unfinished or preallocated download.
        if let nul = data.firstIndex(of: 0) {
            throw DataError(file: path, problem: "holds NUL bytes (the first at byte \(nul - data.startIndex)): a damaged or unfinished download",
                            remedy: downloadRemedy)
        }
        // A UTF-8 byte-order mark (a file saved by Excel) is not part of the first column's name.
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        let text = String(decoding: data.starts(with: bom) ? data.dropFirst(3) : data[...], as: UTF8.self)
        // Rows end at "\n", "\r" or "\r\n" (one Character in Swift), as pandas and Python's csv
        // read them; U+2028, U+0085, form feed or vertical tab inside a field are its text.
        var lines = text.split(omittingEmptySubsequences: false) { $0 == "\n" || $0 == "\r\n" || $0 == "\r" }
        while let last = lines.last, last.trimmingCharacters(in: .whitespaces).isEmpty { lines.removeLast() }
        // Column names without the spaces around them (a header written "id, gender, …").
        guard let headerLine = lines.first, let header = parseLine(String(headerLine))?.map({ $0.trimmingCharacters(in: .whitespaces) }),
              header.contains("id") else {
            throw DataError(file: path, problem: "has no header row naming an `id` column",
                            remedy: "Use the styles.csv of the Kaggle download (its first line is id,gender,masterCategory,subCategory,…). " + downloadRemedy)
        }
        if let repeated = header.first(where: { name in !name.isEmpty && header.count { $0 == name } > 1 }) {
            throw DataError(file: path, problem: "names the column \"\(repeated)\" twice in its header (Kaggle's names each once): a damaged or edited file",
                            remedy: "Use the styles.csv of the Kaggle download (its first line is id,gender,masterCategory,subCategory,…). " + downloadRemedy)
        }
        let idColumn = header.firstIndex(of: "id")!
        // The free-text column, whose unquoted commas are joined back (Kaggle's is the last;
        // an edited file may have moved it). Without it, a row with extra fields is malformed.
        let nameColumn = header.firstIndex(of: "productDisplayName")
        var table = StylesTable(header: header, rows: [], malformed: [], recovered: 0)
        var seen = Set<Int>()
        var n = 1
        while n < lines.count {
            // Kaggle's file has 22 malformed rows in 44,446; a file mostly of them is not a
            // styles.csv, and listing millions of them would take minutes.
            if table.malformed.count > maximumMalformedRows, table.malformed.count > table.rows.count {
                throw DataError(file: path, problem: "is not a styles.csv of the Kaggle layout: \(table.malformed.count) of its first \(n - 1) rows are malformed "
                                + "(\(table.malformed.prefix(3).map { "line \($0.line ?? 0): \($0.reason)" }.joined(separator: "; ")))",
                                remedy: "Use the styles.csv of the Kaggle download (its first line is id,gender,masterCategory,subCategory,…). " + downloadRemedy)
            }
            let lineNumber = n + 1, line = String(lines[n])
            n += 1
            if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            var parsed = parseLine(line)
            if parsed == nil, hasUnterminatedQuote(line),
               let record = quotedRecord(lines, from: lineNumber - 1, fields: header.count, idColumn: idColumn) {
                // A quoted field that spans lines (RFC 4180, as pandas reads it).
                parsed = record.fields
                n = record.next
            }
            guard var fields = parsed else {
                table.malformed.append(SkippedProduct(kind: .malformedRow, line: lineNumber, reason: "unterminated quote"))
                continue
            }
            if fields.count > header.count, let name = nameColumn {
                let extra = fields.count - header.count
                fields = Array(fields[..<name]) + [fields[name...(name + extra)].joined(separator: ",")] + Array(fields[(name + extra + 1)...])
                table.recovered += 1
            }
            guard fields.count == header.count else {
                table.malformed.append(SkippedProduct(kind: .malformedRow, line: lineNumber, reason: "\(fields.count) fields, the header has \(header.count)"))
                continue
            }
            guard let id = Int(fields[idColumn].trimmingCharacters(in: .whitespaces)), id >= 0 else {
                table.malformed.append(SkippedProduct(kind: .malformedRow, line: lineNumber, reason: "id \"\(fields[idColumn].prefix(20))\" is not a number"))
                continue
            }
            guard seen.insert(id).inserted else {
                table.malformed.append(SkippedProduct(kind: .malformedRow, line: lineNumber, id: id, reason: "id \(id) appears again"))
                continue
            }
            table.rows.append((id, fields, lineNumber))
        }
        return table
    }

    /// The record that starts at `lines[first]` with a quote left open, continued over at most
    /// `maxQuotedLines` lines until the quote closes: its fields and the index of the line
    /// after it. Nil unless it closes and gives exactly `fields` fields before a line that
    /// starts a row of its own (a whole number in the id column), so a stray quote costs its
    /// own line, not the rows after it.
    static func quotedRecord(_ lines: [Substring], from first: Int, fields: Int, idColumn: Int) -> (fields: [String], next: Int)? {
        var text = String(lines[first])
        for last in (first + 1)..<min(lines.count, first + maxQuotedLines) {
            if let own = try? CSVReader(string: String(lines[last]), hasHeaderRow: false).next(), own.count > idColumn,
               Int(own[idColumn].trimmingCharacters(in: .whitespaces)) != nil {
                return nil
            }
            text += "\n" + lines[last]
            guard !hasUnterminatedQuote(text) else { continue }
            guard let parsed = parseLine(text), parsed.count == fields else { return nil }
            return (parsed, last + 1)
        }
        return nil
    }

    static let maxQuotedLines = 20
    static let maximumMalformedRows = 10_000

    /// One CSV line's fields (CSV.swift), nil when it cannot be parsed.
    static func parseLine(_ line: String) -> [String]? {
        guard !hasUnterminatedQuote(line) else { return nil }
        guard let reader = try? CSVReader(string: line, hasHeaderRow: false), let fields = reader.next(), reader.error == nil else { return nil }
        // A quote left open makes the reader run to the end of the line: more text means trouble.
        if reader.next() != nil { return nil }
        return fields
    }

    /// Whether a field opened with a quote runs to the end of the line unclosed (a quote
    /// inside an unquoted field, `3.5" Short`, is an ordinary character, as in Python's csv).
    static func hasUnterminatedQuote(_ line: String) -> Bool {
        var quoted = false, atFieldStart = true
        var chars = line.unicodeScalars.makeIterator()
        var pending: Unicode.Scalar? = nil
        while let c = pending ?? chars.next() {
            pending = nil
            if quoted {
                if c == "\"" {
                    let next = chars.next()
                    if next == "\"" { continue }  // an escaped quote
                    quoted = false
                    pending = next
                }
                continue
            }
            if c == "\"" && atFieldStart { quoted = true; atFieldStart = false; continue }
            atFieldStart = c == ","
        }
        return quoted
    }

    /// Class names in selection order and the class of every row (nil: not selected).
    static func assignClasses(_ table: StylesTable, settings: ProductImageSettings, stylesPath: String) throws -> ([String], [String?]) {
        func column(_ name: String, key: String) throws -> Int {
            guard let c = table.header.firstIndex(of: name) else {
                throw DataError(file: stylesPath, problem: "has no column \"\(name)\" (its columns: \(table.header.joined(separator: ", ")))",
                                remedy: "Choose one of those columns", key: key)
            }
            return c
        }
        switch settings.classes {
        case .all, .top:
            let c = try column(settings.labelColumn, key: "label")
            let labels = table.rows.map { row -> String? in
                let v = row.fields[c].trimmingCharacters(in: .whitespaces)
                return v.isEmpty ? nil : v
            }
            var counts: [String: Int] = [:]
            for l in labels { if let l { counts[l, default: 0] += 1 } }
            let names = counts.keys.sorted { (counts[$0]!, $1) > (counts[$1]!, $0) }
            return (names, labels)
        case let .rules(rules):
            let columns = try rules.enumerated().map { k, rule in
                try column(rule.column, key: rule.column == settings.labelColumn ? "label" : "classes[\(k)].column")
            }
            var names: [String] = []
            for r in rules where !names.contains(r.name) { names.append(r.name) }
            let wanted = rules.map { Set($0.values) }
            let labels = table.rows.map { row -> String? in
                for (k, rule) in rules.enumerated() where wanted[k].contains(row.fields[columns[k]].trimmingCharacters(in: .whitespaces)) {
                    return rule.name
                }
                return nil
            }
            return (names, labels)
        }
    }

    /// The most frequent values of a column, for an error message.
    static func commonValues(_ table: StylesTable, column: String) -> String {
        guard let c = table.header.firstIndex(of: column) else { return "" }
        var counts: [String: Int] = [:]
        for row in table.rows { counts[row.fields[c], default: 0] += 1 }
        let top = counts.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.prefix(15)
        return top.map { "\($0.key) (\($0.value))" }.joined(separator: ", ")
    }

    static func fileStamp(_ path: String) -> String {
        var s = stat()
        guard stat(path, &s) == 0 else { return "missing" }
        // Size and mtime can be put back by cp -p, rsync -a or tar over an older copy; the
        // change time and the inode cannot, so a replaced file is never read from the cache.
        return "\(s.st_size) \(s.st_mtim.tv_sec).\(s.st_mtim.tv_nsec) \(s.st_ctim.tv_sec).\(s.st_ctim.tv_nsec) \(s.st_dev):\(s.st_ino)"
    }
}
