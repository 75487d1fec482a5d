import Testing
import CKernels
import FashionTensor

/// The kernel gradient by Winograd's F(2x2, 2x2) (`fb_conv_winograd2_weight_gradient`, which
/// model_4's wider convolutions run) called directly: against the definition in Double, added
/// onto what dw held, for a range of samples inside the batch; and the same bits from the
/// AVX-512 code (native, or `make test-wide`) as from the AVX2 code.
@Suite("NN Winograd F(2x2, 2x2) kernel gradient", .serialized)
struct NNWinograd2GradientTests {
    struct Shape: Sendable, CustomTestStringConvertible {
        let height: Int, width: Int, channels: Int, filters: Int
        var testDescription: String { "\(height)x\(width)x\(channels) → \(filters)" }
    }

    static let shapes = [
        Shape(height: 7, width: 16, channels: 64, filters: 64),   // odd output rows, blocks of 6 channels and 4 left
        Shape(height: 6, width: 9, channels: 48, filters: 128),   // no channels left over, two 64-filter groups
        Shape(height: 30, width: 12, channels: 16, filters: 64),  // rows of tiles in two groups (11 and 4), 2 channels left
        Shape(height: 3, width: 3, channels: 32, filters: 64),    // a single tile
    ]
    static let batch = 4, first = 1, count = 2  // samples 1 and 2 of 4

    static func winograd(_ s: Shape, x: [Float], dy: [Float], start: [Float], cap: Int32) -> [Float]? {
        defer { _ = fb_kernels_cap_level(2) }
        guard fb_kernels_cap_level(cap) == cap else { return nil }
        let outH = s.height - 1, outW = s.width - 1
        var dw = start
        var work = [Float](repeating: .nan, count: Int(fb_winograd2_gradient_work_count(Int32(s.channels), Int32(s.filters), Int32(outW))))
        let done = fb_conv_winograd2_weight_gradient(x, dy, &dw, Self.first, Self.count, Int32(s.height), Int32(s.width),
                                                     Int32(s.channels), Int32(outH), Int32(outW), Int32(s.filters), &work)
        return done == 1 ? dw : nil
    }

    static func inputs(_ s: Shape, seed: UInt64) -> (x: [Float], dy: [Float], start: [Float]) {
        (NNSupport.uniform(batch * s.height * s.width * s.channels, seed: seed),
         NNSupport.uniform(batch * (s.height - 1) * (s.width - 1) * s.filters, seed: seed + 1),
         NNSupport.uniform(4 * s.channels * s.filters, seed: seed + 2, in: -0.5...0.5))
    }

    @Test(arguments: shapes)
    func matchesTheDefinition(_ s: Shape) throws {
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
            guard let dw = Self.winograd(s, x: x, dy: dy, start: start, cap: cap) else { continue }
            NNSupport.expectMatches(dw, expected.map { Float($0) }, rtol: 1e-4, atol: 1e-4, "dKernel of \(s) at level \(cap)")
            // Measured: 1.5 to 3 times the direct sums' largest error (the transforms add and
            // subtract before multiplying).
            #expect(worst(dw) <= 6 * worst(direct) + 1e-7, "Winograd \(worst(dw)), direct \(worst(direct)) at level \(cap)")
        }
    }

    @Test(arguments: shapes)
    func sameBitsAtEveryInstructionSet(_ s: Shape) throws {
        let (x, dy, start) = Self.inputs(s, seed: 51)
        guard let avx2 = Self.winograd(s, x: x, dy: dy, start: start, cap: 1) else { return }  // no AVX2: no Winograd
        guard let wide = Self.winograd(s, x: x, dy: dy, start: start, cap: 2) else { return }
        #expect(wide.map(\.bitPattern) == avx2.map(\.bitPattern))
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
        #expect(fb_conv_winograd2_weight_gradient(x, dy, &dw, 0, 1, 3, 3, 24, 2, 2, 64, &work) == 0)  // 24 channels
        #expect(dw.allSatisfy { $0 == 0 })
    }
}
