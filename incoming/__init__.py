"""Incoming!!: takes large file uploads off web applications."""

__version__ = "0.1.0.dev0"
