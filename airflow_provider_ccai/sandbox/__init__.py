"""Local CloudContactAI emulator (core API, files API, signed-URL S3 PUT) for developing and testing DAGs.

Standard library only; run it in-process with :class:`SandboxServer` or as ``python -m airflow_provider_ccai.sandbox``.
"""

from airflow_provider_ccai.sandbox.server import SandboxServer

__all__ = ["SandboxServer"]
