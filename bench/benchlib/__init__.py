"""Helpers of the Incoming!! benchmarks (``bench/throughput``, ``bench/browser``).

Standard library only, so that the benchmarks run with any Python 3.11 and never share a
virtualenv with the server they measure.
"""
