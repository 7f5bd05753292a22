"""Buckets of files per tenant: backends, the service, the API."""
