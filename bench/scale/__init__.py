"""Scale: the services' reads and the audit ingest on large data sets, each beside a small one."""
