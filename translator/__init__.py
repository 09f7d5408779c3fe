"""translator: an English->French neural machine translation trainer (Keras 3)."""

__version__ = "0.1.0"
