"""Manufacturing family: pattern drafting, print transfer, colourways.

Serves vipro.v1.ManufacturingService.
"""
