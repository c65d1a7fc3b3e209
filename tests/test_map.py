"""The topic map: UMAP PNG + self-contained HTML, opened in a real headless Chromium."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from mixwise.curate.cluster import cluster_workspace
from mixwise.curate.cluster_map import map_workspace
from mixwise.curate.embed import embed_workspace

from tests.topic_fixtures import small_workspace

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture(scope="module")
def mapped(tmp_path_factory, shared_data):
    root = tmp_path_factory.mktemp("map")
    ws = small_workspace(root / "ws", shared_data)
    embed_workspace(ws)
    cluster_workspace(ws, k=4, seed=0)
    return ws, map_workspace(ws, out=root / "out" / "map.html", seed=0)


@pytest.mark.slow
def test_png_and_self_contained_html(mapped):
    ws, rep = mapped
    assert rep.rows == 100 and rep.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    html = rep.html.read_text()
    # Nothing is fetched: no external scripts, styles, images or fonts.
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html) and "@import" not in html
    # Every sample is in the page, and no prompt text can break out of the data script.
    assert html.count("</script>") == 2 and html.count("<script") == 2
    coords = ws.path("map", "coords.parquet")
    assert coords.is_file()


def _browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not shutil.which(CHROMIUM) or not shutil.which(CHROMEDRIVER):
        pytest.fail("chromium and chromedriver are required (apt-get install chromium chromium-driver)", pytrace=False)
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--window-size=1200,900"):
        opts.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


@pytest.mark.slow
def test_map_renders_points_and_hover_text_in_headless_chromium(mapped):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    ws, rep = mapped
    samples = ws.scored()
    driver = _browser()
    try:
        driver.get(rep.html.resolve().as_uri())
        assert driver.execute_script("return window.mixwiseMap && window.mixwiseMap.ready") is True
        assert driver.execute_script("return window.mixwiseMap.n") == 100
        assert driver.execute_script("return window.mixwiseMap.drawn") == 100
        painted = driver.execute_script(
            "var c = document.getElementById('plot'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, n = 0;"
            "for (var i = 0; i < d.length; i += 4) if (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200) n++; return n;")
        assert painted > 200, painted
        # The plot fills the page beside the legend, and the points spread over it.
        pos = np.array(driver.execute_script("return Array.from({length: 100}, (_, i) => window.mixwiseMap.screenOf(i))"))
        width, height = driver.execute_script("var c = document.getElementById('plot'); return [c.clientWidth, c.clientHeight]")
        assert width > 800 and height > 700, (width, height)
        spread = pos.max(axis=0) - pos.min(axis=0)
        assert spread[0] > 0.5 * width or spread[1] > 0.5 * height, spread
        # Hover the most isolated point, so the tooltip can only be about that one.
        dist = np.linalg.norm(pos[:, None] - pos[None], axis=-1) + np.eye(100) * 1e9
        i = int(dist.min(axis=1).argmax())
        canvas = driver.find_element(By.ID, "plot")
        box = canvas.rect
        ActionChains(driver).move_to_element_with_offset(
            canvas, int(round(pos[i, 0] - box["x"] - box["width"] / 2)), int(round(pos[i, 1] - box["y"] - box["height"] / 2))).perform()
        tip = driver.find_element(By.ID, "tip")
        assert tip.is_displayed()
        row = samples.row(i, named=True)
        head = " ".join(row["prompt"].split())[:40]
        assert head in " ".join(tip.text.split())
        assert f"{row['cluster']}: {row['cluster_label']}" in tip.text and row["source"] in tip.text
        driver.find_element(By.ID, "by-source").click()
        assert driver.execute_script("return window.mixwiseMap.mode()") == "source"
        legend = driver.find_element(By.ID, "legend").text
        assert "alpaca" in legend and "gsm8k" in legend
    finally:
        driver.quit()


def test_html_payload_survives_hostile_text(tmp_path):
    import json

    import polars as pl

    from mixwise.curate.map_html import write_html

    evil = "</script><script>alert(1)</script> <!-- \u2028 done"
    table = pl.DataFrame({"x": [0.0, 1.0], "y": [1.0, 0.0], "cluster": [0, 1], "source": ["b", "a"], "prompt": [evil, "ok"]})
    html = write_html(table, ["one", "two & <three>"], tmp_path / "m.html", title="t <x>").read_text()
    assert html.count("</script>") == 2 and "<title>t &lt;x&gt;</title>" in html
    blob = html.split('<script type="application/json" id="data">')[1].split("</script>")[0]
    data = json.loads(blob)
    assert data["p"][0] == " ".join(evil.split()) and data["labels"][1] == "two & <three>"
    assert data["sources"] == ["a", "b"] and data["s"] == [1, 0]
