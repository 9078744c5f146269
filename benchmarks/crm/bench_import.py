"""CSV import of N customers through `tsunagi customers import`: rows/s and peak memory.

    python benchmarks/crm/bench_import.py --rows 1000000 [--database-url postgresql+asyncpg://…]

Writes a synthetic CSV (made-up names, numbers and addresses; three identifiers per row),
imports it into a fresh database in a child process and reports wall time, rows/s and the
child's peak resident memory. Run it twice with different --rows to see that memory does
not grow with the file (the importer streams in batches of 1,000).
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SURNAMES = [
    *("佐藤", "鈴木", "高橋", "田中", "伊藤", "渡辺", "山本", "中村"),
    *("小林", "加藤", "吉田", "山田", "佐々木", "山口", "松本"),
]
GIVEN = [
    *("太郎", "花子", "一郎", "美咲", "健太", "陽子", "翔太", "由美"),
    *("大輔", "恵", "直樹", "彩", "誠", "裕子", "拓也"),
]


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(
            ["name", "name_kana", "phones", "emails", "member_no", "address", "segment", "vip"]
        )
        for n in range(rows):
            writer.writerow(
                [
                    f"{SURNAMES[n % 15]} {GIVEN[(n // 15) % 15]}",
                    "ヤマダ タロウ",
                    f"03-{n // 10000 % 10000:04d}-{n % 10000:04d};"
                    f"090-{n % 9000 + 1000:04d}-{n % 7919:04d}",
                    f"member{n}@example.jp",
                    f"{n:09d}",
                    f"東京都千代田区{n % 9 + 1}-{n % 99 + 1}-{n % 9 + 1}",
                    "宅配",
                    "yes" if n % 50 == 0 else "no",
                ]
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        csv_path = work / "customers.csv"
        write_csv(csv_path, args.rows)
        csv_size = csv_path.stat().st_size
        env = {**os.environ, "TSUNAGI_DATA_DIR": str(work / "data")}
        if args.database_url:
            env["TSUNAGI_DATABASE_URL"] = args.database_url
        tsunagi = [sys.executable, "-m", "tsunagi.cli.main"]
        subprocess.run([*tsunagi, "db", "upgrade"], env=env, check=True, capture_output=True)
        subprocess.run(
            [*tsunagi, "tenant", "create", "--slug", "bench", "--name", "Bench"],
            env=env,
            check=True,
            capture_output=True,
        )
        started = time.perf_counter()
        done = subprocess.run(
            [*tsunagi, "customers", "import", str(csv_path), "--tenant", "bench", "--apply"],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - started
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    profile = "postgresql" if args.database_url else "sqlite"
    print(done.stdout.strip())
    print(
        f"profile={profile} rows={args.rows} seconds={elapsed:.1f} "
        f"rows_per_s={args.rows / elapsed:,.0f} peak_rss_mib={peak_kib / 1024:.0f} "
        f"csv_bytes_per_row={csv_size / args.rows:.0f}"
    )


if __name__ == "__main__":
    main()
