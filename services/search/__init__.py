"""Search family: ingest, query by text/image/colour, similar cases.

Serves vipro.v1.SearchService.
"""
