"""Consentry benchmarks: `python -m bench [--quick] [--only consent|keyvault|audit|dsr]`.

One package per section (consent, keyvault, audit, dsr), each a `bench.common.section.Section`;
what they share is in bench/common. Every figure is measured through the services' public interfaces
(gRPC, Kafka, their processes) and, where there is one, next to a baseline in the same run with the
same load generator, because absolute numbers on a shared, noisy machine mean little on their own.
"""
