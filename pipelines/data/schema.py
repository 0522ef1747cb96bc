"""Candidate schema for review: inferred by TFDV from the spans, never written over the curated one.

The curated schema (pipelines/schema/<dataset>.pbtxt) is a reviewed file: the pipeline imports
it with ImportSchemaGen instead of trusting SchemaGen's inference on whatever data arrives. When
the data changes on purpose, `openct data schema` writes a fresh inference next to the build outputs
and lists how it differs, so that a person can merge the changes by review.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow_data_validation as tfdv

from pipelines.data.dataset import DatasetSpec
from pipelines.data.spans import SPAN_PATTERN


def infer_schema(data_root: str):
    """TFDV's inference over every span's CSV, adjusted to how CsvExampleGen encodes the data.

    TFDV's CSV reader treats an empty cell as an absent feature; CsvExampleGen writes a feature
    with no values. So a column that is not always filled gets `value_count.min = 0`, or the
    validator would report "fewer values than expected" on every span with an empty cell.
    """
    pattern = str(Path(data_root) / SPAN_PATTERN.replace("{SPAN}", "*"))
    stats = tfdv.generate_statistics_from_csv(data_location=pattern)
    schema = tfdv.infer_schema(stats)
    for feature in schema.feature:
        if feature.HasField("value_count") and not feature.HasField("shape"):
            feature.value_count.min = 0
            feature.presence.min_count = 0
    return schema


def describe_differences(curated, candidate) -> list[str]:
    """Feature-level differences between two Schema protos."""
    cur = {f.name: f for f in curated.feature}
    cand = {f.name: f for f in candidate.feature}
    lines = [f"+ {n} (new in data)" for n in sorted(set(cand) - set(cur))]
    lines += [f"- {n} (not in data)" for n in sorted(set(cur) - set(cand))]
    for name in sorted(set(cur) & set(cand)):
        if cur[name].type != cand[name].type:
            lines.append(f"~ {name}: type {cur[name].type} -> {cand[name].type}")
    return lines


def write_candidate_schema(spec: DatasetSpec, data_root: str, output: Path) -> str:
    """Writes TFDV's inference over the spans to `output` and reports how it differs from the curated schema."""
    curated_path = spec.schema_path().resolve()
    if output.resolve() == curated_path:
        raise ValueError(
            f"refusing to overwrite the curated schema {curated_path}; "
            "write the candidate elsewhere and merge it by review"
        )
    candidate = infer_schema(data_root)
    output.parent.mkdir(parents=True, exist_ok=True)
    tfdv.write_schema_text(candidate, str(output))
    report = [f"candidate schema: {output} ({len(candidate.feature)} features)"]
    if curated_path.is_file():
        diff = describe_differences(tfdv.load_schema_text(str(curated_path)), candidate)
        report.append(
            f"compared with curated {curated_path}: "
            + (f"{len(diff)} difference(s)" if diff else "same features and types")
        )
        report += [f"  {line}" for line in diff]
        report.append("domains, ranges, environments and drift comparators are curated by hand: review before merging")
    else:
        report.append(f"no curated schema at {curated_path} yet: review the candidate and copy it there")
    return "\n".join(report)
