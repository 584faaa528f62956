"""MediaPipe selfie segmentation network (see ../config.pbtxt)."""

from common.triton_models import LiteRTModel as TritonPythonModel  # noqa: F401
