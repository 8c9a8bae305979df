"""What an audit entry holds: who did what to which entity, from which value to which, when.
Values are kept as short strings whatever their type, so every store holds the same trail."""
from __future__ import annotations


def entry(at: float, actor: str, action: str, entity: str, entity_id, from_value=None, to_value=None,
          detail: str | None = None) -> dict:
    return {"at": at, "actor": actor[:64], "action": action, "entity": entity, "entity_id": str(entity_id),
            "from_value": None if from_value is None else str(from_value)[:64],
            "to_value": None if to_value is None else str(to_value)[:64], "detail": detail}
