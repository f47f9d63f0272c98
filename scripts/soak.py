#!/usr/bin/env python3
"""The load driver and the checker of scripts/soak.sh (Python 3 standard library only).

    soak.py drive --port P --work DIR --seconds N ...   mixed load until DIR/phase says "drain"
    soak.py check --port P --work DIR                   reads the whole log, checks it, prints the report

`drive` runs every client on one asyncio loop over raw sockets (the slow and junk clients need control
of every byte, which no standard-library HTTP client gives):

- publishers append real complaint lifecycles (received -> acknowledged -> cause -> offer -> accept ->
  deliver -> confirm -> close, with progress notes, apologies and apology visits, escalations, commitments,
  rejected offers, unsatisfied confirmations, revisits and reopenings) with explicit event ids and exact
  expected versions, at a steady total rate. Every 201/200 is written to acks.jsonl (stream, ids,
  versions, positions). An append that fails without a definite answer (503 `outcome: unknown`, or a
  connection lost after the request was sent) is retried with the same ids and body until it gets one;
  a refusal that says nothing was written (503 without `outcome`, connection refused) is retried too
  and must then answer 201, never 200. A few deliberate rule breaks (a stale expected version, an
  unknown solution, a second receipt, a note on a closed complaint, an event id reused with other
  content) must be refused with their 409/422 and write nothing (refused.jsonl).
- desks query open-complaints (paged, `min_position` = the newest acknowledged position),
  `/complaints/{id}`, customer history, satisfaction, repeat-issues, `/streams/{s}` and `/all`, and
  check read-your-writes: the answer's checkpoint, the complaint's history length, the customer's
  complaints, the stream's events.
- SSE subscribers (`/subscribe`) from 0, from the head, filtered by type, and one that connects,
  reads a few events and hangs up, over and over; each reconnects from its last id + 1 and checks
  order, gaps and every event id against what was acknowledged.
- unauthenticated junk (random methods and paths, wrong tokens, 100 MB Content-Lengths, garbage
  bytes, over-long request lines and headers) and slow clients (silent, partial and trickled heads,
  trickled bodies, idle keep-alives), each with the answer or the closing time it must get.
- a /health poller (transitions), a /metrics scraper, and the server's RSS, peak RSS, threads and
  descriptors from /proc every 5 s.

Every request is counted by kind, phase (normal, killed, disk_full, drain; the phase when it ended,
unless it started in a worse one) and outcome (status + error code, or the socket error).
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import urllib.parse
import uuid
from collections import Counter, defaultdict

HOST = "127.0.0.1"
READ_LIMIT = 4 * 1024 * 1024
PHASES = ("normal", "killed", "disk_full", "drain")


# --------------------------------------------------------------------------------------------- HTTP


class HttpError(Exception):
    """No answer. `sent`: the whole request may have reached the server (a write's outcome is unknown)."""

    def __init__(self, label, sent):
        super().__init__(label)
        self.label = label
        self.sent = sent


def error_label(exc):
    if isinstance(exc, asyncio.TimeoutError):
        return "timeout"
    if isinstance(exc, asyncio.IncompleteReadError) or isinstance(exc, EOFError):
        return "closed"
    if isinstance(exc, ConnectionRefusedError):
        return "refused"
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, BrokenPipeError):
        return "broken_pipe"
    if isinstance(exc, OSError):
        return f"oserror_{exc.errno}"
    return type(exc).__name__


async def read_head(reader):
    line = await reader.readline()
    if not line:
        raise EOFError("closed before the status line")
    parts = line.decode("latin-1").split(" ", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise EOFError(f"not a status line: {line[:80]!r}")
    headers = {}
    while True:
        h = await reader.readline()
        if not h:
            raise EOFError("closed in the head")
        if h in (b"\r\n", b"\n"):
            break
        name, _, value = h.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers


async def read_chunked(reader):
    body = bytearray()
    while True:
        size_line = await reader.readline()
        if not size_line:
            raise EOFError("closed in a chunked body")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        if size == 0:
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


async def read_response(reader, method):
    status, headers = await read_head(reader)
    if method == "HEAD" or status in (204, 304) or status < 200:
        return status, headers, b""
    if "content-length" in headers:
        return status, headers, await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return status, headers, await read_chunked(reader)
    return status, headers, await reader.read()


def parse_json(body):
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def outcome_label(status, answer):
    """`201`, `409 wrong_expected_version`, `503 unavailable/unknown` ..."""
    if status < 400:
        return str(status)
    code = answer.get("error") if isinstance(answer, dict) else None
    label = f"{status} {code}" if code else str(status)
    if isinstance(answer, dict) and answer.get("outcome") == "unknown":
        label += "/unknown"
    return label


class Connection:
    """One keep-alive HTTP/1.1 connection, reopened after any failure."""

    def __init__(self, port):
        self.port = port
        self.reader = self.writer = None

    def close(self):
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, method, path, headers=None, body=b"", timeout=30.0):
        """One request. A GET on a kept connection that the server had closed (idle, or a server since
        killed) is sent again once on a new one, as HTTP clients do; a POST is not (its caller decides)."""
        reused = self.writer is not None
        try:
            return await self._request(method, path, headers, body, timeout)
        except HttpError as error:
            if not (reused and method == "GET" and error.label in ("closed", "reset", "broken_pipe")):
                raise
        return await self._request(method, path, headers, body, timeout)

    async def _request(self, method, path, headers, body, timeout):
        if self.writer is None:
            try:
                self.reader, self.writer = await asyncio.wait_for(
                    asyncio.open_connection(HOST, self.port, limit=READ_LIMIT), 5)
            except (OSError, asyncio.TimeoutError) as exc:
                self.close()
                raise HttpError(error_label(exc), False) from None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        sent = False
        try:
            self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            sent = True
            await asyncio.wait_for(self.writer.drain(), timeout)
            status, response_headers, payload = await asyncio.wait_for(read_response(self.reader, method), timeout)
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as exc:
            self.close()
            raise HttpError(error_label(exc), sent) from None
        if response_headers.get("connection", "").lower() == "close":
            self.close()
        return status, response_headers, payload


# ---------------------------------------------------------------------------------------- the run


def now():
    return time.monotonic()


class Run:
    """Everything the clients share: control, counters, what was acknowledged, integrity findings."""

    def __init__(self, args):
        self.args = args
        self.port = args.port
        self.work = args.work
        self.started = now()
        self.phase = "normal"
        self.pid = None
        self.draining = False
        self.stopping = False  # SSE, slow and junk clients end
        self.counts = Counter()  # (kind, phase, outcome)
        self.latency = defaultdict(list)  # kind -> ms, normal phase, definite answers
        self.problems = defaultdict(list)  # integrity finding -> examples
        self.problem_counts = Counter()
        self.notes = Counter()  # things worth reporting that are not failures
        self.acked_events = 0
        self.acked_appends = 0
        self.acked_max_position = None
        self.ack_by_position = {}  # position -> event id, of acknowledged events
        self.complaints = []  # every Complaint ever opened (acknowledged receipt)
        self.closed = []
        self.customer_complaints = defaultdict(list)  # customer -> [(complaint_id, position of receipt)]
        self.unknown = Counter()  # (phase, outcome) of answers that left the outcome unknown
        self.unknown_appends = 0  # appends that had at least one unknown outcome
        self.unknown_resolved = Counter()  # how they ended: "200" (had been written) / "201"
        self.refused_then = Counter()  # appends refused with "nothing written", then: "201" / "200"
        self.pending = set()  # attempts waiting for a definite answer
        self.health_transitions = []
        self.health_state = None
        self.rss = []  # (t, pid, rss kB, hwm kB, threads, fds)
        self.metrics = []  # (t, series count, selected values)
        self.sse = {}
        self.slow = defaultdict(list)  # kind -> [(phase, seconds, outcome)]
        self.junk = Counter()  # (case, phase, outcome)
        self.junk_unexpected = Counter()
        self.rebuild = None
        acks_path = os.path.join(self.work, "acks.jsonl")
        self.acks_file = open(acks_path, "w", encoding="utf-8")
        self.refused_file = open(os.path.join(self.work, "refused.jsonl"), "w", encoding="utf-8")
        tokens = args.tokens.split(",")
        self.token = dict(t.split("=", 1) for t in tokens)

    def t(self):
        return round(now() - self.started, 3)

    def settle(self, start_phase):
        """The phase a request is counted in: where it ended, unless it started in a worse one."""
        return self.phase if self.phase != "normal" else start_phase

    def count(self, kind, phase, outcome, ms=None):
        self.counts[(kind, phase, outcome)] += 1
        if ms is not None and phase == "normal" and not outcome.startswith(("5", "timeout", "closed", "reset")):
            self.latency[kind].append(ms)

    def problem(self, name, example):
        self.problem_counts[name] += 1
        if len(self.problems[name]) < 10:
            self.problems[name].append(example)
            print(f"soak.py: PROBLEM {name}: {example}", file=sys.stderr, flush=True)

    def auth(self, role):
        return {"Authorization": f"Bearer {self.token[role]}"}

    async def pace(self, interval, next_at):
        """Sleeps until next_at (+ interval afterwards); a schedule that fell behind by a second restarts."""
        delay = next_at - now()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -1.0:
            next_at = now()
        return next_at + interval


async def watch_control(run):
    """Follows the phase and the server's pid that soak.sh writes."""
    phase_path = os.path.join(run.work, "phase")
    pid_path = os.path.join(run.work, "server.pid")
    while True:
        try:
            with open(phase_path) as f:
                phase = f.read().strip() or run.phase
            with open(pid_path) as f:
                text = f.read().strip()
                run.pid = int(text) if text else None
        except (OSError, ValueError):
            phase = run.phase
        if phase != run.phase:
            print(f"soak.py: t={run.t()} phase {run.phase} -> {phase}", file=sys.stderr, flush=True)
            run.phase = phase
            if phase == "drain":
                run.draining = True
        await asyncio.sleep(0.05)


async def write_status(run):
    """driver-status.json, for soak.sh: what is still waiting for a definite answer."""
    path = os.path.join(run.work, "driver-status.json")
    while True:
        status = {"t": run.t(), "phase": run.phase, "pending": len(run.pending),
                  "pending_unknown": sum(1 for a in run.pending if a.unknown_tries),
                  "acked_appends": run.acked_appends, "acked_events": run.acked_events,
                  "acked_max_position": run.acked_max_position, "problems": sum(run.problem_counts.values())}
        with open(path + ".tmp", "w") as f:
            json.dump(status, f)
        os.replace(path + ".tmp", path)
        await asyncio.sleep(0.5)


# ------------------------------------------------------------------------------------ publishers

CATEGORIES = ["delivery", "billing", "product_quality", "installation", "repair", "service_attitude"]
DEPARTMENTS = ["logistics", "finance", "quality", "field_service", "repair_center", "customer_service"]
ROOT_CAUSES = ["courier_damage", "invoice_error", "faulty_batch", "late_engineer", "wrong_part", "rude_agent"]
CHANNELS = ["hotline", "email", "web", "letter", "in_person", "survey", "social", "other"]
SEVERITIES = ["low", "normal", "normal", "normal", "high", "critical"]


def event(event_type, data, rng, actor="soak-agent"):
    return {"event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "event_type": event_type,
            "metadata": {"actor": actor, "source": "soak"}, "data": data}


def lifecycle_plan(rng, complaint_id, customer):
    """A complaint's appends (each a list of events), following EVENTS.md's rules; 30% are left open.
    Only the v1 catalogue: this build refuses v1.1's complaint_assigned, waiting_on_customer and
    customer_responded as unknown types, and v1.1's commitment_made.solution_id and
    resolution_confirmed.via as unknown fields."""
    ev = lambda t, d: event(t, d, rng)  # noqa: E731
    category = rng.choice(CATEGORIES)
    plan = [[ev("complaint_received", {
        "complaint_id": complaint_id, "customer_id": customer, "channel": rng.choice(CHANNELS),
        "category": category, "severity": rng.choice(SEVERITIES),
        "description": f"soak complaint {complaint_id}: {category} problem, the customer calls again",
        "product": rng.choice(["laptop", "printer", "monitor", "server", "router"]),
        "customer_tier": rng.choice(["standard", "standard", "key"])})]]
    plan.append([ev("complaint_acknowledged", {"via": rng.choice(["phone", "email", "sms"]),
                                               "message": "We are sorry, we are on it."})])
    if rng.random() < 0.3:
        plan.append([ev("progress_updated", {"note": "looking into it", "customer_informed": rng.random() < 0.5})])
    if rng.random() < 0.2:
        plan.append([ev("apology_sent", {"via": "email", "message": "Our apologies for the trouble."})])
    if rng.random() < 0.1:
        plan.append([ev("apology_visit_made", {"visitor": "regional manager", "gift": "voucher"})])
    i = rng.randrange(len(ROOT_CAUSES))
    plan.append([ev("cause_analyzed", {"root_cause": ROOT_CAUSES[i], "responsible_department": DEPARTMENTS[i],
                                       "founded": True})])
    offers = [ev("solution_offered", {"solution_id": "S1", "description": "replace the unit"})]
    two = rng.random() < 0.5
    if two:
        offers.append(ev("solution_offered", {"solution_id": "S2", "description": "refund half"}))
    plan.append(offers)
    if rng.random() < 0.3:
        due = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3 * 86400))
        plan.append([ev("commitment_made", {"what": "new unit on site", "due_at": due})])
    if rng.random() < 0.1:
        plan.append([ev("escalated", {"to": "supervisor", "reason": "customer asked"})])
    if two and rng.random() < 0.5:
        plan.append([ev("solution_rejected", {"solution_id": "S2", "reason": "customer prefers a replacement"})])
    plan.append([ev("solution_accepted", {"solution_id": "S1"})])
    plan.append([ev("solution_delivered", {"solution_id": "S1", "note": "delivered"})])
    if rng.random() < 0.1:
        plan.append([ev("resolution_confirmed", {"satisfied": False, "comment": "still broken"})])
        plan.append([ev("solution_offered", {"solution_id": "S3", "description": "send an engineer"})])
        plan.append([ev("solution_accepted", {"solution_id": "S3"})])
        plan.append([ev("solution_delivered", {"solution_id": "S3", "note": "engineer fixed it"})])
    plan.append([ev("resolution_confirmed", {"satisfied": True, "comment": "works now"})])
    plan.append([ev("complaint_closed", {"outcome": "resolved"})])
    if rng.random() < 0.3:
        plan.append([ev("revisit_done", {"via": "phone", "satisfaction": rng.randint(3, 5), "issue_persists": False})])
    if rng.random() < 0.05:
        plan.append([ev("complaint_reopened", {"reason": "it broke again"})])
        plan.append([ev("solution_offered", {"solution_id": "S4", "description": "a new unit"}),
                     ev("solution_accepted", {"solution_id": "S4"})])
        plan.append([ev("solution_delivered", {"solution_id": "S4", "note": "swapped"})])
        plan.append([ev("resolution_confirmed", {"satisfied": True})])
        plan.append([ev("complaint_closed", {"outcome": "replaced"})])
    if rng.random() < 0.3:
        plan = plan[:rng.randrange(1, len(plan))]  # left open
    return plan


class Complaint:
    def __init__(self, number, customer, rng):
        self.id = f"SOAK-{number}"
        self.stream = f"complaint-{self.id}"
        self.customer = customer
        self.plan = lifecycle_plan(rng, self.id, customer)
        self.step = 0
        self.version = None  # the stream's last version; None: no stream yet
        self.acks = []  # (version, position, event id)
        self.busy = False  # an attempt is waiting for a definite answer
        self.closed = False


class Attempt:
    """One append and its tries; the body (and so its ids) never changes between tries."""

    def __init__(self, complaint, events, expected, expect=None, why="step"):
        self.complaint = complaint
        self.ids = [e["event_id"] for e in events]
        self.events = events
        self.expected = expected
        self.body = json.dumps({"expected_version": expected, "events": events}).encode()
        self.expect = expect  # for a deliberate rule break: the refusal statuses it must get
        self.why = why
        self.unknown_tries = 0
        self.nothing_written_tries = 0
        self.tries = 0
        self.last_try = 0.0
        self.publisher = None


async def publisher(run, index):
    args = run.args
    rng = random.Random(args.seed * 1009 + index)
    conn = Connection(run.port)
    headers = dict(run.auth("publisher"), **{"Content-Type": "application/json"})
    interval = args.publishers / args.rate
    active = []
    next_at = now() + rng.random() * interval
    number = index

    async def send(attempt):
        c = attempt.complaint
        attempt.tries += 1
        attempt.last_try = now()
        start_phase, t0 = run.phase, now()
        try:
            status, _, payload = await conn.request("POST", f"/streams/{c.stream}/events", headers, attempt.body)
        except HttpError as exc:
            phase = run.settle(start_phase)
            run.count("append", phase, exc.label)
            if exc.sent:
                attempt.unknown_tries += 1
                run.unknown[(phase, exc.label)] += 1
            else:
                attempt.nothing_written_tries += 1
            run.pending.add(attempt)
            return
        phase = run.settle(start_phase)
        answer = parse_json(payload)
        label = outcome_label(status, answer)
        run.count("append" if attempt.expect is None else "rule_break", phase, label, (now() - t0) * 1000)
        if status in (200, 201):
            run.pending.discard(attempt)
            acknowledged(attempt, status, answer, phase)
        elif status == 503 or status >= 500 or status == 408:
            if isinstance(answer, dict) and answer.get("outcome") == "unknown":
                attempt.unknown_tries += 1
                run.unknown[(phase, label)] += 1
            elif status == 503:
                attempt.nothing_written_tries += 1
            else:
                attempt.unknown_tries += 1
                run.unknown[(phase, label)] += 1
                run.problem("unexpected_status_on_append", f"{c.stream} {label} {payload[:200]!r}")
            run.pending.add(attempt)
        else:
            run.pending.discard(attempt)
            c.busy = False
            if attempt.expect is not None and status in attempt.expect:
                run.refused_file.write(json.dumps({"stream": c.stream, "ids": attempt.ids, "why": attempt.why,
                                                   "status": status}) + "\n")
                return
            if attempt.unknown_tries:
                run.problem("retry_of_unknown_outcome_not_200_or_201",
                            f"{c.stream} {attempt.ids} tries={attempt.tries} answered {label}: {payload[:300]!r}")
            elif attempt.expect is not None:
                run.problem("rule_break_got_another_refusal",
                            f"{attempt.why} on {c.stream}: expected {attempt.expect}, got {label}: {payload[:300]!r}")
            else:
                run.problem("lifecycle_step_refused",
                            f"{c.stream} step {c.step} {[e['event_type'] for e in attempt.events]} "
                            f"expected_version={attempt.expected}: {label} {payload[:300]!r}")
            if attempt.expect is None:
                run.refused_file.write(json.dumps({"stream": c.stream, "ids": attempt.ids, "why": "unexpected",
                                                   "status": status}) + "\n")
                if c in active:
                    active.remove(c)  # the model and the server disagree: leave this complaint alone

    def acknowledged(attempt, status, answer, phase):
        c = attempt.complaint
        c.busy = False
        if attempt.unknown_tries:
            run.unknown_resolved[str(status)] += 1
        if attempt.nothing_written_tries and not attempt.unknown_tries:
            run.refused_then[str(status)] += 1
            if status == 200:
                run.problem("refusal_said_nothing_written_but_it_was",
                            f"{c.stream} {attempt.ids}: a 503 without outcome (or refused connection), then 200")
        if attempt.expect is not None:
            run.problem("rule_break_was_written", f"{attempt.why} on {c.stream} answered {status}: {answer}")
        try:
            first_v, last_v = answer["first_version"], answer["last_version"]
            first_p, last_p = answer["first_position"], answer["last_position"]
        except (TypeError, KeyError):
            run.problem("acknowledgement_without_positions", f"{c.stream} {status} {answer}")
            return
        n = len(attempt.ids)
        if last_p - first_p != n - 1 or last_v - first_v != n - 1:
            run.problem("acknowledged_range_does_not_match_the_append", f"{c.stream} {n} events: {answer}")
        if isinstance(attempt.expected, int) and first_v != attempt.expected + 1:
            run.problem("acknowledged_version_not_after_expected", f"{c.stream} expected {attempt.expected}: {answer}")
        if attempt.expected == "no_stream" and first_v != 0:
            run.problem("acknowledged_version_not_after_expected", f"{c.stream} no_stream: {answer}")
        run.acks_file.write(json.dumps({"stream": c.stream, "ids": attempt.ids, "first_version": first_v,
                                        "first_position": first_p, "status": status, "phase": phase,
                                        "t": run.t(), "tries": attempt.tries,
                                        "unknown_tries": attempt.unknown_tries}) + "\n")
        for k, event_id in enumerate(attempt.ids):
            position = first_p + k
            previous = run.ack_by_position.get(position)
            if previous is not None and previous != event_id:
                run.problem("two_acknowledgements_for_one_position", f"{position}: {previous} and {event_id}")
            run.ack_by_position[position] = event_id
            c.acks.append((first_v + k, position, event_id))
        run.acked_appends += 1
        run.acked_events += n
        run.acked_max_position = max(run.acked_max_position or 0, last_p)
        if attempt.why == "step":
            if c.version is None:
                run.complaints.append(c)
                run.customer_complaints[c.customer].append((c.id, first_p))
            c.version = last_v
            c.step += 1
            if c.step == len(c.plan):
                if c in active:
                    active.remove(c)
                if c.plan[-1][0]["event_type"] in ("complaint_closed", "revisit_done"):
                    c.closed = True
                    run.closed.append(c)

    def rule_break(c):
        """An append the store must refuse, writing nothing."""
        ev = lambda t, d: event(t, d, rng)  # noqa: E731
        choice = rng.randrange(5)
        if choice == 0:
            return Attempt(c, [ev("progress_updated", {"note": "stale", "customer_informed": False})],
                           max(0, c.version - 1) if c.version else "no_stream", {409}, "stale_expected_version")
        if choice == 1:
            return Attempt(c, [ev("solution_accepted", {"solution_id": "NEVER-OFFERED"})], c.version, {422},
                           "unknown_solution")
        if choice == 2:
            first = c.plan[0][0]
            return Attempt(c, [ev("complaint_received", first["data"])], c.version, {422}, "second_receipt")
        if choice == 3 and run.closed:
            closed = rng.choice(run.closed)
            if not closed.busy and closed.version is not None:
                return Attempt(closed, [ev("progress_updated", {"note": "after close", "customer_informed": True})],
                               closed.version, {422}, "note_on_closed_complaint")
        if c.acks:
            # The id of an acknowledged event with other content.
            _, _, reused = rng.choice(c.acks)
            e = ev("progress_updated", {"note": "reused id", "customer_informed": False})
            e["event_id"] = reused
            return Attempt(c, [e], "any", {409}, "event_id_reused_with_other_content")
        return None

    while True:
        next_at = await run.pace(interval, next_at)
        mine = [a for a in run.pending if a.publisher == index]
        due = [a for a in mine if now() - a.last_try >= args.retry_seconds]
        if due:
            await send(min(due, key=lambda a: a.last_try))
            continue
        if run.draining:
            if not mine:
                break
            continue
        if len(active) < args.active_complaints:
            number += args.publishers
            active.append(Complaint(number, f"K-soak-{rng.randrange(args.customers)}", rng))
        idle = [c for c in active if not c.busy]
        if not idle:
            continue
        c = rng.choice(idle)
        attempt = None
        if c.version is not None and rng.random() < args.rule_break_rate:
            attempt = rule_break(c)
        if attempt is None:
            expected = "no_stream" if c.version is None else c.version
            attempt = Attempt(c, c.plan[c.step], expected)
        attempt.publisher = index
        attempt.complaint.busy = True
        await send(attempt)
    conn.close()


# ---------------------------------------------------------------------------------------- desks


async def desk(run, index):
    args = run.args
    rng = random.Random(args.seed * 2003 + index)
    conn = Connection(run.port)
    headers = run.auth("auditor")
    next_at = now()
    interval = args.desks / args.query_rate

    async def get(kind, path):
        start_phase, t0 = run.phase, now()
        try:
            status, _, payload = await conn.request("GET", path, headers, timeout=40)
        except HttpError as exc:
            run.count(kind, run.settle(start_phase), exc.label)
            return None, None
        answer = parse_json(payload)
        run.count(kind, run.settle(start_phase), outcome_label(status, answer), (now() - t0) * 1000)
        return status, answer

    def read_your_writes(kind, status, answer, min_position):
        if status == 200 and isinstance(answer, dict) and "checkpoint" in answer:
            checkpoint = answer["checkpoint"]
            if min_position is not None and (checkpoint is None or checkpoint < min_position):
                run.problem("answer_behind_min_position", f"{kind}: checkpoint {checkpoint} < {min_position}")

    while not run.draining:
        next_at = await run.pace(interval, next_at)
        p = run.acked_max_position
        mp = f"&min_position={p}" if p is not None else ""
        roll = rng.random()
        if roll < 0.25:
            cursor, pages = None, 0
            while pages < 3:
                path = f"/projections/open-complaints?limit=50{mp}"
                if cursor:
                    path += f"&cursor={urllib.parse.quote(cursor, safe='')}"
                if rng.random() < 0.2:
                    path += "&overdue=true"
                status, answer = await get("open_complaints", path)
                read_your_writes("open-complaints", status, answer, p)
                if status != 200 or not isinstance(answer, dict):
                    break
                if len(answer.get("complaints", [])) > 50:
                    run.problem("page_longer_than_limit", f"open-complaints: {len(answer['complaints'])}")
                cursor = answer.get("next_cursor")
                pages += 1
                if not cursor:
                    break
                run.notes["open_complaints_next_pages"] += 1
        elif roll < 0.45 and run.complaints:
            c = rng.choice(run.complaints)
            if not c.acks:
                continue
            acked, position = len(c.acks), c.acks[-1][1]
            status, answer = await get("complaint", f"/complaints/{c.id}?min_position={position}")
            read_your_writes("complaint", status, answer, position)
            if status == 200 and isinstance(answer, dict):
                if answer.get("history_length", 0) < acked:
                    run.problem("complaint_missing_acknowledged_events",
                                f"{c.id}: history_length {answer.get('history_length')} < {acked} acknowledged")
            elif status == 404:
                run.problem("complaint_not_found_after_acknowledgement", f"{c.id} min_position={position}")
        elif roll < 0.6 and run.customer_complaints:
            customer = rng.choice(list(run.customer_complaints))
            known = list(run.customer_complaints[customer])
            position = max(pos for _, pos in known)
            status, answer = await get("customer_history",
                                       f"/customers/{customer}/history?limit=100&min_position={position}")
            read_your_writes("customer-history", status, answer, position)
            if status == 200 and isinstance(answer, dict):
                listed = {row.get("complaint_id") for row in answer.get("complaints", [])}
                count = answer.get("count", len(listed))
                if count < len(known) or (count <= 100 and not {i for i, _ in known} <= listed):
                    run.problem("customer_history_missing_acknowledged_complaints",
                                f"{customer}: {len(known)} acknowledged, count {count}, listed {len(listed)}")
        elif roll < 0.7:
            group = rng.choice(["department", "category", "channel"])
            status, answer = await get("satisfaction", f"/projections/satisfaction?group_by={group}{mp}")
            read_your_writes("satisfaction", status, answer, p)
        elif roll < 0.78:
            status, answer = await get("repeat_issues", f"/projections/repeat-issues?window_days=90&limit=50{mp}")
            read_your_writes("repeat-issues", status, answer, p)
        elif roll < 0.9 and run.complaints:
            c = rng.choice(run.complaints)
            acks = list(c.acks)
            status, answer = await get("stream", f"/streams/{c.stream}?from_version=0&limit=1000")
            if status == 200 and isinstance(answer, dict):
                stored = {e["version"]: (e["position"], e["event_id"]) for e in answer.get("events", [])}
                for version, position, event_id in acks:
                    if stored.get(version) != (position, event_id):
                        run.problem("stream_read_misses_acknowledged_event",
                                    f"{c.stream} v{version}: acknowledged {(position, event_id)}, "
                                    f"read {stored.get(version)}")
                        break
        elif roll < 0.97:
            start = rng.randrange((p or 0) + 1)
            status, answer = await get("all", f"/all?from_position={start}&limit=200")
            if status == 200 and isinstance(answer, dict):
                positions = [e["position"] for e in answer.get("events", [])]
                if positions and positions != list(range(start, start + len(positions))):
                    run.problem("all_page_not_contiguous", f"from {start}: {positions[:5]}...")
                for e in answer.get("events", []):
                    acked = run.ack_by_position.get(e["position"])
                    if acked is not None and acked != e["event_id"]:
                        run.problem("all_shows_another_event_at_an_acknowledged_position",
                                    f"{e['position']}: acknowledged {acked}, read {e['event_id']}")
        else:
            status, answer = await get("projections", "/projections")
            if status == 200 and isinstance(answer, dict):
                for fold in answer.get("projections", []):
                    if fold.get("state") == "failed":
                        run.problem("projection_failed", json.dumps(fold)[:300])
    conn.close()


async def rebuild_once(run):
    """One projection rebuild (admin) a fifth of the way in, while everything else goes on."""
    await asyncio.sleep(run.args.seconds * 0.2)
    if run.draining:
        return
    conn = Connection(run.port)
    start_phase = run.phase
    try:
        status, _, payload = await conn.request("POST", "/projections/open-complaints/rebuild", run.auth("admin"))
        run.rebuild = {"t": run.t(), "status": status, "answer": parse_json(payload)}
        run.count("rebuild", run.settle(start_phase), outcome_label(status, parse_json(payload)))
    except HttpError as exc:
        run.rebuild = {"t": run.t(), "error": exc.label}
        run.count("rebuild", run.settle(start_phase), exc.label)
    conn.close()


# ------------------------------------------------------------------------------------------ SSE


async def subscriber(run, name, from_head=False, event_type=None, churn=False):
    rng = random.Random(sum(name.encode()) * 7919 + run.args.seed)
    state = {"events": 0, "connections": 0, "seen": {} if not churn else None, "first": None, "next": None,
             "ended_by": Counter(), "types": event_type}
    run.sse[name] = state
    next_position = None if from_head else 0
    while not run.stopping:
        if churn:
            await asyncio.sleep(0.5)
            next_position = rng.randrange((run.acked_max_position or 0) + 1)
        query = "" if next_position is None else f"from_position={next_position}"
        if event_type:
            query += ("&" if query else "") + f"event_type={event_type}"
        start_phase = run.phase
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, run.port, limit=READ_LIMIT), 5)
        except (OSError, asyncio.TimeoutError) as exc:
            run.count("sse", run.settle(start_phase), error_label(exc))
            await asyncio.sleep(0.5)
            continue
        state["connections"] += 1
        got = 0
        try:
            writer.write((f"GET /subscribe?{query} HTTP/1.1\r\nHost: soak\r\nAccept: text/event-stream\r\n"
                          f"Authorization: Bearer {run.token['auditor']}\r\n\r\n").encode())
            status, headers = await asyncio.wait_for(read_head(reader), 10)
            if status != 200:
                body = await asyncio.wait_for(read_response_body(reader, headers), 10)
                run.count("sse", run.settle(start_phase), outcome_label(status, parse_json(body)))
                writer.close()
                await asyncio.sleep(0.5)
                continue
            run.count("sse", run.settle(start_phase), "200")
            chunked = headers.get("transfer-encoding", "").lower() == "chunked"
            async for position, envelope in sse_events(reader, chunked, lambda: run.stopping):
                got += 1
                state["events"] += 1
                if state["first"] is None:
                    state["first"] = position
                if envelope.get("position") != position:
                    run.problem("sse_id_is_not_the_position", f"{name}: id {position}, {envelope.get('position')}")
                expected = next_position
                if expected is not None and (position < expected or (not event_type and position != expected)):
                    run.problem("sse_out_of_order_or_gap", f"{name}: expected {expected}, got {position}")
                if event_type and envelope.get("event_type") not in event_type.split(","):
                    run.problem("sse_filter_leaked", f"{name}: {envelope.get('event_type')}")
                acked = run.ack_by_position.get(position)
                if acked is not None and acked != envelope.get("event_id"):
                    run.problem("sse_event_differs_from_acknowledged",
                                f"{name} {position}: acknowledged {acked}, saw {envelope.get('event_id')}")
                if state["seen"] is not None:
                    state["seen"][position] = envelope.get("event_id")
                next_position = position + 1
                state["next"] = next_position
                if churn and got >= 20:
                    break
            state["ended_by"]["server" if not churn or got < 20 else "client"] += 1
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as exc:
            state["ended_by"][error_label(exc)] += 1
            run.count("sse_drop", run.settle(start_phase), error_label(exc))
        finally:
            writer.close()
        if not churn:
            await asyncio.sleep(0.2)


async def read_response_body(reader, headers):
    if "content-length" in headers:
        return await reader.readexactly(int(headers["content-length"]))
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return await read_chunked(reader)
    return b""


async def sse_events(reader, chunked, stop):
    """(position, envelope) of each SSE event of a response body, until it ends."""
    buffer = b""
    fields = {}
    while not stop():
        if chunked:
            size_line = await asyncio.wait_for(reader.readline(), 60)
            if not size_line:
                return
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                return
            data = await asyncio.wait_for(reader.readexactly(size + 2), 60)
            buffer += data[:-2]
        else:
            data = await asyncio.wait_for(reader.read(65536), 60)
            if not data:
                return
            buffer += data
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            line = line.rstrip(b"\r").decode()
            if not line:
                if "data" in fields and "id" in fields:
                    yield int(fields["id"]), json.loads(fields["data"])
                fields = {}
            elif not line.startswith(":"):
                key, _, value = line.partition(":")
                fields[key] = value[1:] if value.startswith(" ") else value


# ----------------------------------------------------------------------------------------- junk

METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "TRACE", "BREW", "M-SEARCH", "PROPFIND"]
ROUTES = ["/streams/complaint-junk-{n}/events", "/streams/complaint-junk-{n}", "/all?limit=5", "/subscribe",
          "/complaints/C-{n}", "/customers/K-{n}/history", "/projections", "/projections/open-complaints",
          "/projections/satisfaction?group_by=x", "/projections/open-complaints/rebuild", "/audit/verify",
          "/audit/replay?as_of=2026-01-01T00:00:00Z&projection=open-complaints", "/metrics", "/health",
          "/openapi.json", "/", "/admin", "/.env", "/wp-login.php", "/../../etc/passwd", "/%00", "/streams/%ff/events",
          "/all?limit=-1", "/subscribe?from_position=abc", "/projections/%2e%2e/rebuild", "/x" * 300]
OPEN_PATHS = ("/health", "/openapi.json")


def junk_case(rng, run, n):
    """(name, raw bytes, expected statuses, bytes announced but never sent)."""
    host = f"Host: {HOST}:{run.port}\r\n"
    case = rng.randrange(11)
    if case <= 2:
        method, path = rng.choice(METHODS), rng.choice(ROUTES).format(n=n)
        body = b"" if rng.random() < 0.5 else os.urandom(rng.randrange(1, 2000))
        raw = f"{method} {path} HTTP/1.1\r\n{host}Content-Length: {len(body)}\r\n\r\n".encode() + body
        return "random_method_path", raw, {200, 400, 401, 404, 405}
    if case == 3:
        raw = (f"POST /streams/complaint-junk-{n}/events HTTP/1.1\r\n{host}Content-Type: application/json\r\n"
               f"Content-Length: 104857600\r\n\r\n").encode() + b"{" + b"x" * 4096
        return "100MB_content_length_no_token", raw, {401}
    if case == 4:
        raw = (f"POST /streams/complaint-junk-{n}/events HTTP/1.1\r\n{host}Content-Type: application/json\r\n"
               f"Authorization: Bearer {run.token['publisher']}\r\nContent-Length: 104857600\r\n\r\n").encode() \
            + b"{" + b"x" * 4096
        return "100MB_content_length_publisher", raw, {413}
    if case == 5:
        token = rng.choice(["wrong-token-0123456789abcdef", run.token["auditor"]])
        body = json.dumps({"expected_version": "any", "events": [{"event_type": "complaint_received", "data": {}}]})
        raw = (f"POST /streams/complaint-junk-{n}/events HTTP/1.1\r\n{host}Authorization: Bearer {token}\r\n"
               f"Content-Length: {len(body)}\r\n\r\n{body}").encode()
        return "wrong_or_read_only_token", raw, {401} if token.startswith("wrong") else {403}
    if case == 6:
        return "garbage_bytes", os.urandom(rng.randrange(10, 3000)) + b"\r\n\r\n", {400}
    if case == 7:
        return "request_line_over_64KiB", f"GET /all?x={'y' * 70000} HTTP/1.1\r\n{host}\r\n".encode(), {414}
    if case == 8:
        return "header_over_16KiB", f"GET /health HTTP/1.1\r\n{host}X-Junk: {'z' * 20000}\r\n\r\n".encode(), {431}
    if case == 9:
        fields = "".join(f"X-F{i}: v\r\n" for i in range(150))
        return "150_header_fields", f"GET /health HTTP/1.1\r\n{host}{fields}\r\n".encode(), {431}
    body = rng.choice(['{"events": [', '{"expected_version": "any", "events": [{"event_type": "no_such_type", '
                                         '"data": {}}]}', "\x00\x01\x02"])
    raw = (f"POST /streams/complaint-junk-{n}/events HTTP/1.1\r\n{host}Authorization: Bearer "
           f"{run.token['publisher']}\r\nContent-Length: {len(body.encode())}\r\n\r\n").encode() + body.encode()
    return "bad_json_or_unknown_type_publisher", raw, {400, 422}


async def junk(run, index):
    args = run.args
    rng = random.Random(args.seed * 3001 + index)
    interval = args.junk_clients / args.junk_rate
    next_at = now()
    n = 0
    while not run.stopping:
        next_at = await run.pace(interval, next_at)
        n += 1
        name, raw, expected = junk_case(rng, run, f"{index}-{n}")
        if name == "random_method_path" and raw.split(b" ")[1].split(b"?")[0].decode() in OPEN_PATHS:
            expected = {200, 400, 404, 405, 503}  # /health is 503 while the disk is full
        start_phase = run.phase
        outcome = None
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, run.port, limit=READ_LIMIT), 5)
        except (OSError, asyncio.TimeoutError) as exc:
            outcome = error_label(exc)
        if outcome is None:
            try:
                writer.write(raw)
                try:
                    await asyncio.wait_for(writer.drain(), 10)
                except OSError:
                    pass  # the server may answer and close before taking everything: read its answer anyway
                method = raw.split(b" ", 1)[0].decode("latin-1")
                status, _, payload = await asyncio.wait_for(read_response(reader, method), 15)
                answer = parse_json(payload)
                outcome = outcome_label(status, answer)
                if status >= 400 and method != "HEAD" and not (isinstance(answer, dict) and "error" in answer):
                    run.problem("error_without_json_body", f"{name}: {status} {payload[:100]!r}")
                if status not in expected:
                    run.junk_unexpected[(name, run.settle(start_phase), outcome)] += 1
            except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as exc:
                outcome = error_label(exc)
                if run.settle(start_phase) == "normal":
                    run.junk_unexpected[(name, "normal", outcome)] += 1
            finally:
                writer.close()
        phase = run.settle(start_phase)
        run.junk[(name, phase, outcome)] += 1
        run.count("junk", phase, outcome)


# ------------------------------------------------------------------------------------ slow clients

SLOW_KINDS = {
    # kind: (what it does, when the server must act, seconds: the header, body and idle deadlines)
    "silent": "connects and sends nothing (closed at the head deadline, 10 s)",
    "partial_head": "sends half a head, then nothing (closed 10 s after its first byte)",
    "trickled_head": "sends a head a byte a second, never ending it (closed 10 s after its first byte)",
    "trickled_body": "an authenticated append whose 400-byte body comes a byte every 0.5 s (408 at 30 s)",
    "idle_keep_alive": "one authenticated request, then idle (closed 60 s after the answer)",
}
SLOW_EXPECTED_SECONDS = {"silent": 10, "partial_head": 10, "trickled_head": 10, "trickled_body": 30,
                         "idle_keep_alive": 60}


async def slow_client(run, kind, index):
    rng = random.Random(run.args.seed * 4001 + index)
    await asyncio.sleep(rng.random() * 5)
    while not run.stopping:
        start_phase = run.phase
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, run.port, limit=READ_LIMIT), 5)
        except (OSError, asyncio.TimeoutError) as exc:
            run.count("slow", run.settle(start_phase), error_label(exc))
            await asyncio.sleep(1)
            continue
        t0 = now()
        outcome = "closed"
        answered = []

        async def read_until_closed():
            # Everything the server sends until it closes: statuses of any answers.
            buffer = b""
            while True:
                data = await reader.read(65536)
                if not data:
                    return
                buffer += data
                while b"HTTP/1.1 " in buffer:
                    _, _, rest = buffer.partition(b"HTTP/1.1 ")
                    answered.append(rest[:3].decode("latin-1"))
                    buffer = rest[3:]

        closer = asyncio.ensure_future(read_until_closed())
        try:
            if kind == "silent":
                pass
            elif kind == "partial_head":
                writer.write(b"GET /all?limit=1 HTTP/1.1\r\nHost: soak\r\nAuthorization: Bea")
            elif kind == "idle_keep_alive":
                writer.write(f"GET /projections HTTP/1.1\r\nHost: soak\r\n"
                             f"Authorization: Bearer {run.token['auditor']}\r\n\r\n".encode())
                t0 = None  # measured from the answer
            elif kind == "trickled_head":
                head = f"GET /all?limit=1 HTTP/1.1\r\nHost: soak\r\nX-Slow: {'s' * 200}\r\n".encode()

                async def trickle():
                    try:
                        for b in head:
                            writer.write(bytes([b]))
                            await writer.drain()
                            await asyncio.sleep(1)
                    except OSError:
                        pass
                trickling = asyncio.ensure_future(trickle())
            elif kind == "trickled_body":
                body = b"{" + b" " * 398 + b"}"
                writer.write((f"POST /streams/complaint-slow-{index}/events HTTP/1.1\r\nHost: soak\r\n"
                              f"Authorization: Bearer {run.token['publisher']}\r\nContent-Type: application/json\r\n"
                              f"Content-Length: {len(body)}\r\n\r\n").encode())

                async def trickle():
                    try:
                        for b in body:
                            writer.write(bytes([b]))
                            await writer.drain()
                            await asyncio.sleep(0.5)
                    except OSError:
                        pass
                trickling = asyncio.ensure_future(trickle())
            if kind == "idle_keep_alive":
                while not answered and not closer.done():
                    await asyncio.sleep(0.05)
                t0 = now()
            await asyncio.wait_for(asyncio.shield(closer), 150)
        except asyncio.TimeoutError:
            outcome = "never_closed"
        except OSError as exc:
            outcome = error_label(exc)
        finally:
            if kind in ("trickled_head", "trickled_body"):
                trickling.cancel()
            closer.cancel()
            writer.close()
        seconds = now() - (t0 or now())
        if closer.done() and not closer.cancelled() and closer.exception() is not None:
            outcome = error_label(closer.exception())
        if kind == "trickled_body":
            outcome = f"{answered[0] if answered else 'no_answer'} then {outcome}"
        phase = run.settle(start_phase)
        run.slow[kind].append((phase, round(seconds, 2), outcome))
        run.count("slow", phase, outcome)
        if phase == "normal":
            expected = SLOW_EXPECTED_SECONDS[kind]
            if outcome.endswith("never_closed") or seconds > expected + 5:
                run.problem("slow_client_held_past_its_deadline", f"{kind}: {seconds:.1f} s ({outcome})")
            if kind == "trickled_body" and not outcome.startswith("408"):
                run.problem("trickled_body_not_answered_408", f"{seconds:.1f} s: {outcome}")
        await asyncio.sleep(1)


# ------------------------------------------------------------------------------ health, metrics, RSS


async def health_monitor(run):
    conn = Connection(run.port)
    while True:
        try:
            status, _, payload = await conn.request("GET", "/health", timeout=5)
            answer = parse_json(payload) or {}
            state = "200" if status == 200 else f"{status} {str(answer.get('reason', ''))[:140]}"
        except HttpError as exc:
            state = f"down ({exc.label})"
        if state != run.health_state:
            run.health_transitions.append((run.t(), run.phase, state))
            run.health_state = state
        if run.stopping:
            break
        await asyncio.sleep(0.2)
    conn.close()


def proc_status(pid):
    fields = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        fds = len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None
    kb = lambda k: int(fields.get(k, "0 kB").split()[0])  # noqa: E731
    return {"rss_kb": kb("VmRSS"), "hwm_kb": kb("VmHWM"), "threads": int(fields.get("Threads", 0)), "fds": fds}


def tree_bytes(path):
    total = 0
    for directory, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                pass
    return total


async def sample_process(run):
    while not run.stopping:
        if run.pid:
            s = proc_status(run.pid)
            if s:
                run.rss.append((run.t(), run.pid, s["rss_kb"], s["hwm_kb"], s["threads"], s["fds"], run.phase,
                                tree_bytes(run.args.data)))
        await asyncio.sleep(5)


async def scrape_metrics(run):
    conn = Connection(run.port)
    wanted = ("redress_http_connections_open", "redress_http_connections_timed_out_total",
              "redress_http_heads_refused_total", "redress_http_requests_shed_total")
    while not run.stopping:
        try:
            status, _, payload = await conn.request("GET", "/metrics", run.auth("admin"), timeout=10)
            if status == 200:
                lines = [l for l in payload.decode().splitlines() if l and not l.startswith("#")]
                picked = {l.split(" ")[0]: l.split(" ")[-1] for l in lines if l.startswith(wanted)}
                run.metrics.append((run.t(), len(lines), picked))
            run.count("metrics", run.phase, str(status))
        except HttpError as exc:
            run.count("metrics", run.phase, exc.label)
        await asyncio.sleep(10)
    conn.close()


# --------------------------------------------------------------------------------------- drive


async def drive(args):
    run = Run(args)
    background = [asyncio.ensure_future(c) for c in (watch_control(run), write_status(run))]
    await asyncio.sleep(0.2)
    clients = [publisher(run, i) for i in range(args.publishers)]
    clients += [desk(run, i) for i in range(args.desks)]
    others = [subscriber(run, "sse_from_0"), subscriber(run, "sse_live", from_head=True),
              subscriber(run, "sse_receipts", event_type="complaint_received,complaint_closed"),
              subscriber(run, "sse_churn", churn=True)]
    others += [junk(run, i) for i in range(args.junk_clients)]
    n = 0
    for kind in SLOW_KINDS:
        for _ in range(args.slow_per_kind):
            others.append(slow_client(run, kind, n))
            n += 1
    others += [health_monitor(run), sample_process(run), scrape_metrics(run)]
    main = [asyncio.ensure_future(c) for c in clients + [rebuild_once(run)]]
    side = [asyncio.ensure_future(c) for c in others]
    # Publishers and desks end on "drain" once every append has a definite answer (or drain_seconds passed).
    while not run.draining:
        await asyncio.sleep(0.2)
    drain_started = now()
    done, not_done = await asyncio.wait(main, timeout=args.drain_seconds)
    for task in not_done:
        task.cancel()
    for task in done:
        if task.exception():
            run.problem("driver_task_failed", repr(task.exception()))
    # Subscribers that follow the whole log read up to its head.
    head = run.acked_max_position
    while head is not None and now() - drain_started < args.drain_seconds:
        behind = [s for n, s in run.sse.items() if n in ("sse_from_0", "sse_live") and (s["next"] or 0) <= (head or 0)]
        if not behind:
            break
        await asyncio.sleep(0.2)
    run.stopping = True
    await asyncio.sleep(0.5)
    for task in side:
        task.cancel()
    await asyncio.gather(*side, return_exceptions=True)
    for task in side:
        if task.cancelled():
            continue
        if task.exception():
            run.problem("driver_task_failed", repr(task.exception()))
    if run.pending:
        for a in list(run.pending)[:10]:
            run.problem("append_without_a_definite_answer",
                        f"{a.complaint.stream} {a.ids} tries={a.tries} unknown={a.unknown_tries}")
        run.problem_counts["append_without_a_definite_answer"] = len(run.pending)
    run.acks_file.close()
    run.refused_file.close()
    for name, state in run.sse.items():
        if state["seen"] is not None:
            with open(os.path.join(run.work, f"sse-{name}.json"), "w") as f:
                json.dump(sorted(state["seen"].items()), f)
            state["seen"] = len(state["seen"])
    result = {
        "seconds": round(now() - run.started, 1), "drain_seconds": round(now() - drain_started, 1),
        "counts": [[k, p, o, n] for (k, p, o), n in sorted(run.counts.items())],
        "latency_ms": {k: summary(v) for k, v in run.latency.items()},
        "acked_appends": run.acked_appends, "acked_events": run.acked_events,
        "acked_max_position": run.acked_max_position, "complaints": len(run.complaints),
        "closed_complaints": len(run.closed), "customers": len(run.customer_complaints),
        "unknown": [[p, o, n] for (p, o), n in sorted(run.unknown.items())],
        "unknown_appends_resolved": dict(run.unknown_resolved),
        "refused_then": dict(run.refused_then),
        "problems": {k: {"count": run.problem_counts[k], "examples": v} for k, v in run.problems.items()},
        "notes": dict(run.notes),
        "health_transitions": run.health_transitions,
        "rss": run.rss, "metrics": run.metrics[:1] + run.metrics[-1:], "metrics_samples": len(run.metrics),
        "metrics_series": [m[1] for m in run.metrics],
        "sse": {n: {k: (dict(v) if isinstance(v, Counter) else v) for k, v in s.items()} for n, s in run.sse.items()},
        "slow": {k: v for k, v in run.slow.items()},
        "junk": [[c, p, o, n] for (c, p, o), n in sorted(run.junk.items())],
        "junk_unexpected": [[c, p, o, n] for (c, p, o), n in sorted(run.junk_unexpected.items())],
        "rebuild": run.rebuild, "driver_cpu_seconds": round(sum(os.times()[:2]), 1),
        "args": vars(args),
    }
    with open(os.path.join(run.work, "driver.json"), "w") as f:
        json.dump(result, f, default=str)
    for task in background:
        task.cancel()
    print(f"soak.py: driver done: {run.acked_appends} appends ({run.acked_events} events) acknowledged, "
          f"{sum(run.problem_counts.values())} problems", file=sys.stderr, flush=True)


def summary(values):
    if not values:
        return None
    values = sorted(values)
    pick = lambda q: round(values[min(len(values) - 1, int(q * len(values)))], 2)  # noqa: E731
    return {"n": len(values), "p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": round(values[-1], 2)}


# ---------------------------------------------------------------------------------------- check


def http_get(port, path, token, timeout=60):
    import http.client
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    conn.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, parse_json(body)


def check(args):
    tokens = dict(t.split("=", 1) for t in args.tokens.split(","))
    token = tokens["auditor"]
    with open(os.path.join(args.work, "driver.json")) as f:
        driver = json.load(f)
    facts = {}
    with open(os.path.join(args.work, "facts")) as f:
        for line in f:
            key, _, value = line.rstrip("\n").partition("=")
            facts[key] = value
    failures = []

    # The whole log, page by page.
    log = []
    position = 0
    while True:
        status, page = http_get(args.port, f"/all?from_position={position}&limit=1000", token)
        if status != 200:
            failures.append(f"GET /all?from_position={position} answered {status}: {page}")
            break
        log.extend(page["events"])
        if page.get("next") is None:
            break
        position = page["next"]
    gaps = [i for i, e in enumerate(log) if e["position"] != i]
    if gaps:
        failures.append(f"positions are not gapless: first mismatch at index {gaps[0]} "
                        f"(position {log[gaps[0]]['position']})")
    versions = defaultdict(int)
    bad_versions = 0
    for e in log:
        if e["version"] != versions[e["stream"]]:
            bad_versions += 1
            if bad_versions <= 3:
                failures.append(f"{e['stream']}: version {e['version']} at position {e['position']}, "
                                f"expected {versions[e['stream']]}")
        versions[e["stream"]] = e["version"] + 1
    by_position = {e["position"]: e for e in log}
    by_id = {e["event_id"]: e for e in log}

    # Every acknowledged event at its acknowledged position, with its id, stream and version.
    acked = lost = moved = 0
    acked_ids = set()
    lost_examples = []
    with open(os.path.join(args.work, "acks.jsonl")) as f:
        for line in f:
            ack = json.loads(line)
            for k, event_id in enumerate(ack["ids"]):
                acked += 1
                acked_ids.add(event_id)
                e = by_position.get(ack["first_position"] + k)
                if e is None or (e["event_id"], e["stream"], e["version"]) != (
                        event_id, ack["stream"], ack["first_version"] + k):
                    lost += 1
                    if event_id in by_id:
                        moved += 1
                    if len(lost_examples) < 5:
                        lost_examples.append(f"{ack['stream']} v{ack['first_version'] + k} at "
                                             f"{ack['first_position'] + k}: {event_id} ({ack['phase']}, t={ack['t']}), "
                                             f"log has {e and (e['event_id'], e['stream'], e['version'])}")
    if lost:
        failures.append(f"{lost} acknowledged events lost ({moved} found at another position): "
                        + "; ".join(lost_examples))
    unacknowledged = [e for e in log if e["event_id"] not in acked_ids]
    if unacknowledged:
        failures.append(f"{len(unacknowledged)} events in the log were never acknowledged, e.g. "
                        + ", ".join(f"{e['stream']} v{e['version']} at {e['position']}" for e in unacknowledged[:3]))
    refused_written = 0
    with open(os.path.join(args.work, "refused.jsonl")) as f:
        for line in f:
            refusal = json.loads(line)
            for event_id in refusal["ids"]:
                e = by_id.get(event_id)
                if e is not None and e["stream"] == refusal["stream"] and (
                        refusal["why"] != "event_id_reused_with_other_content"):
                    refused_written += 1
    if refused_written:
        failures.append(f"{refused_written} events of refused appends are in the log")
    junk_streams = sorted({e["stream"] for e in log if e["stream"].startswith(("complaint-junk-", "complaint-slow-"))})
    if junk_streams:
        failures.append(f"junk or slow clients wrote events: {junk_streams[:5]}")

    # What the SSE subscribers saw is the log.
    sse_lines = []
    for name, state in driver["sse"].items():
        path = os.path.join(args.work, f"sse-{name}.json")
        if not os.path.exists(path):
            sse_lines.append(f"{name}: {state['events']} events over {state['connections']} connections "
                             f"(checked against acknowledgements as they came)")
            continue
        with open(path) as f:
            seen = json.load(f)
        differ = [(p, i) for p, i in seen if by_position.get(int(p), {}).get("event_id") != i]
        if differ:
            failures.append(f"SSE {name} saw {len(differ)} events that are not in the log as seen, "
                            f"e.g. {differ[:3]}")
        if name == "sse_from_0" and len(seen) != len(log):
            failures.append(f"SSE {name} saw {len(seen)} distinct positions of {len(log)}")
        sse_lines.append(f"{name}: {state['events']} events ({len(seen)} distinct positions, "
                         f"{state['first']}..{(state['next'] or 1) - 1}) over {state['connections']} connections; "
                         f"{len(differ)} differ from the log")

    status, verify = http_get(args.port, "/audit/verify", token, timeout=300)
    try:
        with open(os.path.join(args.work, "server.pid")) as f:
            checked = proc_status(int(f.read().strip()))
        if checked:
            facts["rss_checked_kb"], facts["hwm_checked_kb"] = checked["rss_kb"], checked["hwm_kb"]
    except (OSError, ValueError):
        pass
    if status != 200 or not verify or not verify.get("ok"):
        failures.append(f"/audit/verify: {status} {verify}")
    elif verify.get("head_position") != (len(log) - 1 if log else None):
        failures.append(f"/audit/verify head {verify.get('head_position')} but the log has {len(log)} events")

    for name, problem in driver["problems"].items():
        failures.append(f"driver: {name} x{problem['count']}: {problem['examples'][:2]}")
    if facts.get("failures"):
        failures.extend(f for f in facts["failures"].split(" | ") if f)

    report(driver, facts, log, versions, bad_versions, acked, lost, unacknowledged, sse_lines, verify, failures)
    return 1 if failures else 0


def kb_to_mib(kb):
    try:
        return f"{int(kb) / 1024:.0f} MiB"
    except (TypeError, ValueError):
        return "?"


def report(driver, facts, log, versions, bad_versions, acked, lost, unacknowledged, sse_lines, verify, failures):
    out = []
    say = out.append
    seconds = float(facts.get("seconds_total", driver["seconds"]))
    say(f"Redress soak report ({facts.get('commit', '?')}, {facts.get('started_at', '')})")
    say(f"  duration           {seconds:.0f} s of load (SOAK_SECONDS={driver['args']['seconds']}), "
        f"seed {driver['args']['seed']}")
    say(f"  machine            {facts.get('cpus')} cores; load averages at start {facts.get('load_start')}, "
        f"at SIGKILL {facts.get('load_kill')}, at disk full {facts.get('load_full')}, at end {facts.get('load_end')}")
    say(f"  data dir           tmpfs {facts.get('tmpfs_mb')} MiB; --disk-reserve-bytes {facts.get('reserve')}; "
        f"used at end {facts.get('data_bytes_end', '?')} bytes")
    say(f"  load               {driver['args']['publishers']} publishers at {driver['args']['rate']} appends/s, "
        f"{driver['args']['desks']} desks at {driver['args']['query_rate']} queries/s, 4 SSE clients, "
        f"{driver['args']['junk_clients']} junk clients at {driver['args']['junk_rate']}/s, "
        f"{driver['args']['slow_per_kind'] * len(SLOW_KINDS)} slow clients")
    say("")
    say(f"ACKNOWLEDGED         {driver['acked_appends']} appends, {acked} events "
        f"({driver['complaints']} complaints, {driver['closed_complaints']} closed, {driver['customers']} customers)")
    say(f"LOST                 {lost}")
    say(f"log after restart    {len(log)} events, positions 0..{len(log) - 1} "
        f"{'gapless' if all(e['position'] == i for i, e in enumerate(log)) else 'WITH GAPS'}, "
        f"{len(versions)} streams, versions gapless: "
        f"{'yes' if not bad_versions else f'NO ({bad_versions} out of order)'}; "
        f"{len(unacknowledged)} events never acknowledged")
    say(f"chain                redress verify (offline, after SIGTERM): {facts.get('verify_offline', '?')}")
    say(f"                     /audit/verify (after restart): ok={verify.get('ok') if verify else None}, "
        f"head {verify.get('head_position') if verify else None}")
    say("")
    say("server memory (from /proc/<pid>/status)")
    say(f"  first process      RSS {kb_to_mib(facts.get('rss_start_kb'))} at start, "
        f"{kb_to_mib(facts.get('rss_before_kill_kb', 0))} just before SIGKILL (peak VmHWM "
        f"{kb_to_mib(facts.get('hwm_before_kill_kb', 0))})")
    say(f"  after the restart  RSS {kb_to_mib(facts.get('rss_restart_kb', 0))} at restart, "
        f"{kb_to_mib(facts.get('rss_end_kb'))} at the end (peak VmHWM {kb_to_mib(facts.get('hwm_end_kb'))}); "
        f"threads {facts.get('threads_end')}, descriptors {facts.get('fds_end')}")
    samples = driver["rss"]
    if samples:
        step = max(1, len(samples) // 12)
        say("  RSS over time      " + ", ".join(f"{s[0]:.0f}s {s[2] / 1024:.0f}" for s in samples[::step])
            + " (MiB)")
        say("  threads/fds        " + ", ".join(f"{s[0]:.0f}s {s[4]}/{s[5]}" for s in samples[::step]))
        say("  data directory     " + ", ".join(f"{s[0]:.0f}s {s[7] / 2**20:.0f}" for s in samples[::step]) + " (MiB)")
    fresh = facts.get("rss_checked_kb")
    if fresh:
        say(f"  a fresh process    RSS {kb_to_mib(fresh)} after restarting on the same data and reading the whole log "
            f"for the checks (peak VmHWM {kb_to_mib(facts.get('hwm_checked_kb'))})")
    say("")
    say("episodes")
    say(f"  SIGKILL            at {facts.get('kill_at')} s; down {facts.get('down_seconds')} s; restarted and "
        f"healthy {facts.get('restart_seconds')} s after the restart began")
    say(f"  disk full          at {facts.get('full_at')} s: filler {facts.get('filler_bytes')} bytes, "
        f"{facts.get('free_after_fill')} bytes left free; /health {facts.get('full_health')}")
    say(f"                     held {facts.get('full_hold_seconds')} s; filler removed; /health 200 again "
        f"after {facts.get('heal_seconds')} s without a restart; "
        f"unknown outcomes resolved {facts.get('unknown_resolved_seconds')} s after that")
    unknown = driver["unknown"]
    say(f"  outcome unknown    {sum(n for _, _, n in unknown)} answers "
        + (", ".join(f"{o} x{n} ({p})" for p, o, n in unknown) if unknown else "(none)")
        + f"; appends retried to a definite answer: {driver['unknown_appends_resolved'] or '{}'} "
          f"(200 = it had been written, 201 = it had not)")
    say(f"  'nothing written'  refusals later retried: {driver['refused_then'] or '{}'} (must all be 201)")
    say(f"  SIGTERM at the end {facts.get('sigterm')}")
    say(f"  restart for checks {facts.get('final_restart')}")
    if driver.get("rebuild"):
        say(f"  projection rebuild {driver['rebuild']}")
    say("")
    say("health transitions (t s, phase, /health)")
    for t, phase, state in driver["health_transitions"]:
        say(f"  {t:8.1f}  {phase:9}  {state}")
    say("")
    say("answers by kind, phase and outcome")
    table = defaultdict(Counter)
    for kind, phase, outcome, n in driver["counts"]:
        table[(kind, phase)][outcome] += n
    for (kind, phase), outcomes in sorted(table.items(), key=lambda kv: (kv[0][0], PHASES.index(kv[0][1])
                                                                           if kv[0][1] in PHASES else 9)):
        say(f"  {kind:16} {phase:9} " + ", ".join(f"{o}: {n}" for o, n in outcomes.most_common()))
    # Clients that expect success (appends, queries, SSE, metrics) apart from those that ask for refusals.
    refusing = ("junk", "rule_break", "slow")
    errors = {True: Counter(), False: Counter()}
    for kind, phase, outcome, n in driver["counts"]:
        if not outcome.startswith("2"):
            status = outcome.split(" ")[0].split("/")[0]
            if outcome.endswith("/unknown"):
                status += " (outcome unknown)"
            errors[kind in refusing][(phase, status)] += n
    for asked, title in ((False, "errors by phase and status: appends, queries, SSE, metrics (each expects success)"),
                         (True, "refusals asked for: junk, deliberate rule breaks, slow clients "
                                "(closed = by the server)")):
        say(title)
        for phase in PHASES:
            row = {o: n for (p, o), n in errors[asked].items() if p == phase}
            say(f"  {phase:9} " + (", ".join(f"{o}: {n}" for o, n in sorted(row.items())) or "none"))
    full_appends = Counter()
    for kind, phase, outcome, n in driver["counts"]:
        if kind in ("append", "rule_break") and phase == "disk_full":
            full_appends[outcome] += n
    say(f"appends while the disk was full: {dict(full_appends.most_common())}; 'outcome: unknown' "
        f"{'appeared' if any(o.endswith('/unknown') for o in full_appends) else 'did not appear'}")
    say("")
    say("latency, normal phase, definite answers (ms)")
    for kind, s in sorted(driver["latency_ms"].items()):
        if s:
            say(f"  {kind:16} n={s['n']} p50 {s['p50']} p90 {s['p90']} p99 {s['p99']} max {s['max']}")
    say("")
    say("SSE")
    for line in sse_lines:
        say(f"  {line}")
    say("slow clients (normal phase): seconds until the server closed them")
    for kind, rows in sorted(driver["slow"].items()):
        normal = [r for r in rows if r[0] == "normal"]
        secs = sorted(r[1] for r in normal)
        outcomes = Counter(r[2] for r in normal)
        if secs:
            say(f"  {kind:16} n={len(secs)} min {secs[0]} median {statistics.median(secs)} max {secs[-1]} "
                f"(deadline {SLOW_EXPECTED_SECONDS[kind]} s); {dict(outcomes)}")
    say("junk: outcomes outside the expected set")
    if driver["junk_unexpected"]:
        for c, p, o, n in driver["junk_unexpected"]:
            say(f"  {c} ({p}): {o} x{n}")
    else:
        say("  none")
    if driver["metrics"]:
        last = driver["metrics"][-1]
        say(f"metrics              series {min(driver['metrics_series'])}..{max(driver['metrics_series'])} "
            f"over {driver['metrics_samples']} scrapes; at the end {last[2]}")
    say(f"driver CPU           {driver['driver_cpu_seconds']} s; server CPU {facts.get('server_cpu')}")
    say("")
    if failures:
        say(f"SOAK FAILED ({len(failures)}):")
        for f in failures:
            say(f"  - {f}")
    else:
        say("SOAK PASSED: zero acknowledged events lost, chain intact, positions and versions gapless, "
            "health back to 200 without a restart, both restarts healthy")
    print("\n".join(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("drive", "check"):
        p = sub.add_parser(name)
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--work", required=True)
        p.add_argument("--tokens", required=True, help="admin=..,publisher=..,auditor=..")
    d = sub.choices["drive"]
    d.add_argument("--seconds", type=float, required=True)
    d.add_argument("--data", required=True, help="the server's data directory (its size is sampled)")
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--rate", type=float, default=60.0, help="appends per second, all publishers")
    d.add_argument("--publishers", type=int, default=6)
    d.add_argument("--active-complaints", type=int, default=25, help="open lifecycles per publisher")
    d.add_argument("--customers", type=int, default=400)
    d.add_argument("--rule-break-rate", type=float, default=0.02)
    d.add_argument("--retry-seconds", type=float, default=1.0)
    d.add_argument("--desks", type=int, default=3)
    d.add_argument("--query-rate", type=float, default=15.0)
    d.add_argument("--junk-clients", type=int, default=2)
    d.add_argument("--junk-rate", type=float, default=8.0)
    d.add_argument("--slow-per-kind", type=int, default=4)
    d.add_argument("--drain-seconds", type=float, default=90.0)
    args = parser.parse_args()
    if args.command == "drive":
        asyncio.run(drive(args))
        return 0
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
