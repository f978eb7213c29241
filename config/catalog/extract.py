#!/usr/bin/env python3
"""Extract the Stytch B2B 404 error catalogue from a saved API reference page.

Usage: extract.py PAGE.txt > stytch-b2b-404.json

The page is the text rendering of https://stytch.com/docs/b2b/api/errors/404.
After the line "404 errors" every entry has this shape:

    <error_type>
    404
    Not found
    <description paragraph(s)>
    [Common causes
      • bullet ...]
    [Troubleshooting steps
      • bullet ...]
    Error
    { example JSON object: error_type, error_message, error_url, ... }
    How to get help ... (boilerplate, skipped)

The prose description and the example object's error_message can differ; both
are kept. The script fails loudly (non-zero exit) if the page does not look like
this, rather than producing a partial catalogue. Standard library only.
"""

import json
import re
import sys

SOURCE = "https://stytch.com/docs/b2b/api/errors/404"
EXPECTED_ENTRIES = 46
STATUS_CODE = 404
TITLE = "Not found"
START_MARKER = "404 errors"
BULLET = "\u2022"
SECTIONS = {"Common causes": "common_causes", "Troubleshooting steps": "troubleshooting"}
BOILERPLATE = {
    "How to get help",
    "Visit our forum",
    "Stytch Forum",
    "Send us an email",
    "support@stytch.com",
    "Ask in Slack",
    "Slack",
}
ERROR_TYPE_RE = re.compile(r"^[a-z0-9_]+$")


class PageError(Exception):
    """The page does not have the expected shape; carries the 1-based line number."""

    def __init__(self, lineno, message):
        super().__init__(f"line {lineno}: {message}")


def paragraphs(lines):
    """Join (lineno, text) lines into blank-line separated paragraphs."""
    paras, current = [], []
    for _, text in lines:
        if text.strip():
            current.append(text.strip())
        elif current:
            paras.append(" ".join(current))
            current = []
    if current:
        paras.append(" ".join(current))
    return paras


def bullets(lines):
    """Collect "•" bullets; a non-bullet, non-blank line continues the previous bullet."""
    items = []
    for lineno, text in lines:
        stripped = text.strip()
        if not stripped:
            continue
        if stripped.startswith(BULLET):
            items.append(stripped[len(BULLET):].strip())
        elif items:
            items[-1] += " " + stripped
        else:
            raise PageError(lineno, f"text before the first bullet: {stripped!r}")
    return items


def next_nonblank(lines, i):
    while i < len(lines) and not lines[i][1].strip():
        i += 1
    return i


def parse_entry(lines, i):
    """Parse one entry starting at lines[i] (its error_type heading); return (entry, next index)."""
    heading_no, heading = lines[i]
    error_type = heading.strip()
    if not ERROR_TYPE_RE.match(error_type):
        raise PageError(heading_no, f"expected an error type heading, got {heading!r}")
    i = next_nonblank(lines, i + 1)
    if i >= len(lines) or lines[i][1].strip() != str(STATUS_CODE):
        raise PageError(heading_no, f"{error_type}: status line {STATUS_CODE} missing")
    i = next_nonblank(lines, i + 1)
    if i >= len(lines) or lines[i][1].strip() != TITLE:
        raise PageError(heading_no, f"{error_type}: title {TITLE!r} missing")
    i += 1

    # Description, then optional bullet sections, up to "Error".
    section = "description"
    collected = {"description": [], "common_causes": [], "troubleshooting": []}
    while True:
        if i >= len(lines):
            raise PageError(heading_no, f"{error_type}: no 'Error' example before end of page")
        lineno, text = lines[i]
        stripped = text.strip()
        if stripped == "Error":
            i += 1
            break
        if stripped in SECTIONS:
            section = SECTIONS[stripped]
            if collected[section]:
                raise PageError(lineno, f"{error_type}: section {stripped!r} appears twice")
        else:
            collected[section].append((lineno, text))
        i += 1

    # The example object: from "{" to the first line that is exactly "}".
    i = next_nonblank(lines, i)
    if i >= len(lines) or lines[i][1].strip() != "{":
        raise PageError(heading_no, f"{error_type}: example object missing after 'Error'")
    start = i
    while i < len(lines) and lines[i][1].rstrip() != "}":
        i += 1
    if i >= len(lines):
        raise PageError(lines[start][0], f"{error_type}: unterminated example object")
    try:
        example = json.loads("\n".join(text for _, text in lines[start : i + 1]))
    except json.JSONDecodeError as err:
        raise PageError(lines[start][0] + err.lineno - 1, f"{error_type}: bad example: {err.msg}")
    i += 1

    if example.get("error_type") != error_type:
        raise PageError(lines[start][0], f"{error_type}: example names {example.get('error_type')!r}")
    if example.get("status_code") != STATUS_CODE:
        raise PageError(lines[start][0], f"{error_type}: example status {example.get('status_code')!r}")
    for key in ("error_message", "error_url"):
        if not isinstance(example.get(key), str) or not example[key]:
            raise PageError(lines[start][0], f"{error_type}: example has no {key}")

    description = "\n\n".join(paragraphs(collected["description"]))
    if not description:
        raise PageError(heading_no, f"{error_type}: empty description")

    # Skip the help boilerplate that follows every entry.
    while i < len(lines) and (not lines[i][1].strip() or lines[i][1].strip() in BOILERPLATE):
        i += 1

    entry = {
        "error_type": error_type,
        "status_code": STATUS_CODE,
        "title": TITLE,
        "description": description,
        "error_message": example["error_message"],
        "common_causes": bullets(collected["common_causes"]),
        "troubleshooting": bullets(collected["troubleshooting"]),
        "doc_url": example["error_url"],
    }
    return entry, i


def parse_page(text):
    lines = list(enumerate(text.splitlines(), start=1))
    try:
        i = next(k for k, (_, t) in enumerate(lines) if t.strip() == START_MARKER) + 1
    except StopIteration:
        raise PageError(1, f"marker line {START_MARKER!r} not found") from None
    entries = []
    i = next_nonblank(lines, i)
    while i < len(lines):
        entry, i = parse_entry(lines, i)
        entries.append(entry)
        i = next_nonblank(lines, i)
    return entries


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} PAGE.txt > stytch-b2b-404.json", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as page:
        text = page.read()
    try:
        entries = parse_page(text)
    except PageError as err:
        print(f"{argv[1]}: {err}", file=sys.stderr)
        return 1

    names = [e["error_type"] for e in entries]
    assert len(set(names)) == len(names), "duplicate error types on the page"
    assert len(entries) == EXPECTED_ENTRIES, f"expected {EXPECTED_ENTRIES} entries, got {len(entries)}"
    entries.sort(key=lambda e: e["error_type"])

    catalog = {"name": "stytch-b2b-404", "source": SOURCE, "errors": entries}
    sys.stdout.write(json.dumps(catalog, indent=2, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
