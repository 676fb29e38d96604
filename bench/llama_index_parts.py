"""Do llama-index's reader and chat memory do the job of rag's own code? Measured here.

    python bench/llama_index_parts.py [--corpus examples/corpus]

1. Reader. ``SimpleDirectoryReader`` (llama-index-core's, as ``rag/baseline.py`` uses it)
   against ``rag.documents.read_document``: both texts go through the same SPEC 2
   paragraph rule (``rag.paragraphs.split_paragraphs``), and the paragraphs (number,
   start/end line, text) are compared, on the sample corpus and on small files that hold
   what real folders hold (a BOM, CRLF or CR line ends, bad UTF-8, a binary, HTML).
2. Chat memory. ``ChatMemoryBuffer`` against ``rag/chat.py``'s ``deque(maxlen=MAX_TURNS)``
   of turns: which turns each keeps for the same conversation in English, Arabic and
   Chinese, and what importing it costs a fresh process.

The figures are quoted in the ``rag/llama_index.py`` docstring.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import deque
from pathlib import Path

from rag.documents import read_document
from rag.errors import DocumentError
from rag.paragraphs import split_paragraphs
from rag.types import Paragraph

EDGE_CASES: dict[str, bytes] = {
    "bom.txt": "\ufeffFirst paragraph.\n\nSecond paragraph.\n".encode(),
    "crlf.txt": b"First line\r\nstill first.\r\n\r\nSecond.\r\n",
    "cr.txt": b"First.\r\rSecond.\r",
    "latin1.txt": "Caf\u00e9 au lait.\n\nNa\u00efve.\n".encode("latin-1"),
    "binary.txt": b"\x00\x01\x02PNG\x00" * 20,
    "page.html": b"<html><body><h1>Title</h1>\n<p>First paragraph.</p>\n<p>Second.</p></body></html>\n",
}


def _key(paragraphs: list[Paragraph]) -> list[tuple[int, int, int, str]]:
    return [(p.number, p.start_line, p.end_line, p.text) for p in paragraphs]


def compare_readers(folder: Path) -> list[tuple[str, str]]:
    """(file, verdict) for every file in FOLDER."""
    from llama_index.core import SimpleDirectoryReader

    verdicts = []
    for path in sorted(folder.iterdir()):
        try:
            ours: list[Paragraph] | str = list(read_document(path, path.name).paragraphs)
        except DocumentError as exc:
            ours = f"refused: {exc.message}"
        docs = SimpleDirectoryReader(input_files=[str(path)]).load_data()
        theirs = split_paragraphs(path.name, "".join(d.text for d in docs))
        if isinstance(ours, str):
            first = theirs[0].text[:24] if theirs else ""
            verdicts.append((path.name, f"rag {ours}; llama-index read it as {len(theirs)} paragraph(s), "
                                        f"the first {first!r}"))
        elif _key(ours) == _key(theirs):
            verdicts.append((path.name, f"same {len(ours)} paragraphs, lines and text"))
        else:
            diff = next(((a, b) for a, b in zip(_key(ours), _key(theirs), strict=False) if a != b), None)
            verdicts.append((path.name, f"differs: rag {len(ours)} paragraphs, llama-index {len(theirs)}; "
                                        f"first difference rag={diff[0] if diff else None!r} "
                                        f"llama-index={diff[1] if diff else None!r}"))
    return verdicts


def reader_seconds(folder: Path, rounds: int = 20) -> tuple[float, float]:
    from llama_index.core import SimpleDirectoryReader

    files = sorted(folder.iterdir())
    t = time.perf_counter()
    for _ in range(rounds):
        for p in files:
            read_document(p, p.name)
    ours = (time.perf_counter() - t) / rounds
    t = time.perf_counter()
    for _ in range(rounds):
        for d in SimpleDirectoryReader(input_files=[str(p) for p in files]).load_data():
            split_paragraphs("x", d.text)
    return ours, (time.perf_counter() - t) / rounds


CONVERSATION = {
    "en": [("Which countries did the delegation visit?", "Germany, Russia and Kazakhstan [1]."),
           ("How many days in Russia?", "Four days, from the 16th to the 19th [1]."),
           ("Who led it?", "The deputy governor of Liaoning led the delegation [2]."),
           ("What did they sign?", "Eleven cooperation agreements worth 2.1 billion yuan [1].")],
    "ar": [("ما هي الدول التي زارها الوفد؟", "ألمانيا وروسيا وكازاخستان [1]."),
           ("كم يوما في روسيا؟", "أربعة أيام، من الـ 16 إلى الـ 19 [1]."),
           ("من ترأسه؟", "ترأس الوفد نائب حاكم مقاطعة لياونينغ [2]."),
           ("ماذا وقعوا؟", "إحدى عشرة اتفاقية تعاون بقيمة 2.1 مليار يوان [1].")],
    "zh": [("代表團訪問了哪些國家？", "德國、俄羅斯和哈薩克斯坦[1]。"),
           ("在俄羅斯待了幾天？", "四天，從16日到19日[1]。"),
           ("誰帶隊？", "遼寧省副省長帶領代表團[2]。"),
           ("簽了什麼？", "十一項合作協議，總值21億元[1]。")],
}


def compare_memory(max_turns: int = 3, token_limit: int = 60) -> list[str]:
    """Which questions each memory hands the rewriter after the whole conversation."""
    from llama_index.core.llms import ChatMessage
    from llama_index.core.memory import ChatMemoryBuffer
    from llama_index.core.utils import get_tokenizer

    tokens = get_tokenizer()
    lines = []
    for lang, turns in CONVERSATION.items():
        kept: deque[tuple[str, str]] = deque(maxlen=max_turns)
        memory = ChatMemoryBuffer.from_defaults(token_limit=token_limit)
        for q, a in turns:
            kept.append((q, a))
            memory.put(ChatMessage(role="user", content=q))
            memory.put(ChatMessage(role="assistant", content=a))
        theirs = [m.content for m in memory.get() if m.role == "user"]
        per_turn = [len(tokens(q)) + len(tokens(a)) for q, a in turns]
        lines.append(f"{lang}: deque keeps {len(kept)} turns; ChatMemoryBuffer(token_limit={token_limit}) keeps "
                     f"{len(theirs)} (cl100k tokens per turn: {per_turn})")
    return lines


def import_seconds(statement: str, rounds: int = 3) -> float:
    """Best wall time of a fresh interpreter running STATEMENT, minus a bare interpreter's."""
    def best(code: str) -> float:
        times = []
        for _ in range(rounds):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True)
            times.append(time.perf_counter() - t)
        return min(times)

    return best(statement) - best("pass")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--corpus", type=Path, default=Path("examples/corpus"))
    args = parser.parse_args()
    print("## Reader: SimpleDirectoryReader vs rag.documents, same paragraph rule")
    for name, verdict in compare_readers(args.corpus):
        print(f"  {name}: {verdict}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, data in EDGE_CASES.items():
            (Path(tmp) / name).write_bytes(data)
        for name, verdict in compare_readers(Path(tmp)):
            print(f"  {name}: {verdict}")
    ours, theirs = reader_seconds(args.corpus)
    print(f"  reading the corpus: rag {ours * 1000:.1f} ms, SimpleDirectoryReader + split {theirs * 1000:.1f} ms")
    print("## Chat memory: ChatMemoryBuffer vs deque(maxlen=3) of turns")
    for line in compare_memory():
        print(f"  {line}")
    print(f"  import in a fresh process: llama_index.core.memory "
          f"{import_seconds('import llama_index.core.memory'):.2f} s, collections.deque "
          f"{import_seconds('from collections import deque'):.2f} s")


if __name__ == "__main__":
    main()
