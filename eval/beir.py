"""BEIR-format datasets: corpus.jsonl[.gz], queries.jsonl[.gz], qrels/<split>.tsv; ids are strings."""
from __future__ import annotations

import csv
import gzip
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from sql.errors import InvalidInput
from ingest.loaders import LoadedDocument


def _open_text(path: Path):  # type: ignore[no-untyped-def]
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")


def _find(folder: Path, stem: str) -> Path:
    for name in (stem, stem + ".gz"):
        if (folder / name).exists():
            return folder / name
    raise InvalidInput(f"{folder} has no {stem} or {stem}.gz: is it a BEIR dataset folder?")


@dataclass
class BeirDataset:
    """A BEIR dataset folder and one of its splits."""

    path: Path
    split: str
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]

    @property
    def name(self) -> str:
        return self.path.resolve().name

    @property
    def corpus_file(self) -> Path:
        return _find(self.path, "corpus.jsonl")

    def corpus_fingerprint(self) -> str:
        """sha256 of the corpus file: the eval namespace is reused while it is unchanged."""
        digest = hashlib.sha256()
        with self.corpus_file.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        return digest.hexdigest()

    def corpus(self) -> Iterator[LoadedDocument]:
        with _open_text(self.corpus_file) as f:
            for number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                row = json.loads(line)
                yield LoadedDocument(
                    external_id=str(row["_id"]), title=str(row.get("title") or ""), text=str(row.get("text") or ""),
                    provenance={"dataset": self.name, "line": number},
                )


def load_beir(path: Path, split: str) -> BeirDataset:
    """Queries and judgments of a split; a split without a qrels file is a clear error."""
    path = Path(path)
    if not path.is_dir():
        raise InvalidInput(f"{path} is not a folder")
    qrels_file = path / "qrels" / f"{split}.tsv"
    if not qrels_file.exists():
        available = sorted(p.stem for p in (path / "qrels").glob("*.tsv")) if (path / "qrels").is_dir() else []
        raise InvalidInput(f"{path} has no split {split!r} (qrels/{split}.tsv); available: {available or 'none'}")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_file.open(encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t")
        for i, row in enumerate(reader):
            if not row or (i == 0 and row[0] == "query-id"):
                continue
            qid, did, score = str(row[0]), str(row[1]), int(row[2])
            qrels.setdefault(qid, {})[did] = score
    queries = {}
    with _open_text(_find(path, "queries.jsonl")) as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                queries[str(row["_id"])] = str(row["text"])
    missing = [q for q in qrels if q not in queries]
    if missing:
        raise InvalidInput(f"{len(missing)} judged queries are missing from queries.jsonl, e.g. {missing[:3]}")
    return BeirDataset(path, split, queries, qrels)
