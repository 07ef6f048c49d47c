"""NVML telemetry per row: energy, mean power, SM clock, temperature, throttling (shared docs §7 rule 14).

Energy comes from the total-energy counter (mJ) over a window of back-to-back calls of at least
``energy_window_s`` (the counter ticks every ~10–100 ms, so one call is below its resolution); mean power is
ΔE/Δt of the same window. SM clock and clock-event (throttle) reasons are sampled by a thread every 20 ms; throttle
time comes from ``nvmlDeviceGetViolationStatus`` deltas. NVML devices are matched to CUDA devices by PCI bus id.
Unsupported queries are recorded as missing (NaN / empty) with a note, never as 0.
"""

from __future__ import annotations

import math
import threading
import time
import warnings
from dataclasses import dataclass, field

import torch

NAN = float("nan")


@dataclass
class Window:
    energy_j: float = NAN  # per call
    avg_power_w: float = NAN
    sm_clock_mhz: float = NAN  # mean of samples
    temp_c: float = NAN  # at the end of the window
    throttle_reasons: str = ""
    power_violation_ms: float = NAN
    thermal_violation_ms: float = NAN
    window_s: float = NAN
    window_calls: float = NAN
    window_ms_per_call: float = NAN
    note: str = ""
    clocks: list = field(default_factory=list)


_REASONS = {
    0x1: "gpu_idle", 0x2: "app_clocks", 0x4: "sw_power_cap", 0x8: "hw_slowdown", 0x20: "sync_boost",
    0x40: "sw_thermal", 0x80: "hw_thermal", 0x100: "hw_power_brake", 0x200: "display_clocks",
}


def decode_reasons(mask: int) -> str:
    names = [name for bit, name in _REASONS.items() if mask & bit]
    return "+".join(names) if names else "none"


class Telemetry:
    """NVML access for one CUDA device; every query degrades to "missing" with one warning."""

    def __init__(self, device: torch.device):
        self.handle = None
        self.note = ""
        self.binding = ""
        self._warned: set[str] = set()
        if device.type != "cuda":
            self.note = "no NVML: not a CUDA device"
            return
        try:
            import pynvml  # provided by nvidia-ml-py

            self.nvml = pynvml
            self.binding = "nvidia-ml-py " + _version("nvidia-ml-py")
            pynvml.nvmlInit()
            props = torch.cuda.get_device_properties(device)
            try:
                bus = f"{props.pci_domain_id:08x}:{props.pci_bus_id:02x}:{props.pci_device_id:02x}.0"
            except AttributeError:
                bus = ""
            self.handle = _handle_by_bus(pynvml, bus, device)
        except Exception as ex:
            self.handle = None
            self.note = f"NVML unavailable: {type(ex).__name__}: {ex}"

    def _q(self, name: str, fn, *args):
        if self.handle is None:
            return None
        try:
            return fn(self.handle, *args)
        except Exception as ex:
            if name not in self._warned:
                self._warned.add(name)
                warnings.warn(f"NVML query {name} unsupported here ({ex}); recorded as missing", stacklevel=2)
            return None

    def energy_mj(self):
        return self._q("total_energy", self.nvml.nvmlDeviceGetTotalEnergyConsumption) if self.handle else None

    def sm_clock(self):
        return self._q("sm_clock", self.nvml.nvmlDeviceGetClockInfo, self.nvml.NVML_CLOCK_SM) if self.handle else None

    def temp(self):
        return self._q("temperature", self.nvml.nvmlDeviceGetTemperature, self.nvml.NVML_TEMPERATURE_GPU) \
            if self.handle else None

    def reasons(self):
        if not self.handle:
            return None
        fn = getattr(self.nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
            self.nvml.nvmlDeviceGetCurrentClocksThrottleReasons
        return self._q("clock_event_reasons", fn)

    def violation_ns(self, policy_name: str):
        if not self.handle:
            return None
        policy = getattr(self.nvml, policy_name)
        v = self._q(f"violation_{policy_name}", self.nvml.nvmlDeviceGetViolationStatus, policy)
        return None if v is None else v.violationTime

    def static_info(self) -> dict:
        if not self.handle:
            return {"nvml": self.note or "unavailable"}
        n = self.nvml
        info = {
            "nvml_binding": self.binding,
            "driver": _s(self._q("driver", lambda h: n.nvmlSystemGetDriverVersion())),
            "max_sm_clock_mhz": self._q("max_sm_clock", n.nvmlDeviceGetMaxClockInfo, n.NVML_CLOCK_SM),
            "max_mem_clock_mhz": self._q("max_mem_clock", n.nvmlDeviceGetMaxClockInfo, n.NVML_CLOCK_MEM),
            "sm_clock_mhz_now": self.sm_clock(),
            "mem_clock_mhz_now": self._q("mem_clock", n.nvmlDeviceGetClockInfo, n.NVML_CLOCK_MEM),
            "app_sm_clock_mhz": self._q("app_clock", n.nvmlDeviceGetApplicationsClock, n.NVML_CLOCK_SM),
            "power_limit_w": _div(self._q("power_limit", n.nvmlDeviceGetEnforcedPowerLimit), 1000),
            "temperature_c": self.temp(),
            "persistence_mode": self._q("persistence", n.nvmlDeviceGetPersistenceMode),
        }
        return info

    def window(self, run_calls, min_seconds: float, sync) -> Window:
        """Run ``run_calls(k)`` (k back-to-back calls) until ≥ ``min_seconds`` passed; read energy and clocks."""
        w = Window(note=self.note)
        if self.handle is None or min_seconds <= 0:
            w.note = w.note or "energy window disabled"
            return w
        stop = threading.Event()
        clocks: list[int] = []
        reasons = [0]

        def sampler():
            while not stop.is_set():
                c = self.sm_clock()
                if c is not None:
                    clocks.append(c)
                r = self.reasons()
                if r is not None:
                    reasons[0] |= int(r)
                time.sleep(0.02)

        sync()
        pv0, tv0 = self.violation_ns("NVML_PERF_POLICY_POWER"), self.violation_ns("NVML_PERF_POLICY_THERMAL")
        th = threading.Thread(target=sampler, daemon=True)
        e0 = self.energy_mj()
        t0 = time.perf_counter()
        th.start()
        calls = 0
        batch = 1
        while True:
            run_calls(batch)
            calls += batch
            sync()
            el = time.perf_counter() - t0
            if el >= min_seconds:
                break
            batch = max(1, min(batch * 2, int(calls * (min_seconds - el) / max(el, 1e-6)) + 1))
        e1 = self.energy_mj()
        dt = time.perf_counter() - t0
        stop.set()
        th.join()
        pv1, tv1 = self.violation_ns("NVML_PERF_POLICY_POWER"), self.violation_ns("NVML_PERF_POLICY_THERMAL")
        w.window_s, w.window_calls, w.window_ms_per_call = dt, calls, dt * 1e3 / calls
        if e0 is not None and e1 is not None:
            w.energy_j = (e1 - e0) / 1e3 / calls
            w.avg_power_w = (e1 - e0) / 1e3 / dt
        else:
            w.note = "energy counter unsupported"
        w.sm_clock_mhz = sum(clocks) / len(clocks) if clocks else NAN
        t = self.temp()
        w.temp_c = float(t) if t is not None else NAN
        w.throttle_reasons = decode_reasons(reasons[0]) if self.handle else ""
        if pv0 is not None and pv1 is not None:
            w.power_violation_ms = (pv1 - pv0) / 1e6
        if tv0 is not None and tv1 is not None:
            w.thermal_violation_ms = (tv1 - tv0) / 1e6
        return w


def _handle_by_bus(pynvml, bus: str, device: torch.device):
    want = bus.lower().split(":", 1)[-1] if bus else ""  # bus:device.function, domain widths differ
    for i in range(pynvml.nvmlDeviceGetCount()):
        h = pynvml.nvmlDeviceGetHandleByIndex(i)
        got = _s(pynvml.nvmlDeviceGetPciInfo(h).busId).lower()
        if want and got.endswith(want):
            return h
    # fall back to the CUDA index when bus ids cannot be matched (warned in env.json via note)
    return pynvml.nvmlDeviceGetHandleByIndex(device.index or 0)


def _s(x):
    return x.decode() if isinstance(x, bytes) else x


def _div(x, d):
    return None if x is None else x / d


def _version(pkg: str) -> str:
    import importlib.metadata

    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def isnan(x) -> bool:
    return isinstance(x, float) and math.isnan(x)
