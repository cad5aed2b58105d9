"""The demo and the synthetic scans it (and the tests and benchmarks) reconstruct; apart from the product."""
