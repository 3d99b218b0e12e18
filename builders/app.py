"""The application's two services, described once: the network, compute and bootstrap stacks all read this.

The security-group rules (network), the target groups, listeners and
containers (compute) and the ECR repositories (bootstrap) all need the same
ports and names; keeping them in one table means they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ServiceKey = Literal["api", "ui"]


@dataclass(frozen=True)
class AppService:
    key: ServiceKey
    port: int
    label: str
    # Path patterns the ALB sends to this service; the service with none is the default route.
    paths: tuple[str, ...]


API = AppService("api", 8000, "NL-to-SQL API", ("/api", "/api/*"))
UI = AppService("ui", 8501, "Streamlit UI", ())
SERVICES: tuple[AppService, ...] = (API, UI)
