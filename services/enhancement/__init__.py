"""Enhancement family: super-resolution, denoise, interpolation, HDR, restoration, colour.

Serves vipro.v1.EnhancementService.
"""
