"""The Odoo bridge: signed webhooks into an event ledger, processing, pull sync, shadows and drift."""
