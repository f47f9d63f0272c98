#!/usr/bin/env python3
"""Validates Redress's OpenAPI document and checks that it lists every route the server has.

    python3 scripts/validate_openapi.py [DOCUMENT] [--routes adapters/src/http/openapi.rs] [--redress BIN]

DOCUMENT is a JSON file, or `-` for standard input; without it the document is taken from `BIN openapi`
(default target/debug/redress). The document must be OpenAPI 3.1 (what utoipa 5 emits) and pass
openapi-spec-validator's 3.1 validator (`pip install openapi-spec-validator`). Every (method, path) of
`ROUTES` in adapters/src/http/openapi.rs must be an operation of the document with at least one response,
and the document must have no operation that ROUTES lacks. Exit 0 when all holds, 1 otherwise (every
problem is printed), 2 on bad usage or a missing dependency.
"""

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HTTP_METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


def fail(message, code=1):
    print(f"validate_openapi: FAILED: {message}", file=sys.stderr)
    sys.exit(code)


def load_document(source, redress):
    if source == "-":
        text, origin = sys.stdin.read(), "standard input"
    elif source:
        text, origin = Path(source).read_text(encoding="utf-8"), source
    else:
        try:
            run = subprocess.run([redress, "openapi"], capture_output=True, text=True, check=False)
        except FileNotFoundError:
            fail(f"{redress} not found: build it first (cargo build) or pass the document", 2)
        if run.returncode != 0:
            fail(f"`{redress} openapi` exited {run.returncode}: {run.stderr.strip()}")
        text, origin = run.stdout, f"`{redress} openapi`"
    try:
        return json.loads(text), origin
    except json.JSONDecodeError as e:
        fail(f"{origin} is not JSON: {e}")


def routes_from(path):
    """The (method, path) pairs of `pub const ROUTES` in openapi.rs."""
    source = Path(path).read_text(encoding="utf-8")
    block = re.search(r"pub const ROUTES:[^=]*=\s*&\[(.*?)\];", source, re.S)
    if not block:
        fail(f"no `pub const ROUTES` in {path}")
    routes = re.findall(r'\(\s*"([a-z]+)"\s*,\s*"([^"]+)"\s*\)', block.group(1))
    if not routes:
        fail(f"ROUTES in {path} lists no (method, path) pair")
    return routes


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("document", nargs="?", help="the OpenAPI JSON file, or - for stdin")
    parser.add_argument("--routes", default=str(ROOT / "adapters/src/http/openapi.rs"))
    parser.add_argument("--redress", default=str(ROOT / "target/debug/redress"))
    args = parser.parse_args()

    try:
        from openapi_spec_validator import OpenAPIV31SpecValidator
    except ImportError:
        fail("openapi-spec-validator is not installed: pip install openapi-spec-validator", 2)

    document, origin = load_document(args.document, args.redress)
    problems = []
    version = document.get("openapi") if isinstance(document, dict) else None
    if not (isinstance(version, str) and version.startswith("3.1.")):
        fail(f"{origin}: expected an OpenAPI 3.1 document, found openapi = {version!r}")

    for error in OpenAPIV31SpecValidator(document).iter_errors():
        pointer = "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in error.absolute_path)
        problems.append(f"schema: at #{pointer}: {error.message}")

    routes = routes_from(args.routes)
    paths = document.get("paths") or {}
    for method, path in routes:
        operation = (paths.get(path) or {}).get(method)
        if not isinstance(operation, dict):
            problems.append(f"route {method.upper()} {path} of ROUTES is not in the document")
        elif not operation.get("responses"):
            problems.append(f"route {method.upper()} {path} documents no response")
    documented = {(m, p) for p, item in paths.items() for m in item if m in HTTP_METHODS}
    for method, path in sorted(documented - set(routes)):
        problems.append(f"the document has {method.upper()} {path}, which ROUTES lacks")

    if problems:
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        fail(f"{origin}: {len(problems)} problem(s)")
    print(
        f"validate_openapi: ok: {origin} is a valid OpenAPI {version} document; "
        f"all {len(routes)} routes of ROUTES are documented, and nothing else"
    )


if __name__ == "__main__":
    main()
