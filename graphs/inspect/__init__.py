"""Exploratory inspection of a store's graph: a CLI and a local read-only web viewer.

``python -m graphs.inspect --store DIR summary|entity|path|explain|export|serve``
"""
