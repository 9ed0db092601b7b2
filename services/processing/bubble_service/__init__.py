"""The gRPC front service of Bubble item processing (``ItemProcessingService``)."""
