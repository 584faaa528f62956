"""Editing family: convert, erase, extend, composite, insert.

Serves vipro.v1.EditingService.
"""
