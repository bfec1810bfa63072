"""axe-core over pages' DOMs, shared by the browser stories.

Each page's HTML as the story saw it is loaded into a context of its own,
where the CSP is bypassed for the injected axe script only; a serious or
critical violation fails the story's `check`.
"""

from pathlib import Path

AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"


def scan(chromium, scanned, check):
    """`scanned`: (name, html) pairs. Prints the total of any impact."""
    context = chromium.new_context(bypass_csp=True)
    page = context.new_page()
    total = 0
    for name, html in scanned:
        page.set_content(html)
        page.add_script_tag(path=str(AXE))
        result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        bad = [v for v in result["violations"] if v["impact"] in ("serious", "critical")]
        total += len(result["violations"])
        check(f"axe {name}: no serious or critical violation", not bad,
              "; ".join(f"{v['id']} ({v['impact']}): {v['help']}" for v in bad))
    print(f"axe: {len(scanned)} pages scanned, {total} violations of any impact")
    context.close()
