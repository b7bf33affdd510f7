"""The HTML report in a real browser (the system Chromium driven by Playwright): opened from
file:// after its folder was moved, tables sort and filter, the image browser sorts by a gap and
opens an item with its pictures, and no request leaves the machine.

Skips only where Chromium or Playwright is absent; with HARNESS_BROWSER_TEST=required (set by
.ci/run once it installed Chromium) their absence fails instead."""
import os
import shutil
from urllib.parse import urlparse

import pytest

from harness.store.records import load_records
from tests.report_tools import METHODS, build_sample_report

REQUIRED = os.environ.get("HARNESS_BROWSER_TEST") == "required"
CANDIDATES = ("chromium", "chromium-browser", "google-chrome")


def _unavailable(reason: str):
    if REQUIRED:
        pytest.fail(f"HARNESS_BROWSER_TEST=required but {reason}")
    pytest.skip(reason)


def _chromium() -> str:
    found = os.environ.get("HARNESS_CHROMIUM") or next(filter(None, map(shutil.which, CANDIDATES)), None)
    if not found:
        _unavailable("no Chromium on this machine (Debian: apt-get install chromium; or set HARNESS_CHROMIUM)")
    return found


@pytest.fixture(scope="module")
def page_and_records(tmp_path_factory):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed (pip install -e '.[test]')")
    executable = _chromium()
    requests, errors = [], []
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        except Exception as error:  # a Chromium that cannot start here (missing libraries)
            _unavailable(f"{executable} does not start: {str(error).splitlines()[0]}")
        folder = tmp_path_factory.mktemp("browser")
        runs, built = build_sample_report(folder, image_format="jpeg")
        moved = folder / "elsewhere" / "copied-report"
        shutil.copytree(built, moved)
        shutil.rmtree(built)  # the copy must stand alone
        page = browser.new_page(viewport={"width": 1400, "height": 900})

        def route(route):
            requests.append(route.request.url)
            if urlparse(route.request.url).scheme in ("file", "data"):
                route.continue_()
            else:
                route.abort()

        page.route("**/*", route)
        page.on("pageerror", lambda error: errors.append(str(error)))
        # a request the page's content policy refused never reaches the router: it is a console error
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto((moved / "index.html").as_uri())
        page.wait_for_selector("html[data-ready=true]")
        yield page, load_records(runs), requests, errors
        browser.close()


def _column_values(page, index: int) -> list[float]:
    return page.eval_on_selector_all(
        "table.results tbody tr:not([hidden])", f"rows => rows.map(r => Number(r.cells[{index}].dataset.v))")


@pytest.mark.parametrize("metric, first", [("PSNR", "descending"), ("L1", "ascending")])
def test_the_first_click_on_a_column_puts_the_best_first(page_and_records, metric, first):
    page, records, _, _ = page_and_records
    header = page.locator("table.results th", has_text=metric)
    index = page.eval_on_selector_all("table.results th", f"ths => ths.findIndex(th => th.textContent.startsWith('{metric}'))")
    header.click()
    assert header.get_attribute("aria-sort") == first
    values = _column_values(page, index)
    assert values == sorted(values, reverse=first == "descending") and len(values) == len(METHODS) * 3
    header.click()
    assert _column_values(page, index) == sorted(values, reverse=first != "descending")
    means = records.groupby(["method", "bucket"])[metric].mean()
    assert max(values) == pytest.approx(means.max(), abs=1e-5)


def test_filter_by_a_method(page_and_records):
    page, _, _, _ = page_and_records
    page.locator(".filters .method-filter[value='telea']").uncheck()
    shown = page.eval_on_selector_all("table.results tbody tr:not([hidden])", "rows => rows.map(r => r.dataset.method)")
    assert shown and set(shown) == {"biharmonic"}
    page.locator(".filters .method-filter[value='telea']").check()
    assert page.locator("table.results tbody tr:not([hidden])").count() == len(METHODS) * 3


def test_image_browser_sorts_by_a_gap_and_opens_an_item(page_and_records):
    page, records, _, _ = page_and_records
    controls = page.locator(".browser-controls")
    controls.locator(".gap-a").select_option("telea")
    controls.locator(".gap-b").select_option("biharmonic")
    controls.locator(".gap-metric").select_option("PSNR")
    controls.locator(".sort-key").select_option("gap")
    psnr = records.pivot_table(index="item_id", columns="method", values="PSNR")
    worst = (psnr["telea"] - psnr["biharmonic"]).idxmin()  # higher PSNR is better: telea's worst item first
    first = page.locator("article.item").first
    image, bucket, ratio = records.set_index("item_id").loc[worst, ["image_id", "bucket", "hole_ratio"]].iloc[0]
    # the title a reader recognises: the image, its bucket and hole ratio; the item id is the tooltip
    assert f"{image} · bucket {bucket} · hole {100 * ratio:.1f}%" in first.locator(".item-head").inner_text()
    assert first.locator(".item-head").get_attribute("title") == f"item {worst}"
    first.scroll_into_view_if_needed()
    page.wait_for_function("() => { const i = document.querySelector('article.item img'); return i && i.complete && i.naturalWidth > 0; }")
    first.click()
    viewer = page.locator("#viewer")
    assert viewer.is_visible() and viewer.locator("#viewer-title").get_attribute("title") == f"item {worst}"
    assert viewer.locator("#viewer-title").inner_text().startswith(f"{image} · bucket {bucket}")
    assert viewer.locator(".panel-picture").count() == len(METHODS) + 2
    url = page.eval_on_selector(".panel-picture", "p => getComputedStyle(p).backgroundImage.slice(5, -2)")
    width = page.evaluate("url => new Promise(done => { const i = new Image(); i.onload = () => done(i.naturalWidth); "
                          "i.onerror = () => done(0); i.src = url; })", url)
    assert width == (len(METHODS) + 2) * 64
    viewer.locator("[data-zoom='4']").click()
    size = page.eval_on_selector(".panel-picture", "p => p.style.backgroundSize")
    assert size.startswith(f"{(len(METHODS) + 2) * 4 * int(page.eval_on_selector('.panel-picture', 'p => p.dataset.size'))}px")
    page.keyboard.press("Escape")
    assert not viewer.is_visible()


def test_plots_are_drawn_and_nothing_left_the_machine(page_and_records):
    page, _, requests, errors = page_and_records
    drawn = page.eval_on_selector_all("canvas", "cs => cs.map(c => c.getContext('2d').getImageData(0, 0, c.width, c.height)"
                                                ".data.some((v, i) => i % 4 === 3 && v > 0))")
    assert drawn and all(drawn)
    assert errors == []
    assert requests and all(urlparse(url).scheme in ("file", "data") for url in requests), requests


def test_every_thumbnail_of_the_page_loads_without_scrolling(page_and_records):
    """Eager pictures: a printed page (or one never scrolled) shows every thumbnail, not grey boxes."""
    page, _, _, _ = page_and_records
    page.evaluate("() => window.scrollTo(0, 0)")
    page.wait_for_function("() => [...document.querySelectorAll('article.item img')].every(i => i.complete)", timeout=10000)
    loaded = page.eval_on_selector_all("article.item img", "imgs => imgs.map(i => i.naturalWidth > 0 && i.loading !== 'lazy')")
    assert loaded and all(loaded)
