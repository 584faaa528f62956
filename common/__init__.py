"""Code shared by the gateway, the services, the CLI, tests and benchmarks."""
