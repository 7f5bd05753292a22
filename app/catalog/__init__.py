"""The asset catalog: FQDN registry, lineage, catalog sync, fuzzy lookup."""
