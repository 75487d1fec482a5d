import Foundation
import FashionConfig

/// Finding and running gnuplot. Charts never throw: when gnuplot is missing or fails they
/// return a warning and leave the script and data behind for the user.
public enum Gnuplot {
    /// Overrides which gnuplot runs (a path, or a name looked up on PATH). A task-local so a
    /// test can point it at a missing file without affecting charts drawn concurrently:
    /// `Gnuplot.$executable.withValue("/nonexistent/gnuplot") { … }`.
    @TaskLocal public static var executable: String?

    /// How long one gnuplot run may take before it is killed.
    public static let timeout: TimeInterval = 60

    /// gnuplot on PATH, looked up once.
    private static let onPath: String? = lookUp("gnuplot")

    /// The gnuplot that will run, nil if there is none.
    public static var resolvedPath: String? {
        guard let executable else { return onPath }
        return executable.contains("/") ? (FileManager.default.isExecutableFile(atPath: executable) ? executable : nil)
                                        : lookUp(executable)
    }

    /// Whether charts can be drawn (gnuplot found; the PATH lookup is cached).
    public static var isAvailable: Bool { resolvedPath != nil }

    private static func lookUp(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Runs `gnuplot <script>` with `directory` as working directory; returns a warning, or nil
    /// if it succeeded and produced every file in `expecting`.
    static func run(script: String, in directory: URL, expecting outputs: [String]) -> String? {
        let rerun = "re-run with `gnuplot \(script)` in \(directory.path)"
        // Old images must not pass for new ones if gnuplot is missing or fails.
        for name in outputs { try? FileManager.default.removeItem(at: directory.appendingPathComponent(name)) }
        guard let gnuplot = resolvedPath else {
            return "gnuplot not found (\(executable ?? "gnuplot on PATH")); chart script and data left in \(directory.path): \(rerun)"
        }

        // gnuplot draws into a private directory outside the results; each finished image is
        // then written into place atomically, so a chart in a run directory is never half drawn
        // (gnuplot writes as it goes, and may be stopped by an interruption or its timeout).
        // stderr goes to a file there, not a pipe: a pipe nobody reads could fill and block gnuplot.
        // $TMPDIR first, then /tmp, then a hidden directory beside the charts.
        let name = "fashionbench-gnuplot-\(UUID().uuidString)"
        let candidates = [FileManager.default.temporaryDirectory.appendingPathComponent(name), URL(fileURLWithPath: "/tmp").appendingPathComponent(name),
                          directory.appendingPathComponent("." + name)]
        // Private (0700), and removed by an interruption too (`TemporaryFiles`).
        var made: URL?
        for url in candidates where made == nil {
            let created = TemporaryFiles.create(url.path) { mkdir(url.path, 0o700) == 0 }  // private from the start
            if created { made = url } else { TemporaryFiles.unregister(url.path) }
        }
        guard let scratch = made else {
            return "cannot create a directory for gnuplot's output in \(FileManager.default.temporaryDirectory.path), /tmp or \(directory.path); \(rerun)"
        }
        defer {
            try? FileManager.default.removeItem(at: scratch)
            TemporaryFiles.unregister(scratch.path)
        }
        let errorsURL = scratch.appendingPathComponent("gnuplot.err")
        _ = FileManager.default.createFile(atPath: errorsURL.path, contents: nil)
        guard let errors = try? FileHandle(forWritingTo: errorsURL) else { return "cannot capture gnuplot's errors; \(rerun)" }
        defer { try? errors.close() }
        // The scripts write `<name>.<format>` unless `fb_output_<format>` names another file.
        let redirections = outputs.map { name in
            "\(outputVariablePrefix)\((name as NSString).pathExtension)=\(quote(scratch.appendingPathComponent(name).path))"
        }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: gnuplot)
        process.arguments = ["-e", redirections.joined(separator: "; "), script]
        process.currentDirectoryURL = directory
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        let finished = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in finished.signal() }
        do { try process.run() } catch { return "cannot run \(gnuplot): \(error.localizedDescription); \(rerun)" }
        if finished.wait(timeout: .now() + timeout) == .timedOut {
            // Signal the whole process group (Foundation starts the child as a group leader):
            // Foundation notices the exit only when every holder of an inherited descriptor
            // is gone, so a surviving helper of gnuplot would otherwise hold us up. Never wait
            // unboundedly: a stuck process is better than a stuck run.
            let pid = process.processIdentifier
            let target = getpgid(pid) == pid ? -pid : pid
            kill(target, SIGTERM)
            if finished.wait(timeout: .now() + 5) == .timedOut {
                kill(target, SIGKILL)
                _ = finished.wait(timeout: .now() + 5)
            }
            return "gnuplot took over \(Int(timeout)) s on \(script) and was stopped; \(rerun)"
        }
        let message = (try? String(contentsOf: errorsURL, encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if process.terminationStatus != 0 {
            return "gnuplot failed on \(script) (exit \(process.terminationStatus)): \(message.suffix(600)); \(rerun)"
        }
        let drawn = outputs.map { name in (name, try? Data(contentsOf: scratch.appendingPathComponent(name))) }
        let missing = drawn.filter { ($0.1?.count ?? 0) == 0 }.map(\.0)
        guard missing.isEmpty else {
            return "gnuplot did not produce \(missing.joined(separator: ", ")): \(message.suffix(600)); \(rerun)"
        }
        for case let (name, data?) in drawn {
            do { try TemporaryFiles.writeAtomically(data, to: directory.appendingPathComponent(name)) } catch {
                return "cannot write \(name) in \(directory.path): \(error.localizedDescription); \(rerun)"
            }
        }
        return nil
    }

    /// `fb_output_png`, `fb_output_svg`: gnuplot variables that, when set, replace a script's
    /// output file for that format.
    static let outputVariablePrefix = "fb_output_"

    /// A gnuplot single-quoted string: the only special sequence inside is `''` for a quote
    /// (backslashes are literal). With `noenhanced` terminals, `_`, `^`, `{}` and `@` are
    /// literal too. Line breaks and other control characters become spaces.
    public static func quote(_ text: String) -> String {
        let flat = String(text.unicodeScalars.map { CharacterSet.controlCharacters.contains($0) ? " " : Character($0) })
        return "'" + flat.replacingOccurrences(of: "'", with: "''") + "'"
    }
}

/// Charts drawn by gnuplot. Each writes, in `directory`: `<name>.dat` (whitespace-separated
/// data under a `#` header), `<name>.gp` (the script, with relative file names, so
/// `gnuplot <name>.gp` in that directory redraws), `<name>.png` (pngcairo, `size` pixels,
/// 900×600 by default) and `<name>.svg` (same size). Each returns nil on success or a warning
/// (gnuplot missing, failed, timed out, files unwritable); none throws, and the .gp and .dat
/// are kept whatever happens to gnuplot.
public enum Charts {
    public typealias Size = (width: Int, height: Int)
    public static let defaultSize: Size = (900, 600)

    /// Training curves as one file `<name>.png` with two panels side by side: loss (left) and
    /// accuracy (right), train solid and validation dashed. With `earlyStoppingEpoch`, a
    /// vertical dotted line and label at that epoch in both panels. Validation curves are
    /// drawn where values are given (nil entries are gaps). Without `accuracy` (an
    /// autoencoder), the loss panel alone.
    @discardableResult
    public static func curves(epochs: [Int], loss: [Double], accuracy: [Double]?,
                              valLoss: [Double?]? = nil, valAccuracy: [Double?]? = nil,
                              earlyStoppingEpoch: Int? = nil, title: String? = nil,
                              in directory: URL, name: String = "curves", size: Size? = nil) -> String? {
        let n = epochs.count
        guard n > 0 else { return "curves: no epochs; no chart drawn" }
        guard loss.count == n, accuracy.map({ $0.count == n }) ?? true, valLoss.map({ $0.count == n }) ?? true,
              valAccuracy.map({ $0.count == n }) ?? true else {
            return "curves: epochs, loss, accuracy and validation arrays differ in length; no chart drawn"
        }
        let hasValLoss = valLoss?.contains { $0 != nil } ?? false
        let hasValAccuracy = valAccuracy?.contains { $0 != nil } ?? false
        let rows = (0..<n).map { i in
            [String(epochs[i]), value(loss[i]), value(accuracy?[i]), value(valLoss?[i] ?? nil), value(valAccuracy?[i] ?? nil)]
        }
        let data = table(header: ["epoch", "loss", "accuracy", "val_loss", "val_accuracy"], rows: rows)

        let file = Gnuplot.quote(name + ".dat")
        var body: [String] = []
        let layout = accuracy == nil ? "1,1" : "1,2"
        if let title { body.append("set multiplot layout \(layout) title \(Gnuplot.quote(title))") } else { body.append("set multiplot layout \(layout)") }
        body += ["set xlabel 'epoch'", "set grid", "set key opaque"]
        // Integer epochs: one tick per epoch while they fit, else gnuplot's own (integral) ticks.
        body.append(n <= 20 ? "set xtics 1" : "set format x '%.0f'")
        if n == 1, let e = epochs.first { body.append("set xrange [\(e - 1):\(e + 1)]") }
        if let stop = earlyStoppingEpoch {
            body.append("set arrow 1 from \(stop), graph 0 to \(stop), graph 1 nohead dashtype 3 linewidth 1.5 linecolor rgb '#555555'")
            body.append("set label 1 \(Gnuplot.quote("early stopping (epoch \(stop))")) at \(stop), graph 0.5 rotate by 90 center offset -1,0 textcolor rgb '#555555'")
        }
        func panel(_ what: String, column: Int, valColumn: Int, hasVal: Bool, key: String) -> [String] {
            var plots = ["\(file) using 1:\(column) with linespoints linewidth 2 pointtype 7 pointsize 0.6 linecolor rgb '#1f77b4' title 'train'"]
            if hasVal {
                plots.append("'' using 1:\(valColumn) with linespoints linewidth 2 dashtype 2 pointtype 5 pointsize 0.6 linecolor rgb '#ff7f0e' title 'validation'")
            }
            return ["set title \(Gnuplot.quote(what.capitalized))", "set ylabel \(Gnuplot.quote(what))", "set key \(key)",
                    "plot " + plots.joined(separator: ", \\\n     ")]
        }
        body += panel("loss", column: 2, valColumn: 4, hasVal: hasValLoss, key: "top right")
        if accuracy != nil { body += panel("accuracy", column: 3, valColumn: 5, hasVal: hasValAccuracy, key: "bottom right") }
        body.append("unset multiplot")
        return draw(name: name, in: directory, size: size ?? defaultSize, data: data,
                    description: "Training curves: loss and accuracy per epoch, train and validation.", body: body)
    }

    /// The confusion matrix as a heatmap: true class on y (first class at the top), predicted
    /// class on x (labels rotated), the count printed in every cell (white on dark cells).
    /// `<name>.dat` holds the matrix itself (gnuplot's `matrix` format, a row per true class).
    @discardableResult
    public static func confusionHeatmap(matrix: [[Int]], classNames: [String], title: String? = nil,
                                        in directory: URL, name: String = "confusion_matrix", size: Size? = nil) -> String? {
        let n = matrix.count
        guard n > 0, matrix.allSatisfy({ $0.count == n }) else { return "confusionHeatmap: the matrix is empty or not square; no chart drawn" }
        let names = (0..<n).map { classNames.indices.contains($0) ? classNames[$0] : String($0) }
        var data = "# confusion matrix: row i = true class i, column j = predicted class j (counts)\n"
        data += "# classes: " + names.enumerated().map { "\($0.offset)=\(dataLabel($0.element))" }.joined(separator: " ") + "\n"
        data += matrix.map { $0.map(String.init).joined(separator: " ") }.joined(separator: "\n") + "\n"

        let peak = max(1, matrix.joined().max() ?? 1)
        let tics = names.enumerated().map { "\(Gnuplot.quote($0.element)) \($0.offset)" }.joined(separator: ", ")
        let file = Gnuplot.quote(name + ".dat")
        var body: [String] = []
        if let title { body.append("set title \(Gnuplot.quote(title))") }
        body += [
            "set xlabel 'Predicted'", "set ylabel 'True'",
            "set xrange [-0.5:\(n) - 0.5]",
            "set yrange [\(n) - 0.5:-0.5]  # reversed: the first class at the top, as sklearn draws it",
            "set xtics (\(tics)) rotate by 45 right scale 0",
            "set ytics (\(tics)) scale 0",
            "set cbrange [0:\(peak)]", "set cblabel 'count'",
            "set palette defined (0 '#f7fbff', 1 '#6baed6', 2 '#08306b')",
            "unset key",
            "set size ratio -1  # square cells",
            "plot \(file) matrix with image, \\",
            "     '' matrix using 1:2:($3 > \(peak) / 2.0 ? sprintf('%.0f', $3) : '') with labels textcolor rgb 'white', \\",
            "     '' matrix using 1:2:($3 <= \(peak) / 2.0 ? sprintf('%.0f', $3) : '') with labels textcolor rgb 'black'",
        ]
        return draw(name: name, in: directory, size: size ?? defaultSize, data: data,
                    description: "Confusion matrix heatmap: true class (y) against predicted class (x).", body: body)
    }

    /// Colours of the benchmark kinds (any other kind is purple).
    public static let kindColors: [(kind: String, color: String)] = [
        ("ours", "#d62728"), ("paper", "#1f77b4"), ("zalando", "#7f7f7f"), ("human", "#2ca02c"),
    ]

    /// Horizontal bars of test accuracy (fractions), best at the top, coloured by `kind`
    /// ("ours", "paper", "zalando", "human"; others purple, with a legend entry per kind), an
    /// error bar where `lower`/`upper` are given, the value printed after each bar. The x axis
    /// starts just below the lowest value, so small differences show. Default size: 900 wide,
    /// 22 px per row (at least 600) high, so the ~40 Zalando benchmark rows stay legible.
    @discardableResult
    public static func benchmarkBars(entries: [(label: String, accuracy: Double, lower: Double?, upper: Double?, kind: String)],
                                     title: String? = nil, in directory: URL, name: String = "benchmarks",
                                     size: Size? = nil) -> String? {
        guard !entries.isEmpty else { return "benchmarkBars: no entries; no chart drawn" }
        // Ascending, so the best ends up at the top (y grows upwards); ties by label for a stable order.
        // NaN sorts lowest (it would make the ordering inconsistent) and draws no bar.
        let key = { (a: Double) in a.isNaN ? -Double.infinity : a }
        let sorted = entries.sorted { key($0.accuracy) != key($1.accuracy) ? key($0.accuracy) < key($1.accuracy) : $0.label < $1.label }
        let color = { (kind: String) in kindColors.first { $0.kind == kind.lowercased() }?.color ?? "#9467bd" }
        let (low, high) = range(sorted.flatMap { [$0.lower ?? $0.accuracy, $0.upper ?? $0.accuracy, $0.accuracy] })
        let span = max(high - low, 0.01)
        let xmin = low >= 0 ? max(0, floor((low - 0.08 * span) * 100) / 100) : low - 0.08 * span
        let xmax = high + 0.16 * span  // room for the printed values

        let rows = sorted.enumerated().map { i, e in
            [String(i), value(e.accuracy), value(e.lower), value(e.upper), value(max(e.upper ?? e.accuracy, e.accuracy)),
             String(Int(color(e.kind).dropFirst(), radix: 16)!), dataLabel(e.kind), dataLabel(e.label)]
        }
        let data = table(header: ["y", "accuracy", "lower", "upper", "label_x", "rgb", "kind", "label"], rows: rows)

        var kinds: [String] = kindColors.map(\.kind).filter { k in sorted.contains { $0.kind.lowercased() == k } }
        for e in sorted where !kinds.contains(e.kind.lowercased()) { kinds.append(e.kind.lowercased()) }
        let tics = sorted.enumerated().map { "\(Gnuplot.quote($0.element.label)) \($0.offset)" }.joined(separator: ", ")
        let file = Gnuplot.quote(name + ".dat")
        var plots = [
            "\(file) using (\(xmin)):1:(\(xmin)):2:($1 - 0.38):($1 + 0.38):6 with boxxyerror linecolor rgb variable notitle",
            "'' using 2:1:3:4 with xerrorbars linecolor rgb 'black' pointsize 0 notitle",
            "'' using 5:1:(sprintf('%.4f', $2)) with labels left offset 0.6,0 font ',8' notitle",
        ]
        plots += kinds.map { "keyentry with boxes fillcolor rgb '\(color($0))' title \(Gnuplot.quote($0))" }
        var body: [String] = []
        if let title { body.append("set title \(Gnuplot.quote(title))") }
        body += [
            "set xlabel 'test accuracy'",
            "set xrange [\(xmin):\(xmax)]",
            "set yrange [-0.7:\(sorted.count) - 0.3]",
            "set ytics (\(tics)) scale 0 font ',8'",
            "set grid xtics",
            "set style fill solid 0.85 noborder",
            "set key bottom right opaque box",
            "plot " + plots.joined(separator: ", \\\n     "),
        ]
        let pixels = size ?? (900, max(600, 22 * sorted.count + 120))
        return draw(name: name, in: directory, size: pixels, data: data,
                    description: "Test accuracy by classifier, sorted, coloured by kind.", body: body)
    }

    /// One metric across the settings of a sweep, in the given order: points joined by a line,
    /// error bars where `lower`/`upper` are given, the value printed above each point.
    @discardableResult
    public static func sweepChart(rows: [(label: String, value: Double, lower: Double?, upper: Double?)], metric: String,
                                  title: String? = nil, in directory: URL, name: String = "sweep", size: Size? = nil) -> String? {
        guard !rows.isEmpty else { return "sweepChart: no rows; no chart drawn" }
        let dataRows = rows.enumerated().map { i, r in [String(i), value(r.value), value(r.lower), value(r.upper), dataLabel(r.label)] }
        let data = table(header: ["x", metric.replacingOccurrences(of: " ", with: "_"), "lower", "upper", "label"], rows: dataRows)
        let (low, high) = range(rows.flatMap { [$0.lower ?? $0.value, $0.upper ?? $0.value, $0.value] })
        let pad = max(high - low, abs(high) * 0.01, 1e-6) * 0.12

        let tics = rows.enumerated().map { "\(Gnuplot.quote($0.element.label)) \($0.offset)" }.joined(separator: ", ")
        let crowded = rows.count > 8 || rows.contains { $0.label.count > 10 }
        let file = Gnuplot.quote(name + ".dat")
        var body: [String] = []
        if let title { body.append("set title \(Gnuplot.quote(title))") }
        body += [
            "set ylabel \(Gnuplot.quote(metric))",
            "set xrange [-0.5:\(rows.count) - 0.5]",
            "set yrange [\(low - pad):\(high + 2 * pad)]",
            "set xtics (\(tics)) scale 0" + (crowded ? " rotate by 30 right" : ""),
            "set grid ytics",
            "unset key",
            // Error bars first, so the points are drawn over their centres.
            "plot \(file) using 1:2:3:4 with yerrorbars linecolor rgb '#1f77b4' pointsize 0, \\",
            "     '' using 1:2 with linespoints linewidth 2 pointtype 7 pointsize 1 linecolor rgb '#1f77b4', \\",
            "     '' using 1:2:(sprintf('%.4g', $2)) with labels left offset 1,0.6 font ',9'",
        ]
        return draw(name: name, in: directory, size: size ?? defaultSize, data: data,
                    description: "\(metric) across the sweep.", body: body)
    }

    // MARK: - Internals

    /// Writes the data and the script, then runs gnuplot. The script draws twice in a loop,
    /// PNG then SVG, so one `gnuplot <name>.gp` redraws both; `reset` starts each pass clean.
    static func draw(name: String, in directory: URL, size: Size, data: String, description: String, body: [String]) -> String? {
        let terminalOptions = "size \(size.width),\(size.height) noenhanced font 'Sans,10' background rgb 'white'"
        let script = """
            # \(description.replacingOccurrences(of: "\n", with: " "))
            # Data: \(name).dat. Redraw \(name).png and \(name).svg with: gnuplot \(name).gp (in this directory)
            do for [format in "png svg"] {
                if (format eq "png") {
                    set terminal pngcairo \(terminalOptions)
                } else {
                    set terminal svg \(terminalOptions)
                }
                set output (exists("\(Gnuplot.outputVariablePrefix)".format) ? value("\(Gnuplot.outputVariablePrefix)".format) : \(Gnuplot.quote(name + ".")).format)
                reset
                set encoding utf8
                set datafile missing 'NaN'
            \(body.map { "    " + $0.replacingOccurrences(of: "\n", with: "\n    ") }.joined(separator: "\n"))
                set output
            }

            """
        do {
            try ResultFiles.write(data, to: directory.appendingPathComponent(name + ".dat"))
            try ResultFiles.write(script, to: directory.appendingPathComponent(name + ".gp"))
        } catch {
            return "cannot write chart files \(name).gp/\(name).dat in \(directory.path): \(error.localizedDescription)"
        }
        return Gnuplot.run(script: name + ".gp", in: directory, expecting: [name + ".png", name + ".svg"])
    }

    /// A number for a .dat file; missing or non-finite values are `NaN`, which the scripts
    /// declare missing (the point is skipped).
    static func value(_ v: Double?) -> String {
        guard let v, v.isFinite else { return "NaN" }
        return ResultFiles.number(v)
    }

    /// Data lines under a `# col col …` header.
    static func table(header: [String], rows: [[String]]) -> String {
        "# " + header.joined(separator: " ") + "\n" + rows.map { $0.joined(separator: " ") }.joined(separator: "\n") + "\n"
    }

    /// A label column for people reading the .dat (scripts take labels from their own tics):
    /// double-quoted, so spaces stay in one column, with inner quotes and line breaks softened.
    static func dataLabel(_ text: String) -> String {
        let flat = String(text.unicodeScalars.map { CharacterSet.controlCharacters.contains($0) ? " " : Character($0) })
        return "\"" + flat.replacingOccurrences(of: "\"", with: "'") + "\""
    }

    /// Smallest and largest finite value (0...1 if none).
    static func range(_ values: [Double]) -> (Double, Double) {
        let finite = values.filter(\.isFinite)
        return (finite.min() ?? 0, finite.max() ?? 1)
    }
}
