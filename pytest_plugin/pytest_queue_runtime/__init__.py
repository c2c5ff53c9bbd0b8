"""pytest plugin for queue_runtime: --queue-provider and the queue_client fixture."""
