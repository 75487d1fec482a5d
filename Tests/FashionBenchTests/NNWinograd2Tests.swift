import Testing
import CKernels
import FashionTensor

/// Winograd for 2x2 kernels, which model_4's wider convolutions run, with output tiles of 2
/// (F(2x2, 2x2)) and 3 (F(3x3, 2x2)), called directly: the forward (`fb_conv_winograd2`) and the
/// kernel gradient (`fb_conv_winograd2_weight_gradient`, added onto what dw held) against their
/// definitions in Double, for a range of samples inside the batch; and the same bits from the
/// AVX-512 code (native, or `make test-wide`) as from the AVX2 code.
@Suite("NN Winograd for 2x2 kernels", .serialized)
struct NNWinograd2Tests {
    struct Shape: Sendable, CustomTestStringConvertible {
        let height: Int, width: Int, channels: Int, filters: Int
        var testDescription: String { "\(height)x\(width)x\(channels) → \(filters)" }
    }

    static let shapes = [
        Shape(height: 7, width: 16, channels: 64, filters: 64),   // odd output rows, blocks of 6 channels and 4 left
        Shape(height: 6, width: 9, channels: 48, filters: 128),   // no channels left over, two 64-filter groups
        Shape(height: 30, width: 12, channels: 16, filters: 64),  // rows of tiles in two groups, 2 channels left
        Shape(height: 3, width: 3, channels: 32, filters: 64),    // a single tile
    ]
    static let tiles: [Int32] = [2, 3]
    static let batch = 4, first = 1, count = 2  // samples 1 and 2 of 4

    static func capped<T>(_ cap: Int32, _ body: () -> T?) -> T? {
        defer { _ = fb_kernels_cap_level(2) }
        guard fb_kernels_cap_level(cap) == cap else { return nil }
        return body()
    }

    static func weightGradient(_ s: Shape, x: [Float], dy: [Float], start: [Float], tile: Int32, cap: Int32) -> [Float]? {
        capped(cap) {
            let outH = s.height - 1, outW = s.width - 1
            var dw = start
            var work = [Float](repeating: .nan, count: Int(fb_winograd2_gradient_work_count(Int32(s.channels), Int32(s.filters), Int32(outW), tile)))
            let done = fb_conv_winograd2_weight_gradient(x, dy, &dw, Self.first, Self.count, Int32(s.height), Int32(s.width),
                                                         Int32(s.channels), Int32(outH), Int32(outW), Int32(s.filters), &work, tile)
            return done == 1 ? dw : nil
        }
    }

    /// Samples `first..<first + count` of the forward (the other samples' outputs stay NaN).
    static func forward(_ s: Shape, x: [Float], w: [Float], bias: [Float], relu: Bool, tile: Int32, cap: Int32) -> [Float]? {
        capped(cap) {
            let outH = s.height - 1, outW = s.width - 1
            var u = [Float](repeating: .nan, count: 16 * s.channels * s.filters)
            var work = [Float](repeating: .nan, count: Int(fb_winograd2_work_count(Int32(s.channels), Int32(s.filters), Int32(outW), tile)))
            var y = [Float](repeating: .nan, count: Self.batch * outH * outW * s.filters)
            fb_winograd2_kernel(w, &u, Int32(s.channels), Int32(s.filters), tile)
            let done = fb_conv_winograd2(x, u, bias, &y, Self.first, Self.count, Int32(s.height), Int32(s.width), Int32(s.channels),
                                         Int32(outH), Int32(outW), Int32(s.filters), relu ? 1 : 0, &work, tile)
            return done == 1 ? y : nil
        }
    }

    static func inputs(_ s: Shape, seed: UInt64) -> (x: [Float], dy: [Float], start: [Float]) {
        (NNSupport.uniform(batch * s.height * s.width * s.channels, seed: seed),
         NNSupport.uniform(batch * (s.height - 1) * (s.width - 1) * s.filters, seed: seed + 1),
         NNSupport.uniform(4 * s.channels * s.filters, seed: seed + 2, in: -0.5...0.5))
    }

    @Test(arguments: shapes, tiles)
    func forwardMatchesTheDefinition(_ s: Shape, tile: Int32) throws {
        let x = NNSupport.uniform(Self.batch * s.height * s.width * s.channels, seed: 31)
        let w = NNSupport.uniform(4 * s.channels * s.filters, seed: 32, in: -0.3...0.3)
        let bias = NNSupport.uniform(s.filters, seed: 33, in: -0.1...0.1)
        let outH = s.height - 1, outW = s.width - 1, size = outH * outW * s.filters
        var expected = [Double](repeating: 0, count: Self.count * size)
        for n in 0..<Self.count {
            for i in 0..<outH {
                for j in 0..<outW {
                    let out = (n * outH * outW + i * outW + j) * s.filters
                    for f in 0..<s.filters { expected[out + f] = Double(bias[f]) }
                    for kh in 0..<2 {
                        for kw in 0..<2 {
                            for c in 0..<s.channels {
                                let xv = Double(x[(((Self.first + n) * s.height + i + kh) * s.width + j + kw) * s.channels + c])
                                let row = ((kh * 2 + kw) * s.channels + c) * s.filters
                                for f in 0..<s.filters { expected[out + f] += xv * Double(w[row + f]) }
                            }
                        }
                    }
                }
            }
        }
        // The direct kernel's rounding, on the same sums, as the yardstick.
        var direct = [Float](repeating: .nan, count: Self.batch * size)
        _ = fb_conv_direct_forward(x, w, bias, &direct, Self.first, Self.count, Int32(s.height), Int32(s.width), Int32(s.channels),
                                   Int32(outH), Int32(outW), Int32(s.filters), 2, 2, 1, 1, 0)
        func worst(_ a: [Float]) -> Double { zip(a[(Self.first * size)...], expected).map { abs(Double($0) - $1) }.max()! }
        for cap: Int32 in [2, 1] {
            guard let y = Self.forward(s, x: x, w: w, bias: bias, relu: false, tile: tile, cap: cap) else { continue }
            #expect(y[..<(Self.first * size)].allSatisfy(\.isNaN) && y[((Self.first + Self.count) * size)...].allSatisfy(\.isNaN),
                    "only the asked samples are written")
            NNSupport.expectMatches(Array(y[(Self.first * size)..<((Self.first + Self.count) * size)]), expected.map { Float($0) },
                                    rtol: 1e-5, atol: 1e-5, "forward of \(s), tile \(tile), level \(cap)")
            #expect(worst(y) <= 6 * worst(direct) + 1e-7, "Winograd \(worst(y)), direct \(worst(direct)), tile \(tile), level \(cap)")
            // ReLU is the same outputs, clamped.
            if let r = Self.forward(s, x: x, w: w, bias: bias, relu: true, tile: tile, cap: cap) {
                #expect(zip(r[(Self.first * size)...], y[(Self.first * size)...]).allSatisfy { $0.bitPattern == max($1, 0).bitPattern || $1.isNaN })
            }
        }
    }

    @Test(arguments: shapes, tiles)
    func weightGradientMatchesTheDefinition(_ s: Shape, tile: Int32) throws {
        let (x, dy, start) = Self.inputs(s, seed: 41)
        let outH = s.height - 1, outW = s.width - 1
        var expected = start.map(Double.init)
        for n in Self.first..<(Self.first + Self.count) {
            for i in 0..<outH {
                for j in 0..<outW {
                    for kh in 0..<2 {
                        for kw in 0..<2 {
                            for c in 0..<s.channels {
                                let xv = Double(x[((n * s.height + i + kh) * s.width + j + kw) * s.channels + c])
                                let row = ((kh * 2 + kw) * s.channels + c) * s.filters, g = ((n * outH + i) * outW + j) * s.filters
                                for f in 0..<s.filters { expected[row + f] += xv * Double(dy[g + f]) }
                            }
                        }
                    }
                }
            }
        }
        // The direct kernel's rounding, on the same sums, as the yardstick.
        var direct = start
        _ = fb_conv_direct_weight_gradient(x, dy, &direct, Self.first, Self.count, Int32(s.height), Int32(s.width), Int32(s.channels),
                                           Int32(outH), Int32(outW), Int32(s.filters), 2, 2, 1, 1)
        func worst(_ a: [Float]) -> Double { zip(a, expected).map { abs(Double($0) - $1) }.max()! }
        for cap: Int32 in [2, 1] {
            guard let dw = Self.weightGradient(s, x: x, dy: dy, start: start, tile: tile, cap: cap) else { continue }
            NNSupport.expectMatches(dw, expected.map { Float($0) }, rtol: 1e-4, atol: 1e-4, "dKernel of \(s), tile \(tile), level \(cap)")
            // Measured (tile 2): 1.5 to 3 times the direct sums' largest error (the transforms
            // add and subtract before multiplying).
            #expect(worst(dw) <= 6 * worst(direct) + 1e-7, "Winograd \(worst(dw)), direct \(worst(direct)), tile \(tile), level \(cap)")
        }
    }

    @Test(arguments: shapes, tiles)
    func sameBitsAtEveryInstructionSet(_ s: Shape, tile: Int32) throws {
        let (x, dy, start) = Self.inputs(s, seed: 51)
        guard let avx2 = Self.weightGradient(s, x: x, dy: dy, start: start, tile: tile, cap: 1) else { return }  // no AVX2: no Winograd
        guard let wide = Self.weightGradient(s, x: x, dy: dy, start: start, tile: tile, cap: 2) else { return }
        #expect(wide.map(\.bitPattern) == avx2.map(\.bitPattern), "kernel gradient")
        let w = NNSupport.uniform(4 * s.channels * s.filters, seed: 52, in: -0.3...0.3)
        let bias = NNSupport.uniform(s.filters, seed: 53, in: -0.1...0.1)
        let forwards = [Int32(1), 2].compactMap { Self.forward(s, x: x, w: w, bias: bias, relu: true, tile: tile, cap: $0) }
        #expect(forwards.count == 2 && forwards[0].map(\.bitPattern) == forwards[1].map(\.bitPattern), "forward")
    }

    /// An output whose window is zero in every channel is the bias exactly, as the direct sum
    /// makes it, though its tile holds nonzero pixels (which F(3x3, 2x2)'s and F(2x2, 3x3)'s
    /// transforms would leave as rounding, ±1e-8, and ReLU would let +1e-8 through): pixels
    /// zeroed in a band of columns, two rows and part of a row, so that windows of zeros share
    /// tiles with nonzero pixels. 2 and 3: `fb_conv_winograd2`'s tiles; 0: `fb_conv_winograd3`.
    @Test(arguments: [Int32(2), 3, 0])
    func zeroWindowsGiveTheBiasExactly(_ tile: Int32) {
        let (height, width, channels, filters) = (9, 13, 32, 64)
        let k = tile == 0 ? 3 : 2, outH = height - k + 1, outW = width - k + 1
        var x = NNSupport.uniform(height * width * channels, seed: 71)
        func zeroPixel(_ i: Int, _ j: Int) -> Bool { j < 5 || i < 2 || (i == 4 && j > 8) }
        for i in 0..<height { for j in 0..<width where zeroPixel(i, j) { for c in 0..<channels { x[(i * width + j) * channels + c] = 0 } } }
        let w = NNSupport.uniform(k * k * channels * filters, seed: 72, in: -0.3...0.3)
        let bias = NNSupport.uniform(filters, seed: 73, in: -0.1...0.1)
        func run(_ cap: Int32) -> [Float]? {
            Self.capped(cap) {
                var u = [Float](repeating: .nan, count: 16 * channels * filters)
                var y = [Float](repeating: .nan, count: outH * outW * filters)
                let count = tile == 0 ? fb_winograd3_work_count(Int32(channels), Int32(filters), Int32(outW))
                    : fb_winograd2_work_count(Int32(channels), Int32(filters), Int32(outW), tile)
                var work = [Float](repeating: .nan, count: Int(count))
                let done: Int32
                if tile == 0 {
                    fb_winograd_kernel(w, &u, Int32(channels), Int32(filters))
                    done = fb_conv_winograd3(x, u, bias, &y, 0, 1, Int32(height), Int32(width), Int32(channels), Int32(outH),
                                             Int32(outW), Int32(filters), 0, &work)
                } else {
                    fb_winograd2_kernel(w, &u, Int32(channels), Int32(filters), tile)
                    done = fb_conv_winograd2(x, u, bias, &y, 0, 1, Int32(height), Int32(width), Int32(channels), Int32(outH),
                                             Int32(outW), Int32(filters), 0, &work, tile)
                }
                return done == 1 ? y : nil
            }
        }
        for cap: Int32 in [2, 1] {
            guard let y = run(cap) else { continue }  // no such instruction set here
            var zeroWindows = 0
            for i in 0..<outH {
                for j in 0..<outW where (0..<k).allSatisfy({ a in (0..<k).allSatisfy { zeroPixel(i + a, j + $0) } }) {
                    zeroWindows += 1
                    let at = (i * outW + j) * filters
                    #expect(Array(y[at..<(at + filters)]).map(\.bitPattern) == bias.map(\.bitPattern), "output (\(i), \(j)), level \(cap)")
                }
            }
            #expect(zeroWindows >= 20)  // 21 of 3x3 windows, 40 of 2x2
        }
    }

    /// The tile with fewer multiply-adds, (tile + 1)² per tile with the edges' partial tiles
    /// counted whole: model_4's 27x27 outputs take 81 tiles of 3 (1,296) rather than 196 of 2
    /// (1,764).
    @Test func tileWithFewerMultiplyAdds() {
        #expect(fb_winograd2_tile(27, 27) == 3)
        #expect(fb_winograd2_tile(2, 2) == 2)    // 9 against 16
        #expect(fb_winograd2_tile(3, 3) == 3)    // 36 against 16
        #expect(fb_winograd2_tile(4, 4) == 2)    // 36 against 64
        #expect(fb_winograd2_tile(4, 9) == 2)    // 90 against 96
        #expect(fb_winograd2_tile(5, 5) == 3)    // 81 against 64
    }

    /// `fb_conv_winograd3` (F(2x2, 3x3), the autoencoder's transposed convolutions): the same
    /// bits from the AVX-512 code as from the AVX2 code, odd sizes, two samples from the second.
    @Test func winograd3SameBitsAtEveryInstructionSet() {
        let (height, width, channels, filters) = (9, 12, 32, 128), (outH, outW) = (7, 10)
        let x = NNSupport.uniform(3 * height * width * channels, seed: 61)
        let w = NNSupport.uniform(9 * channels * filters, seed: 62, in: -0.3...0.3)
        let bias = NNSupport.uniform(filters, seed: 63, in: -0.1...0.1)
        func run(_ cap: Int32) -> [Float]? {
            defer { _ = fb_kernels_cap_level(2) }
            guard fb_kernels_cap_level(cap) == cap else { return nil }
            var u = [Float](repeating: 0, count: 16 * channels * filters)
            var work = [Float](repeating: .nan, count: Int(fb_winograd3_work_count(Int32(channels), Int32(filters), Int32(outW))))
            var y = [Float](repeating: .nan, count: 3 * outH * outW * filters)
            fb_winograd_kernel(w, &u, Int32(channels), Int32(filters))
            let done = fb_conv_winograd3(x, u, bias, &y, 1, 2, Int32(height), Int32(width), Int32(channels), Int32(outH), Int32(outW),
                                         Int32(filters), 1, &work)
            return done == 1 ? Array(y[(outH * outW * filters)...]) : nil
        }
        guard let avx2 = run(1) else { return }
        #expect(avx2.allSatisfy { !$0.isNaN })
        if let wide = run(2) { #expect(wide.map(\.bitPattern) == avx2.map(\.bitPattern)) }
    }

    @Test func unsupportedShapesAreRefused() {
        var dw = [Float](repeating: 0, count: 4 * 24 * 64), work = [Float](repeating: 0, count: 1 << 16)
        let x = [Float](repeating: 1, count: 3 * 3 * 24), dy = [Float](repeating: 1, count: 2 * 2 * 64)
        #expect(fb_conv_winograd2_weight_gradient(x, dy, &dw, 0, 1, 3, 3, 24, 2, 2, 64, &work, 2) == 0)  // 24 channels
        let x32 = [Float](repeating: 1, count: 3 * 3 * 32)
        #expect(fb_conv_winograd2_weight_gradient(x32, dy, &dw, 0, 1, 3, 3, 32, 2, 2, 64, &work, 4) == 0)  // no tile of 4
        #expect(dw.allSatisfy { $0 == 0 })
    }
}
