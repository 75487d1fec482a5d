import FashionReports
import Foundation
import Testing

/// Checks one chart's files: the .gp and .dat always; with `drawn`, a PNG of the given size
/// (signature and IHDR) and an SVG.
private func expectChartFiles(_ name: String, in dir: URL, size: (Int, Int)?, drawn: Bool = true,
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
    let fm = FileManager.default
    #expect(fm.fileExists(atPath: dir.appendingPathComponent("\(name).gp").path), sourceLocation: sourceLocation)
    let data = try String(contentsOf: dir.appendingPathComponent("\(name).dat"), encoding: .utf8)
    #expect(data.hasPrefix("#"), sourceLocation: sourceLocation)
    let png = dir.appendingPathComponent("\(name).png"), svg = dir.appendingPathComponent("\(name).svg")
    guard drawn else {
        #expect(!fm.fileExists(atPath: png.path) && !fm.fileExists(atPath: svg.path), sourceLocation: sourceLocation)
        return
    }
    let head = try #require(try FileHandle(forReadingFrom: png).read(upToCount: 8), sourceLocation: sourceLocation)
    #expect([UInt8](head) == PNGInfo.signature, sourceLocation: sourceLocation)
    let got = try #require(PNGInfo.size(of: png), sourceLocation: sourceLocation)
    if let size { #expect(got.width == size.0 && got.height == size.1, "\(got)", sourceLocation: sourceLocation) }
    let svgText = try String(contentsOf: svg, encoding: .utf8)
    #expect(svgText.hasPrefix("<?xml") || svgText.hasPrefix("<svg"), sourceLocation: sourceLocation)
    #expect(svgText.contains("</svg>"), sourceLocation: sourceLocation)
}

/// Labels that would break a naive gnuplot string: quotes, backslashes, underscores, braces.
private let awkwardNames = ["T-shirt/top", "Trouser's \"best\"", "back\\slash", "snake_case^2", "{brace}@&", "Ankle boot"]

@Suite("Reports: charts")
struct ReportsChartTests {
    @Test(.enabled(if: Gnuplot.isAvailable)) func curves() throws {
        let dir = try makeReportsDirectory()
        defer { removeReportsDirectory(dir) }
        let warning = Charts.curves(epochs: [1, 2, 3, 4, 5], loss: [1.2, 0.8, 0.6, 0.55, 0.5], accuracy: [0.6, 0.7, 0.78, 0.8, 0.82],
                                    valLoss: [1.0, 0.7, nil, 0.65, 0.7], valAccuracy: [0.65, 0.72, nil, 0.79, 0.78],
                                    earlyStoppingEpoch: 4, title: "model_2 'run' \\ 1", in: dir, size: (640, 480))
        #expect(warning == nil, "\(warning ?? "")")
        try expectChartFiles("curves", in: dir, size: (640, 480))
        // Without validation data or early stopping, and at the default size.
        let plain = Charts.curves(epochs: [1], loss: [0.9], accuracy: [0.7], in: dir, name: "plain")
        #expect(plain == nil, "\(plain ?? "")")
        try expectChartFiles("plain", in: dir, size: (900, 600))
        // The script uses relative names, so it redraws from its own directory.
        let script = try String(contentsOf: dir.appendingPathComponent("curves.gp"), encoding: .utf8)
        #expect(!script.contains(dir.path))
    }

    @Test(.enabled(if: Gnuplot.isAvailable)) func confusionHeatmap() throws {
        let dir = try makeReportsDirectory()
        defer { removeReportsDirectory(dir) }
        let n = awkwardNames.count
        let matrix = (0..<n).map { i in (0..<n).map { j in i == j ? 900 + i : (i + 2 * j) % 7 } }
        let warning = Charts.confusionHeatmap(matrix: matrix, classNames: awkwardNames, title: "Confusion_matrix", in: dir, size: (700, 700))
        #expect(warning == nil, "\(warning ?? "")")
        try expectChartFiles("confusion_matrix", in: dir, size: (700, 700))
        let svg = try String(contentsOf: dir.appendingPathComponent("confusion_matrix.svg"), encoding: .utf8)
        #expect(svg.contains("905"))       // the counts are printed
        #expect(svg.contains("snake_case^2"))  // noenhanced: underscores and carets stay literal
    }

    @Test(.enabled(if: Gnuplot.isAvailable)) func benchmarkBars() throws {
        let dir = try makeReportsDirectory()
        defer { removeReportsDirectory(dir) }
        // About the size of the Zalando table: 40 rows, some with intervals.
        var entries: [(label: String, accuracy: Double, lower: Double?, upper: Double?, kind: String)] =
            (0..<36).map { ("Benchmark \($0) ~\($0)K params, \"quoted\"", 0.85 + Double($0 % 12) * 0.009, nil, nil, "zalando") }
        entries.append(("Human performance", 0.835, nil, nil, "human"))
        entries.append(("model_2 (ours)", 0.9123, 0.9067, 0.9178, "ours"))
        entries.append(("Paper's CNN", 0.93, 0.925, 0.935, "paper"))
        entries.append(("something else", 0.88, nil, 0.89, "other"))
        let warning = Charts.benchmarkBars(entries: entries, title: "Fashion-MNIST test accuracy", in: dir)
        #expect(warning == nil, "\(warning ?? "")")
        try expectChartFiles("benchmarks", in: dir, size: (900, 22 * 40 + 120))
        // The data are sorted by accuracy, best last (drawn at the top).
        let data = try String(contentsOf: dir.appendingPathComponent("benchmarks.dat"), encoding: .utf8)
        let accuracies = data.split(separator: "\n").dropFirst().map { Double($0.split(separator: " ")[1])! }
        #expect(accuracies.count == 40 && accuracies == accuracies.sorted())

        let small = Charts.benchmarkBars(entries: [("one", 0.9, nil, nil, "ours")], in: dir, name: "one", size: (400, 300))
        #expect(small == nil, "\(small ?? "")")
        try expectChartFiles("one", in: dir, size: (400, 300))
    }

    @Test(.enabled(if: Gnuplot.isAvailable)) func sweepChart() throws {
        let dir = try makeReportsDirectory()
        defer { removeReportsDirectory(dir) }
        let rows: [(label: String, value: Double, lower: Double?, upper: Double?)] = [
            ("lr=0.1", 0.85, 0.84, 0.86), ("lr=0.01", 0.91, 0.905, 0.915), ("lr=0.001_slow", 0.89, nil, nil),
        ]
        let warning = Charts.sweepChart(rows: rows, metric: "test_accuracy", title: "Learning rate", in: dir, size: (800, 500))
        #expect(warning == nil, "\(warning ?? "")")
        try expectChartFiles("sweep", in: dir, size: (800, 500))
    }

    /// With gnuplot missing: a warning, no images, and the script and data still there.
    @Test func withoutGnuplot() throws {
        let dir = try makeReportsDirectory()
        defer { removeReportsDirectory(dir) }
        try Gnuplot.$executable.withValue("/nonexistent/bin/gnuplot") {
            #expect(!Gnuplot.isAvailable)
            let warnings = [
                Charts.curves(epochs: [1, 2], loss: [1, 0.5], accuracy: [0.5, 0.7], earlyStoppingEpoch: 1, in: dir),
                Charts.confusionHeatmap(matrix: [[1, 0], [2, 3]], classNames: ["a", "b"], in: dir),
                Charts.benchmarkBars(entries: [("x", 0.9, nil, nil, "ours")], in: dir),
                Charts.sweepChart(rows: [("a", 1, nil, nil)], metric: "loss", in: dir),
            ]
            for warning in warnings {
                #expect(warning?.contains("gnuplot not found") == true, "\(warning ?? "nil")")
            }
            for name in ["curves", "confusion_matrix", "benchmarks", "sweep"] {
                try expectChartFiles(name, in: dir, size: nil, drawn: false)
            }
        }
    }

    /// A script gnuplot rejects (here: a "gnuplot" that always fails) gives a warning, not a crash.
    @Test func failingGnuplot() throws {
        let dir = try makeReportsDirectory()
        defer { removeReportsDirectory(dir) }
        let warning = Gnuplot.$executable.withValue("/bin/false") {
            Charts.sweepChart(rows: [("a", 1, nil, nil)], metric: "loss", in: dir)
        }
        #expect(warning?.contains("failed") == true, "\(warning ?? "nil")")
        try expectChartFiles("sweep", in: dir, size: nil, drawn: false)
    }

    /// gnuplot draws outside the results and each image is moved into place whole: a gnuplot
    /// that writes part of an image and fails (or is stopped) leaves no image in the directory;
    /// one that succeeds leaves exactly what it drew, under the final names, and no other file.
    @Test func imagesAreMovedIntoPlaceOnlyWhenComplete() throws {
        let dir = try makeReportsDirectory()
        defer { removeReportsDirectory(dir) }
        let tools = try makeReportsDirectory()
        defer { removeReportsDirectory(tools) }
        // A stand-in for gnuplot: `-e "fb_output_png='…'; fb_output_svg='…'" script`.
        func fakeGnuplot(_ name: String, exitCode: Int) throws -> String {
            let path = tools.appendingPathComponent(name).path
            let body = """
                #!/bin/sh
                png=$(printf '%s' "$2" | sed -n "s/.*fb_output_png='\\([^']*\\)'.*/\\1/p")
                svg=$(printf '%s' "$2" | sed -n "s/.*fb_output_svg='\\([^']*\\)'.*/\\1/p")
                [ "$1" = "-e" ] && [ -n "$png" ] && [ -n "$svg" ] || exit 3
                printf 'png drawn by %s' "$3" > "$png"
                printf 'svg drawn by %s' "$3" > "$svg"
                exit \(exitCode)

                """
            try body.write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o755)
            return path
        }
        let failing = try fakeGnuplot("failing", exitCode: 1)
        let warning = Gnuplot.$executable.withValue(failing) {
            Charts.sweepChart(rows: [("a", 1, nil, nil)], metric: "loss", in: dir)
        }
        #expect(warning?.contains("failed") == true, "\(warning ?? "nil")")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["sweep.dat", "sweep.gp"])

        let working = try fakeGnuplot("working", exitCode: 0)
        let none = Gnuplot.$executable.withValue(working) {
            Charts.sweepChart(rows: [("a", 1, nil, nil)], metric: "loss", in: dir)
        }
        #expect(none == nil, "\(none ?? "")")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted() == ["sweep.dat", "sweep.gp", "sweep.png", "sweep.svg"])
        #expect(try String(contentsOf: dir.appendingPathComponent("sweep.png"), encoding: .utf8) == "png drawn by sweep.gp")
        #expect(try String(contentsOf: dir.appendingPathComponent("sweep.svg"), encoding: .utf8) == "svg drawn by sweep.gp")
    }

    @Test func pngInfoRejectsOtherFiles() throws {
        let dir = try makeReportsDirectory()
        defer { removeReportsDirectory(dir) }
        let file = dir.appendingPathComponent("x.png")
        try Data("not a png at all, just text".utf8).write(to: file)
        #expect(PNGInfo.size(of: file) == nil)
        #expect(PNGInfo.size(of: dir.appendingPathComponent("missing.png")) == nil)
        // A hand-made header: 3×2.
        var header = PNGInfo.signature + [0, 0, 0, 13] + Array("IHDR".utf8)
        header += [0, 0, 0, 3, 0, 0, 0, 2, 8, 6, 0, 0, 0]
        try Data(header).write(to: file)
        let size = try #require(PNGInfo.size(of: file))
        #expect(size.width == 3 && size.height == 2)
    }

    @Test func quoting() {
        #expect(Gnuplot.quote("it's a\\b_c") == "'it''s a\\b_c'")
        #expect(Gnuplot.quote("two\nlines") == "'two lines'")
    }
}
