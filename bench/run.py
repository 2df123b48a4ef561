"""The benchmark: ``python -m bench.run`` (about 9 minutes) or ``python -m bench.run --quick`` (about 2 minutes).

It starts on loopback an OpenAI-dialect upstream emulator, the gateway (``imagegate serve``) and a reference
pass-through proxy, each in its own process, and drives them with closed-loop load generators (their own
processes too). It prints a table and writes the figures as JSON into bench/results/. bench/README.md says
what every number means.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import msgspec

from . import assets as payloads
from .compare import comparisons, render_comparisons
from .emulator import API_KEY
from .load import LoadResult, LoadSpec
from .procs import (
    RssSampler,
    Service,
    Usage,
    free_port,
    http_get,
    http_post,
    machine_busy_seconds,
    own_cpu_seconds,
    peak_rss_bytes,
    reset_peak_rss,
    rss_bytes,
    usage,
)
from .report import evaluate_targets, render

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
RESULTS = BENCH_DIR / "results"
MODEL = "gpt-image-1"
FANOUT_MODEL = "gpt-image-1-one-per-call"
PROMPT = "A lighthouse on a cliff at dusk, photorealistic"
GENERATIONS = "/v1/images/generations"
EDITS = "/v1/images/edits"
# Hosted images (url case) expire fast and are cleaned every second, so a run does not fill the disk.
STORE_EXPIRY = "ttl_seconds: 5, cleanup_interval_seconds: 1"
LEAD_SECONDS = 0.5  # time given to a load generator process to start before the common start instant
# glibc keeps freed memory instead of handing every megabyte-sized buffer back to the kernel and faulting it
# in again on the next request (see README). Always used for the emulator and the load generators; used for
# the gateway and the pass-through with --malloc tuned.
TUNED_MALLOC = {
    "MALLOC_MMAP_THRESHOLD_": str(4 * 1024 * 1024),
    "MALLOC_TRIM_THRESHOLD_": str(64 * 1024 * 1024),
}


class Timing(msgspec.Struct, frozen=True):
    warmup: float
    duration: float
    slow_warmup: float  # cases with emulated latency
    slow_duration: float
    heavy_warmup: float  # the 2 x 10 MB edits, whose answers take seconds at concurrency 32
    heavy_duration: float
    startup_repeats: int
    rounds: int  # measured windows per run of a fast case, in alternating target order
    quiet_wait: float  # longest wait, before each run, for other work on the machine to stop
    slow_levels: tuple[int, ...] | None  # concurrency levels of the 1 s latency cases (None: all)

    def window(self, pace: str) -> tuple[float, float]:
        """(warm-up, measured window) for a case of ``pace`` fast, slow or heavy."""
        return {
            "fast": (self.warmup, self.duration),
            "slow": (self.slow_warmup, self.slow_duration),
            "heavy": (self.heavy_warmup, self.heavy_duration),
        }[pace]


FULL = Timing(
    warmup=1.0,
    duration=4.0,
    slow_warmup=2.0,
    slow_duration=8.0,
    heavy_warmup=4.0,
    heavy_duration=10.0,
    startup_repeats=3,
    rounds=2,
    quiet_wait=20.0,
    slow_levels=None,
)
QUICK = Timing(
    warmup=0.4,
    duration=1.2,
    slow_warmup=1.2,
    slow_duration=2.2,
    heavy_warmup=2.0,
    heavy_duration=3.0,
    startup_repeats=1,
    rounds=1,
    quiet_wait=0.0,
    slow_levels=(1,),
)


@dataclass(frozen=True, slots=True)
class Request:
    path: str
    body_text: str | None = None
    body_file: Path | None = None
    content_type: str = "application/json"
    first_event: bool = False  # a streamed answer: time to its first event (else to the headers)

    def body(self) -> bytes:
        return self.body_file.read_bytes() if self.body_file else (self.body_text or "").encode()


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    requests: dict[str, Request]  # target name -> what to send it
    check: Callable[[bytes], str | None]  # why a 200 body is wrong, or None
    pace: str = "fast"  # which Timing window: fast, slow (emulated latency) or heavy (2 x 10 MB edits)
    levels: tuple[int, ...] | None = None  # None: the run's concurrency levels


@dataclass(slots=True)
class Sample:
    """One measured window of one run, as the load generators and /proc saw it."""

    duration: float
    loads: list[LoadResult]
    spent: dict[str, Usage]  # process -> CPU time and page faults in the window
    peak_rss: int | None
    sampled_rss: int | None


@dataclass(slots=True)
class RunResult:
    case: str
    target: str
    concurrency: int
    completed: int
    throughput: float  # responses per second in the windows
    round_throughputs: list[float]  # the same, per round (their spread shows the noise)
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float
    max_ms: float
    errors: dict[str, int]
    first_error: str | None
    received_mb_per_s: float
    cpu_percent: dict[str, float]  # process -> % of one core (target, emulator, load, harness, other)
    server_cpu_ms_per_request: float | None  # CPU time of the process answering the client, per response
    server_faults_per_request: int | None  # its minor page faults per response (4 KiB pages mapped in)
    peak_rss_mb: float | None  # the target's RSS high-water mark during the run (None for the emulator)
    sampled_rss_mb: float | None  # the largest 10 ms RSS sample
    generator_late_ms: float  # how late the slowest generator started after the common instant
    first_event_p50_ms: float | None = None  # time to the first byte (streamed answers: the first event)


@dataclass(slots=True)
class Startup:
    seconds_to_ready: list[float]
    idle_rss_mb: list[float]


@dataclass(slots=True)
class Report:
    machine: dict[str, object]
    settings: dict[str, object]
    assets: dict[str, int]
    startup: Startup
    passthrough_startup_seconds: float
    passthrough_idle_rss_mb: float
    runs: list[RunResult] = field(default_factory=list)
    gateway_idle_rss_after_mb: float = 0.0
    gateway_peak_rss_mb: float = 0.0
    targets: list[dict[str, object]] = field(default_factory=list)
    comparisons: list[dict[str, object]] = field(
        default_factory=list
    )  # against the pass-through (compare.py)
    wall_seconds: float = 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="short windows, one round, one start-up sample (~2 min)"
    )
    parser.add_argument("--concurrency", default="1,8,32", help="comma-separated levels (default 1,8,32)")
    parser.add_argument(
        "--cases",
        default="generate,edit,url,stream,stream-final,fanout,one-call,big-edit",
        help="comma-separated subset of: generate, edit, url, stream, stream-final, fanout, one-call, big-edit",
    )
    parser.add_argument("--duration", type=float, help="seconds of each measured window (overrides)")
    parser.add_argument(
        "--rounds", type=int, help="measured windows per run of the fast cases (default 2; quick 1)"
    )
    parser.add_argument(
        "--latency-ms", type=int, default=1000, help="emulated latency of the fan-out upstream"
    )
    parser.add_argument("--load-procs", type=int, default=1, help="load generator processes per run")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers for gateway and pass-through")
    parser.add_argument("--log-level", default="warning", help="uvicorn log level of both servers")
    parser.add_argument(
        "--malloc",
        choices=("default", "tuned"),
        default="default",
        help="glibc malloc settings of gateway and pass-through (tuned: see README)",
    )
    parser.add_argument(
        "--gateway-src",
        help="serve the gateway from this source tree (its core/ and plugins/) instead of the installed one",
    )
    parser.add_argument(
        "--candidate-src",
        help="also run a second gateway from this source tree, as target 'candidate', in the same rounds",
    )
    parser.add_argument(
        "--candidate-malloc", choices=("default", "tuned"), help="malloc of the candidate (default: --malloc)"
    )
    parser.add_argument(
        "--candidate-state",
        metavar="REDIS_URL",
        help="also run the gateway as target 'candidate' with server.shared_state on this Redis (with "
        "--clients both, each request then checks and charges the client in Redis)",
    )
    parser.add_argument(
        "--candidate-s3",
        action="store_true",
        help="also run the gateway as target 'candidate' with its image store on S3 (a SeaweedFS it starts)",
    )
    parser.add_argument(
        "--store-dir",
        metavar="DIR",
        help="where the gateways keep url-mode images (default: under bench/results/work, on the disk); "
        "e.g. a tmpfs such as /dev/shm/imagegate-bench to measure the gateway rather than the filesystem",
    )
    parser.add_argument(
        "--hold",
        type=float,
        default=0,
        help="keep the servers up this many seconds after the runs (profiling)",
    )
    parser.add_argument(
        "--clients",
        choices=("gateway", "candidate", "both"),
        help="whose routes get a clients: section of 1,000 keys (the load's key among them, with an "
        "images-per-minute limit and a budget that never refuse); with --candidate-src . --clients candidate, "
        "the cost of client keys, limits and pricing is measured in the same rounds",
    )
    parser.add_argument("--render", metavar="JSON", help="print the table of a saved run and exit")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="after the table, the gateway against the pass-through, one line per ratio (with --render too)",
    )
    args = parser.parse_args(argv)
    if args.render:
        saved = msgspec.json.decode(Path(args.render).read_bytes(), type=Report)
        print(render(saved))
        if args.compare:
            print("\n" + "\n".join(render_comparisons(comparisons(saved))))
        return 0
    timing = QUICK if args.quick else FULL
    if args.duration:
        timing = msgspec.structs.replace(
            timing, duration=args.duration, slow_duration=args.duration, heavy_duration=args.duration
        )
    if args.rounds:
        timing = msgspec.structs.replace(timing, rounds=args.rounds)
    levels = tuple(int(level) for level in args.concurrency.split(","))
    wanted = [name.strip() for name in args.cases.split(",") if name.strip()]
    began = time.perf_counter()
    report = Bench(args, timing, levels, wanted).run()
    report.wall_seconds = round(time.perf_counter() - began, 1)
    RESULTS.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    encoded = msgspec.json.format(msgspec.json.encode(report), indent=2)
    (RESULTS / f"bench-{stamp}.json").write_bytes(encoded)
    (RESULTS / "latest.json").write_bytes(encoded)
    print(render(report))
    if args.compare:
        print("\n" + "\n".join(render_comparisons(report.comparisons)))
    print(f"\nJSON: {RESULTS / f'bench-{stamp}.json'}  (whole run {report.wall_seconds:.0f} s)")
    return 0


class Bench:
    def __init__(
        self, args: argparse.Namespace, timing: Timing, levels: tuple[int, ...], wanted: list[str]
    ) -> None:
        self.args = args
        self.timing = timing
        self.levels = levels
        self.wanted = wanted
        self.work = RESULTS / "work"
        self.store_root = Path(args.store_dir) if args.store_dir else self.work
        base_env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        self.base_env = base_env
        self.tool_env = base_env | TUNED_MALLOC
        self.env = self.tool_env if args.malloc == "tuned" else base_env
        has_candidate = args.candidate_src or args.candidate_state or args.candidate_s3
        self.gateways = ("gateway", "candidate") if has_candidate else ("gateway",)
        self.state_prefix = f"imagegate-bench:{os.getpid()}-{int(time.time())}:"
        self.bases: dict[str, str] = {}
        self.pids: dict[str, int] = {}

    def run(self) -> Report:
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        print("preparing payloads ...", file=sys.stderr)
        assets = payloads.prepare(self.work / "assets", MODEL)
        with self._services(assets) as (startup, passthrough):
            report = Report(
                machine=machine_info(),
                settings={
                    "timing": msgspec.structs.asdict(self.timing),
                    "levels": list(self.levels),
                    "cases": self.wanted,
                    "latency_ms": self.args.latency_ms,
                    "load_procs": self.args.load_procs,
                    "workers": self.args.workers,
                    "log_level": self.args.log_level,
                    "malloc": self.args.malloc,
                    "gateway_src": self.args.gateway_src,
                    "candidate_src": self.args.candidate_src,
                    "candidate_malloc": self.args.candidate_malloc or self.args.malloc,
                    "clients": self.args.clients,
                    "candidate_state": self.args.candidate_state,
                    "candidate_s3": self.args.candidate_s3,
                    "store_dir": str(self.store_root),
                },
                assets=assets.sizes(),
                startup=startup,
                passthrough_startup_seconds=round(passthrough.seconds_to_ready, 3),
                passthrough_idle_rss_mb=mb(rss_bytes(passthrough.pid)),
            )
            cases = [case for case in self._cases(assets) if case.name in self.wanted]
            for case in cases:
                self._verify(case)
            reset_peak_rss(self.pids["gateway"])
            for case in cases:
                for level in self._levels(case):
                    report.runs.extend(self._run_level(case, level))
            report.gateway_peak_rss_mb = max(
                (r.peak_rss_mb or 0 for r in report.runs if r.target == "gateway"), default=0
            )
            time.sleep(3)
            report.gateway_idle_rss_after_mb = mb(rss_bytes(self.pids["gateway"]))
            if self.args.hold:
                print(
                    f"holding: gateway pid {self.pids['gateway']} at {self.bases['gateway']}", file=sys.stderr
                )
                time.sleep(self.args.hold)
        report.targets = evaluate_targets(report)
        report.comparisons = comparisons(report)
        return report

    @contextlib.contextmanager
    def _services(self, assets: payloads.Assets) -> Iterator[tuple[Startup, Service]]:
        ports = {name: free_port() for name in ("direct", "passthrough", *self.gateways)}
        self.bases = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        emulator = Service(
            "emulator",
            [
                sys.executable,
                "-m",
                "bench.emulator",
                "--port",
                str(ports["direct"]),
                "--image",
                str(assets.result_png),
            ],
            self.bases["direct"] + "/ready",
            self.work / "emulator.log",
            self.tool_env,
        )
        passthrough = Service(
            "passthrough",
            [
                sys.executable,
                "-m",
                "bench.passthrough",
                "--port",
                str(ports["passthrough"]),
                "--upstream",
                self.bases["direct"],
                "--log-level",
                self.args.log_level,
                "--workers",
                str(self.args.workers),
            ],
            self.bases["passthrough"] + "/__ready",
            self.work / "passthrough.log",
            self.env,
        )
        routes = self.work / "routes.yaml"
        routes.write_text(self._routes("gateway", self._local_store("store")))
        started: list[Service] = []
        with contextlib.ExitStack() as stack:
            candidate_routes = self.work / "candidate-routes.yaml"
            candidate_routes.write_text(self._routes("candidate", self._candidate_server(stack)))
            try:
                emulator.start()
                started.append(emulator)
                startup = Startup(seconds_to_ready=[], idle_rss_mb=[])
                gateway = None
                for attempt in range(self.timing.startup_repeats):
                    gateway = self._gateway_service("gateway", routes, ports["gateway"])
                    startup.seconds_to_ready.append(round(gateway.start(), 3))
                    time.sleep(1.0)
                    startup.idle_rss_mb.append(mb(rss_bytes(gateway.pid)))
                    if attempt < self.timing.startup_repeats - 1:
                        gateway.stop()
                assert gateway is not None
                started.append(gateway)
                self.pids["gateway"] = gateway.pid
                if "candidate" in self.gateways:
                    candidate = self._gateway_service("candidate", candidate_routes, ports["candidate"])
                    candidate.start()
                    started.append(candidate)
                    self.pids["candidate"] = candidate.pid
                passthrough.start()
                started.append(passthrough)
                time.sleep(0.5)
                self.pids |= {
                    "direct": emulator.pid,
                    "emulator": emulator.pid,
                    "passthrough": passthrough.pid,
                }
                yield startup, passthrough
            finally:
                for service in reversed(started):
                    service.stop()

    def _candidate_server(self, stack: contextlib.ExitStack) -> str:
        """The candidate's server settings: shared state on Redis and/or the image store on S3 (a SeaweedFS
        started here, stopped by ``stack``); the gateway's local store otherwise."""
        server = self._local_store("candidate-store")
        if self.args.candidate_s3:
            from tests.support.services import run_seaweedfs, s3_admin_client

            s3 = stack.enter_context(run_seaweedfs(self.work / "seaweedfs"))
            s3_admin_client(s3).create_bucket(Bucket="bench")
            server = (
                f'  image_store: {{s3: {{bucket: bench, endpoint_url: "{s3.endpoint_url}", '
                f'access_key_id: "{s3.access_key_id}", secret_access_key: "{s3.secret_access_key}"}}, '
                f"{STORE_EXPIRY}, urls: presigned}}\n"
            )
        if self.args.candidate_state:
            stack.callback(delete_keys, self.args.candidate_state, self.state_prefix)
            server += f'  shared_state: {{redis_url: "{self.args.candidate_state}", key_prefix: "{self.state_prefix}"}}\n'
        return server

    def _local_store(self, name: str) -> str:
        return f'  image_store: {{directory: "{self.store_root / name}", {STORE_EXPIRY}}}\n'

    def _routes(self, name: str, server: str) -> str:
        """``name``'s routes file: the emulator's models and ``server`` settings, and the clients: section
        where --clients asks for it."""
        text = routes_yaml(self.bases["direct"], server, self.args.latency_ms)
        return text + (clients_yaml() if self.args.clients in (name, "both") else "")

    def _gateway_service(self, name: str, routes: Path, port: int) -> Service:
        """The gateway (``imagegate serve`` as installed, or from --gateway-src), or the candidate (from
        --candidate-src, else the gateway's source), each with its routes file on its own port."""
        source = (
            (self.args.candidate_src or self.args.gateway_src)
            if name == "candidate"
            else self.args.gateway_src
        )
        malloc = (self.args.candidate_malloc or self.args.malloc) if name == "candidate" else self.args.malloc
        script = shutil.which("imagegate")
        program = [script] if script and not source else [sys.executable, "-m", "imagegate.cli"]
        command = [
            *program,
            "serve",
            "--routes",
            str(routes),
            "--port",
            str(port),
            "--workers",
            str(self.args.workers),
            "--log-level",
            self.args.log_level,
        ]
        env = self.tool_env if malloc == "tuned" else self.base_env
        if source:
            root = Path(source).resolve()
            paths = [str(root / "core"), str(root / "plugins"), env["PYTHONPATH"]]
            env = env | {"PYTHONPATH": os.pathsep.join(paths)}
        return Service(name, command, self.bases[name] + "/readyz", self.work / f"{name}.log", env)

    def _cases(self, assets: payloads.Assets) -> list[Case]:
        generate = Request(GENERATIONS, body_text=json_text(model=MODEL, prompt=PROMPT, size="1024x1024"))
        edit = Request(EDITS, body_file=assets.edit_body, content_type=payloads.MULTIPART_CONTENT_TYPE)
        big_edit = Request(
            EDITS, body_file=assets.big_edit_body, content_type=payloads.MULTIPART_CONTENT_TYPE
        )
        url = Request(
            GENERATIONS,
            body_text=json_text(model=MODEL, prompt=PROMPT, size="1024x1024", response_format="url"),
        )
        streamed = {
            name: Request(
                GENERATIONS,
                body_text=json_text(
                    model=MODEL, prompt=PROMPT, size="1024x1024", stream=True, partial_images=partials
                ),
                first_event=True,
            )
            for name, partials in (("stream", 2), ("stream-final", 0))
        }
        slow_path = f"/lat/{self.args.latency_ms}{GENERATIONS}"
        one_direct = Request(slow_path, body_text=json_text(model=MODEL, prompt=PROMPT, n=1))
        one_gateway = Request(GENERATIONS, body_text=json_text(model=FANOUT_MODEL, prompt=PROMPT, n=1))
        fanout = Request(GENERATIONS, body_text=json_text(model=FANOUT_MODEL, prompt=PROMPT, n=4))
        result_png = assets.result_png.read_bytes()
        every = ("direct", "passthrough", *self.gateways)
        return [
            Case("generate", dict.fromkeys(every, generate), b64_check(result_png, 1)),
            Case("edit", dict.fromkeys(every, edit), b64_check(result_png, 1)),
            Case("url", dict.fromkeys(self.gateways, url), self._url_check(result_png)),
            # Streamed: two previews and the image (3 events), or the image alone; compare with generate.
            Case(
                "stream", dict.fromkeys(every, streamed["stream"]), events_check(result_png, 3), levels=(1, 8)
            ),
            Case(
                "stream-final",
                dict.fromkeys(every, streamed["stream-final"]),
                events_check(result_png, 1),
                levels=(1, 8),
            ),
            Case(
                "one-call",
                {"direct": one_direct} | dict.fromkeys(self.gateways, one_gateway),
                b64_check(result_png, 1),
                pace="slow",
            ),
            Case("fanout", dict.fromkeys(self.gateways, fanout), b64_check(result_png, 4), pace="slow"),
            Case(
                "big-edit",
                dict.fromkeys(("passthrough", *self.gateways), big_edit),
                b64_check(result_png, 1),
                levels=(32,),
                pace="heavy",
            ),
        ]

    def _url_check(self, expected: bytes) -> Callable[[bytes], str | None]:
        def check(body: bytes) -> str | None:
            data = msgspec.json.decode(body).get("data") or [{}]
            address = data[0].get("url")
            if not address:
                return f"no url in {body[:200]!r}"
            status, image = http_get(address)
            return (
                None
                if status == 200 and image == expected
                else f"GET {address} gave {status}, {len(image)} bytes"
            )

        return check

    def _verify(self, case: Case) -> None:
        for target, request in case.requests.items():
            status, body = http_post(self.bases[target] + request.path, request.body(), request.content_type)
            problem = f"HTTP {status}: {body[:300]!r}" if status != 200 else case.check(body)
            if problem:
                raise SystemExit(f"{case.name} on {target} answers wrongly: {problem}")

    def _measure(self, case: Case, target: str, request: Request, concurrency: int) -> Sample:
        warmup, duration = self.timing.window(case.pace)
        wait_for_quiet(self.timing.quiet_wait)
        start_at = time.time() + LEAD_SECONDS
        window_start, window_end = start_at + warmup, start_at + warmup + duration
        generators = self._spawn_generators(target, request, concurrency, start_at, warmup, duration)
        watched = {"emulator": self.pids["emulator"]} | (
            {} if target == "direct" else {target: self.pids[target]}
        )
        server_pid = watched.get(target)
        if server_pid:
            reset_peak_rss(server_pid)

        def snapshot() -> dict[str, Usage]:
            loads = [usage(generator.pid) for generator in generators]
            return {name: usage(pid) for name, pid in watched.items()} | {
                "load": Usage(sum(u.cpu_seconds for u in loads), sum(u.minor_faults for u in loads)),
                "harness": Usage(own_cpu_seconds(), 0),
                "machine": Usage(machine_busy_seconds(), 0),
            }

        with RssSampler(server_pid or self.pids["emulator"]) as sampler:
            time.sleep(max(0.0, window_start - time.time()))
            before = snapshot()
            time.sleep(max(0.0, window_end - time.time()))
            spent = {name: used - before[name] for name, used in snapshot().items()}
            outputs = [g.communicate(timeout=600)[0] for g in generators]
        return Sample(
            duration=duration,
            loads=[msgspec.json.decode(output, type=LoadResult) for output in outputs],
            spent=spent,
            peak_rss=peak_rss_bytes(server_pid) if server_pid else None,
            sampled_rss=sampler.peak if server_pid else None,
        )

    def _levels(self, case: Case) -> tuple[int, ...]:
        if case.levels:
            return case.levels
        if case.pace == "slow" and self.timing.slow_levels:
            return tuple(level for level in self.levels if level in self.timing.slow_levels) or self.levels
        return self.levels

    def _run_level(self, case: Case, concurrency: int) -> list[RunResult]:
        """Every target of ``case`` at one concurrency, in rounds whose target order alternates, so that
        drift on a shared machine spreads over all targets."""
        rounds = self.timing.rounds if case.pace == "fast" else 1
        samples: dict[str, list[Sample]] = {target: [] for target in case.requests}
        for index in range(rounds):
            order = list(case.requests) if index % 2 == 0 else list(reversed(case.requests))
            for target in order:
                samples[target].append(self._measure(case, target, case.requests[target], concurrency))
        results = [summarize(case.name, target, concurrency, samples[target]) for target in case.requests]
        for result in results:
            print(progress_line(result), file=sys.stderr)
        return results

    def _spawn_generators(
        self, target: str, request: Request, concurrency: int, start_at: float, warmup: float, duration: float
    ) -> list[subprocess.Popen[bytes]]:
        processes = max(1, min(self.args.load_procs, concurrency))
        shares = [
            concurrency // processes + (1 if index < concurrency % processes else 0)
            for index in range(processes)
        ]
        generators = []
        for index, share in enumerate(shares):
            spec = LoadSpec(
                url=self.bases[target] + request.path,
                concurrency=share,
                start_at=start_at,
                warmup=warmup,
                duration=duration,
                body_file=str(request.body_file) if request.body_file else None,
                body_text=request.body_text,
                content_type=request.content_type,
                headers={"Authorization": f"Bearer {API_KEY}"},
                first_event=request.first_event,
            )
            spec_path = self.work / f"load-{index}.json"
            spec_path.write_bytes(msgspec.json.encode(spec))
            generators.append(
                subprocess.Popen(
                    [sys.executable, "-m", "bench.load", str(spec_path)],
                    stdout=subprocess.PIPE,
                    env=self.tool_env,
                    cwd=REPO,
                )
            )
        return generators


def summarize(case: str, target: str, concurrency: int, samples: list[Sample]) -> RunResult:
    """One table row from the rounds of a run."""
    loads = [load for sample in samples for load in sample.loads]
    latencies = sorted(latency for load in loads for latency in load.latencies)
    first_events = sorted(latency for load in loads for latency in load.first_events)
    completed = sum(load.completed_in_window for load in loads)
    duration = sum(sample.duration for sample in samples)
    errors: dict[str, int] = {}
    for load in loads:
        for status, count in load.errors.items():
            errors[status] = errors.get(status, 0) + count
    spent = {
        name: Usage(
            sum(sample.spent[name].cpu_seconds for sample in samples),
            sum(sample.spent[name].minor_faults for sample in samples),
        )
        for name in samples[0].spent
    }
    server = spent["emulator" if target == "direct" else target]
    peaks = [sample.peak_rss for sample in samples if sample.peak_rss is not None]
    sampled = [sample.sampled_rss for sample in samples if sample.sampled_rss is not None]
    return RunResult(
        case=case,
        target=target,
        concurrency=concurrency,
        completed=completed,
        throughput=round(completed / duration, 2),
        round_throughputs=[
            round(sum(load.completed_in_window for load in sample.loads) / sample.duration, 1)
            for sample in samples
        ],
        p50_ms=percentile_ms(latencies, 0.50),
        p90_ms=percentile_ms(latencies, 0.90),
        p99_ms=percentile_ms(latencies, 0.99),
        first_event_p50_ms=percentile_ms(first_events, 0.50) if first_events else None,
        mean_ms=round(statistics.fmean(latencies) * 1000, 2) if latencies else math.nan,
        max_ms=round(latencies[-1] * 1000, 2) if latencies else math.nan,
        errors=errors,
        first_error=next((load.first_error for load in loads if load.first_error), None),
        received_mb_per_s=round(sum(load.bytes_received for load in loads) / duration / 1e6, 1),
        cpu_percent=cpu_percent(spent, duration),
        server_cpu_ms_per_request=round(1000 * server.cpu_seconds / completed, 2) if completed else None,
        server_faults_per_request=round(server.minor_faults / completed) if completed else None,
        peak_rss_mb=mb(max(peaks)) if peaks else None,
        sampled_rss_mb=mb(max(sampled)) if sampled else None,
        generator_late_ms=round(max(load.started_late for load in loads) * 1000, 1),
    )


QUIET_PERCENT = 15.0  # machine CPU use (% of one core) under which the machine counts as quiet


def wait_for_quiet(longest: float) -> None:
    """Wait until the machine has been quiet for half a second (other sessions' test runs share these
    cores), at most ``longest`` seconds. A run that starts on a busy machine shows it in its ``other`` CPU."""
    began = time.perf_counter()
    while time.perf_counter() - began < longest:
        before = machine_busy_seconds()
        time.sleep(0.5)
        if 100 * (machine_busy_seconds() - before) / 0.5 < QUIET_PERCENT:
            return


def cpu_percent(spent: dict[str, Usage], duration: float) -> dict[str, float]:
    """% of one core per process in the window (``harness``: this process's sampling), and ``other``:
    everything else the machine's cores did meanwhile (other people's jobs, kernel threads)."""
    percent = {name: 100 * used.cpu_seconds / duration for name, used in spent.items()}
    machine = percent.pop("machine")
    ours = sum(percent.values())
    return {name: round(value, 1) for name, value in percent.items()} | {"other": round(machine - ours, 1)}


def routes_yaml(emulator: str, server: str, latency_ms: int) -> str:
    return f"""\
server:
{server}providers:
  emulator: {{plugin: openai, api_key: {API_KEY}, base_url: "{emulator}/v1"}}
  slow-emulator: {{plugin: openai, api_key: {API_KEY}, base_url: "{emulator}/lat/{latency_ms}/v1"}}
models:
  {MODEL}:
    - {{provider: emulator}}
  {FANOUT_MODEL}:
    - {{provider: slow-emulator, upstream_model: {MODEL}, capabilities: {{max_images_per_call: 1}}}}
"""


def clients_yaml(count: int = 1000) -> str:
    """A clients: section whose first key is the one the load generators send."""
    keys = [API_KEY, *(f"other-key-{index}" for index in range(1, count))]
    lines = ["clients:"]
    for index, key in enumerate(keys):
        digest = hashlib.sha256(key.encode()).hexdigest()
        lines.append(
            f'  client-{index}: {{key_sha256: "{digest}", models: ["gpt-image-*"], images_per_minute: 1000000000, '
            "budget_usd: {limit: 1000000000, period: month}}"
        )
    return "\n".join(lines) + "\n"


def delete_keys(redis_url: str, prefix: str) -> None:
    """Remove the keys this run wrote to Redis (only those: they start with its own prefix)."""
    import redis

    client = redis.Redis.from_url(redis_url)
    keys = list(client.scan_iter(match=prefix + "*", count=1000))
    if keys:
        client.delete(*keys)
    client.close()


def json_text(**fields: object) -> str:
    return msgspec.json.encode(fields).decode()


def b64_check(expected: bytes, count: int) -> Callable[[bytes], str | None]:
    import base64

    def check(body: bytes) -> str | None:
        data = msgspec.json.decode(body).get("data") or []
        if len(data) != count:
            return f"{len(data)} images instead of {count}"
        if any(base64.b64decode(item.get("b64_json", "")) != expected for item in data):
            return "an image differs from the upstream's"
        return None

    return check


def events_check(expected: bytes, count: int) -> Callable[[bytes], str | None]:
    """A streamed answer: ``count`` events, the last one completed with the upstream's image."""
    import base64

    def check(body: bytes) -> str | None:
        frames = [frame for frame in body.split(b"\n\n") if frame.startswith(b"event: ")]
        if len(frames) != count:
            return f"{len(frames)} events instead of {count}: {body[:200]!r}"
        last = msgspec.json.decode(frames[-1].partition(b"\ndata: ")[2])
        if last.get("type") != "image_generation.completed" or base64.b64decode(last["b64_json"]) != expected:
            return f"the last event is not the upstream's completed image: {frames[-1][:200]!r}"
        return None

    return check


def percentile_ms(ordered: list[float], fraction: float) -> float:
    if not ordered:
        return math.nan
    return round(ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))] * 1000, 2)


def mb(count: int) -> float:
    return round(count / (1024 * 1024), 1)


def progress_line(result: RunResult) -> str:
    errors = f"  errors {result.errors}" if result.errors else ""
    return (
        f"  {result.case:9} c={result.concurrency:<3} {result.target:12} {result.throughput:8.1f} req/s  "
        f"p50 {result.p50_ms:8.2f} ms  p99 {result.p99_ms:8.2f} ms  cpu {result.cpu_percent}{errors}"
    )


def machine_info() -> dict[str, object]:
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kb = next(
        int(line.split()[1])
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    changed = subprocess.run(
        ["git", "status", "--porcelain", "core", "plugins"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    return {
        "cores": os.cpu_count(),
        "cpu": cpu_model,
        "memory_gb": round(memory_kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {
            name: metadata.version(name)
            for name in (
                "uvicorn",
                "starlette",
                "aiohttp",
                "msgspec",
                "uvloop",
                "httptools",
                "python-multipart",
            )
        },
        "commit": commit + (" + uncommitted core/plugins changes" if changed else ""),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


if __name__ == "__main__":
    raise SystemExit(main())
