"""Image encoders: the FrameEncoder contract, MobileNetV2 + ConSE (offline default), OCR.

Heavy optional pieces (torch models, RapidOCR) load only when their module is imported.
"""
from perception.image.encoder import FrameEncoder, FrameFeatures, TextEmbedder
from perception.image.textdetect import TextDetector, has_text

__all__ = ["FrameEncoder", "FrameFeatures", "TextDetector", "TextEmbedder", "has_text"]
