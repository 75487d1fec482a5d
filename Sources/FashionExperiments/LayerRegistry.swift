import FashionConfig
import FashionNN

/// Maps the `type:` of a layer in an experiment file to the layer's constructor. Adding a
/// layer is one file in FashionNN/Layers plus one line here.
public enum LayerRegistry {
    public static let makers: [String: (Options) throws -> Layer] = [
        Dense.typeName: { try Dense(options: $0) },
        Conv2D.typeName: { try Conv2D(options: $0) },
        MaxPooling2D.typeName: { try MaxPooling2D(options: $0) },
        Dropout.typeName: { try Dropout(options: $0) },
        Flatten.typeName: { try Flatten(options: $0) },
        ActivationLayer.typeName: { try ActivationLayer(options: $0) },
        LeakyReLU.typeName: { try LeakyReLU(options: $0) },
        Reshape.typeName: { try Reshape(options: $0) },
        BatchNormalization.typeName: { try BatchNormalization(options: $0) },
        Conv2DTranspose.typeName: { try Conv2DTranspose(options: $0) },
    ]

    public static var names: [String] { makers.keys.sorted() }
}
