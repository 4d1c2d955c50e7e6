"""The audit section: ingest from Kafka to a signed checkpoint beside a naive consumer, inclusion proofs
and VerifyLog on a large log beside the bare store (section.py); its processes (processes.py); the
events (events.py); the generator's rounds (ingest.py, proofs.py), which check every answer with a
client-side RFC 9162 module of their own (rfc9162.py); its table (table.py)."""
