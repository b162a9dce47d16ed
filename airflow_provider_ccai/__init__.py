"""Apache Airflow provider for CloudContactAI (CCAI) SMS/MMS campaigns."""

from __future__ import annotations

__version__ = "0.1.0"
