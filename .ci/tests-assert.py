#!/usr/bin/env python3
"""Fails when a test can pass without checking anything.

A test (`#[test]`, or a `fn` inside `proptest! { }`) must reach an
assertion: its body holds one (`assert*!`, `prop_assert*!`, `panic!`,
`unreachable!`, `.expect_err(`, `.unwrap_err(`), or it calls a function of
this repository (free, method or path call) that reaches one, followed
transitively across every Rust file under src/, tests/ and benches/, or it
is `#[should_panic]`. Names are matched crate-wide without types, so a
helper that shares its name with an asserting one passes too: the check
can miss a test that asserts nothing, but it never fails a test that does.

    python3 .ci/tests-assert.py        # exit 1 and a list when one is found
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
ASSERTS = re.compile(
    r"\b(?:prop_)?assert(?:_eq|_ne|_matches)?!|\bpanic!|\bunreachable!|\.expect_err\(|\.unwrap_err\("
)
FN = re.compile(r"\bfn\s+([A-Za-z_][A-Za-z0-9_]*)\s*(?:<[^{;]*?>)?\s*\(")
CALL = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*(?:::<[^>]*>)?\s*\(")


def strip(source):
    """The source with comments and string/char literals blanked (same
    length, newlines kept), so braces and names inside them are ignored."""
    out = []
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if source.startswith("//", i):
            j = source.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif source.startswith("/*", i):
            j = source.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", source[i:j]))
            i = j
        elif c == "r" and re.match(r'r#*"', source[i:]) and not (i and (source[i - 1].isalnum() or source[i - 1] == "_")):
            hashes = re.match(r'r(#*)"', source[i:]).group(1)
            end = '"' + hashes
            j = source.find(end, i + 2 + len(hashes))
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", source[i:j]))
            i = j
        elif c == '"' or (c == "b" and source.startswith('b"', i)):
            j = i + (2 if c == "b" else 1)
            while j < n and source[j] != '"':
                j += 2 if source[j] == "\\" else 1
            j = min(n, j + 1)
            out.append(re.sub(r"[^\n]", " ", source[i:j]))
            i = j
        elif c == "'" and re.match(r"'(?:\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'|'\\x[0-9a-fA-F]{2}'", source[i:]):
            m = re.match(r"'(?:\\.|[^\\'])'|'\\u\{[0-9a-fA-F]+\}'|'\\x[0-9a-fA-F]{2}'", source[i:])
            out.append(" " * len(m.group(0)))
            i += len(m.group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


def span(text, brace):
    """The start and end (past the closing brace) of the block at `brace`."""
    depth, end = 0, brace
    while end < len(text):
        depth += {"{": 1, "}": -1}.get(text[end], 0)
        end += 1
        if depth == 0:
            break
    return brace, end


def functions(text):
    """(name, attributes before it, body, position) of every fn with a body."""
    found = []
    for match in FN.finditer(text):
        open_at = match.end()
        depth = 1
        while open_at < len(text) and depth:  # skip the parameter list
            depth += {"(": 1, ")": -1}.get(text[open_at], 0)
            open_at += 1
        brace = text.find("{", open_at)
        semi = text.find(";", open_at)
        if brace < 0 or (0 <= semi < brace):
            continue  # a declaration without a body
        end = span(text, brace)[1]
        head_start = max(text.rfind(";", 0, match.start()), text.rfind("}", 0, match.start()), text.rfind("{", 0, match.start()))
        found.append((match.group(1), text[head_start + 1 : match.start()], text[brace:end], match.start()))
    return found


def main():
    files = [p for d in ("src", "tests", "benches") for p in (ROOT / d).rglob("*.rs") if "target" not in p.parts]
    bodies = {}  # name -> list of bodies (same name in several places)
    tests = []
    for path in files:
        text = strip(path.read_text(errors="replace"))
        blocks = [span(text, m.end() - 1) for m in re.finditer(r"proptest!\s*\{", text)]
        for name, head, body, at in functions(text):
            bodies.setdefault(name, []).append(body)
            is_test = "#[test]" in head or "#[tokio::test" in head
            is_test = is_test or any(start < at < end for start, end in blocks)
            if is_test and "#[should_panic" not in head:
                tests.append((path.relative_to(ROOT), name, body))
    asserting = {name for name, bs in bodies.items() if any(ASSERTS.search(b) for b in bs)}
    changed = True
    while changed:
        changed = False
        for name, bs in bodies.items():
            if name not in asserting and any(c in asserting for b in bs for c in CALL.findall(b)):
                asserting.add(name)
                changed = True
    silent = [
        (path, name)
        for path, name, body in tests
        if not ASSERTS.search(body) and not any(c in asserting for c in CALL.findall(body))
    ]
    for path, name in silent:
        print(f"{path}: test `{name}` reaches no assertion", file=sys.stderr)
    print(f"{len(tests)} tests, {len(silent)} without an assertion", file=sys.stderr)
    return 1 if silent else 0


if __name__ == "__main__":
    sys.exit(main())
