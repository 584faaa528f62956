"""Real-ESRGAN x4plus anime (RRDBNet, 6 blocks): illustrations, 4x."""

from common.triton_models import TorchModel as TritonPythonModel  # noqa: F401
