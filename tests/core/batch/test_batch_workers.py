"""Batch over several workers: the shared driver loop (fake workers), worker processes, and Ray.

The images of a multi-worker run must equal a single-process run's bit for bit; a worker that
dies loses only its in-flight groups, which other workers make; no image is written twice.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ldm_studio.cli import main
from ldm_studio.core.batch import BatchRun, read_spec
from ldm_studio.core.batch.workers import Done, Failed, Lost, ProcessBackend
from ldm_studio.core.errors import LdmStudioError
from ldm_studio.core.models.model_folder import read_model_info

SMALL = {"steps": 2, "width": 64, "height": 64}


def spec_of_12(tmp_path, steps=2):
    """10 rows, one of them 3 images: 12 images."""
    rows = [{"prompt": f"a cat {i}", "seed": 100 + i, **SMALL, "steps": steps} for i in range(10)]
    rows[3]["batch"] = 3
    path = tmp_path / "spec.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    return path


def pixels(folder):
    return {p.name: np.asarray(Image.open(p)).tobytes() for p in sorted(folder.glob("*.png"))}


def manifest_indices(folder):
    return sorted(json.loads(line)["index"] for line in (folder / "manifest.jsonl").read_text().splitlines())


@pytest.fixture(scope="module")
def reference(tmp_path_factory, text_engine):
    """The single-process run of the 12-image spec (base seed 0), made once."""
    root = tmp_path_factory.mktemp("reference")
    spec = spec_of_12(root)
    BatchRun(text_engine, read_spec(spec), root / "out", base_seed=0).run()
    images = pixels(root / "out")
    assert len(images) == 12
    return spec, images


class FakeWorkers:
    """Two in-process 'workers' on one engine, answering in submission order; faults on demand."""

    depth = 2

    def __init__(self, engine, *, fails=(), lose_after=None):
        self.engine = engine
        self.info = engine.model.info
        self.device_label = engine.choice.label
        self.fails = set(fails)  # (worker, first row of the group)
        self.lose_after = lose_after  # worker 1 dies after this many answers, one late answer follows
        self.live = {0, 1}
        self.queue = []
        self.answers = 0
        self.late = None
        self.closed = False

    def start(self):
        pass

    def live_workers(self):
        return sorted(self.live)

    def submit(self, worker, task, request):
        self.queue.append((worker, task, request))

    def next_event(self, timeout):
        if self.late is not None:  # the dead worker's answer that was already on its way
            event, self.late = self.late, None
            return event
        if self.lose_after is not None and self.answers == self.lose_after and 1 in self.live:
            self.live.discard(1)
            mine = [item for item in self.queue if item[0] == 1]
            self.queue = [item for item in self.queue if item[0] != 1]
            if mine:
                _, task, request = mine[0]
                self.late = Done(1, task, self.engine.generate(request).images, self.device_label)
            return Lost(1, "killed")
        if not self.queue:
            return None
        worker, task, request = self.queue.pop(0)
        self.answers += 1
        if (worker, self.row_of(request)) in self.fails:
            return Failed(worker, task, "out of memory")
        return Done(worker, task, self.engine.generate(request).images, self.device_label)

    def row_of(self, request):
        return int(request.condition.prompt.split()[-1]) + 1

    def worker_label(self, worker):
        return f"fake #{worker}"

    def close(self):
        self.closed = True


def test_a_group_failing_on_one_worker_is_made_by_another(tmp_path, text_engine, reference):
    spec, expected = reference
    backend = FakeWorkers(text_engine, fails={(0, 2), (0, 5), (1, 7)})
    report = BatchRun(None, read_spec(spec), tmp_path / "out", base_seed=0, backend=backend).run()
    assert report.ok and len(report.written) == 12 and backend.closed
    assert pixels(tmp_path / "out") == expected


def test_a_row_failing_on_every_worker_is_reported_by_number_and_the_rest_finish(tmp_path, text_engine, reference):
    spec, expected = reference
    backend = FakeWorkers(text_engine, fails={(0, 4), (1, 4)})  # row 4 is the 3-image row
    report = BatchRun(None, read_spec(spec), tmp_path / "out", base_seed=0, backend=backend).run()
    assert report.failed == ["row 4: out of memory"]
    assert len(report.written) == 9
    made = pixels(tmp_path / "out")
    assert made == {name: data for name, data in expected.items() if name in made}


def test_a_lost_worker_loses_nothing_and_its_late_answer_is_not_written_twice(tmp_path, text_engine, reference):
    spec, expected = reference
    seen = []
    backend = FakeWorkers(text_engine, lose_after=3)
    run = BatchRun(None, read_spec(spec), tmp_path / "out", base_seed=0, backend=backend, on_progress=seen.append)
    report = run.run()
    assert report.ok and len(report.written) == 12
    assert pixels(tmp_path / "out") == expected
    assert manifest_indices(tmp_path / "out") == list(range(12))  # each image once
    assert any("fake #1: lost (killed)" in p.workers for p in seen)


def test_every_worker_lost_stops_with_a_resume_hint(tmp_path, text_engine, reference):
    spec, _ = reference

    class AllDie(FakeWorkers):
        def next_event(self, timeout):
            if self.answers >= 2 and self.live:
                return Lost(self.live.pop(), "node lost")
            return super().next_event(timeout)

    with pytest.raises(LdmStudioError, match=r"every batch worker was lost.*run the same command again"):
        BatchRun(None, read_spec(spec), tmp_path / "out", base_seed=0, backend=AllDie(text_engine)).run()
    assert len(manifest_indices(tmp_path / "out")) >= 2


def test_two_worker_processes_make_the_same_images(tmp_path, tiny_text_model, reference):
    spec, expected = reference
    out = tmp_path / "out"
    args = ["batch", str(spec), "--model", str(tiny_text_model), "--out", str(out), "--seed", "0", "--quiet"]
    assert main([*args, "--device", "cpu", "--workers", "2"]) == 0
    assert pixels(out) == expected
    assert manifest_indices(out) == list(range(12))
    devices = {json.loads(line)["recipe"]["device"] for line in (out / "manifest.jsonl").read_text().splitlines()}
    assert devices == {"cpu (fp32)"}


def test_a_killed_worker_process_loses_only_its_in_flight_images(tmp_path, tiny_text_model, text_engine):
    info = read_model_info(tiny_text_model)
    backend = ProcessBackend(info, ["cpu", "cpu"], threads=1)
    states = []

    def on_progress(progress):
        states.append(progress.workers)
        if progress.done == 2 and backend.processes[0].is_alive():
            os.kill(backend.processes[0].pid, signal.SIGKILL)

    slow = spec_of_12(tmp_path, steps=6)  # long enough for the kill to land mid-run
    ref = tmp_path / "ref"
    run = BatchRun(None, read_spec(slow), tmp_path / "out", base_seed=0, backend=backend, on_progress=on_progress)
    assert run.run().ok
    assert any(any("lost" in s for s in workers) for workers in states), "worker 0 should have been lost"
    assert manifest_indices(tmp_path / "out") == list(range(12))
    BatchRun(text_engine, read_spec(slow), ref, base_seed=0).run()
    assert pixels(tmp_path / "out") == pixels(ref)


def test_ray_missing_says_how_to_install_it(tmp_path, tiny_text_model, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    spec = spec_of_12(tmp_path)
    code = main(["batch", str(spec), "--model", str(tiny_text_model), "--out", str(tmp_path / "o"), "--ray", "auto"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "pip install 'ldm-studio[cluster]'" in err[0]


def test_the_cli_imports_no_ray():
    code = "import sys, ldm_studio.cli; assert 'ray' not in sys.modules, 'ray imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


# --- Ray (a local 2-CPU cluster, no network) ---------------------------------------------------


@pytest.fixture(scope="session")
def ray_cluster():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_run_makes_the_same_images(tmp_path, tiny_text_model, reference, ray_cluster):
    spec, expected = reference
    out = tmp_path / "out"
    args = ["batch", str(spec), "--model", str(tiny_text_model), "--out", str(out), "--seed", "0", "--quiet"]
    assert main([*args, "--ray", "auto", "--workers", "2"]) == 0
    assert pixels(out) == expected
    assert manifest_indices(out) == list(range(12))


def test_a_killed_ray_actor_loses_nothing(tmp_path, tiny_text_model, reference, ray_cluster):
    from ldm_studio.core.batch.ray_backend import RayBackend

    spec, expected = reference
    backend = RayBackend(str(tiny_text_model), read_model_info(tiny_text_model), "auto", workers=2)
    states = []

    def on_progress(progress):
        states.append(progress.workers)
        if progress.done == 2:
            ray_cluster.kill(backend.actors[0])

    run = BatchRun(None, read_spec(spec), tmp_path / "out", base_seed=0, backend=backend, on_progress=on_progress)
    assert run.run().ok
    assert pixels(tmp_path / "out") == expected
    assert manifest_indices(tmp_path / "out") == list(range(12))
    assert any(any("lost" in s for s in workers) for workers in states)


@pytest.mark.slow
def test_a_driver_killed_with_sigkill_resumes_and_its_workers_exit(tmp_path, tiny_text_model, text_engine):
    spec = spec_of_12(tmp_path, steps=12)  # long enough for the kill to land mid-run
    BatchRun(text_engine, read_spec(spec), tmp_path / "ref", base_seed=0).run()
    expected = pixels(tmp_path / "ref")
    out = tmp_path / "out"
    args = ["batch", str(spec), "--model", str(tiny_text_model), "--out", str(out), "--seed", "0", "--quiet"]
    args += ["--device", "cpu", "--workers", "2"]
    proc = subprocess.Popen([sys.executable, "-m", "ldm_studio", *args], stderr=subprocess.DEVNULL)
    manifest = out / "manifest.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if manifest.exists() and manifest.read_text().count("\n") >= 3:
            break
        time.sleep(0.05)
    workers = children(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(workers) == 2 and len(manifest_indices(out)) < 12, "the kill should land mid-batch"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.1)
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers), "orphaned workers should exit"

    assert main(args) == 0
    assert pixels(out) == expected
    assert manifest_indices(out) == list(range(12))


def children(pid):
    """Process ids whose parent is `pid` (Linux /proc), excluding multiprocessing's resource tracker."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(text.rsplit(")", 1)[1].split()[1]) == pid and b"resource_tracker" not in cmdline:
            found.append(int(stat.parent.name))
    return found


MULTI_NODE = """
import sys
from pathlib import Path
import ray
from ray.cluster_utils import Cluster
from ldm_studio.core.batch import BatchRun, read_spec
from ldm_studio.core.batch.ray_backend import RayBackend
from ldm_studio.core.models.model_folder import read_model_info

model, spec, out = sys.argv[1:4]
cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
nodes = [cluster.add_node(num_cpus=1) for _ in range(2)]
ray.init(address=cluster.address, log_to_driver=False)
backend = RayBackend(model, read_model_info(model), "auto")
assert backend.count == 2, backend.count  # one CPU actor per node with CPUs

states = []

def on_progress(progress):
    states.append(progress.workers)
    if progress.done == 2 and len(cluster.worker_nodes) == 2:
        cluster.remove_node(nodes[0])  # a node lost mid-run

report = BatchRun(None, read_spec(spec), Path(out), base_seed=0, backend=backend, on_progress=on_progress).run()
assert report.ok, report
assert any("lost" in state for workers in states for state in workers), states
ray.shutdown()
cluster.shutdown()
"""


@pytest.mark.slow
def test_a_two_node_ray_cluster_survives_losing_a_node(tmp_path, tiny_text_model, reference):
    """Two local Ray worker nodes (ray.cluster_utils, no network), in a process of its own."""
    pytest.importorskip("ray")
    spec, expected = reference
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-c", MULTI_NODE, str(tiny_text_model), str(spec), str(out)], check=True)
    assert pixels(out) == expected
    assert manifest_indices(out) == list(range(12))
