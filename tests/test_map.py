"""The topic map: colours, bounds, the PNG, and the self-contained HTML driven in a real headless Chromium.

The browser runs with the network cut (offline emulation plus a dead proxy), loads the page from
file://, and every check reads what the page shows: label boxes from the DOM, points drawn, the side
panel's cards. A screenshot of each page is saved (path printed; set MIXWISE_SCREENSHOTS=DIR to keep them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from itertools import combinations

import numpy as np
import polars as pl
import pytest

from mixwise.curate.cluster import cluster_workspace
from mixwise.curate.cluster_map import map_workspace
from mixwise.curate.embed import embed_workspace
from mixwise.curate.map_colours import ADJACENT, PALETTE, SHAPES, anchors, assign_styles, robust_bounds, strength, touching
from mixwise.curate.map_html import write_html

from tests.topic_fixtures import small_workspace

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def _style_fixture(ws) -> None:
    """A style column written through the real workspace API (by response length; the style model is tested elsewhere)."""
    t = ws.samples(columns=["id", "response_chars"])
    ws.write_columns("style", t.select("id", pl.when(pl.col("response_chars") > 300).then(pl.lit("long_form"))
                                       .otherwise(pl.lit("concise")).alias("style")), {"fixture": "by length"})


@pytest.fixture(scope="module")
def mapped(tmp_path_factory, shared_data):
    from mixwise.curate.dedup_stage import dedup_workspace
    from mixwise.curate.quality import score_workspace

    root = tmp_path_factory.mktemp("map")
    ws = small_workspace(root / "ws", shared_data)
    embed_workspace(ws)
    cluster_workspace(ws, k=4, seed=0)
    score_workspace(ws)
    dedup_workspace(ws)
    _style_fixture(ws)
    return ws, map_workspace(ws, out=root / "out" / "map.html", seed=0)


def _payload(html: str) -> dict:
    return json.loads(html.split('<script type="application/json" id="data">')[1].split("</script>")[0])


def test_colours_never_shared_by_touching_or_large_clusters():
    # 49 blob clusters on a 7 x 7 grid (each touches its neighbours), sizes falling with the index.
    rng = np.random.default_rng(0)
    pts, cl = [], []
    for c in range(49):
        n = 200 - 3 * c
        pts.append(rng.normal([c % 7, c // 7], 0.28, size=(n, 2)))
        cl += [c] * n
    coords, clusters = np.concatenate(pts), np.array(cl)
    styles = assign_styles(coords, clusters, 49)
    colour = np.array([s["colour_index"] for s in styles])
    touch = strength(touching(coords, clusters, 49), np.bincount(clusters))
    adjacent = np.argwhere(np.triu(touch >= ADJACENT))
    assert len(adjacent) >= 80  # the grid really is tangled: each blob touches its 4-8 neighbours
    assert all(colour[a] != colour[b] for a, b in adjacent)
    assert len(set(colour[: len(PALETTE)])) == len(PALETTE)  # the nine largest: nine colours
    assert len({(s["colour"], s["shape"]) for s in styles}) == 49 and {s["shape"] for s in styles} <= set(SHAPES)
    assert styles == assign_styles(coords, clusters, 49)  # deterministic


def test_robust_bounds_ignore_outliers():
    rng = np.random.default_rng(1)
    coords = np.concatenate([rng.normal(0, 1, size=(2000, 2)), [[500.0, 500.0], [-400.0, 3.0]]])
    x0, x1, y0, y1 = robust_bounds(coords)
    assert -4 < x0 < -2 and 2 < x1 < 4 and -4 < y0 < -2 and 2 < y1 < 4


@pytest.mark.slow
def test_png_and_self_contained_html(mapped):
    ws, rep = mapped
    assert rep.rows == 100 and rep.points_in_html == 100 and rep.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = rep.html.read_text()
    # Nothing is fetched: no external scripts, styles, images or fonts.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html) and "@import" not in html and "url(" not in html
    assert html.count("</script>") == 2 and html.count("<script") == 2
    data = _payload(html)
    assert len(data["clusters"]) == 4 and all(c["keywords"] and c["central"] for c in data["clusters"])
    assert data["styles"] == ["concise", "long_form"] and data["q"] is not None and data["dupKinds"] is not None
    assert ws.path("map", "coords.parquet").is_file()


def test_html_caps_points_with_a_seeded_sample_and_says_so(tmp_path):
    n = 500
    rng = np.random.default_rng(0)
    table = pl.DataFrame({"x": rng.normal(size=n), "y": rng.normal(size=n), "cluster": rng.integers(0, 3, n),
                          "source": ["a"] * n, "prompt": [f"p{i}" for i in range(n)]})
    page = write_html(table.sample(100, seed=3), ["x", "y", "z"], tmp_path / "m.html", title="t",
                      note="Showing 100 of 500 samples: a seeded random sample (seed 3)").read_text()
    data = _payload(page)
    assert len(data["x"]) == 100 and "seeded random sample" in data["note"]
    assert data["styles"] is None and data["d"] is None and data["q"] is None  # not recorded, not empty


def test_html_payload_survives_hostile_text(tmp_path):
    evil = "</script><script>alert(1)</script> <!-- \u2028 done"
    table = pl.DataFrame({"x": [0.0, 1.0], "y": [1.0, 0.0], "cluster": [0, 1], "source": ["b", "a"], "prompt": [evil, "ok"]})
    html = write_html(table, ["one", "two & <three>"], tmp_path / "m.html", title="t <x>").read_text()
    assert html.count("</script>") == 2 and "<title>t &lt;x&gt;</title>" in html
    data = _payload(html)
    assert data["p"][0] == " ".join(evil.split()) and data["clusters"][1]["label"] == "two & <three>"
    assert data["sources"] == ["a", "b"] and data["s"] == [1, 0]


# --- the page in a real browser ------------------------------------------------------------------------

def _browser(width: int = 1200, height: int = 900):
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not shutil.which(CHROMIUM) or not shutil.which(CHROMEDRIVER):
        pytest.fail("chromium and chromedriver are required (apt-get install chromium chromium-driver)", pytrace=False)
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", f"--window-size={width},{height}",
                 # No network: every request would go to a dead proxy (file:// is not proxied).
                 "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": True, "latency": 0, "downloadThroughput": 0,
                                                                "uploadThroughput": 0})
    return driver


def _open(driver, path):
    driver.get(path.resolve().as_uri())
    assert driver.execute_script("return window.mixwiseMap && window.mixwiseMap.ready") is True
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    assert driver.execute_script("return performance.getEntriesByType('resource').length") == 0  # nothing fetched


def _no_overlap(boxes: list[dict]) -> None:
    for a, b in combinations(boxes, 2):
        apart = a["right"] <= b["left"] or b["right"] <= a["left"] or a["bottom"] <= b["top"] or b["bottom"] <= a["top"]
        assert apart, (a, b)


def _screenshot(driver, tmp_path, name: str) -> None:
    path = tmp_path / f"{name}.png"
    driver.save_screenshot(str(path))
    keep = os.environ.get("MIXWISE_SCREENSHOTS")
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copy(path, os.path.join(keep, path.name))
    print(f"screenshot: {path}")


def _state(driver) -> dict:
    return driver.execute_script("var m = window.mixwiseMap; return {drawn: m.drawn, visible: m.visible, matches: m.matches,"
                                 " listed: m.listed, selected: m.selected, labels: m.labelBoxes()};")


@pytest.mark.slow
def test_map_in_headless_chromium_offline(mapped, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    ws, rep = mapped
    samples = ws.scored()
    data = _payload(rep.html.read_text())
    driver = _browser()
    try:
        _open(driver, rep.html)
        s = _state(driver)
        assert s["drawn"] == 100 and s["visible"] == 100
        painted = driver.execute_script(
            "var c = document.getElementById('plot'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, n = 0;"
            "for (var i = 0; i < d.length; i += 4) if (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200) n++; return n;")
        assert painted > 200, painted
        assert len(s["labels"]) == 4
        _no_overlap(s["labels"])
        _screenshot(driver, tmp_path, "map_small")

        # Hover the most isolated point: the tooltip is about that one.
        pos = np.array(driver.execute_script("return Array.from({length: 100}, (_, i) => window.mixwiseMap.screenOf(i))"))
        dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1) + np.eye(100) * 1e9
        i = int(dist.min(axis=1).argmax())
        canvas = driver.find_element(By.ID, "plot")
        box = canvas.rect
        ActionChains(driver).move_to_element_with_offset(
            canvas, int(round(pos[i, 0] - box["x"] - box["width"] / 2)), int(round(pos[i, 1] - box["y"] - box["height"] / 2))).perform()
        tip = driver.find_element(By.ID, "tip")
        row = samples.row(i, named=True)
        assert tip.is_displayed() and " ".join(row["prompt"].split())[:40] in " ".join(tip.text.split())
        assert f"{row['cluster']}: {row['cluster_label']}" in tip.text and row["source"] in tip.text

        # Clicking that point opens its cluster in the side panel, most central sample first.
        ActionChains(driver).click().perform()
        s = _state(driver)
        c = row["cluster"]
        in_cluster = [j for j in range(100) if data["c"][j] == c]
        assert s["selected"] == c and s["listed"] == len(in_cluster)
        first = min(in_cluster, key=lambda j: data["k"][j])
        cards = driver.find_elements(By.CSS_SELECTOR, "#cards .card")
        assert len(cards) == len(in_cluster) and data["p"][first][:40] in cards[0].text
        assert row["source"] in driver.find_element(By.ID, "panel").text
        driver.find_element(By.ID, "back").click()

        # Clicking a label does the same.
        label = driver.find_element(By.CSS_SELECTOR, ".label[data-c='0']")
        label.click()
        assert _state(driver)["selected"] == 0
        flagged = [j for j in range(100) if data["c"][j] == 0 and (data["q"][j] or (data["d"][j] >= 0))]
        panel = driver.find_element(By.ID, "panel").text
        if flagged:
            assert "duplicate:" in panel or "refusal" in panel or "truncated" in panel
        driver.find_element(By.ID, "back").click()

        # Search highlights the samples whose prompt or response preview has the text.
        driver.find_element(By.ID, "search").send_keys("how many")
        driver.execute_script("return new Promise(r => setTimeout(r, 300))")
        want = sum(1 for p, r in zip(data["p"], data["r"]) if "how many" in p.lower() or "how many" in r.lower())
        s = _state(driver)
        assert want > 0 and s["matches"] == want and s["listed"] == want
        assert f"{want} match" in driver.find_element(By.ID, "search-count").text
        _screenshot(driver, tmp_path, "map_search")
        driver.find_element(By.ID, "search").clear()
        driver.execute_script("var e = document.getElementById('search'); e.dispatchEvent(new Event('input'));"
                              "return new Promise(r => setTimeout(r, 300))")

        # Filters: leaving out GSM8K hides its points.
        gsm = sum(1 for v in data["s"] if data["sources"][v] == "gsm8k")
        driver.find_element(By.CSS_SELECTOR, f"input[data-group='source'][data-k='{data['sources'].index('gsm8k')}']").click()
        s = _state(driver)
        assert s["visible"] == 100 - gsm and s["drawn"] == 100 - gsm
        driver.find_element(By.CSS_SELECTOR, "input[data-group='style'][data-k='0']").click()  # and concise answers
        concise = sum(1 for j in range(100) if data["sources"][data["s"][j]] != "gsm8k" and data["st"][j] == 0)
        assert _state(driver)["visible"] == 100 - gsm - concise
        _no_overlap(_state(driver)["labels"])
        assert not [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    finally:
        driver.quit()


@pytest.mark.slow
def test_crowded_map_declutters_labels_and_zoom_reveals_more(tmp_path):
    """40 clusters packed tight: the default view shows only labels that fit, none overlapping; zooming on a hidden one shows it."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
    from selenium.webdriver.common.by import By

    rng = np.random.default_rng(0)
    rows = []
    for c in range(40):
        centre = (c % 8, c // 8)
        for j in range(60 - c):
            x, y = rng.normal(centre, 0.3)
            rows.append({"x": x, "y": y, "cluster": c, "source": "s", "prompt": f"cluster {c} prompt {j}"})
    rows.append({"x": 400.0, "y": -300.0, "cluster": 0, "source": "s", "prompt": "a far outlier"})
    table = pl.DataFrame(rows)
    coords, cl = table.select("x", "y").to_numpy(), table["cluster"].to_numpy()
    styles = assign_styles(coords, cl, 40)
    anchor = anchors(coords, cl, 40)
    info = [{**styles[c], "label": f"a long label naming topic number {c}", "anchor": anchor[c].tolist()} for c in range(40)]
    page = write_html(table, info, tmp_path / "crowded.html", title="crowded", bounds=robust_bounds(coords))
    driver = _browser(1000, 700)
    try:
        _open(driver, page)
        s = _state(driver)
        shown = {b["c"] for b in s["labels"]}
        assert 5 <= len(shown) < 40, len(shown)
        _no_overlap(s["labels"])
        assert 0 in shown  # the largest cluster wins its place
        # The default view is the dense region: the outlier is off screen, the grid fills the plot.
        w = driver.execute_script("return document.getElementById('plot').clientWidth")
        xs = np.array(driver.execute_script(f"return Array.from({{length: {table.height - 1}}}, (_, i) => window.mixwiseMap.screenOf(i)[0])"))
        assert xs.max() - xs.min() > 0.6 * w
        out = driver.execute_script(f"return window.mixwiseMap.screenOf({table.height - 1})")
        assert out[0] > w or out[1] < 0 or out[1] > 2000
        assert "not recorded" in driver.find_element(By.ID, "filters").text  # no style / quality / dedup columns here
        _screenshot(driver, tmp_path, "map_crowded")
        # Zoom (real wheel events) on a cluster whose label is hidden: its label appears, still no overlaps.
        hidden = next(c for c in range(40) if c not in shown)
        canvas = driver.find_element(By.ID, "plot")
        for _ in range(4):
            pos = driver.execute_script(
                f"var d = JSON.parse(document.getElementById('data').textContent); var best = -1, bd = 1e9;"
                f"for (var i = 0; i < d.c.length; i++) if (d.c[i] === {hidden}) {{ var dx = d.x[i] - d.clusters[{hidden}].ax,"
                f" dy = d.y[i] - d.clusters[{hidden}].ay, q = dx * dx + dy * dy; if (q < bd) {{ bd = q; best = i; }} }}"
                "var p = window.mixwiseMap.screenOf(best), r = document.getElementById('plot').getBoundingClientRect();"
                "return [p[0] - r.left - r.width / 2, p[1] - r.top - r.height / 2];")
            ActionChains(driver).scroll_from_origin(ScrollOrigin.from_element(canvas, int(pos[0]), int(pos[1])), 0, -120).perform()
        s = _state(driver)
        assert hidden in {b["c"] for b in s["labels"]}
        _no_overlap(s["labels"])
        _screenshot(driver, tmp_path, "map_crowded_zoomed")
    finally:
        driver.quit()
