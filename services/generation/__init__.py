"""Generation family: banners, imitation, product videos, summaries, image-to-video.

Serves vipro.v1.GenerationService.
"""
