"""The outward surfaces: export and the Python API.

Their own choices sit here, in a module that imports nothing, so that the scripts read them and still answer `--help`
without TensorFlow.
"""

# What `vae-export` writes: a TensorFlow SavedModel, a LiteRT model (.tflite), or ONNX models.
EXPORT_FORMATS = ("saved-model", "litert", "onnx")
