/// Keras/TensorFlow padding arithmetic for one spatial axis.
///
/// `valid`: out = floor((in − k) / s) + 1, no padding (needs in ≥ k).
/// `same`:  out = ceil(in / s), total padding max((out − 1)·s + k − in, 0), of which the
/// smaller half goes before (TensorFlow puts the odd pixel after).
public enum Padding: String, CaseIterable, Sendable {
    case valid, same

    public static let names = allCases.map(\.rawValue)

    public func outputLength(input: Int, kernel: Int, stride: Int) -> Int {
        switch self {
        case .valid: return input < kernel ? 0 : (input - kernel) / stride + 1
        case .same: return (input + stride - 1) / stride
        }
    }

    /// Padding before the first input pixel.
    public func padBefore(input: Int, kernel: Int, stride: Int) -> Int {
        switch self {
        case .valid: return 0
        case .same:
            let out = outputLength(input: input, kernel: kernel, stride: stride)
            return max((out - 1) * stride + kernel - input, 0) / 2
        }
    }
}

/// The geometry of a 2-D window sliding over an NHWC image (convolution or pooling).
struct Window2D {
    let inH: Int, inW: Int, channels: Int
    let kH: Int, kW: Int, sH: Int, sW: Int
    let outH: Int, outW: Int, padTop: Int, padLeft: Int

    init(inH: Int, inW: Int, channels: Int, kernel: (Int, Int), strides: (Int, Int), padding: Padding) {
        self.inH = inH; self.inW = inW; self.channels = channels
        kH = kernel.0; kW = kernel.1; sH = strides.0; sW = strides.1
        outH = padding.outputLength(input: inH, kernel: kH, stride: sH)
        outW = padding.outputLength(input: inW, kernel: kW, stride: sW)
        padTop = padding.padBefore(input: inH, kernel: kH, stride: sH)
        padLeft = padding.padBefore(input: inW, kernel: kW, stride: sW)
    }
}
