"""Segmentation family: objects, people, text, faces, matting, insertion slots.

Serves vipro.v1.SegmentationService.
"""
