"""Readers and executors of foreign model formats: TFLite, TensorFlow GraphDef, ONNX."""
