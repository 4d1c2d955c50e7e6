"""What the fuzzer tried and saw, per RPC: inputs, status codes, and distinct problems (each with its
first example); printed as a table at the end of the session and written as JSON."""

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from tests.fuzz.probe import Problem


@dataclass
class Found:
    problem: Problem
    example: str
    count: int = 0


@dataclass
class RpcResult:
    rpc: str
    tried: int = 0
    statuses: Counter = field(default_factory=Counter)
    found: dict[tuple, Found] = field(default_factory=dict)
    seconds: float = 0.0

    def record(self, code: grpc.StatusCode, problems: list[Problem], example: str) -> None:
        self.tried += 1
        self.statuses[code.name] += 1
        for problem in problems:
            self.found.setdefault(problem.key, Found(problem, example)).count += 1

    def render(self) -> str:
        lines = [f"{self.rpc}: {len(self.found)} distinct problem(s) in {self.tried} inputs"]
        for f in self.found.values():
            lines += [f"- {f.problem.text}", f"  seen {f.count}x, e.g. {f.example[:1500]}"]
        return "\n".join(lines)


class Results:
    def __init__(self) -> None:
        self.rpcs: dict[str, RpcResult] = {}

    def start(self, rpc: str) -> RpcResult:
        self.rpcs[rpc] = result = RpcResult(rpc)
        return result

    def table(self) -> str:
        rows = [("RPC", "inputs", "problems", "status codes seen")]
        for r in self.rpcs.values():
            codes = ", ".join(f"{code} {n}" for code, n in r.statuses.most_common())
            rows.append((r.rpc.split(".v1.")[-1], str(r.tried), str(len(r.found)), codes))
        width = [max(len(row[i]) for row in rows) for i in range(3)]
        return "\n".join(f"{a:<{width[0]}}  {b:>{width[1]}}  {c:>{width[2]}}  {d}" for a, b, c, d in rows)

    def write(self, path: Path, settings: dict) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "settings": settings,
            "rpcs": {r.rpc: {"inputs": r.tried, "seconds": round(r.seconds, 1), "statuses": dict(r.statuses),
                             "problems": [{"problem": f.problem.text, "count": f.count, "example": f.example}
                                          for f in r.found.values()]}
                     for r in self.rpcs.values()},
        }, indent=2, ensure_ascii=False))


RESULTS = Results()  # the session's; conftest prints and writes it at the end
