"""Real-ESRGAN x4plus (RRDBNet, 23 blocks): photos, 4x."""

from common.triton_models import TorchModel as TritonPythonModel  # noqa: F401
