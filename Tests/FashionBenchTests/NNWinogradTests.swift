import Testing
import CKernels
import FashionTensor

/// Winograd's F(2x2, 3x3) with the 2x2 max pooling after it (`fb_conv_winograd_pooled`,
/// which the 80x80 CNN's second and third layers run in their forward) against a plain
/// convolution in Double followed by the pooling: the pooled values agree to rounding, and a
/// window's position differs only where its two candidates are equal to rounding.
@Suite("NN Winograd pooled convolution")
struct NNWinogradTests {
    struct Shape: Sendable, CustomTestStringConvertible {
        let height: Int, width: Int, channels: Int, filters: Int, relu: Bool
        var testDescription: String { "\(height)x\(width)x\(channels) → \(filters)\(relu ? " relu" : "")" }
    }

    static let shapes = [
        Shape(height: 11, width: 13, channels: 16, filters: 32, relu: true),   // odd sizes: an uncovered row and column
        Shape(height: 20, width: 20, channels: 32, filters: 64, relu: false),  // two filter groups, 9 tiles a row
        Shape(height: 40, width: 41, channels: 48, filters: 32, relu: true),   // 19 tiles a row: blocks and a tail
    ]

    /// The kernel's pooled output and positions for one sample, at instruction-set level `cap`.
    static func winograd(_ s: Shape, x: [Float], w: [Float], bias: [Float], cap: Int32) -> ([Float], [Int32]) {
        defer { _ = fb_kernels_cap_level(2) }
        _ = fb_kernels_cap_level(cap)
        let poolH = (s.height - 2) / 2, poolW = (s.width - 2) / 2
        var u = [Float](repeating: 0, count: 16 * s.channels * s.filters)
        var work = [Float](repeating: .nan, count: Int(fb_winograd_work_count(Int32(s.channels), Int32(poolW))))
        var pooled = [Float](repeating: .nan, count: poolH * poolW * s.filters)
        var positions = [Int32](repeating: -1, count: pooled.count)
        fb_winograd_kernel(w, &u, Int32(s.channels), Int32(s.filters))
        fb_conv_winograd_pooled(x, u, bias, &pooled, &positions, Int32(s.width), Int32(s.channels), Int32(s.filters),
                                Int32(poolH), Int32(poolW), s.relu ? 1 : 0, &work)
        return (pooled, positions)
    }

    @Test(arguments: shapes)
    func matchesConvolutionThenPooling(_ s: Shape) {
        let x = NNSupport.uniform(s.height * s.width * s.channels, seed: 21)
        let w = NNSupport.uniform(9 * s.channels * s.filters, seed: 22, in: -0.3...0.3)
        let bias = NNSupport.uniform(s.filters, seed: 23, in: -0.1...0.1)
        let (pooled, positions) = Self.winograd(s, x: x, w: w, bias: bias, cap: 2)
        let poolH = (s.height - 2) / 2, poolW = (s.width - 2) / 2
        func output(_ oh: Int, _ ow: Int, _ f: Int) -> Double {
            var sum = Double(bias[f])
            for kh in 0..<3 {
                for kw in 0..<3 {
                    for c in 0..<s.channels {
                        sum += Double(x[((oh + kh) * s.width + ow + kw) * s.channels + c]) * Double(w[((kh * 3 + kw) * s.channels + c) * s.filters + f])
                    }
                }
            }
            return s.relu ? max(sum, 0) : sum
        }
        var worst = 0.0, positionsDiffering = 0
        for ph in 0..<poolH {
            for pw in 0..<poolW {
                for f in 0..<s.filters {
                    let candidates = (0..<4).map { output(2 * ph + $0 / 2, 2 * pw + $0 % 2, f) }
                    var best = 0
                    for i in 1..<4 where candidates[i] > candidates[best] { best = i }
                    let o = (ph * poolW + pw) * s.filters + f, scale = 1 + abs(candidates[best])
                    worst = max(worst, abs(Double(pooled[o]) - candidates[best]) / scale)
                    let at = Int(positions[o]), chosen = (at >> 16) * 2 + (at & 0xffff)
                    #expect((0..<4).contains(chosen) && (at >> 16) < 2 && (at & 0xffff) < 2)
                    if chosen != best {
                        positionsDiffering += 1
                        #expect(abs(candidates[chosen] - candidates[best]) <= 1e-5 * scale, "a position chosen between unequal values")
                    }
                }
            }
        }
        #expect(worst < 2e-6, "largest difference \(worst) relative to 1 + |value|")
        #expect(positionsDiffering * 1000 <= pooled.count, "\(positionsDiffering) positions of \(pooled.count) differ")
    }

    @Test(arguments: shapes)
    func sameBitsAtEveryInstructionSet(_ s: Shape) {
        let x = NNSupport.uniform(s.height * s.width * s.channels, seed: 31)
        let w = NNSupport.uniform(9 * s.channels * s.filters, seed: 32, in: -0.3...0.3)
        let bias = NNSupport.uniform(s.filters, seed: 33, in: -0.1...0.1)
        let reference = Self.winograd(s, x: x, w: w, bias: bias, cap: 2)
        for cap: Int32 in [1, 0] {
            let other = Self.winograd(s, x: x, w: w, bias: bias, cap: cap)
            #expect(other.0.map(\.bitPattern) == reference.0.map(\.bitPattern) && other.1 == reference.1, "level \(cap)")
        }
    }
}
