#!/usr/bin/env python3
"""Helper for bench/run: tokens, HTTP set-up calls, /proc readings, wrk parsing, tables.

Standard library only (plus the `openssl` CLI to sign EdDSA tokens for the peers), so that
`bench/run` works from a fresh clone. bench/run owns the processes and the load; this file only
computes. Every HTTP call here goes to a 127.0.0.1 URL given by bench/run, with a timeout.
"""

import argparse
import base64
import glob
import hashlib
import hmac
import json
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

# ---------------------------------------------------------------------------------------------
# Small utilities


def die(msg):
    print(f"helper: {msg}", file=sys.stderr)
    sys.exit(1)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def local_only(url: str) -> str:
    if not url.startswith("http://127.0.0.1:"):
        die(f"refusing non-loopback URL {url!r}")
    return url


def http_json(method, url, body=None, headers=None, timeout=30):
    """One request; returns (status, parsed JSON or raw text or None)."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(local_only(url), data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, raw = err.code, err.read()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


# ---------------------------------------------------------------------------------------------
# Set-up commands


def cmd_freeport(_args):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        print(sock.getsockname()[1])


def cmd_secret(_args):
    # 32 random bytes, base64url: 43 printable characters, accepted by every peer as a string.
    print(b64url(os.urandom(32)))


def cmd_mint(args):
    now = int(time.time())
    # Claims shaped like an RFC 9068 access token, so the peers parse a realistic payload.
    claims = {
        "iss": args.iss,
        "sub": "01JBENCHUSER0000000000000",
        "aud": args.aud,
        "exp": now + args.ttl,
        "iat": now,
        "nbf": now,
        "jti": b64url(os.urandom(12)),
        "client_id": "bench",
        "scope": "profile",
        "email": "bench@example.com",
    }
    header = {"alg": args.alg, "typ": "JWT"}
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    if args.alg == "HS256":
        if not args.secret:
            die("HS256 needs --secret")
        sig = hmac.new(args.secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    elif args.alg == "EdDSA":
        if not args.key:
            die("EdDSA needs --key (an Ed25519 private key PEM)")
        # The standard library has no Ed25519; OpenSSL 3's pkeyutl signs raw input (one-shot
        # Ed25519 needs the input as a file, not a pipe).
        with tempfile.NamedTemporaryFile() as msg:
            msg.write(signing_input.encode())
            msg.flush()
            proc = subprocess.run(
                ["openssl", "pkeyutl", "-sign", "-inkey", args.key, "-rawin", "-in", msg.name],
                capture_output=True,
                timeout=30,
                check=True,
            )
        sig = proc.stdout
        if len(sig) != 64:
            die(f"openssl returned a {len(sig)}-byte Ed25519 signature")
    else:
        die(f"unsupported alg {args.alg}")
    print(signing_input + "." + b64url(sig))


def cmd_wait_http(args):
    deadline = time.monotonic() + args.timeout
    last = "no answer"
    while time.monotonic() < deadline:
        if args.pid and not os.path.exists(f"/proc/{args.pid}"):
            die(f"process {args.pid} exited before {args.url} answered")
        try:
            status, _ = http_json("GET", args.url, timeout=2)
            if 200 <= status < 300:
                return
            last = f"HTTP {status}"
        except OSError as err:
            last = str(err)
        time.sleep(0.1)
    die(f"{args.url} not ready after {args.timeout}s ({last})")


def cmd_register(args):
    status, body = http_json(
        "POST", args.base + "/auth/register", {"email": args.email, "password": args.password}
    )
    # 409: already registered (a re-run on the same data dir); fine for a benchmark user.
    if status not in (200, 201, 409):
        die(f"register {args.email}: HTTP {status}: {body}")


def login(base, email, password):
    status, body = http_json(
        "POST", base + "/auth/login", {"email": email, "password": password}
    )
    if status != 200 or not isinstance(body, dict):
        die(f"login {email}: HTTP {status}: {body}")
    return body


def cmd_login(args):
    print(login(args.base, args.email, args.password)[args.field])


def cmd_login_latency(args):
    samples = []
    cpu0 = cpu_ticks(args.pid) if args.pid else None
    for _ in range(args.n):
        start = time.perf_counter()
        login(args.base, args.email, args.password)
        samples.append(time.perf_counter() - start)
    out = {"median_s": statistics.median(samples), "samples_s": samples}
    if args.pid:
        # Server CPU per login at concurrency 1: a cross-check of the wall-clock figure.
        out["cpu_s_per_login"] = (cpu_ticks(args.pid) - cpu0) / os.sysconf("SC_CLK_TCK") / args.n
    print(json.dumps(out))


def cmd_sessions(args):
    with open(args.out, "w") as out:
        for _ in range(args.n):
            out.write(login(args.base, args.email, args.password)["refresh_token"] + "\n")


def cmd_get(args):
    """Exit 1 unless GET url (with an optional Bearer token) answers 2xx."""
    headers = {"Authorization": "Bearer " + args.token} if args.token else {}
    try:
        status, body = http_json("GET", args.url, headers=headers, timeout=10)
    except OSError as err:
        die(f"GET {args.url}: {err}")
    if not 200 <= status < 300:
        die(f"GET {args.url}: HTTP {status}: {str(body)[:200]}")


def cmd_token_pool(args):
    """N distinct access tokens from one server: each thread logs in once, then walks its own
    refresh chain (always posting its latest refresh token) on a keep-alive connection."""
    import http.client
    import threading
    from urllib.parse import urlsplit

    url = urlsplit(local_only(args.base))
    per_thread = -(-args.n // args.threads)
    deadline = time.monotonic() + args.timeout
    pools = [[] for _ in range(args.threads)]
    problems = []

    def worker(slot):
        try:
            session = login(args.base, args.email, args.password)
        except SystemExit:
            problems.append("login failed")
            return
        pool = pools[slot]
        pool.append(session["access_token"])
        refresh = session["refresh_token"]
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
        try:
            while len(pool) < per_thread and time.monotonic() < deadline:
                conn.request("POST", "/auth/refresh", body=json.dumps({"refresh_token": refresh}),
                             headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    problems.append(f"refresh: HTTP {resp.status}: {data[:200]!r}")
                    return
                body = json.loads(data)
                refresh = body["refresh_token"]
                pool.append(body["access_token"])
        except (OSError, ValueError, KeyError) as err:
            problems.append(f"refresh: {err}")
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    tokens = [tok for pool in pools for tok in pool]
    if problems:
        print(f"helper: token-pool: {problems[0]} ({len(problems)} problems)", file=sys.stderr)
    if len(set(tokens)) < args.n:
        die(f"token-pool: only {len(set(tokens))} distinct tokens of {args.n}")
    with open(args.out, "w") as out:
        out.write("\n".join(tokens[: args.n]) + "\n")


def cmd_token_info(args):
    """The algorithm and claims of a token (no verification), for the report."""
    head, payload, _ = args.token.split(".")
    print(
        json.dumps(
            {
                "header": json.loads(b64url_decode(head)),
                "claims": json.loads(b64url_decode(payload)),
                "length": len(args.token),
            }
        )
    )


# ---------------------------------------------------------------------------------------------
# /proc readings


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    # Fields after the command name, which is in parentheses and may contain spaces.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime + stime, all threads, in clock ticks


def cmd_cpu(args):
    print(cpu_ticks(args.pid))


def cmd_core_busy(args):
    """Busy clock ticks of one CPU (user+nice+system+irq+softirq+steal) from /proc/stat."""
    with open("/proc/stat") as f:
        for line in f:
            fields = line.split()
            if fields[0] == f"cpu{args.core}":
                user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[1:9])
                print(user + nice + system + irq + softirq + steal)
                return
    print(0)


def cmd_rss(args):
    out = {}
    with open(f"/proc/{args.pid}/status") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS"):
                out[key] = int(value.split()[0])  # kB
    print(json.dumps(out))


# ---------------------------------------------------------------------------------------------
# wrk output

UNITS_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def to_us(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        return None
    return float(m.group(1)) * UNITS_US[m.group(2)]


def parse_wrk(text):
    res = {
        "requests": 0,
        "duration_s": None,
        "rps": None,
        "non2xx": 0,
        "errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0},
        "latency_us": {},
        "statuses": {},
        "lua": {},
    }
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h)", text)
    if m:
        res["requests"] = int(m.group(1))
        res["duration_s"] = float(m.group(2)) * UNITS_US[m.group(3)] / 1e6
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if m:
        res["rps"] = float(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    if m:
        res["non2xx"] = int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        res["errors"] = dict(zip(("connect", "read", "write", "timeout"), map(int, m.groups())))
    for pct, val in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", text, re.M):
        res["latency_us"][pct] = to_us(val)
    for code, count in re.findall(r"^STATUS (\d+) (\d+)$", text, re.M):
        res["statuses"][code] = res["statuses"].get(code, 0) + int(count)
    for key, val in re.findall(r"^LUA (\w+) (\d+)$", text, re.M):
        res["lua"][key] = int(val)
    res["ok"] = res["requests"] - res["non2xx"]
    res["ok_per_s"] = res["ok"] / res["duration_s"] if res["duration_s"] else None
    return res


def cmd_record(args):
    with open(args.wrk_out) as f:
        parsed = parse_wrk(f.read())
    rec = {"section": args.section, "target": args.target, "run": args.run, "cmd": args.cmd}
    rec.update(parsed)
    if args.cpu_before is not None and args.cpu_after is not None:
        ticks = args.cpu_after - args.cpu_before
        hz = os.sysconf("SC_CLK_TCK")
        rec["cpu_s"] = ticks / hz
        rec["cpu_us_per_req"] = ticks / hz * 1e6 / parsed["requests"] if parsed["requests"] else None
    if args.core_before is not None and args.core_after is not None and "cpu_s" in rec:
        hz = os.sysconf("SC_CLK_TCK")
        wall = args.window_s or parsed["duration_s"] or 1
        # Time the server's core spent on anything but the server (other processes, steal):
        # the noise that no repetition removes.
        other = (args.core_after - args.core_before) / hz - rec["cpu_s"]
        rec["core_other_pct"] = min(100.0, max(0.0, other / wall * 100))
    for kv in args.kv or []:
        key, _, value = kv.partition("=")
        try:
            rec[key] = json.loads(value)
        except ValueError:
            rec[key] = value
    with open(args.out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    if parsed["requests"] == 0:
        print(f"helper: warning: {args.target} run {args.run}: zero requests", file=sys.stderr)


def cmd_note(args):
    """Append a free-form record (JSON object given as text) to the results file."""
    rec = json.loads(args.json)
    rec.setdefault("section", args.section)
    with open(args.out, "a") as f:
        f.write(json.dumps(rec) + "\n")


# ---------------------------------------------------------------------------------------------
# SQLite after the refresh run


def cmd_db_stats(args):
    files = sorted(
        set(
            glob.glob(os.path.join(args.data_dir, "**", "*.db"), recursive=True)
            + glob.glob(os.path.join(args.data_dir, "**", "*.sqlite"), recursive=True)
            + glob.glob(os.path.join(args.data_dir, "**", "*.sqlite3"), recursive=True)
        )
    )
    out = {"files": []}
    for path in files:
        info = {"path": os.path.relpath(path, args.data_dir), "tables": {}}
        sizes = {}
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                sizes[suffix or "db"] = os.path.getsize(path + suffix)
        info["bytes"] = sizes
        try:
            con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
            names = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for name in names:
                if name.startswith("sqlite_") or name.startswith("_sqlx"):
                    continue
                (count,) = con.execute(f'SELECT count(*) FROM "{name}"').fetchone()
                info["tables"][name] = count
            con.close()
        except sqlite3.Error as err:
            info["error"] = str(err)
        out["files"].append(info)
    print(json.dumps(out))


# ---------------------------------------------------------------------------------------------
# criterion output


def parse_criterion(text):
    rows = []
    name = None
    for line in text.splitlines():
        if not line.strip():
            continue
        m = re.match(r"^(\S.*?)\s+time:\s+\[(.*)\]", line)
        if m:
            name = m.group(1).strip()
            vals = m.group(2)
        else:
            m = re.match(r"^\s+time:\s+\[(.*)\]", line)
            if not m:
                if not line.startswith(" ") and not re.match(
                    r"^(Benchmarking|Found|Gnuplot|Warning|WARNING|\s)", line
                ):
                    name = line.strip()
                continue
            vals = m.group(1)
        parts = re.findall(r"([\d.]+)\s*(ps|ns|µs|us|ms|s)", vals)
        if len(parts) != 3:
            continue
        scale = {"ps": 1e-3, "ns": 1.0, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9}
        lo, mid, hi = (float(v) * scale[u] for v, u in parts)
        rows.append({"name": name, "low_ns": lo, "ns": mid, "high_ns": hi})
    return rows


# ---------------------------------------------------------------------------------------------
# Report


def fmt_us(us):
    if us is None:
        return "n/a"
    if us >= 1e6:
        return f"{us / 1e6:.2f} s"
    if us >= 1e3:
        return f"{us / 1e3:.2f} ms"
    return f"{us:.0f} µs"


def fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} µs"
    return f"{ns:.0f} ns"


def fmt_num(x, digits=0):
    if x is None:
        return "n/a"
    return f"{x:,.{digits}f}"


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def errors_total(rec):
    return sum(rec["errors"].values())


def table(headers, rows):
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def report_macro(recs, lines):
    runs = [r for r in recs if r.get("kind") == "wrk"]
    skipped = [r for r in recs if r.get("kind") == "skip"]
    lines.append("## Macro: GET requests at saturation\n")
    if not runs:
        lines.append("No macro runs.\n")
    order, by = [], {}
    for r in runs:
        if r["target"] not in by:
            order.append(r["target"])
            by[r["target"]] = []
        by[r["target"]].append(r)
    rows, summary = [], {}
    for target in order:
        rs = by[target]
        rps = [r["ok_per_s"] for r in rs]
        s = {
            "rps": med(rps),
            "p50": med([r["latency_us"].get("50") for r in rs]),
            "p99": med([r["latency_us"].get("99") for r in rs]),
            "cpu": med([r.get("cpu_us_per_req") for r in rs]),
            "non2xx": sum(r["non2xx"] for r in rs),
            "errors": sum(errors_total(r) for r in rs),
            "ok": sum(r["ok"] for r in rs),
            "other": max((r["core_other_pct"] for r in rs if r.get("core_other_pct") is not None), default=None),
        }
        summary[target] = s
        spread = (
            f"{(max(rps) - min(rps)) / s['rps'] * 100:.1f}%" if s["rps"] and len(rps) > 1 else "n/a"
        )
        rows.append(
            [
                target,
                fmt_num(s["rps"]),
                fmt_us(s["p50"]),
                fmt_us(s["p99"]),
                fmt_num(s["cpu"], 1),
                len(rs),
                spread,
                s["non2xx"],
                s["errors"],
                f"{s['other']:.0f}%" if s["other"] is not None else "n/a",
            ]
        )
    if rows:
        lines.append(
            table(
                [
                    "target",
                    "req/s (2xx, median)",
                    "p50",
                    "p99",
                    "server CPU µs/req",
                    "runs",
                    "spread (max-min)/median",
                    "non-2xx",
                    "socket errors",
                    "other work on the server core (worst run, approx.)",
                ],
                rows,
            )
        )
        lines.append("")
        lines.append(
            "req/s counts 2xx answers only; p50/p99 are wrk's (`--latency`), medians over runs; "
            "server CPU is utime+stime of the server process over the run divided by requests. "
            "The plain jwtgate /api/me rows send one token over and over, so after the first "
            "request jwtgate-verify answers from its verdict cache (10,000 entries); the "
            "'distinct tokens' rows cycle through a pool of access tokens larger than that cache "
            "(made by walking refresh chains), so every request is a full verification. "
            "jsonwebtoken and Express have no cache: one token is their full path. "
            "'Other work on the server core' is that core's busy time (from /proc/stat) not spent "
            "by the server, as a share of the run: other processes or hypervisor steal; runs "
            "where it is high are not trustworthy.\n"
        )
        pools = sorted({r["pool"] for r in runs if r.get("pool")})
        if pools and max(pools) <= 10_000:
            lines.append(
                f"**The token pool here ({max(pools)} tokens) is not larger than the verifier cache "
                "(10,000): the 'distinct tokens' rows are mostly cache hits in this run (--quick).**\n"
            )
        loads = [r["load1"] for r in runs if isinstance(r.get("load1"), (int, float))]
        if loads:
            lines.append(
                f"1-minute load average after each run: {min(loads):.2f} to {max(loads):.2f} "
                f"(about 2 is the benchmark alone: one busy server core, one busy wrk core; "
                f"more means other work shared the machine).\n"
            )

    def ratio_row(label, a, b, goal):
        sa, sb = summary.get(a), summary.get(b)
        if not sa or not sb or not sa["rps"] or not sb["rps"]:
            return [label, "n/a", "n/a", goal]
        cpu = f"{sb['cpu'] / sa['cpu']:.2f}x" if sa["cpu"] and sb["cpu"] else "n/a"
        return [label, f"{sa['rps'] / sb['rps']:.2f}x ({sa['rps'] / sb['rps'] * 100:.0f}%)", cpu, goal]

    jh, je = "jwtgate /api/me HS256", "jwtgate /api/me EdDSA"
    ratio_rows = [
        ratio_row("jwtgate HS256 /api/me vs jwtgate /healthz (ceiling)", jh, "jwtgate /healthz", ">= 90%"),
        ratio_row("jwtgate EdDSA /api/me vs jwtgate /healthz (ceiling)", je, "jwtgate /healthz", ">= 90%"),
        ratio_row("jwtgate HS256 /api/me vs Express + jsonwebtoken /api/me", jh, "Express /api/me HS256", ">= 30x"),
        ratio_row("jwtgate EdDSA /api/me vs Express + jsonwebtoken /api/me (HS256)", je, "Express /api/me HS256", ""),
        ratio_row("jwtgate HS256 /api/me, distinct tokens vs jwtgate /healthz (ceiling)", jh + ", distinct tokens", "jwtgate /healthz", ">= 90%"),
        ratio_row("jwtgate EdDSA /api/me, distinct tokens vs jwtgate /healthz (ceiling)", je + ", distinct tokens", "jwtgate /healthz", ">= 90%"),
        ratio_row("jwtgate HS256 /api/me vs axum + jsonwebtoken /api/me HS256", jh, "axum-jsonwebtoken /api/me HS256", ">= 1.5x"),
        ratio_row("jwtgate HS256 /api/me, distinct tokens vs axum + jsonwebtoken HS256", jh + ", distinct tokens", "axum-jsonwebtoken /api/me HS256", ">= 1.5x"),
        ratio_row("jwtgate EdDSA /api/me, distinct tokens vs axum + jsonwebtoken EdDSA", je + ", distinct tokens", "axum-jsonwebtoken /api/me EdDSA", ">= 1.5x"),
        ratio_row("jwtgate EdDSA /api/me vs axum + jsonwebtoken /api/me EdDSA", je, "axum-jsonwebtoken /api/me EdDSA", ">= 1.5x"),
        ratio_row("axum + jsonwebtoken HS256 vs its own /healthz", "axum-jsonwebtoken /api/me HS256", "axum-jsonwebtoken /healthz", ""),
        ratio_row("Express /api/me vs Express /healthz", "Express /api/me HS256", "Express /healthz", ""),
    ]
    if summary:
        lines.append("### Ratios (medians)\n")
        lines.append(table(["comparison", "throughput ratio", "CPU/request ratio (b/a)", "issue 6 goal"], ratio_rows))
        lines.append("")
    for s in skipped:
        lines.append(f"- skipped: {s['target']}: {s['reason']}")
    if skipped:
        lines.append("")
    zero = [t for t, s in summary.items() if s["ok"] == 0]
    if zero:
        lines.append(f"**Targets with zero successful requests: {', '.join(zero)}**\n")
    return summary


def report_login(recs, lines):
    lines.append("## Login (Argon2id) and the login flood\n")
    if not recs:
        lines.append("Not run.\n")
        return
    get = {r.get("kind"): r for r in recs}
    if "skip" in get:
        lines.append(f"Skipped: {get['skip']['reason']}\n")
        return
    lat, sat = get.get("single"), get.get("saturation")
    rows = []
    if lat:
        # The fastest of the sequential logins is the one least disturbed by anything else on the
        # core: the closest to one Argon2id hash plus the small fixed cost of a login.
        t = min(lat["samples_s"])
        ceiling = lat["server_cores"] / t
        rows.append(["single login latency, concurrency 1 (median of %d)" % len(lat["samples_s"]), fmt_us(lat["median_s"] * 1e6)])
        rows.append(["single login latency, concurrency 1 (fastest; used for the ceiling)", fmt_us(t * 1e6)])
        if lat.get("cpu_s_per_login") is not None:
            rows.append(["server CPU per login at concurrency 1 (cross-check; 10 ms tick resolution)", fmt_us(lat["cpu_s_per_login"] * 1e6)])
        rows.append(
            [
                f"theoretical ceiling = {lat['server_cores']} server core(s) / single login time",
                f"{ceiling:,.1f} logins/s",
            ]
        )
    if sat:
        rows.append(
            [
                f"logins/s at saturation ({sat['connections']} connections, 2xx only)",
                f"{fmt_num(sat['ok_per_s'], 1)} logins/s",
            ]
        )
        if lat:
            rows.append(["saturation vs ceiling", f"{sat['ok_per_s'] / (lat['server_cores'] / min(lat['samples_s'])) * 100:.0f}%"])
        if sat.get("cpu_s") is not None and sat["ok"]:
            rows.append(["server CPU per successful login at saturation", fmt_us(sat["cpu_s"] / sat["ok"] * 1e6)])
        rows.append(["saturation p50 / p99", f"{fmt_us(sat['latency_us'].get('50'))} / {fmt_us(sat['latency_us'].get('99'))}"])
        rows.append(["saturation statuses", json.dumps(sat["statuses"], sort_keys=True)])
    if rows:
        lines.append(table(["measure", "value"], rows))
        lines.append("")
        lines.append(
            "The single-login time includes the HTTP round trip, the session insert and the token "
            "signature, so it slightly overstates one Argon2id (m=19456, t=2, p=1) hash; the ceiling "
            "is correspondingly slightly low.\n"
        )
    idle, flood, fme, rss = get.get("idle_me"), get.get("flood_login"), get.get("flood_me"), get.get("rss")
    if flood:
        st = flood["statuses"]
        answered = sum(st.values())
        shed = st.get("429", 0) + st.get("503", 0)
        rows = [
            ["flood", f"{flood['connections']} concurrent login connections for {flood['duration_s']:.0f} s (wrk timeout {flood['timeout']})"],
            ["login answers (all statuses)", fmt_num(answered)],
            ["logins succeeded (2xx)", f"{fmt_num(sum(v for k, v in st.items() if k.startswith('2')))} ({fmt_num(flood['ok_per_s'], 1)}/s)"],
            ["share answered 429/503", f"{shed / answered * 100:.1f}%" if answered else "n/a"],
            ["login statuses", json.dumps(st, sort_keys=True)],
            ["login socket errors (connect/read/write/timeout)", "/".join(str(flood["errors"][k]) for k in ("connect", "read", "write", "timeout"))],
            ["login p50 / p99", f"{fmt_us(flood['latency_us'].get('50'))} / {fmt_us(flood['latency_us'].get('99'))}"],
        ]
        if idle and fme:
            ip99, fp99 = idle["latency_us"].get("99"), fme["latency_us"].get("99")
            rows += [
                [f"/api/me p99 idle ({idle['connections']} connections)", fmt_us(ip99)],
                [f"/api/me p99 during the flood ({fme['connections']} connections)", fmt_us(fp99)],
                ["/api/me p99 flood / idle (goal <= 3x)", f"{fp99 / ip99:.2f}x" if ip99 and fp99 else "n/a"],
                ["/api/me req/s idle / during flood", f"{fmt_num(idle['ok_per_s'])} / {fmt_num(fme['ok_per_s'])}"],
                ["/api/me non-2xx during the flood", fme["non2xx"]],
                ["/api/me socket errors during the flood (connect/read/write/timeout)", "/".join(str(fme["errors"][k]) for k in ("connect", "read", "write", "timeout"))],
            ]
        if rss:
            rows.append(["peak server RSS (VmHWM) (goal <= 200 MB)", f"{rss['VmHWM'] / 1024:.1f} MiB"])
        lines.append("### Flood\n")
        lines.append(table(["measure", "value"], rows))
        lines.append("")


def report_refresh(recs, lines):
    lines.append("## Refresh rotation, SQLite and PostgreSQL\n")
    if not recs:
        lines.append("Not run.\n")
        return
    for skip in (r for r in recs if r.get("kind") == "skip"):
        lines.append(f"Skipped ({skip.get('backend', 'all')}): {skip['reason']}\n")
    runs = {r.get("backend", "sqlite"): r for r in recs if r.get("kind") == "refresh"}
    dbs = {r.get("backend", "sqlite"): r for r in recs if r.get("kind") == "db"}
    backends = [b for b in ("sqlite", "postgres") if b in runs]
    if backends:
        hz = os.sysconf("SC_CLK_TCK")

        def db_us(run):
            ticks = run.get("db_cpu_ticks") or 0
            return ticks / hz * 1e6 / run["requests"] if run["requests"] and ticks else None

        goals = {"sqlite": ">= 2,000", "postgres": ">= 1,500"}
        rows = [
            ["clients (one session each, each rotating its own token)"] + [runs[b]["connections"] for b in backends],
            ["refreshes/s (2xx)"] + [f"{fmt_num(runs[b]['ok_per_s'], 0)} (goal {goals[b]})" for b in backends],
            ["refreshes answered 2xx in total"] + [fmt_num(runs[b]["ok"]) for b in backends],
            ["p50 / p99"] + [f"{fmt_us(runs[b]['latency_us'].get('50'))} / {fmt_us(runs[b]['latency_us'].get('99'))}" for b in backends],
            ["jwtgate CPU per refresh"] + [fmt_us(runs[b].get("cpu_us_per_req")) for b in backends],
            ["PostgreSQL CPU per refresh (its processes)"] + [fmt_us(db_us(runs[b])) if b == "postgres" else "(in jwtgate)" for b in backends],
            ["statuses"] + [json.dumps(runs[b]["statuses"], sort_keys=True) for b in backends],
            ["responses without a new refresh token"] + [runs[b]["lua"].get("missing_token", 0) for b in backends],
            ["socket errors (connect/read/write/timeout)"] + ["/".join(str(runs[b]["errors"][k]) for k in ("connect", "read", "write", "timeout")) for b in backends],
        ]
        if len(backends) == 2 and runs["sqlite"]["ok_per_s"]:
            rows.append(["PostgreSQL / SQLite refreshes/s", f"{runs['postgres']['ok_per_s'] / runs['sqlite']['ok_per_s']:.2f}x", ""])
        names = {"sqlite": "SQLite (WAL, synchronous=NORMAL)", "postgres": "PostgreSQL (defaults: each commit flushed)"}
        lines.append(table(["measure"] + [names[b] for b in backends], rows))
        lines.append("")
    for backend in ("sqlite", "postgres"):
        db = dbs.get(backend)
        if not db:
            continue
        for f in db.get("files", []):
            lines.append(f"{backend}: `{f['path']}` after shutdown: " + ", ".join(f"{k} {v / 1024:.0f} KiB" for k, v in f["bytes"].items()))
            lines.append("")
            if f["tables"]:
                lines.append(table(["table", "rows"], sorted(f["tables"].items())))
                lines.append("")
            if f.get("error"):
                lines.append(f"(could not read: {f['error']})\n")
        if not db.get("files"):
            lines.append(f"{backend}: no database found.\n")


def report_micro(recs, lines):
    lines.append("## Micro: `cargo bench -p jwtgate-verify --bench verify`\n")
    if not recs:
        lines.append("Not run.\n")
        return
    r = recs[-1]
    if r.get("kind") == "skip":
        lines.append(f"Skipped: {r['reason']}\n")
        return
    rows = [[x["name"], fmt_ns(x["ns"]), f"{fmt_ns(x['low_ns'])} – {fmt_ns(x['high_ns'])}", f"{1e9 / x['ns']:,.0f}"] for x in r["rows"]]
    if rows:
        lines.append(table(["benchmark", "time (criterion median estimate)", "95% interval", "per second, one core"], rows))
        lines.append("")
    else:
        lines.append("The bench ran but printed no criterion figures (is it still a placeholder?).\n")


def cmd_report(args):
    recs = []
    if os.path.exists(args.results):
        with open(args.results) as f:
            recs = [json.loads(line) for line in f if line.strip()]
    with open(args.meta) as f:
        meta = json.load(f)
    lines = [f"# jwtgate benchmarks: {meta['date']}\n"]
    lines.append(
        table(
            ["", ""],
            [
                ["machine", f"{meta['nproc']} cores, {meta['cpu_model']}, {meta['kernel']}"],
                ["pinning", meta["pinning"]],
                ["git", meta["git"]],
                ["tools", meta["tools"]],
                ["command", f"`{meta['command']}`"],
                ["settings", meta["settings"]],
                ["load average", meta.get("load", "n/a")],
            ],
        )
    )
    lines.append("")
    sections = {}
    for r in recs:
        sections.setdefault(r["section"], []).append(r)
    for name in meta["sections"]:
        fn = {"macro": report_macro, "login": report_login, "refresh": report_refresh, "micro": report_micro}[name]
        fn(sections.get(name, []), lines)
    cmds = [r for r in recs if r.get("cmd")]
    if cmds:
        lines.append("## Exact commands\n")
        lines.append("Servers: " + "; ".join(f"`{c}`" for c in meta.get("servers", [])) + "\n")
        seen = set()
        lines.append("```")
        for r in cmds:
            if (r["section"], r["target"]) in seen:
                continue
            seen.add((r["section"], r["target"]))
            lines.append(r["cmd"])
        lines.append("```")
        lines.append("(Each load command once; the macro ones repeat for every run. Tokens abbreviated.)\n")
    print("\n".join(lines))


def cmd_check_macro(args):
    """Exit 1 if any macro target produced zero successful requests (for bench/smoke)."""
    with open(args.results) as f:
        recs = [json.loads(line) for line in f if line.strip()]
    runs = [r for r in recs if r["section"] == "macro" and r.get("kind") == "wrk"]
    if not runs:
        die("no macro runs recorded")
    ok = {}
    for r in runs:
        ok[r["target"]] = ok.get(r["target"], 0) + r["ok"]
    bad = [t for t, n in ok.items() if n == 0]
    for t, n in ok.items():
        print(f"  {t}: {n} successful requests")
    for r in recs:
        if r["section"] == "macro" and r.get("kind") == "skip":
            print(f"  {r['target']}: skipped: {r['reason']}")
            if not r.get("absent"):
                bad.append(r["target"] + " (skipped)")
    if bad:
        die("zero successful requests: " + ", ".join(bad))


def cmd_micro_parse(args):
    with open(args.file, encoding="utf-8", errors="replace") as f:
        rows = parse_criterion(f.read())
    print(json.dumps({"section": "micro", "kind": "criterion", "rows": rows}))


def main():
    p = argparse.ArgumentParser(description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)

    sub.add_parser("freeport").set_defaults(fn=cmd_freeport)
    sub.add_parser("secret").set_defaults(fn=cmd_secret)

    s = sub.add_parser("mint")
    s.add_argument("--alg", required=True)
    s.add_argument("--secret")
    s.add_argument("--key")
    s.add_argument("--iss", default="http://127.0.0.1")
    s.add_argument("--aud", default="bench")
    s.add_argument("--ttl", type=int, default=86400)
    s.set_defaults(fn=cmd_mint)

    s = sub.add_parser("wait-http")
    s.add_argument("url")
    s.add_argument("--timeout", type=float, default=30)
    s.add_argument("--pid", type=int)
    s.set_defaults(fn=cmd_wait_http)

    for name, fn in (("register", cmd_register), ("login", cmd_login), ("login-latency", cmd_login_latency), ("sessions", cmd_sessions)):
        s = sub.add_parser(name)
        s.add_argument("base")
        s.add_argument("email")
        s.add_argument("password")
        s.add_argument("--field", default="access_token")
        s.add_argument("--n", type=int, default=10)
        s.add_argument("--out")
        s.add_argument("--pid", type=int)
        s.set_defaults(fn=fn)

    s = sub.add_parser("get")
    s.add_argument("url")
    s.add_argument("--token")
    s.set_defaults(fn=cmd_get)

    s = sub.add_parser("token-pool")
    s.add_argument("base")
    s.add_argument("email")
    s.add_argument("password")
    s.add_argument("--n", type=int, required=True)
    s.add_argument("--threads", type=int, default=8)
    s.add_argument("--timeout", type=float, default=120)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_token_pool)

    s = sub.add_parser("token-info")
    s.add_argument("token")
    s.set_defaults(fn=cmd_token_info)

    s = sub.add_parser("core-busy")
    s.add_argument("core", type=int)
    s.set_defaults(fn=cmd_core_busy)

    for name, fn in (("cpu", cmd_cpu), ("rss", cmd_rss)):
        s = sub.add_parser(name)
        s.add_argument("pid", type=int)
        s.set_defaults(fn=fn)

    s = sub.add_parser("record")
    s.add_argument("--out", required=True)
    s.add_argument("--section", required=True)
    s.add_argument("--target", required=True)
    s.add_argument("--run", type=int, default=1)
    s.add_argument("--wrk-out", required=True)
    s.add_argument("--cmd", default="")
    s.add_argument("--cpu-before", type=int)
    s.add_argument("--cpu-after", type=int)
    s.add_argument("--core-before", type=int)
    s.add_argument("--core-after", type=int)
    s.add_argument("--window-s", type=float, help="wall time between the two core readings")
    s.add_argument("--kv", action="append")
    s.set_defaults(fn=cmd_record)

    s = sub.add_parser("note")
    s.add_argument("--out", required=True)
    s.add_argument("--section", required=True)
    s.add_argument("json")
    s.set_defaults(fn=cmd_note)

    s = sub.add_parser("db-stats")
    s.add_argument("data_dir")
    s.set_defaults(fn=cmd_db_stats)

    s = sub.add_parser("micro-parse")
    s.add_argument("file")
    s.set_defaults(fn=cmd_micro_parse)

    s = sub.add_parser("report")
    s.add_argument("--results", required=True)
    s.add_argument("--meta", required=True)
    s.set_defaults(fn=cmd_report)

    s = sub.add_parser("check-macro")
    s.add_argument("results")
    s.set_defaults(fn=cmd_check_macro)

    args = p.parse_args()
    args.fn(args)


if __name__ == "__main__":
    main()
