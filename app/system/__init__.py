"""Operational endpoints: health and the job queue."""
