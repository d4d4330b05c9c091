"""The local Personalize engine.

It answers the operations of the ``personalize``, ``personalize-runtime`` and
``personalize-events`` services with the request and response shapes, ARNs, status
lifecycles and error codes of Amazon Personalize, and trains real models on this
machine. It never imports boto3 at module level: the transports (in-process hooks on a
boto3 client, or the HTTP server) adapt it to botocore.

The whole engine is reached through one call, :meth:`LocalEngine.call`, which takes
and returns the JSON documents of the wire protocol (timestamps as epoch seconds).
"""
