"""crsae: CRsAE convolutional dictionary learning, exportable to ONNX."""
