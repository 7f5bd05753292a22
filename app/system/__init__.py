"""Operational endpoints: health and the job queue."""
from app.system.controllers import SystemController

__all__ = ["SystemController"]
