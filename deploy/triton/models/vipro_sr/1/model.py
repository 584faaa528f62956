"""ViPro fast super-resolution, x2/x3/x4 (see ../config.pbtxt)."""

from common.triton_models import TorchModel as TritonPythonModel  # noqa: F401
