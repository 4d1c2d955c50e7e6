"""Consent-service benchmarks: `python -m bench [--quick]`.

Every figure is measured next to a bare gRPC echo baseline in the same run with the same
load generator, because absolute numbers on a shared, noisy machine mean little on their own.
"""
