"""TransNetV2 shot-transition detector (see ../config.pbtxt)."""

from common.triton_models import TorchModel as TritonPythonModel  # noqa: F401
