"""Human-readable text for plans, reports and runs (the CLI prints; this only formats)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mlrun_cli.shared import tags

if TYPE_CHECKING:
    from mlrun_cli.project.validate import ValidationReport
    from mlrun_cli.runs.plan import RunPlan
    from mlrun_cli.tracking.base import RunRecord


def _when(ms: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000)) if ms else "-"


def _duration(record: RunRecord) -> str:
    if record.end_time_ms is None or not record.start_time_ms:
        return "-"
    return f"{(record.end_time_ms - record.start_time_ms) / 1000:.1f}s"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in (headers, *rows)
    ]
    return "\n".join(lines)


def runs_table(records: Sequence[RunRecord]) -> str:
    if not records:
        return "No runs."
    rows = [
        (
            r.run_id,
            r.run_name,
            r.status.name,
            _when(r.start_time_ms),
            _duration(r),
            r.tags.get(tags.EXIT_CODE, "-"),
            r.tags.get(tags.ENTRY_POINT, "-"),
            r.experiment_name,
        )
        for r in records
    ]
    return table(("RUN ID", "NAME", "STATUS", "STARTED", "DURATION", "EXIT", "ENTRY", "EXPERIMENT"), rows)


def runs_csv(records: Sequence[RunRecord]) -> str:
    """One row per run: its attributes, then every parameter and metric any of them has."""
    import csv
    import io

    params = sorted({key for r in records for key in r.params})
    metrics = sorted({key for r in records for key in r.metrics})
    base = ("run_id", "run_name", "status", "start_time_ms", "end_time_ms", "duration_s", "experiment_id",
            "experiment_name", "lifecycle_stage")  # fmt: skip
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*base, *(f"params.{k}" for k in params), *(f"metrics.{k}" for k in metrics)])
    for record in records:
        data = record.to_dict()
        row = [data[column] for column in base]
        row += [record.params.get(k, "") for k in params] + [record.metrics.get(k, "") for k in metrics]
        writer.writerow(["" if value is None else value for value in row])
    return out.getvalue()


def run_details(record: RunRecord, job_state: str | None = None) -> str:
    status = record.status.name + (f" (job: {job_state})" if job_state else "")
    if record.lifecycle_stage == "deleted":  # hidden from `runs list`: say why it still shows here
        status += " (deleted: `mlrun runs restore` brings it back)"
    lines = [
        f"Run:         {record.run_id} ({record.run_name})",
        f"Experiment:  {record.experiment_name} ({record.experiment_id})",
        f"Status:      {status}",
        f"Started:     {_when(record.start_time_ms)}",
        f"Duration:    {_duration(record)}",
        f"Artifacts:   {record.artifact_uri}",
    ]
    lines += _lineage_lines(record)
    for title, values in (("Parameters", record.params), ("Metrics", record.metrics), ("Tags", record.tags)):
        if values:
            lines.append(f"{title}:")
            lines += [f"  {key} = {value}" for key, value in sorted(values.items())]
    if record.artifacts:
        lines.append("Artifact files:")
        lines += [f"  {name}" for name in record.artifacts]
    return "\n".join(lines)


def _lineage_lines(record: RunRecord) -> list[str]:
    import json

    from mlrun_cli.runs.finding import lineage

    found = lineage(record)
    lines = []
    if "sweep_parent" in found:
        point = f" (point {found['sweep_point']})" if "sweep_point" in found else ""
        lines.append(f"Sweep:       child of {found['sweep_parent']}{point}")
    if "sweep_points" in found:
        lines.append(f"Sweep:       {found['sweep_points']} points: mlrun runs list --parent {record.run_id}")
    if "attempt" in found:
        first = f", retry of {found['retry_of']}" if "retry_of" in found else ""
        lines.append(f"Attempt:     {found['attempt']}{first}")
    if "fingerprint" in found:
        lines.append(f"Fingerprint: {found['fingerprint']}")
    inputs = found.get("fingerprint_inputs")
    if isinstance(inputs, dict):
        lines += [
            f"  {key} = {json.dumps(value) if not isinstance(value, str) else value}"
            for key, value in inputs.items()
        ]
    elif inputs is not None:
        lines.append(f"  {inputs}")
    return lines


def plan_text(plan: RunPlan, *, needed: bool = False, reused: str | None = None) -> str:
    """The dry run's plan; with --needed (`needed`), the run it would reuse, if any."""
    from mlrun_cli.shared.uri_credentials import redact_uri  # not at import: `validate` loads no tracking

    data = plan.to_dict()
    lines = [
        "Dry run: nothing is run or recorded.",
        f"Project:      {data['project']}",
        f"Entry point:  {data['entry_point']}",
        f"Command:      {data['command']}",
    ]
    params = plan.bound.all_values()
    if params:
        lines.append("Parameters:")
        lines += [f"  {key} = {value}" for key, value in params.items()]
    experiment = plan.experiment_name or plan.experiment_id or "Default (0)"
    lines += [
        f"Environment:  {plan.env.manager} ({plan.project.env.source}): {plan.env.description}",
        f"Backend:      {plan.backend.NAME}{' (detached)' if plan.detach else ''}",
    ]
    if plan.backend_config:
        lines += [f"  {key} = {value}" for key, value in plan.backend_config.items()]
    lines += [
        f"Tracking:     {redact_uri(plan.tracking_uri)}",  # never a password
        f"Experiment:   {experiment}",
        f"Run name:     {plan.run_name}",
    ]
    if needed:
        lines.append(
            f"Needed:       {f'no, done already in run {reused}' if reused else 'yes, no run to reuse'}"
        )
    return "\n".join(lines)


def report_text(report: ValidationReport) -> str:
    if report.problems:
        return "\n".join(str(p) for p in report.problems)
    if not report.valid:
        return f"{report.path}: invalid with --strict: {len(report.warnings)} warnings (below)"
    summary = report.summary
    entries = summary.get("entry_points") or {}
    assert isinstance(entries, dict)
    if not summary.get("mlproject"):
        scripts = sorted(p.name for p in report.path.glob("*") if p.suffix in (".py", ".sh") and p.is_file())
        runs = f"`mlrun run -e {scripts[0]}` runs it" if scripts else "there is no .py or .sh script to run"
        return f"{report.path}: no MLproject here; {runs} (a script given with -e, as MLflow does)"
    lines = [f"{summary.get('mlproject')}: valid", f"  environment: {summary.get('environment')}"]
    lines += [f"  entry point {name}: {entry['command']}" for name, entry in entries.items()]
    return "\n".join(lines)


def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


def envs_table(found: Sequence[dict[str, object]]) -> str:
    if not found:
        return "No cached environments."
    rows = [
        (
            str(e["name"]),
            str(e["kind"]),
            str(e["python"]),
            _size(int(str(e["size_bytes"]))),
            _when(int(float(str(e["last_used"] or 0)) * 1000)),
            str(e["path"]),
        )
        for e in found
    ]
    return table(("NAME", "KIND", "PYTHON", "SIZE", "LAST USED", "PATH"), rows)
