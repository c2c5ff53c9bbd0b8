"""The REST front: our JSON API, the control endpoints, the OpenAPI document and the dashboard, over the engine.

It only translates (``routes`` is the table; ``queues`` and ``control`` the handlers; ``wire`` the JSON models;
``errors`` the one place a ``QueueError`` becomes an HTTP answer). It never imports another front.
"""
