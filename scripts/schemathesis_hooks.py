"""A schemathesis check for Redress (scripts/schemathesis.sh loads it with SCHEMATHESIS_HOOKS).

`positive_data_acceptance` fails on any 4xx but 401/403/404/409 for a request the document calls
valid. One 4xx is right for such a request: an append whose events each match their type's schema
but break a rule of their stream (the lifecycle rules, the stream's kind, the id a stream name
carries) is 422 `invalid_event` with `rule`. The script accepts 422 from that check on the append
route only, and this check then fails any 422 there without `rule`: that is an event the document
calls valid refused for its shape, i.e. the document lies.
"""

import schemathesis


@schemathesis.check
def schema_valid_events_are_refused_only_by_rules(ctx, response, case):
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    if case.operation.path != "/streams/{stream}/events":
        return None
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "rule" not in body:
        raise AssertionError(
            "a schema-valid append was refused for its shape (422 without `rule`): "
            f"the event schemas admit what the server refuses: {response.text[:500]}"
        )
    return None
