"""A real record with seasons through README's "Your own CSV", exactly as written (issue 25).

Seattle's daily weather 2012-2015 (tests/data/seattle-weather.csv, NOAA via vega_datasets), label
`precipitation>0`, 6-month spans. Summer is drier than winter: on main at cf86194 the first
window stopped at span 2 on clean data (LABEL 0.1747 > 0.1459, COMPLETENESS zero share 0.6033 >
0.5745 on the label's input), leaving no model and no way forward. Now:
1. the first seven spans are judged one by one and none is blocked: span 2's failures, with six
   months of history, are warnings that the summary carries, and no later span fails a check; a
   model is pushed;
2. a span the checks block for a real reason (span 8, from a station reporting one day in
   fifteen) can be accepted by a person with `openct data accept`, recorded in ML Metadata and shown by `ct
   history`; the next run judges it again, it passes with the accepted check as a warning, and it
   enters the training window.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import pytest

from pipelines import cli, lineage
from pipelines.config import REPO_ROOT
from pipelines.data.spans import span_path

pytestmark = pytest.mark.e2e

WEATHER = REPO_ROOT / "tests" / "data" / "seattle-weather.csv"
WEATHER_SHA256 = "62f0609f787158128aa2bd102967173a4953122dd4f872bf1d502cae1037df0b"


class Weather:
    def __init__(self, root: Path):
        self.root = root
        self.csv = root / "seattle-weather.csv"
        shutil.copy(WEATHER, self.csv)
        self.spec = root / "seattle-weather.json"
        self.data, self.pipeline, self.serving = root / "data", root / "pipeline", root / "serving"

    def store(self) -> list[str]:
        return ["--pipeline-root", str(self.pipeline)]

    def run(self, summary: str) -> tuple[int, dict]:
        flags = ["--dataset", str(self.spec), "--data-root", str(self.data), *self.store()]
        out = self.root / summary
        serving = ["--serving-dir", str(self.serving), "--no-prepare"]  # span 8 is held back until test 2
        code = cli.main(["local", "run", *flags, *serving, "--summary-json", str(out)])
        return code, json.loads(out.read_text())


@pytest.fixture(scope="module")
def weather(tmp_path_factory) -> Weather:
    assert hashlib.sha256(WEATHER.read_bytes()).hexdigest() == WEATHER_SHA256, "tests/data/README.md"
    return Weather(tmp_path_factory.mktemp("weather"))


def test_1_clean_seasonal_spans_pass_and_a_short_history_only_warns(weather, capsys):
    draft = [str(weather.csv), "--time-column", "date", "--time-format", "%Y/%m/%d", "--label", "precipitation>0"]
    assert cli.main(["data", "draft", *draft, "--span-months", "6", "--data-root", str(weather.data)]) == 0
    assert "spans: 8 new" in capsys.readouterr().out
    span_8 = span_path(weather.data, 8)
    span_8.rename(weather.root / "span-8.csv")  # arrives in test 2
    span_8.parent.rmdir()
    code, summary = weather.run("first.json")
    out = capsys.readouterr().out
    assert code == 0 and summary["status"] == "pushed", out[-3000:]
    assert summary["spans"] == list(range(1, 8)) and summary["anomalies"] == []
    # span 2 against one half-year: the two failures main blocked on, and a summer's temperatures
    # above the winter's (TAIL), are warnings that say why
    warned = {": ".join(w.split(": ")[1:3]) for w in summary["warnings"]}
    assert {"feature 'precipitation': COMPLETENESS", "feature 'seattle-weather_label': LABEL"} <= warned
    assert all(w.startswith("span 2: ") and "less than the 12 months" in w for w in summary["warnings"])
    assert f"warnings         : {len(summary['warnings'])}" in out
    with lineage.open_store(str(weather.pipeline / "metadata.sqlite")) as store:
        assert lineage.validated_spans(store) == set(range(1, 8))


def test_2_a_blocked_span_accepted_by_a_person_passes_on_the_next_run(weather, capfd):
    # Span 8 (the second half of 2015) arrives as a station that reported one day in fifteen would
    # deliver it: real days, 13 of 184. Volume blocks: 13 rows < 0.1 x 181.
    with open(weather.root / "span-8.csv", newline="") as f:
        header, *rows = list(csv.reader(f))
    span_path(weather.data, 8).parent.mkdir()
    with open(span_path(weather.data, 8), "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerows([header, *rows[::15]])

    code, summary = weather.run("blocked.json")
    assert code == 3 and summary["status"] == "blocked", capfd.readouterr().out[-3000:]
    assert [a.split(": ")[1:3] for a in summary["anomalies"]] == [["feature '(dataset)'", "VOLUME"]]
    capfd.readouterr()

    store = weather.store()
    assert cli.main(["data", "accept", "--span", "7", "--reason", "x", *store]) == 1  # nothing to accept there
    assert "span 7: no failed data check to accept" in capfd.readouterr().err
    reason = "station outage: 13 days reported, each valid"
    assert cli.main(["data", "accept", "--span", "8", "--reason", reason, "--by", "ana", *store]) == 0
    assert "accepted span 8: VOLUME on '(dataset)', by ana" in capfd.readouterr().out

    code, summary = weather.run("accepted.json")
    assert code == 0, capfd.readouterr().out[-3000:]
    assert summary["status"] in ("pushed", "not-blessed") and summary["spans"][-1] == 8
    accepted = [w for w in summary["warnings"] if w.startswith("span 8: feature '(dataset)': VOLUME")]
    assert accepted and "accepted by ana on " in accepted[0] and reason in accepted[0]
    with lineage.open_store(str(weather.pipeline / "metadata.sqlite")) as store_:
        assert 8 in lineage.validated_spans(store_)
    capfd.readouterr()
    assert cli.main(["ct", "history", *store]) == 0
    history = capfd.readouterr().out
    assert "data accept" in history and f"accepted VOLUME on '(dataset)' by ana: {reason}" in history
    assert "data check warnings on span 8" in history and "blocked" in history
