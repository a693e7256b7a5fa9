"""The Airflow UI in a real browser (Debian's headless Chromium, driven by Playwright; no
browser download): log in through the login form, see a backfill's runs in
ad_performance_daily's grid and runs list, open the trigger form and find the DAG's Params,
open a run's "Run summary" tab. Driven by tests/system/test_scheduler_backfill.py on the
stack its backfills ran on.

Screenshots of every step are kept in the session's temporary directory (`screenshots/`, kept
and printed when the test fails).
"""

from __future__ import annotations

import re
from contextlib import suppress
from pathlib import Path

from adctr.local import airflow_env as localenv

from tests.conftest import SESSION_VAR
from tests.system.airflow_stack import AirflowStack

DAG_ID = "ad_performance_daily"
PARAMS = {"report_date", "media", "lookback_days", "skip_ingest"}
SCREENSHOTS = SESSION_VAR / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
TIMEOUT_MS = 90_000  # two slow cores, shared with the scheduler's task processes


def screenshots_dir() -> Path:
    """An empty screenshots/ directory in the session's temporary directory."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    return SCREENSHOTS


def browse(stack: AirflowStack, screenshots: Path, browser_path: str) -> None:
    """Every step in the browser, after the stack's backfill of DAG_ID has completed; asserts
    the grid and runs list show each of its backfill runs, successful."""
    from playwright.sync_api import expect, sync_playwright

    runs = [
        r for r in stack.api("GET", f"/api/v2/dags/{DAG_ID}/dagRuns", params={"limit": 100})["dag_runs"]
        if r["run_type"] == "backfill"
    ]  # fmt: skip
    assert runs and all(r["state"] == "success" for r in runs), runs
    backfill_runs = sorted(r["dag_run_id"] for r in runs)

    # The scheduler marks the backfill itself complete shortly after its last run.
    def backfill_complete() -> bool:
        backfills = stack.api("GET", "/api/v2/backfills", params={"dag_id": DAG_ID})["backfills"]
        return bool(backfills) and all(b["completed_at"] for b in backfills)

    stack.wait_for(backfill_complete, "the backfill to complete", 120)
    params = stack.api("GET", f"/api/v2/dags/{DAG_ID}/details")["params"]
    assert PARAMS <= set(params), params

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=browser_path, args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        step = "login"
        try:
            # 1. The UI sends an anonymous visitor to the login form; sign in through it.
            page.goto(f"{stack.base}/")
            expect(page).to_have_url(re.compile(r"/auth/login"), timeout=TIMEOUT_MS)
            page.get_by_label("Username").fill(localenv.LOCAL_ADMIN_USER)
            page.get_by_label("Password").fill(localenv.LOCAL_ADMIN_PASSWORD)
            page.screenshot(path=screenshots / "01-login.png", full_page=True)
            page.get_by_role("button", name="Sign in").click()
            expect(page).not_to_have_url(re.compile(r"/auth/login"), timeout=TIMEOUT_MS)
            expect(page.get_by_test_id("nav-dags-link")).to_be_visible(timeout=TIMEOUT_MS)

            # 2. The DAG's grid: one column per backfill run, every task successful.
            step = "grid"
            page.goto(f"{stack.base}/dags/{DAG_ID}")
            page.get_by_test_id("grid-view-button").click()
            for run_id in backfill_runs:
                expect(page.locator(f'a[href="/dags/{DAG_ID}/runs/{run_id}/"]').first).to_be_visible(
                    timeout=TIMEOUT_MS
                )
                cell = page.get_by_test_id(f"grid-{run_id}-load_raw")
                expect(cell).to_be_visible(timeout=TIMEOUT_MS)
                cell.hover()
                # (the previous cell's tooltip may still be in the DOM, closing)
                tooltip = page.get_by_role("tooltip").filter(has_text=f"Run ID: {run_id}")
                expect(tooltip).to_be_visible(timeout=TIMEOUT_MS)
                expect(tooltip).to_contain_text("Task ID: load_raw")
                expect(tooltip).to_contain_text("State: Success")
            page.screenshot(path=screenshots / "02-grid.png", full_page=True)

            # 3. The runs list: both backfill runs, successful, of type Backfill.
            step = "runs"
            page.mouse.move(0, 0)
            page.get_by_role("link", name="Runs", exact=True).click()
            expect(page).to_have_url(re.compile(rf"/dags/{DAG_ID}/runs/?$"), timeout=TIMEOUT_MS)
            for run_id in backfill_runs:
                row = page.get_by_role("row").filter(has_text=run_id)
                expect(row).to_have_count(1, timeout=TIMEOUT_MS)
                expect(row).to_contain_text("Success")
                expect(row).to_contain_text("Backfill")
            page.screenshot(path=screenshots / "03-runs.png", full_page=True)

            # 4. The trigger form lists every Param with its title and description.
            step = "trigger form"
            page.get_by_role("button", name="Trigger Dag").click()
            dialog = page.get_by_role("dialog")
            expect(dialog).to_contain_text(f"Trigger Dag - {DAG_ID}", timeout=TIMEOUT_MS)
            expect(dialog.get_by_text("Run Parameters")).to_be_visible(timeout=TIMEOUT_MS)
            for name, spec in params.items():
                label = spec["schema"].get("title") or name
                expect(dialog.locator("label").filter(has_text=label).first).to_be_visible(timeout=TIMEOUT_MS)
                if spec.get("description"):
                    expect(dialog).to_contain_text(spec["description"])
            # The dialog scrolls inside the viewport: make it tall enough for the whole form.
            height = int(dialog.evaluate("e => e.scrollHeight"))
            page.set_viewport_size({"width": 1400, "height": max(1000, height + 200)})
            page.screenshot(path=screenshots / "04-trigger-form.png", full_page=True)

            # 5. A run's page has the "Run summary" tab (the project's plugin): rows, DQ, docs.
            step = "run summary"
            page.keyboard.press("Escape")
            page.set_viewport_size({"width": 1400, "height": 1000})
            page.goto(f"{stack.base}/dags/{DAG_ID}/runs/{backfill_runs[-1]}")
            page.get_by_role("tab", name="Run summary").or_(page.get_by_role("link", name="Run summary")).first.click()
            summary = page.frame_locator("iframe").first
            expect(summary.get_by_text("Rows per layer")).to_be_visible(timeout=TIMEOUT_MS)
            expect(summary.locator("body")).to_contain_text(backfill_runs[-1])
            expect(summary.get_by_role("link", name="Data Docs").first).to_be_visible(timeout=TIMEOUT_MS)
            page.screenshot(path=screenshots / "05-run-summary.png", full_page=True)
        except BaseException:
            with suppress(Exception):
                page.screenshot(path=screenshots / f"99-failed-at-{step.replace(' ', '-')}.png", full_page=True)
            print(f"browser failed at step {step!r} on {page.url}; page errors: {errors}")
            raise
        finally:
            browser.close()
