"""Sum the amount column of a CSV file per region and write JSON."""

import csv
import json
import sys

totals: dict[str, int] = {}
with open(sys.argv[1], newline="") as f:
    for row in csv.DictReader(f):
        totals[row["region"]] = totals.get(row["region"], 0) + int(row["amount"])
with open(sys.argv[2], "w") as out:
    json.dump(dict(sorted(totals.items())), out, indent=2)
