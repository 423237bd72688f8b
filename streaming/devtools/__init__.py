"""Stand-ins for what is out of reach here (OpenAI Realtime, a Sautikit call), signal helpers,
and the servers tests and benchmarks start. Production code never imports these."""
