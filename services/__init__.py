"""Capability services, one package per family."""
