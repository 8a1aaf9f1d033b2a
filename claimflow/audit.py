"""Access events: every read of PHI by a person or an operator tool is recorded on
``audit.access.v1`` (who, role, record type and id, when, outcome; never the content)."""

from __future__ import annotations

import uuid
from datetime import datetime

from claimflow.httpauth import ANONYMOUS, Principal
from claimflow.models import AccessEvent, AccessOutcome, utcnow


def access_event(principal: Principal | None, record_type: str, record_id: str, action: str, service: str, route: str,
                 outcome: AccessOutcome, at: datetime | None = None, reason: str | None = None) -> AccessEvent:
    """The access event of one read of PHI by ``principal`` (None: an anonymous caller)."""
    return AccessEvent(event_id=uuid.uuid4().hex, occurred_at=at or utcnow(), user=principal.name if principal else ANONYMOUS,
                       role=principal.role if principal else ANONYMOUS, record_type=record_type, record_id=record_id,
                       action=action, outcome=outcome, service=service, route=route, reason=reason)
