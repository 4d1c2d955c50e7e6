"""Consentry benchmarks: `python -m bench [--quick] [--only consent|keyvault]`.

Every figure is measured next to a baseline in the same run with the same load generator (a bare
gRPC echo server for the consent service, raw Vault transit calls for the keyvault), because
absolute numbers on a shared, noisy machine mean little on their own.
"""
