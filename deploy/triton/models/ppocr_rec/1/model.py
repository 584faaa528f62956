"""PP-OCRv4 text recognition with CTC decoding (see ../config.pbtxt)."""

from common.triton_models import CtcRecognizer as TritonPythonModel  # noqa: F401
