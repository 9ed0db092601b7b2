"""Scripts people run on the repository: codegen, contract checks, the dev stack, benchmarks."""
