"""Editing family: convert, erase, extend, composite, insert (vipro.v1.EditingService)."""
