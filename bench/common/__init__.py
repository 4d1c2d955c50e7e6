"""What every section shares: the processes of a run (stack, processes, platform), the closed-loop
load generator and its rounds (load, rounds, cpu), profiling, and the results document (report,
kafka_tls); `section` is the protocol a section implements."""
