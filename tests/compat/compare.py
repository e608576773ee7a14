"""Compares the answers tests/compat/run.sh collected: the first runtime
(the test host) against each other one. Prints a table and exits 1 on any
difference."""

import json
import pathlib
import sys

work = pathlib.Path(sys.argv[1])
names = sys.argv[2:]
runs = {n: [json.loads(l) for l in (work / f"{n}.json").read_text().splitlines()] for n in names}
base = runs[names[0]]
different = 0
print("| request | " + " | ".join(names) + " | same |")
print("| --- | " + " | ".join("---:" for _ in names) + " | --- |")
for i, answer in enumerate(base):
    others = [runs[n][i] for n in names[1:]]
    same = all(o == answer for o in others)
    different += not same
    statuses = " | ".join(str(runs[n][i]["status"]) for n in names)
    print(f"| {answer['request']} | {statuses} | {'yes' if same else '**no**'} |")
    if not same:
        for n, o in zip(names[1:], others):
            if o != answer:
                print(f"<!-- {names[0]}: {json.dumps(answer)}\n     {n}: {json.dumps(o)} -->")
print()
print(f"{len(base)} requests, {different} answered differently.")
sys.exit(1 if different else 0)
