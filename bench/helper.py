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
import uuid

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


def der_ecdsa_to_raw(der: bytes, size: int = 32) -> bytes:
    """An ECDSA-Sig-Value (DER SEQUENCE of two INTEGERs, as openssl writes it) as JWS's fixed
    r || s (RFC 7518 §3.4)."""

    def read(buf, pos, tag):
        if buf[pos] != tag:
            die(f"unexpected DER tag {buf[pos]:#x} in an ECDSA signature")
        length = buf[pos + 1]
        pos += 2
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(buf[pos : pos + n], "big")
            pos += n
        return buf[pos : pos + length], pos + length

    seq, _ = read(der, 0, 0x30)
    r, pos = read(seq, 0, 0x02)
    s, _ = read(seq, pos, 0x02)
    return b"".join(int.from_bytes(v, "big").to_bytes(size, "big") for v in (r, s))


def openssl_sign(args, signing_input):
    # The standard library has no Ed25519 nor ECDSA. OpenSSL 3's one-shot Ed25519 needs the
    # input as a file, not a pipe; ECDSA over SHA-256 goes through `dgst`.
    with tempfile.NamedTemporaryFile() as msg:
        msg.write(signing_input.encode())
        msg.flush()
        if args.alg == "EdDSA":
            cmd = ["openssl", "pkeyutl", "-sign", "-inkey", args.key, "-rawin", "-in", msg.name]
        else:
            cmd = ["openssl", "dgst", "-sha256", "-sign", args.key, msg.name]
        return subprocess.run(cmd, capture_output=True, timeout=30, check=True).stdout


def cmd_mint(args):
    now = int(time.time())
    # Claims and header shaped like a jwtgate access token (same claims, same order, same
    # lengths), so a peer parses the same payload jwtgate does.
    claims = {
        "iss": args.iss,
        "sub": str(uuid.uuid4()),
        "aud": args.aud,
        "exp": now + args.ttl,
        "iat": now,
        "nbf": now,
        "jti": b64url(os.urandom(16)),
        "sid": str(uuid.uuid4()),
        "plan": "free",
        "email": args.email,
        "email_verified": False,
        "client_id": "jwtgate",
    }
    header = {"alg": args.alg, "typ": "at+jwt", "kid": b64url(os.urandom(32))}
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    )
    if args.alg == "HS256":
        if not args.secret:
            die("HS256 needs --secret")
        sig = hmac.new(args.secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    elif args.alg in ("EdDSA", "ES256"):
        if not args.key:
            die(f"{args.alg} needs --key (a private key PEM)")
        sig = openssl_sign(args, signing_input)
        if args.alg == "ES256":
            sig = der_ecdsa_to_raw(sig)
        if len(sig) != 64:
            die(f"openssl returned a {len(sig)}-byte {args.alg} signature")
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


def cmd_logout_latency(args):
    """Logout latency at concurrency 1: N sessions signed in first, then each logged out with its
    own access token (POST /auth/logout, Bearer), one after another. In a cluster the answer
    waits until every live node has applied the revocation, so this is the barrier's cost."""
    tokens = [login(args.base, args.email, args.password)["access_token"] for _ in range(args.n)]
    samples, statuses = [], {}
    for token in tokens:
        start = time.perf_counter()
        status, _ = http_json("POST", args.base + "/auth/logout", headers={"Authorization": "Bearer " + token})
        samples.append(time.perf_counter() - start)
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    ordered = sorted(samples)

    def pct(q):
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    print(json.dumps({"kind": "logout", "target": args.target, "n": args.n, "statuses": statuses,
                      "p50_s": pct(0.50), "p99_s": pct(0.99), "max_s": ordered[-1], "samples_s": samples}))


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


def cmd_rss_watch(args):
    """The largest VmRSS of a process, sampled every --interval seconds for --duration seconds
    (or until it exits), written as JSON to --out."""
    peak = samples = 0
    end = time.monotonic() + args.duration
    while time.monotonic() < end:
        try:
            with open(f"/proc/{args.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        peak = max(peak, int(line.split()[1]))
                        samples += 1
                        break
        except OSError:
            break
        time.sleep(args.interval)
    with open(args.out, "w") as f:
        json.dump({"flood_peak_rss_kb": peak, "flood_rss_samples": samples}, f)


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
    if ns is None:
        return "n/a"
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


# Target names, as bench/run gives them.
ALGS = ("HS256", "EdDSA", "ES256")
VERDICT_CACHE_ENTRIES = 10_000  # crates/jwtgate/src/startup.rs: Verifier::with_cache(10_000)
# quick_cache also remembers evicted keys (ghosts, half the capacity by default) and lets a key
# seen again while remembered back in: a pool sent in turn must be longer than both to miss.
VERDICT_CACHE_HISTORY = 15_000


def jg_uncached(alg):
    return f"jwtgate /api/me {alg} uncached (distinct tokens)"


def jg_cached(alg):
    return f"jwtgate /api/me {alg} cached (one token)"


def peer_me(alg):
    return f"axum-jsonwebtoken /api/me {alg}"


# Issue 11's goals, on server CPU per request.
PEER_GOALS = {"HS256": 1.25, "ES256": 1.15}
HEALTHZ_GOAL = 1.10  # jwtgate /healthz CPU / bare axum /healthz CPU, at most
CACHED_GOAL = 0.90  # jwtgate /healthz CPU / cached /api/me CPU, at least
FLOOD_P99_GOAL = 3.0
RSS_GOAL_MB = 100
MICRO_GOALS = {"HS256": 3.0, "EdDSA": 1.15, "ES256": 1.15}


def met(value, goal, at_most=False):
    if value is None or goal is None:
        return "n/a" if goal is not None else ""
    ok = value <= goal if at_most else value >= goal
    return "yes" if ok else "**no**"


def ratio(a, b):
    return a / b if a and b else None


def fmt_x(x):
    return f"{x:.2f}x" if x is not None else "n/a"


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

    def get(target, key):
        return summary.get(target, {}).get(key)

    pools = sorted({r["pool"] for r in runs if r.get("pool")})
    small_pool = bool(pools) and max(pools) <= VERDICT_CACHE_HISTORY

    if summary:
        # 1. Like for like.
        lines.append("### Like for like: every request a full verification\n")
        head = [
            "comparison (a vs b)",
            "req/s a",
            "req/s b",
            "req/s ratio a ÷ b",
            "CPU µs/req a",
            "CPU µs/req b",
            "CPU per request ratio",
            "goal (issue 11)",
            "met",
        ]
        hl = []
        for alg in ALGS:
            a, b = jg_uncached(alg), peer_me(alg)
            cpu = ratio(get(b, "cpu"), get(a, "cpu"))
            goal = PEER_GOALS.get(alg)
            hl.append(
                [
                    f"jwtgate {alg} uncached vs axum + jsonwebtoken {alg}",
                    fmt_num(get(a, "rps")),
                    fmt_num(get(b, "rps")),
                    fmt_x(ratio(get(a, "rps"), get(b, "rps"))),
                    fmt_num(get(a, "cpu"), 1),
                    fmt_num(get(b, "cpu"), 1),
                    f"{fmt_x(cpu)} (b ÷ a)",
                    f"≥ {goal:.2f}x" if goal else "none set",
                    met(cpu, goal),
                ]
            )
        a, b = jg_uncached("HS256"), "Express /api/me HS256"
        if b in summary:
            cpu = ratio(get(b, "cpu"), get(a, "cpu"))
            hl.append(
                [
                    "jwtgate HS256 uncached vs Express + jsonwebtoken HS256",
                    fmt_num(get(a, "rps")),
                    fmt_num(get(b, "rps")),
                    fmt_x(ratio(get(a, "rps"), get(b, "rps"))),
                    fmt_num(get(a, "cpu"), 1),
                    fmt_num(get(b, "cpu"), 1),
                    f"{fmt_x(cpu)} (b ÷ a)",
                    "none set",
                    "",
                ]
            )
        a, b = "jwtgate /healthz", "axum-jsonwebtoken /healthz"
        cpu = ratio(get(a, "cpu"), get(b, "cpu"))
        hl.append(
            [
                "jwtgate /healthz vs bare axum /healthz (what jwtgate's middleware costs every request)",
                fmt_num(get(a, "rps")),
                fmt_num(get(b, "rps")),
                fmt_x(ratio(get(a, "rps"), get(b, "rps"))),
                fmt_num(get(a, "cpu"), 1),
                fmt_num(get(b, "cpu"), 1),
                f"{fmt_x(cpu)} (a ÷ b)",
                f"≤ {HEALTHZ_GOAL:.2f}x",
                met(cpu, HEALTHZ_GOAL, at_most=True),
            ]
        )
        lines.append(table(head, hl))
        lines.append("")
        lines.append(
            "Medians over the runs. jwtgate's 'uncached' rows send a different access token with every "
            f"request, cycling through a pool of {fmt_num(max(pools)) if pools else 'n/a'} tokens made by "
            "walking refresh chains and sent in turn; with more tokens than the verdict cache holds "
            f"and remembers ({VERDICT_CACHE_ENTRIES:,} entries and {VERDICT_CACHE_HISTORY - VERDICT_CACHE_ENTRIES:,} "
            "evicted keys), every request is a full verification, as each of the peers' requests is. The peers' tokens are "
            "shaped like jwtgate's (same claims, header members and lengths) and the axum peer decodes "
            "them into a typed claims struct with a strict `Validation`. CPU per request is the "
            "server's utime+stime over the run divided by its requests: the figure that compares "
            "servers here (on 2 cores the load generator saturates first). For the peer rows the "
            "ratio is peer ÷ jwtgate (above 1: jwtgate spends less); for /healthz it is jwtgate ÷ "
            "axum (above 1: jwtgate spends more). jwtgate runs as shipped: rate limits on, with a "
            "quota the load cannot reach.\n"
        )
        if small_pool:
            lines.append(
                f"**The token pool here ({max(pools):,} tokens) is not longer than the verdict cache's "
                f"memory ({VERDICT_CACHE_HISTORY:,} keys): some or most 'uncached' requests are cache "
                "hits in this run, and the table above is not like for like.**\n"
            )

        # 2. The verdict cache, on its own.
        lines.append("### The verdict cache: a client that reuses its token, as browsers do for 15 minutes\n")
        ct = []
        hz = "jwtgate /healthz"
        for alg in ALGS:
            c, u = jg_cached(alg), jg_uncached(alg)
            cpu = ratio(get(hz, "cpu"), get(c, "cpu"))
            ct.append(
                [
                    f"jwtgate /api/me {alg}, one token",
                    fmt_num(get(c, "rps")),
                    f"{fmt_x(ratio(get(c, 'rps'), get(hz, 'rps')))}",
                    fmt_num(get(c, "cpu"), 1),
                    fmt_num(get(hz, "cpu"), 1),
                    fmt_x(cpu),
                    f"≥ {CACHED_GOAL:.2f}",
                    met(cpu, CACHED_GOAL),
                    fmt_num(get(u, "cpu"), 1),
                    fmt_x(ratio(get(u, "cpu"), get(c, "cpu"))),
                ]
            )
        lines.append(
            table(
                [
                    "target",
                    "req/s",
                    "req/s ÷ jwtgate /healthz",
                    "CPU µs/req",
                    "jwtgate /healthz CPU µs/req",
                    "CPU ratio /healthz ÷ cached",
                    "goal",
                    "met",
                    "uncached CPU µs/req (same algorithm)",
                    "what the cache saves (uncached ÷ cached CPU)",
                ],
                ct,
            )
        )
        lines.append("")
        lines.append(
            "These rows resend one token, as a client does for the 15 minutes an access token lives: "
            "after the first request jwtgate-verify answers from its verdict cache. They are not "
            "comparable with the peers' rows, which verify every request in full; they are compared "
            "with jwtgate's own /healthz (same server, same middleware, no token).\n"
        )

    if rows:
        lines.append("### All targets\n")
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
            "req/s counts 2xx answers only; p50/p99 are wrk's (`--latency`), medians over runs. "
            "'Other work on the server core' is that core's busy time (from /proc/stat) not spent "
            "by the server, as a share of the run: other processes or hypervisor steal; runs "
            "where it is high are not trustworthy.\n"
        )
        loads = [r["load1"] for r in runs if isinstance(r.get("load1"), (int, float))]
        if loads:
            lines.append(
                f"1-minute load average after each run: {min(loads):.2f} to {max(loads):.2f} "
                f"(about 2 is the benchmark alone: one busy server core, one busy wrk core; "
                f"more means other work shared the machine).\n"
            )
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
    flood, rss = get.get("flood_login"), get.get("rss")
    clients = [
        ("keep-alive", get.get("idle_me"), get.get("flood_me")),
        ("new connection per request", get.get("idle_me_newconn"), get.get("flood_me_newconn")),
    ]
    clients = [(name, i, f) for name, i, f in clients if i or f]
    if flood:
        st = flood["statuses"]
        answered = sum(st.values())
        shed = st.get("429", 0) + st.get("503", 0)
        lines.append("### Flood\n")
        lines.append(
            f"{flood['connections']} connections send logins as fast as they are answered for "
            f"{flood['duration_s']:.0f} s (wrk timeout {flood['timeout']}), while two paced clients call "
            "`/api/me`: one on keep-alive connections, one opening a new connection for every request "
            "(`Connection: close`). Both clients also ran together, without the flood, against the "
            f"idle server just before (for {fmt_num(clients[0][1]['duration_s'] if clients and clients[0][1] else None)} s).\n"
        )
        if clients:
            def p(rec, pct):
                return rec["latency_us"].get(pct) if rec else None

            def errs(rec):
                if not rec:
                    return "n/a"
                e = rec["errors"]
                return (
                    f"{rec['non2xx']} non-2xx; socket {e['connect']}/{e['read']}/{e['write']}/{e['timeout']}"
                )

            rows = [
                ["connections (pause between requests)"] + [
                    f"{(i or f)['connections']} ({(i or f).get('delay_ms', '?')} ms)" for _, i, f in clients
                ],
                ["p50 idle / during the flood"] + [f"{fmt_us(p(i, '50'))} / {fmt_us(p(f, '50'))}" for _, i, f in clients],
                ["p99 idle"] + [fmt_us(p(i, "99")) for _, i, f in clients],
                ["p99 during the flood"] + [fmt_us(p(f, "99")) for _, i, f in clients],
            ]
            ratios = [ratio(p(f, "99"), p(i, "99")) for _, i, f in clients]
            rows.append([f"**p99 flood ÷ idle** (goal ≤ {FLOOD_P99_GOAL:.0f}x)"] + [fmt_x(r) for r in ratios])
            rows.append(["p99 goal met"] + [met(r, FLOOD_P99_GOAL, at_most=True) for r in ratios])
            rows.append(
                ["req/s (2xx) idle / during the flood"]
                + [f"{fmt_num(i['ok_per_s'] if i else None)} / {fmt_num(f['ok_per_s'] if f else None)}" for _, i, f in clients]
            )
            rows.append(["errors idle (connect/read/write/timeout)"] + [errs(i) for _, i, f in clients])
            rows.append(["**errors during the flood** (goal 0)"] + [errs(f) for _, i, f in clients])
            rows.append(
                ["errors goal met"]
                + [("yes" if f["non2xx"] + errors_total(f) == 0 else "**no**") if f else "n/a" for _, i, f in clients]
            )
            lines.append(table(["/api/me client"] + [name for name, _, _ in clients], rows))
            lines.append("")
        rows = [
            ["login answers (all statuses)", fmt_num(answered)],
            ["logins succeeded (2xx)", f"{fmt_num(sum(v for k, v in st.items() if k.startswith('2')))} ({fmt_num(flood['ok_per_s'], 1)}/s)"],
            ["share answered 429/503", f"{shed / answered * 100:.1f}%" if answered else "n/a"],
            ["login statuses", json.dumps(st, sort_keys=True)],
            ["login socket errors (connect/read/write/timeout)", "/".join(str(flood["errors"][k]) for k in ("connect", "read", "write", "timeout"))],
            ["login p50 / p99", f"{fmt_us(flood['latency_us'].get('50'))} / {fmt_us(flood['latency_us'].get('99'))}"],
        ]
        if rss:
            peak = rss.get("flood_peak_rss_kb")
            if peak:
                mb = peak * 1024 / 1e6
                rows.append(
                    [
                        f"**peak server RSS during the flood** (VmRSS every 100 ms, {rss.get('flood_rss_samples', 0)} samples; goal ≤ {RSS_GOAL_MB} MB)",
                        f"{mb:.1f} MB ({peak / 1024:.1f} MiB): {met(mb, RSS_GOAL_MB, at_most=True)}",
                    ]
                )
            if rss.get("VmHWM"):
                rows.append(
                    ["peak server RSS since start (VmHWM, read after the flood)", f"{rss['VmHWM'] * 1024 / 1e6:.1f} MB ({rss['VmHWM'] / 1024:.1f} MiB)"]
                )
        lines.append(table(["login flood", "value"], rows))
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


# Issue 14's cost goals, and the names bench/run gives the cluster section's targets.
CLUSTER_ME_GOAL = 1.05  # cluster node /api/me CPU / single node /api/me CPU, at most
CLUSTER_LOGOUT_P99_GOAL_MS = 20.0
CLUSTER_REFRESH_GOAL = 1.0  # refreshes/s through HAProxy on three nodes / one PostgreSQL node, at least


def report_cluster(recs, lines):
    lines.append("## Several nodes: what the cluster costs\n")
    if not recs:
        lines.append("Not run.\n")
        return
    for skip in (r for r in recs if r.get("kind") == "skip"):
        lines.append(f"Skipped: {skip['reason']}\n")
    me = [r for r in recs if r.get("kind") == "me"]
    if me:
        lines.append(
            "`/api/me` on one node of a three-node PostgreSQL cluster (the other two following the "
            "revocation log) against one node on the embedded default (SQLite), each the only target "
            "loaded, median of the runs:\n"
        )
        rows = []
        for path in ("uncached (distinct tokens)", "cached (one token)"):
            single = [r for r in me if r["target"] == f"single /api/me {path}"]
            node = [r for r in me if r["target"] == f"cluster node /api/me {path}"]
            if not single or not node:
                continue
            s_cpu, n_cpu = med([r.get("cpu_us_per_req") for r in single]), med([r.get("cpu_us_per_req") for r in node])
            s_rps, n_rps = med([r["ok_per_s"] for r in single]), med([r["ok_per_s"] for r in node])
            x = ratio(n_cpu, s_cpu)
            rows.append([path, f"{fmt_num(s_rps)} vs {fmt_num(n_rps)}", f"{fmt_us(s_cpu)} vs {fmt_us(n_cpu)}",
                         fmt_x(x), f"<= {CLUSTER_ME_GOAL:.2f}x", met(x, CLUSTER_ME_GOAL, at_most=True),
                         sum(errors_total(r) for r in single + node)])
        lines.append(table(["/api/me", "req/s single vs cluster node", "CPU/req single vs cluster node",
                            "ratio (cluster ÷ single)", "goal", "met", "socket errors"], rows))
        lines.append("")
    logout = {r["target"]: r for r in recs if r.get("kind") == "logout"}
    if logout:
        lines.append("Logout latency at concurrency 1 (each session signed in first; the answer of a "
                     "cluster node waits until every live node has applied the revocation):\n")
        rows = []
        for name, r in sorted(logout.items()):
            goal = f"<= {CLUSTER_LOGOUT_P99_GOAL_MS:.0f} ms" if name.startswith("cluster") else ""
            met_ = met(r["p99_s"] * 1e3, CLUSTER_LOGOUT_P99_GOAL_MS, at_most=True) if goal else ""
            rows.append([name, r["n"], fmt_us(r["p50_s"] * 1e6), fmt_us(r["p99_s"] * 1e6), fmt_us(r["max_s"] * 1e6),
                         goal, met_, json.dumps(r["statuses"], sort_keys=True)])
        lines.append(table(["target", "logouts", "p50", "p99", "max", "goal (p99)", "met", "statuses"], rows))
        lines.append("")
    refresh = {r["target"]: r for r in recs if r.get("kind") == "cluster-refresh"}
    single, cluster = refresh.get("refresh single PostgreSQL node"), refresh.get("refresh three nodes through HAProxy")
    if single and cluster:
        hz = os.sysconf("SC_CLK_TCK")

        def per(run, key):
            ticks = run.get(key) or 0
            return ticks / hz * 1e6 / run["ok"] if run["ok"] else None

        x = ratio(cluster["ok_per_s"], single["ok_per_s"])
        lines.append("Refresh rotation, every client rotating its own session, all server processes "
                     "(nodes, HAProxy, PostgreSQL) on the same one core:\n")
        rows = [
            ["refreshes/s (2xx)", fmt_num(single["ok_per_s"]), fmt_num(cluster["ok_per_s"])],
            ["p50 / p99", f"{fmt_us(single['latency_us'].get('50'))} / {fmt_us(single['latency_us'].get('99'))}",
             f"{fmt_us(cluster['latency_us'].get('50'))} / {fmt_us(cluster['latency_us'].get('99'))}"],
            ["jwtgate CPU per refresh (all nodes)", fmt_us(per(single, "jg_ticks")), fmt_us(per(cluster, "jg_ticks"))],
            ["HAProxy CPU per refresh", "", fmt_us(per(cluster, "proxy_ticks"))],
            ["PostgreSQL CPU per refresh", fmt_us(per(single, "db_ticks")), fmt_us(per(cluster, "db_ticks"))],
            ["statuses", json.dumps(single["statuses"], sort_keys=True), json.dumps(cluster["statuses"], sort_keys=True)],
            ["socket errors", errors_total(single), errors_total(cluster)],
            ["ratio (cluster ÷ single), goal >= 1.00x", "", f"{fmt_x(x)} ({met(x, CLUSTER_REFRESH_GOAL)})"],
        ]
        lines.append(table(["refresh", "one PostgreSQL node", "three nodes through HAProxy"], rows))
        lines.append("")


def report_micro(recs, lines):
    lines.append("## Micro: `cargo bench -p jwtgate-verify --bench verify`\n")
    if not recs:
        lines.append("Not run.\n")
        return
    r = recs[-1]
    if r.get("kind") == "skip":
        lines.append(f"Skipped: {r['reason']}\n")
        return
    by_alg = {}
    for x in r["rows"]:
        parts = x["name"].split("/", 2)
        if len(parts) == 3 and parts[0] == "verify":
            by_alg.setdefault(parts[1], {})[parts[2]] = x
    summary = []
    for alg, fns in by_alg.items():
        jw = next((v for k, v in fns.items() if k.startswith("jwtgate-verify (")), None)
        typed = fns.get("jsonwebtoken typed claims")
        value = fns.get("jsonwebtoken serde_json::Value")
        raw = fns.get("aws-lc-rs raw signature verify")
        hit = fns.get("jwtgate-verify cache hit")

        def ns(x):
            return x["ns"] if x else None

        r_typed = ratio(ns(typed), ns(jw))
        goal = MICRO_GOALS.get(alg)
        summary.append(
            [
                alg,
                fmt_ns(ns(jw)),
                fmt_ns(ns(typed)),
                fmt_x(r_typed),
                f"≥ {goal:.2f}x" if goal else "none set",
                met(r_typed, goal),
                fmt_ns(ns(value)),
                fmt_x(ratio(ns(value), ns(jw))),
                fmt_ns(ns(raw)) if raw else "",
                f"{ns(raw) / ns(jw) * 100:.0f}% ({fmt_ns(ns(jw) - ns(raw))} above)" if raw and jw else "",
                fmt_ns(ns(hit)),
            ]
        )
    if summary:
        lines.append(
            table(
                [
                    "algorithm",
                    "jwtgate-verify uncached",
                    "jsonwebtoken, typed claims",
                    "ratio (jsonwebtoken ÷ jwtgate)",
                    "goal (issue 11)",
                    "met",
                    "jsonwebtoken, serde_json::Value",
                    "ratio",
                    "aws-lc-rs raw signature verify (the floor)",
                    "raw ÷ jwtgate-verify (time above the floor)",
                    "jwtgate-verify cache hit",
                ],
                summary,
            )
        )
        lines.append("")
        lines.append(
            "Criterion median estimates. Both sides verify the same token with the same checks "
            "(signature; iss, aud, exp, iat, sub required; nbf checked; 30 s leeway); `jsonwebtoken` "
            "decodes into a typed struct of jwtgate's claims (what a careful user writes), and into a "
            "generic `serde_json::Value` for comparison with earlier figures. The raw row is aws-lc-rs "
            "alone verifying the same signature over the same signing input with a pre-parsed public "
            "key: the curve arithmetic any verifier on this backend pays.\n"
        )
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
                ["raw outputs", f"`{meta['raw']}` (wrk and criterion outputs, records, server log tails)" if meta.get("raw") else "n/a"],
            ],
        )
    )
    lines.append("")
    sections = {}
    for r in recs:
        sections.setdefault(r["section"], []).append(r)
    for name in meta["sections"]:
        fn = {"macro": report_macro, "login": report_login, "refresh": report_refresh, "cluster": report_cluster,
              "micro": report_micro}[name]
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
    s.add_argument("--aud", default="jwtgate")
    s.add_argument("--email", default="bench-me@example.com")
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

    s = sub.add_parser("logout-latency")
    s.add_argument("base")
    s.add_argument("email")
    s.add_argument("password")
    s.add_argument("--n", type=int, required=True)
    s.add_argument("--target", required=True)
    s.set_defaults(fn=cmd_logout_latency)

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

    s = sub.add_parser("rss-watch")
    s.add_argument("pid", type=int)
    s.add_argument("--duration", type=float, required=True)
    s.add_argument("--interval", type=float, default=0.1)
    s.add_argument("--out", required=True)
    s.set_defaults(fn=cmd_rss_watch)

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
