"""PP-OCRv4 text detection network (see ../config.pbtxt)."""

from common.triton_models import OnnxModel as TritonPythonModel  # noqa: F401
