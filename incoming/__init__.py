"""Incoming!!: takes large file uploads off web applications."""

__version__ = "0.2.0.dev0"
