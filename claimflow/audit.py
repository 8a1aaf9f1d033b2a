"""Access events: every read of PHI by a person or an operator tool is recorded on
``audit.access.v1`` (who, role, record type and id, when, outcome; never the content)."""

from __future__ import annotations

import uuid
from datetime import datetime

from claimflow.httpauth import ANONYMOUS, Principal
from claimflow.models import AccessEvent, AccessOutcome, utcnow


def access_event(principal: Principal | None, record_type: str, record_id: str, action: str, channel: str,
                 outcome: AccessOutcome, at: datetime | None = None) -> AccessEvent:
    return AccessEvent(access_id=uuid.uuid4().hex, user=principal.name if principal else ANONYMOUS,
                       role=principal.role if principal else ANONYMOUS, record_type=record_type, record_id=record_id,
                       action=action, channel=channel, at=at or utcnow(), outcome=outcome.value)
