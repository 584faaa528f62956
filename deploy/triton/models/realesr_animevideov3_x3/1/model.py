"""Real-ESRGAN animevideov3 (SRVGGNetCompact): small and fast, anime and video, 3x."""

from common.triton_models import TorchModel as TritonPythonModel  # noqa: F401
