"""ViPro Gaussian denoiser (see ../config.pbtxt)."""

from common.triton_models import TorchModel as TritonPythonModel  # noqa: F401
