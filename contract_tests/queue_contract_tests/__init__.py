"""The contract suite every queue_runtime provider must pass."""
