"""GET /docs in headless Chromium: Swagger UI renders every operation of
/openapi.json, under the strict CSP, with no violation.

Run by tests/browser/stories.py (one Chromium for every story); alone:

    .venv/bin/python tests/browser/docs_story.py BASE_URL

The spec is read over HTTP; the page is loaded and waited on until it shows
as many operation blocks as the spec has operations (or 120 s: the first
request makes `cargo lambda watch` start api-docs); then each operation is
looked for by method, path and operationId, and a full-page screenshot goes
to target/api-docs.png.
"""

import json
import sys
import time
import urllib.request
from pathlib import Path

import stories

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "target" / "api-docs.png"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def run(chromium, base):
    base = base.rstrip("/")
    failures = []

    def check(what, ok, detail=""):
        print(f"{'ok ' if ok else 'FAIL'} {what}" + (f": {detail}" if detail and not ok else ""))
        if not ok:
            failures.append(what)

    started = time.time()
    with urllib.request.urlopen(f"{base}/docs", timeout=300) as response:
        check("GET /docs: 200", response.status == 200, str(response.status))
        csp = response.headers.get("content-security-policy", "")
        check("GET /docs has a Content-Security-Policy", csp.startswith("default-src"), csp)
    with urllib.request.urlopen(f"{base}/openapi.json", timeout=60) as response:
        spec = json.load(response)
    operations = [(method.upper(), path, operation.get("operationId", ""))
                  for path, item in spec["paths"].items()
                  for method, operation in item.items() if method in METHODS]
    check("openapi.json lists operations", bool(operations))

    context = chromium.new_context(viewport={"width": 1280, "height": 2000})
    page = context.new_page()
    violations = []
    page.on("console", lambda message: "Content Security Policy" in message.text
            and violations.append(message.text))
    page.goto(f"{base}/docs")
    # Polled from here: wait_for_function compiles its predicate in the page,
    # which the page's CSP (no 'unsafe-eval') rightly refuses.
    deadline = time.time() + 120
    while page.locator(".opblock").count() < len(operations) and time.time() < deadline:
        page.wait_for_timeout(250)
    rendered = page.evaluate("""() => [...document.querySelectorAll('.opblock')].map(block => [
        block.querySelector('.opblock-summary-method')?.textContent ?? '',
        block.querySelector('[data-path]')?.getAttribute('data-path') ?? '',
        block.querySelector('.opblock-summary-operation-id')?.textContent ?? ''])""")
    shown = {tuple(block) for block in rendered}
    found = 0
    for method, path, operation_id in operations:
        ok = any(m == method and p == path and (not operation_id or o == operation_id)
                 for m, p, o in shown)
        found += ok
        check(f"rendered: {method} {path} {operation_id}", ok)
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    check("the screenshot is not blank", SCREENSHOT.stat().st_size > 20_000,
          f"{SCREENSHOT.stat().st_size} bytes")
    check("no Content-Security-Policy violation", not violations, "; ".join(violations))
    context.close()
    print(f"docs: {found} of {len(operations)} operations rendered, {time.time() - started:.1f} s,"
          f" screenshot {SCREENSHOT.relative_to(REPO)}")
    return failures


if __name__ == "__main__":
    stories.alone(lambda chromium: run(chromium, sys.argv[1]))
