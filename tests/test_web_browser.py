"""The web app in a real headless Chromium (tests/browser.py): ask and open a citation's
evidence, streamed tokens, filters, the basket's .bib, a related-work download, an upload with
its progress and reject report, hostile text shown as text, a stalled model within the deadline.
Each test serves its own copy of an index under a real uvicorn on a loopback port."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bibtexparser
import pytest
from browser import chromium, downloaded, missing, wait_until
from fake_openai import FakeOpenAI, FakeReply
from web_app import HOSTILE_ABSTRACT, HOSTILE_TITLE, live_server, years_index_in

from assistant.settings import Settings

if missing() is not None and os.environ.get("CI"):  # .ci/run installs them: never skip there
    pytest.fail(f"CI runs the browser tests, but {missing()}", pytrace=False)
pytestmark = pytest.mark.skipif(missing() is not None, reason=str(missing()))

QUESTION = "Which paper extends the context window of LLaMA with shifted sparse attention?"
DEADLINE = 1.5


@pytest.fixture
def downloads(tmp_path: Path) -> Path:
    folder = tmp_path / "downloads"
    folder.mkdir()
    return folder


@pytest.fixture
def driver(downloads: Path) -> Iterator[Any]:
    with chromium(downloads) as browser:
        yield browser


@pytest.fixture
def years_index(tmp_path: Path) -> Path:
    return years_index_in(tmp_path)


def css(driver: Any, selector: str) -> list[Any]:
    return driver.find_elements("css selector", selector)  # type: ignore[no-any-return]


def ask_on_page(driver: Any, url: str, question: str, timeout: float = 30) -> Any:
    """Ask on the Ask page; returns the finished turn's section."""
    driver.get(url + "/")
    before = len(css(driver, ".turn.done"))
    box = css(driver, "#question")[0]
    box.clear()
    box.send_keys(question)
    css(driver, "#ask-button")[0].click()
    wait_until(lambda: len(css(driver, ".turn.done")) > before, timeout, "the answer")
    return css(driver, ".turn.done")[-1]


def test_ask_shows_a_cited_answer_whose_citation_opens_its_evidence(
    bundled_index_dir: Path, driver: Any
) -> None:
    with live_server(Settings(index_dir=bundled_index_dir)) as url:
        turn = ask_on_page(driver, url, QUESTION)
        assert "Extractive answer" in turn.find_element("css selector", ".notes").text
        sources = turn.find_elements("css selector", ".sources li")
        assert sources and sources[0].text.startswith("LongLoRA")
        assert turn.find_element("css selector", ".sources .score").text  # scores shown
        cite = turn.find_elements("css selector", ".answer a.cite")[0]
        cite.click()
        panel = wait_until(lambda: css(driver, "#evidence:not([hidden])"), 5, "the evidence")[0]
        title = panel.find_element("css selector", "h3 a")
        assert title.text.startswith("LongLoRA")
        evidence = panel.find_element("css selector", ".evidence-sentence").text
        assert evidence and evidence in turn.find_element("css selector", ".answer").text
        title.click()  # the paper's page: abstract and contribution
        wait_until(lambda: css(driver, ".paper-page"), 10, "the paper page")
        assert evidence.strip("“”") in css(driver, ".abstract")[0].text
        driver.get(url + "/")  # the conversation is listed, and comes back whole
        css(driver, ".chats summary")[0].click()
        css(driver, ".chats a")[0].click()
        again = wait_until(lambda: css(driver, ".turn.done .answer a.cite"), 10, "the saved turn")
        assert css(driver, ".turn.done .q")[0].text == QUESTION and again


def test_a_model_answer_streams_and_a_stalled_model_still_answers_in_time(
    bundled_index_dir: Path, driver: Any, fake_llm: FakeOpenAI
) -> None:
    text = (
        "LongLoRA extends the context window of LLaMA with shifted sparse attention [1]. "
        "<img src=x onerror=alert(1)> is not markup here."
    )
    fake_llm.queue(FakeReply.chunks([w + " " for w in text.split()], delay=0.25))
    settings = Settings(
        index_dir=bundled_index_dir, llm_base_url=fake_llm.url, llm_model="fake-model",
        llm_first_token_timeout=DEADLINE, llm_max_retries=0,
    )  # fmt: skip
    with live_server(settings) as url:
        driver.get(url + "/")
        css(driver, "#question")[0].send_keys(QUESTION)
        css(driver, "#ask-button")[0].click()
        partial = wait_until(
            lambda: [e.text for e in css(driver, ".turn:not(.done) .answer.streaming") if e.text],
            20, "streamed tokens before the answer ends",
        )  # fmt: skip
        assert text.startswith(partial[0].strip()) and partial[0].strip() != text
        wait_until(lambda: css(driver, ".turn.done .answer a.cite"), 20, "the cited answer")
        shown = css(driver, ".turn.done .answer")[0].text
        assert "<img src=x onerror=alert(1)> is not markup here." in shown  # model output: text
        assert driver.execute_script("return document.querySelectorAll('img').length") == 0
        fake_llm.queue(FakeReply.stalled())
        started = time.monotonic()
        turn = ask_on_page(driver, url, QUESTION, timeout=DEADLINE + 10)
        took = time.monotonic() - started
    notes = turn.find_element("css selector", ".notes").text
    assert "The model failed" in notes and "extractive answer" in notes
    assert turn.find_elements("css selector", ".answer a.cite") and took < DEADLINE + 10


def test_filters_by_year_on_the_papers_and_ask_pages(years_index: Path, driver: Any) -> None:
    with live_server(Settings(index_dir=years_index)) as url:
        driver.get(url + "/papers?q=low-rank+adaptation+of+language+models")
        assert len(css(driver, "#results li")) == 4
        css(driver, "#search-form input[name=since]")[0].send_keys("2023")
        css(driver, "#search-form button[type=submit]")[0].click()
        wait_until(lambda: "since=2023" in driver.current_url, 10, "the filtered search")
        years = {e.get_attribute("data-year") for e in css(driver, "#results li")}
        assert years == {"2023", "2024"}
        driver.get(url + "/")
        css(driver, "#ask-form input[name=until]")[0].send_keys("2021")
        turn = ask_on_page_keep(driver, "What does low-rank adaptation freeze?")
        titles = [e.text for e in turn.find_elements("css selector", ".sources li > a")]
        assert titles == ["LoRA: Low-Rank Adaptation of Large Language Models"]


def ask_on_page_keep(driver: Any, question: str) -> Any:
    """Ask on the page as it is (its filter fields filled)."""
    css(driver, "#question")[0].send_keys(question)
    css(driver, "#ask-button")[0].click()
    wait_until(lambda: css(driver, ".turn.done"), 30, "the answer")
    return css(driver, ".turn.done")[-1]


def test_two_papers_in_the_basket_download_as_bibtex_that_parses(
    years_index: Path, driver: Any, downloads: Path
) -> None:
    with live_server(Settings(index_dir=years_index)) as url:
        driver.get(url + "/papers")
        rows = css(driver, "#results li")
        for row in rows[:2]:
            row.find_element("css selector", ".basket-add").click()
        assert css(driver, "#basket-count")[0].text == "2"
        assert len(css(driver, "#basket-list li")) == 2
        driver.get(url + "/papers?q=QLoRA")  # the basket is kept across pages
        assert css(driver, "#basket-count")[0].text == "2"
        css(driver, "#export-bib")[0].click()
        bib = downloaded(downloads, "references.bib")
    library = bibtexparser.parse_string(bib.read_text(encoding="utf-8"))
    assert len(library.entries) == 2 and not library.failed_blocks
    assert {e.key for e in library.entries} == {"hu2021lora", "dettmers2023qlora"}


def test_a_related_work_draft_is_shown_and_downloaded(
    years_index: Path, driver: Any, downloads: Path
) -> None:
    with live_server(Settings(index_dir=years_index)) as url:
        driver.get(url + "/related")
        css(driver, "#topic")[0].send_keys("low-rank adaptation of language models")
        css(driver, "#draft-button")[0].click()
        wait_until(lambda: css(driver, "#draft:not([hidden])"), 60, "the draft")
        assert css(driver, "#draft-body h4, #draft-body h3, #draft-body h2")
        assert len(css(driver, "#draft-references li")) >= 2
        css(driver, "#download-md")[0].click()
        markdown = downloaded(downloads, "related-work.md").read_text(encoding="utf-8")
        css(driver, "#download-bib")[0].click()
        bib = downloaded(downloads, "related-work.bib").read_text(encoding="utf-8")
    assert "**References**" in markdown and "LoRA" in markdown
    keys = {e.key for e in bibtexparser.parse_string(bib).entries}
    assert keys and all(f"`{key}`" in markdown for key in keys)


def test_an_uploaded_bib_is_ingested_with_progress_and_a_reject_report(
    small_index_dir: Path, driver: Any, tmp_path: Path
) -> None:
    upload = tmp_path / "mine.bib"
    upload.write_text(
        "@article{zeta2025, title={Zebra Finches Learn Songs from Tutors},\n"
        "  abstract={We show that zebra finches copy the songs of adult tutors.}, year={2025}}\n"
        "@article{eta2025, title={Coral Reef Bleaching under Heat Stress},\n"
        "  abstract={Heat stress bleaches corals within weeks.}, year={2025}}\n"
        "@article{broken, title={Never closed,\n",
        encoding="utf-8",
    )
    with live_server(Settings(index_dir=small_index_dir)) as url:
        driver.get(url + "/index")
        before = int(css(driver, "#paper-count")[0].text)
        css(driver, "#upload-files")[0].send_keys(str(upload))
        css(driver, "#upload-button")[0].click()
        wait_until(lambda: css(driver, "#upload-job:not([hidden]) progress"), 10, "progress")
        status = wait_until(
            lambda: "Done" in css(driver, "#upload-status")[0].text
            and css(driver, "#upload-status")[0].text, 60, "the ingest",
        )  # fmt: skip
        progress = css(driver, "#upload-progress")[0]
        assert progress.get_attribute("value") == progress.get_attribute("max")
        assert "2 added" in status and "1 rejected" in status
        assert int(css(driver, "#paper-count")[0].text) == before + 2
        reject = css(driver, ".rejects li")[0].text
        assert reject.startswith("mine.bib:") and "line 5" in reject
        driver.get(url + "/papers?q=zebra+finches+songs")
        assert css(driver, "#results li a.title")[0].text == "Zebra Finches Learn Songs from Tutors"


def test_a_hostile_abstract_is_shown_as_text(years_index: Path, driver: Any) -> None:
    with live_server(Settings(index_dir=years_index)) as url:
        driver.get(url + "/paper?id=hostile")
        assert css(driver, "h1.paper-title")[0].text == HOSTILE_TITLE
        assert css(driver, ".abstract")[0].text == HOSTILE_ABSTRACT
        turn = ask_on_page(driver, url, "injections in abstracts escaped everywhere")
        assert HOSTILE_TITLE in turn.find_element("css selector", ".sources").text
        dots = turn.find_elements("css selector", ".timeline .dot")  # the sources by year
        labels = [e.text for e in turn.find_elements("css selector", ".timeline .year-label")]
        assert len(dots) == len(turn.find_elements("css selector", ".sources li")) >= 2
        assert labels == [str(y) for y in range(int(labels[0]), int(labels[-1]) + 1)]
        assert HOSTILE_TITLE in {d.get_attribute("aria-label") for d in dots}
        turn.find_elements("css selector", ".answer a.cite")[0].click()
        panel = wait_until(lambda: css(driver, "#evidence:not([hidden])"), 5, "the evidence")[0]
        assert HOSTILE_TITLE in panel.text
        injected = driver.execute_script(
            "return document.querySelectorAll('img[src=x], b, main script').length"
        )
        alerts = driver.execute_script("return document.title")
    assert injected == 0 and alerts != "owned"
