"""What the gRPC service and the worker both need: settings, Temporal wiring, the item store."""
