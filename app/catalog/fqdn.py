"""FQDN parsing: `system.db.model`, system and db single lowercase segments, the model the rest."""
from __future__ import annotations

import re
from dataclasses import dataclass

from sql.errors import InvalidInput

_SEGMENT = re.compile(r"[a-z][a-z0-9_]*")
_MODEL_SEGMENT = re.compile(r"[A-Za-z0-9_]+")
EXAMPLE = "a valid one looks like odoo.odoo_core.account.move or scout.gold.v_revenue_summary"
# What parse_fqdn accepts, as the OpenAPI document states it (its own checks name the part that is wrong).
FQDN_SCHEMA = {"description": "system.db.model, e.g. odoo.odoo_core.account.move",
               "pattern": r"^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*(\.[A-Za-z0-9_]+)+$"}


@dataclass(frozen=True)
class Fqdn:
    system: str
    db: str
    model: str

    def __str__(self) -> str:
        return f"{self.system}.{self.db}.{self.model}"


def parse_fqdn(value: str) -> Fqdn:
    """Split and check an FQDN; a 422 names the part that is wrong and shows a valid one."""
    if not value or value != value.strip():
        raise InvalidInput(f"the FQDN is empty or has surrounding spaces; {EXAMPLE}")
    parts = value.split(".")
    if len(parts) < 3:
        raise InvalidInput(f"FQDN {value!r} has {len(parts)} part(s); it needs system.db.model; {EXAMPLE}")
    system, db, model_parts = parts[0], parts[1], parts[2:]
    if not _SEGMENT.fullmatch(system):
        raise InvalidInput(f"FQDN {value!r}: system {system!r} must be one lowercase segment "
                           f"(a-z, 0-9, _; starting with a letter); {EXAMPLE}")
    if not _SEGMENT.fullmatch(db):
        raise InvalidInput(f"FQDN {value!r}: db {db!r} must be one lowercase segment "
                           f"(a-z, 0-9, _; starting with a letter); {EXAMPLE}")
    bad = [p for p in model_parts if not _MODEL_SEGMENT.fullmatch(p)]
    if bad:
        raise InvalidInput(f"FQDN {value!r}: model {'.'.join(model_parts)!r} has an invalid segment {bad[0]!r} "
                           f"(letters, digits and _ between dots); {EXAMPLE}")
    return Fqdn(system, db, ".".join(model_parts))


def segment(text: str) -> str:
    """A name made safe as a single FQDN segment (database names with dashes or capitals)."""
    cleaned = re.sub(r"[^a-z0-9_]+", "_", text.lower()).strip("_")
    if not cleaned or not cleaned[0].isalpha():
        cleaned = f"x_{cleaned}"
    return cleaned
