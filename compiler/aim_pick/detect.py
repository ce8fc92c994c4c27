"""Find the AMD GPUs of this host, the way ROCm itself sees them.

Sources, tried in order until one finds GPUs; any failure (missing, non-zero exit, hang,
garbage or endless output, impossible values) falls through to the next:

1. sysfs KFD topology (`$AIM_SYSFS_ROOT/class/kfd/kfd/topology/nodes/*/properties`)
2. `amd-smi static --json`          (a top-level list, or {"gpu_data": [...]})
3. `rocm-smi --showproductname --showmeminfo vram --json`   (every value a string;
   key case changed in ROCm 6.1)
4. the `amdsmi` Python module, if importable
5. torch, last (importing it is slow)

Detection is bounded: one deadline for all sources together (`AIM_DETECT_TIMEOUT`,
default 2.5 s), sysfs files read without blocking (a FIFO or device where a file should be
is skipped), tool output capped in size and the tool's whole process group killed at the
deadline. A value no GPU can have (memory that is negative, NaN or absurdly large, a
number of a thousand digits, digits that are not ASCII) is treated as absent.

GPUs are identified by PCI device id (and gfx target from KFD's gfx_target_version,
decoded with hex minor/stepping), never by the tools' misprinted "GFX Version"; names are
kept for pick.identify. Formats: docs/reference/hardware.md#detection-order.

Standard library only; nothing is imported that the chosen path does not need.
"""

from __future__ import annotations

import os
import stat
import time

AMD_VENDOR = 0x1002
PARTITION_MODES = ("SPX", "DPX", "TPX", "QPX", "CPX")

DEFAULT_BUDGET = 2.5  # seconds for the whole detection, every source together
MAX_BUDGET = 60.0
MAX_FILE_BYTES = 64 * 1024  # a sysfs attribute is at most a page; read no more than this
MAX_TOOL_OUTPUT = 4 * 1024 * 1024  # amd-smi static --json for 64 partitions is a few hundred KB
MAX_DEVICES = 1024  # more logical GPUs than any host has (8 GPUs x 8 CPX partitions = 64)
MAX_VRAM_BYTES = 1 << 50  # 1 PiB: a larger "VRAM" figure is garbage
MAX_DIGITS = 20  # a 64-bit value has at most 20 decimal digits


def budget(env: dict) -> tuple[float, str | None]:
    """Seconds the whole detection may take (`AIM_DETECT_TIMEOUT`), and a warning when the
    setting was unusable: not a finite number of seconds in (0, 60] (NaN, infinity,
    garbage) gives the default; more than 60 is cut to 60."""
    raw = env.get("AIM_DETECT_TIMEOUT")
    if raw is None or not raw.strip():
        return DEFAULT_BUDGET, None
    try:
        seconds = float(raw)
    except ValueError:
        seconds = float("nan")
    if 0 < seconds <= MAX_BUDGET:  # NaN and infinity fail this
        return seconds, None
    if MAX_BUDGET < seconds < float("inf"):
        return MAX_BUDGET, f"AIM_DETECT_TIMEOUT={_shown(raw)} is more than {MAX_BUDGET:g} s; using {MAX_BUDGET:g} s"
    return DEFAULT_BUDGET, (
        f"AIM_DETECT_TIMEOUT={_shown(raw)} is not a finite number of seconds above 0; using {DEFAULT_BUDGET:g} s"
    )


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:40] + "...")


def gfx_name(version: int) -> str | None:
    """KFD gfx_target_version -> gfx name: major*10000 + minor*100 + stepping, the last
    two printed in hex (90010 -> gfx90a, 90402 -> gfx942)."""
    if version <= 0 or version >= 10**9:
        return None
    major, minor, stepping = version // 10000, (version // 100) % 100, version % 100
    return f"gfx{major}{minor:x}{stepping:x}"


def _ascii_digits(text: str, limit: int = MAX_DIGITS) -> bool:
    """Only 0-9 (str.isdigit also takes '²' and other scripts' digits), at most `limit`."""
    return 0 < len(text) <= limit and text.isascii() and text.isdigit()


def normalise_gfx(text) -> str | None:
    """rocm-smi/amdsmi build 'GFX Version' in decimal (gfx90a shows as gfx9010,
    gfx1100 as gfx11000); strip torch's ':sramecc+:xnack-' feature suffix too."""
    if not text or not isinstance(text, str):
        return None
    text = text.strip().lower().split(":")[0]
    if not text.startswith("gfx") or not text.isascii() or len(text) > 16:
        return None
    digits = text[3:]
    if not digits.isalnum():
        return None
    if _ascii_digits(digits) and len(digits) == 4 and digits[0] == "9":  # gfx9010 -> 9.0.10
        return gfx_name(90000 + int(digits[1]) * 100 + int(digits[2:]))
    if _ascii_digits(digits) and len(digits) == 5:  # gfx11000 -> 11.0.0
        return gfx_name(int(digits[:2]) * 10000 + int(digits[2]) * 100 + int(digits[3:]))
    return text


def hex_id(value) -> str | None:
    """'0x74a1', '74a1', 29857 -> '0x74a1'."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    elif isinstance(value, str):
        text = value.strip().lower()
        text = text[2:] if text.startswith("0x") else text
        if not (0 < len(text) <= 8 and text.isascii() and all(c in "0123456789abcdef" for c in text)):
            return None
        number = int(text, 16)
    else:
        return None
    return f"0x{number:04x}" if 0 < number <= 0xFFFF else None


def bare_hex_id(value) -> str | None:
    """A name that is only a PCI id ('0x7448': rocm-smi prints the id when pci.ids has no
    name for the card, docs/reference/hardware.md#rocm-smi-cli)."""
    if isinstance(value, str) and value.strip().lower().startswith("0x"):
        return hex_id(value)
    return None


def memory_bytes(value, scale: int = 1) -> int | None:
    """A memory figure (`value` × `scale` bytes) if a GPU could have it: a positive finite
    number no larger than MAX_VRAM_BYTES, given as a number or a decimal string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        if _ascii_digits(text):
            value = int(text)
        else:
            try:
                value = float(text) if text.isascii() and len(text) <= 32 else None
            except ValueError:
                return None
    if not isinstance(value, (int, float)):
        return None
    if not 0 < value <= MAX_VRAM_BYTES / scale:  # NaN and infinity fail this too
        return None
    size = int(value * scale)
    return size if size > 0 else None


def device(source: str, **fields) -> dict:
    base = {
        "source": source,
        "device_id": None,
        "gfx": None,
        "vram_bytes": None,
        "physical": None,
        "partition": None,
        "render_minor": None,
        "name": None,
        "product": None,
        "uuid": None,
    }
    base.update(fields)
    return base


def _text(value) -> str | None:
    """A name a tool printed, if it is one (a non-empty string, cut to 200 characters)."""
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()[:200]


def _mode(value) -> str | None:
    text = value.strip().upper() if isinstance(value, str) else ""
    return text if text in PARTITION_MODES else None


# --- 1. sysfs ---------------------------------------------------------------------------------

_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)


def _read(path: str, limit: int = MAX_FILE_BYTES) -> str | None:
    """A sysfs attribute's text, or None. Opened non-blocking and read only when it is a
    regular file: a FIFO, socket or device node in its place never blocks detection."""
    try:
        fd = os.open(path, _READ_FLAGS)
    except (OSError, ValueError):
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks, size = [], 0
        while size < limit:
            chunk = os.read(fd, limit - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError:
        return None
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")


def _number(text: str) -> int | None:
    """A decimal integer as the kernel prints it (ASCII digits, optional '-'), else None."""
    digits = text[1:] if text.startswith("-") else text
    return int(text) if _ascii_digits(digits) else None


def _properties(text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            value = _number(parts[1])
            if value is not None:
                out[parts[0]] = value
    return out


def _listdir(path: str) -> list[str]:
    try:
        return os.listdir(path)
    except (OSError, ValueError):
        return []


def from_sysfs(root: str, deadline: float | None = None) -> list[dict]:
    nodes_dir = os.path.join(root, "class", "kfd", "kfd", "topology", "nodes")
    # Node folders are bare integers; anything else ('²', a thousand digits) is not a node.
    names = sorted((n for n in _listdir(nodes_dir) if _ascii_digits(n, 9)), key=int)
    found: list[dict] = []
    cards = None
    for name in names[:MAX_DEVICES]:
        if deadline is not None and time.monotonic() > deadline:
            return []  # an incomplete list would give the wrong count
        text = _read(os.path.join(nodes_dir, name, "properties"))
        if not text:
            continue
        props = _properties(text)
        # A CPU node prints simd_count 0 and gfx_target_version 0 (kfd_topology.c).
        if props.get("simd_count", 0) <= 0 or props.get("gfx_target_version", 0) <= 0:
            continue
        if props.get("vendor_id") not in (None, AMD_VENDOR):
            continue
        minor = props.get("drm_render_minor")
        minor = minor if minor is not None and 0 <= minor < 1 << 20 else None
        domain, location = props.get("domain", 0), props.get("location_id", 0)
        domain, location = (domain if 0 <= domain <= 0xFFFFFFFF else 0), (location if 0 <= location <= 0xFFFF else 0)
        # Partitions of one GPU share bus and device; only the PCI function differs.
        physical = f"{domain:04x}:{location >> 8:02x}:{(location >> 3) & 0x1F:02x}"
        drm = os.path.join(root, "class", "drm", f"renderD{minor}", "device") if minor is not None else None
        if drm is None or not os.path.exists(os.path.join(drm, "vendor")):
            # No PCI device behind the render node (a secondary partition links to a
            # platform device): the GPU's primary card, found by PCI address.
            cards = _pci_cards(root) if cards is None else cards
            drm = cards.get(physical)
        vram = memory_bytes(_read(os.path.join(drm, "mem_info_vram_total")) or "") if drm else None
        if not vram:
            vram = _bank_memory(os.path.join(nodes_dir, name, "mem_banks"))
        partition = _mode(_read(os.path.join(drm, "current_compute_partition"))) if drm else None
        xcc = props.get("num_xcc")
        found.append(
            device(
                "sysfs",
                device_id=hex_id(props.get("device_id", 0)),
                gfx=gfx_name(props["gfx_target_version"]),
                vram_bytes=vram,
                physical=physical,
                partition=partition,
                render_minor=minor,
                xcc=xcc if xcc is not None and 0 < xcc <= 64 else None,
                node=int(name),
            )
        )
    return found


def _pci_cards(root: str) -> dict[str, str]:
    """PCI address (domain:bus:device) -> `class/drm/card*/device` of each AMD card. The
    cards of secondary partitions link to platform devices without a `vendor` file, so
    each GPU is listed once, with its primary card (docs/reference/hardware.md#sysfs-drm-files)."""
    drm_dir = os.path.join(root, "class", "drm")
    names = sorted(n for n in _listdir(drm_dir) if n.startswith("card") and _ascii_digits(n[4:], 9))
    cards: dict[str, str] = {}
    for name in names[:MAX_DEVICES]:
        folder = os.path.join(drm_dir, name, "device")
        if (_read(os.path.join(folder, "vendor")) or "").strip().lower() == f"0x{AMD_VENDOR:04x}":
            cards.setdefault(os.path.basename(os.path.realpath(folder)).rsplit(".", 1)[0], folder)
    return cards


def _bank_memory(banks_dir: str) -> int | None:
    sizes = []
    for bank in _listdir(banks_dir)[:64]:
        props = _properties(_read(os.path.join(banks_dir, bank, "properties")) or "")
        if props.get("heap_type") in (1, 2):  # frame buffer (public / private), not system memory
            size = memory_bytes(props.get("size_in_bytes"))
            if size:
                sizes.append(size)
    return max(sizes) if sizes else None


# --- 2./3. command-line tools -------------------------------------------------------------------


def _which(name: str) -> str | None:
    """shutil.which without importing shutil (and with it bz2, lzma, zlib)."""
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(folder or os.curdir, name)
        if os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    return None


def run_tool(argv: list[str], timeout: float, notes: list[str] | None = None) -> bytes | None:
    """A tool's standard output if it exits 0 within `timeout` seconds having printed at
    most MAX_TOOL_OUTPUT bytes; else None (with the reason in `notes`). The tool runs in
    its own session and its whole process group is killed when it overruns, so a child
    that keeps the pipe open cannot hold detection either."""
    exe = _which(argv[0])
    if exe is None:
        return None
    import selectors
    import signal
    import subprocess

    deadline = time.monotonic() + timeout
    try:
        proc = subprocess.Popen(
            [exe, *argv[1:]],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    chunks: list[bytes] = []
    size = 0
    why = None
    try:
        os.set_blocking(fd, False)
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    why = f"{argv[0]} did not answer within {timeout:.1f} s"
                    return None
                if not selector.select(left):
                    continue
                try:
                    chunk = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not chunk:
                    break  # end of output
                size += len(chunk)
                if size > MAX_TOOL_OUTPUT:
                    why = f"{argv[0]} printed more than {MAX_TOOL_OUTPUT // (1024 * 1024)} MiB"
                    return None
                chunks.append(chunk)
        try:
            code = proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            why = f"{argv[0]} did not exit within {timeout:.1f} s"
            return None
        return b"".join(chunks) if code == 0 else None
    except OSError:
        return None
    finally:
        if proc.returncode is None:  # still ours (not reaped): the group cannot be another's
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                proc.wait(0.05)  # a process stuck in the driver dies later; do not wait for it
            except subprocess.TimeoutExpired:
                pass
        proc.stdout.close()
        if why and notes is not None:
            notes.append(why)


def _finite(text: str):
    number = float(text)
    return number if -1e300 < number < 1e300 else None  # 1e999 parses as infinity


def _bounded_int(text: str):
    return int(text) if len(text) <= 40 else None  # a thousand digits: no value, not an error


def parse_json(raw: bytes | None):
    """JSON from the first `{` or `[` of a tool's output; None when there is none or it
    does not parse. NaN, infinities and over-long numbers become null; nesting deeper
    than the parser's recursion limit fails the whole output."""
    if not raw:
        return None
    import json

    text = raw.decode("utf-8", "replace")
    start = min((i for i in (text.find("{"), text.find("[")) if i >= 0), default=-1)
    if start < 0:
        return None
    try:
        return json.loads(text[start:], parse_constant=lambda _: None, parse_float=_finite, parse_int=_bounded_int)
    except (ValueError, RecursionError, MemoryError):
        return None


def run_json(argv: list[str], timeout: float = DEFAULT_BUDGET, notes: list[str] | None = None):
    """Run a tool and parse its JSON; None on any failure (missing, exit, hang, garbage)."""
    return parse_json(run_tool(argv, timeout, notes))


def _lower_keys(mapping) -> dict:
    return {str(k).strip().lower(): v for k, v in mapping.items()} if isinstance(mapping, dict) else {}


def _mb(value) -> int | None:
    """amd-smi sizes: {"value": 196592, "unit": "MB"} (MB here means MiB) or a bare number."""
    if isinstance(value, dict):
        number, unit = value.get("value"), str(value.get("unit", "MB")).strip().upper()
    else:
        number, unit = value, "MB"
    scale = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}.get(unit, 1024**2)
    return memory_bytes(number, scale)


def from_amd_smi(timeout: float = DEFAULT_BUDGET, notes: list[str] | None = None) -> list[dict]:
    data = run_json(["amd-smi", "static", "--json"], timeout, notes)
    if isinstance(data, dict):
        data = data.get("gpu_data")  # newer releases nest the GPUs
    if not isinstance(data, list):
        return []
    found = []
    for item in data[:MAX_DEVICES]:
        if not isinstance(item, dict):
            continue
        asic = _lower_keys(item.get("asic"))
        board = _lower_keys(item.get("board"))
        vendor = hex_id(asic.get("vendor_id"))
        if vendor and vendor != f"0x{AMD_VENDOR:04x}":
            continue
        device_id = hex_id(asic.get("device_id"))
        gfx = normalise_gfx(asic.get("target_graphics_version"))
        name, product = _text(asic.get("market_name")), _text(board.get("product_name"))
        if not (device_id or gfx or name or product):
            continue  # an entry that says nothing about a GPU (an error record)
        bus = _lower_keys(item.get("bus"))
        partition = _lower_keys(item.get("partition"))
        bdf = _text(bus.get("bdf"))
        found.append(
            device(
                "amd-smi",
                device_id=device_id,
                gfx=gfx,
                vram_bytes=_mb(_lower_keys(item.get("vram")).get("size")),
                physical=bdf.rsplit(".", 1)[0] if bdf else None,
                partition=_mode(partition.get("compute_partition")),
                name=name,
                product=product,
            )
        )
    return found


def _card_number(key) -> int | None:
    """'card3' -> 3 (rocm-smi's formatJson keys); anything else is not a card."""
    text = str(key).strip().lower()
    return int(text[4:]) if text.startswith("card") and _ascii_digits(text[4:], 6) else None


def from_rocm_smi(timeout: float = DEFAULT_BUDGET, notes: list[str] | None = None) -> list[dict]:
    data = run_json(["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json"], timeout, notes)
    if not isinstance(data, dict):
        return []
    cards = sorted((n, k) for k in data if (n := _card_number(k)) is not None)
    found = []
    for _, key in cards[:MAX_DEVICES]:
        raw = data[key]
        if not isinstance(raw, dict):
            continue
        values = _lower_keys(raw)
        series = _text(values.get("card series"))
        # ROCm >= 6.1 spells "Card Model" and puts the device id there; older releases
        # spelled "Card model" and put the subsystem id there, so only trust the new key.
        # A "Card Series" that is only a hex id is the device id (pci.ids had no name).
        device_id = hex_id(raw.get("Card Model")) or hex_id(values.get("device id")) or bare_hex_id(series)
        found.append(
            device(
                "rocm-smi",
                device_id=device_id,
                gfx=normalise_gfx(values.get("gfx version")),
                vram_bytes=memory_bytes(values.get("vram total memory (b)")),
                name=series if series and not bare_hex_id(series) else None,
            )
        )
    return found


# --- 4./5. Python modules -----------------------------------------------------------------------


def from_amdsmi_module() -> list[dict]:
    try:
        import amdsmi  # type: ignore[import-not-found]
    except Exception:
        return []
    found = []
    try:
        amdsmi.amdsmi_init()
        try:
            for handle in list(amdsmi.amdsmi_get_processor_handles())[:MAX_DEVICES]:
                asic = _lower_keys(amdsmi.amdsmi_get_gpu_asic_info(handle))
                vram = _lower_keys(amdsmi.amdsmi_get_gpu_vram_info(handle))
                try:
                    mode = _mode(amdsmi.amdsmi_get_gpu_compute_partition(handle))
                except Exception:
                    mode = None
                found.append(
                    device(
                        "amdsmi",
                        device_id=hex_id(asic.get("device_id")),
                        gfx=normalise_gfx(asic.get("target_graphics_version")),
                        vram_bytes=_mb(vram.get("vram_size")),
                        partition=mode,
                        name=_text(asic.get("market_name")),
                    )
                )
        finally:
            amdsmi.amdsmi_shut_down()
    except Exception:
        return []
    return found


def from_torch() -> list[dict]:
    try:
        import torch  # type: ignore[import-not-found]

        if getattr(torch.version, "hip", None) is None or not torch.cuda.is_available():
            return []
        found = []
        for index in range(min(int(torch.cuda.device_count()), MAX_DEVICES)):
            props = torch.cuda.get_device_properties(index)
            found.append(
                device(
                    "torch",
                    gfx=normalise_gfx(getattr(props, "gcnArchName", None)),
                    vram_bytes=memory_bytes(getattr(props, "total_memory", None)),
                    name=_text(getattr(props, "name", None)),
                )
            )
        return found
    except Exception:
        return []


SOURCES = ("sysfs", "amd-smi", "rocm-smi", "amdsmi", "torch")


def _in_thread(probe, timeout: float, name: str, notes: list[str]) -> list[dict]:
    """Run an in-process probe (a module import and driver calls) with a timeout, like the
    tools: a hung amdsmi_init or torch import must fall through too. The daemon thread is
    left behind; it does not keep the process alive."""
    import threading

    box: list[list[dict]] = []

    def target() -> None:
        try:
            box.append(probe())
        except BaseException:  # a module that calls sys.exit() on import: no thread traceback either
            box.append([])

    worker = threading.Thread(target=target, daemon=True)
    worker.start()
    worker.join(max(0.0, timeout))
    if not box and worker.is_alive():
        notes.append(f"the {name} module did not answer within {timeout:.1f} s")
    return box[0] if box else []


def host_devices(
    seconds: float = DEFAULT_BUDGET, sysfs_root: str | None = None
) -> tuple[list[dict], str | None, list[str], list[str]]:
    """(devices, source that found them, sources tried, notes on sources that failed).

    One deadline `seconds` away covers every source; each source but the last gets at most
    half of the time left, so one that hangs still leaves time for the next. A source
    whose devices carry neither a PCI id nor a gfx target (rocm-smi before 6.1 prints
    neither) falls through too; its devices are kept in case no later source does better."""
    deadline = time.monotonic() + seconds
    tried: list[str] = []
    notes: list[str] = []
    unidentified = None
    root = sysfs_root if sysfs_root is not None else os.environ.get("AIM_SYSFS_ROOT", "/sys")
    for position, name in enumerate(SOURCES):
        left = deadline - time.monotonic()
        if left <= 0:
            notes.append(f"detection stopped after {seconds:g} s (AIM_DETECT_TIMEOUT) before trying {name}")
            break
        share = left if position == len(SOURCES) - 1 else left / 2
        tried.append(name)
        try:
            if name == "sysfs":
                found = from_sysfs(root, deadline)
            elif name == "amd-smi":
                found = from_amd_smi(share, notes)
            elif name == "rocm-smi":
                found = from_rocm_smi(share, notes)
            else:
                found = _in_thread(from_amdsmi_module if name == "amdsmi" else from_torch, share, name, notes)
        except Exception as exc:  # a source that breaks in a way not foreseen is a source that failed
            notes.append(f"{name} could not be read ({type(exc).__name__})")
            found = []
        if found and any(d.get("device_id") or d.get("gfx") for d in found):
            return found, name, tried, notes
        if found and unidentified is None:
            unidentified = (found, name)
    if unidentified:
        return unidentified[0], unidentified[1], tried, notes
    return [], None, tried, notes


# --- levels: host -> container -> process ---------------------------------------------------------


def container_visible(devices: list[dict], dev_root: str) -> tuple[list[int], str]:
    """Indices of host devices this container can open (/dev/kfd plus its render node)."""
    if not os.path.exists(os.path.join(dev_root, "kfd")):
        return [], f"{dev_root}/kfd is missing"
    try:
        entries = os.listdir(os.path.join(dev_root, "dri"))
    except (OSError, ValueError):
        return [], f"{dev_root}/dri is missing"
    renders = {int(n[len("renderD") :]) for n in entries if n.startswith("renderD") and _ascii_digits(n[7:], 9)}
    known = [i for i, d in enumerate(devices) if d.get("render_minor") is not None]
    if known:
        visible = [i for i in known if devices[i]["render_minor"] in renders]
        return visible, f"{len(visible)} of {len(devices)} render nodes present"
    # Tools do not tell render minors: count the nodes instead.
    count = min(len(devices), len(renders))
    return list(range(count)), f"{len(renders)} render nodes present"


def _mask(value: str | None, pool: list[int], devices: list[dict]) -> list[int]:
    """Apply one visibility variable to the list of indices left by the lower layer."""
    if value is None:
        return pool
    chosen = []
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        if _ascii_digits(item, 9):
            position = int(item)
            if position >= len(pool):
                break  # like CUDA/HIP: an invalid ordinal ends the list
            chosen.append(pool[position])
        elif item.upper().startswith("GPU-"):
            matches = [
                i for i in pool if devices[i].get("uuid") and str(devices[i]["uuid"]).lower() == item[4:].lower()
            ]
            if not matches:
                break
            chosen.append(matches[0])
        else:
            break  # "-1" or garbage hides everything after it
    return chosen


def process_visible(pool: list[int], devices: list[dict], env: dict[str, str]) -> tuple[list[int], list[str]]:
    """ROCr filters first, then HIP (or CUDA, which ROCm treats the same) indexes into
    what is left. Returns the indices and warnings about risky combinations."""
    warnings = []
    rocr, hip, cuda = env.get("ROCR_VISIBLE_DEVICES"), env.get("HIP_VISIBLE_DEVICES"), env.get("CUDA_VISIBLE_DEVICES")
    after_rocr = _mask(rocr, pool, devices)
    if rocr is not None and hip is not None:
        warnings.append(
            "ROCR_VISIBLE_DEVICES and HIP_VISIBLE_DEVICES are both set: "
            "the masks stack (HIP indexes into what ROCr left)"
        )
    if hip is not None and cuda is not None and hip.strip() != cuda.strip():
        warnings.append("HIP_VISIBLE_DEVICES and CUDA_VISIBLE_DEVICES differ: vLLM refuses to start with that")
    second = hip if hip is not None else cuda
    return _mask(second, after_rocr, devices), warnings


def partition_groups(devices: list[dict]) -> dict[str, list[int]]:
    """Logical devices grouped by the physical GPU they belong to."""
    groups: dict[str, list[int]] = {}
    for i, d in enumerate(devices):
        groups.setdefault(d.get("physical") or f"#{i}", []).append(i)
    return groups


def apply_partitions(devices: list[dict]) -> None:
    """Memory per logical device. Several logical devices on one PCI device are
    partitions of one GPU (CPX shows 8 per MI300X). Tools repeat the GPU's full VRAM for
    every partition, so when the group reports equal figures, divide by the group size;
    figures that already differ are taken as per-partition values."""
    for indices in partition_groups(devices).values():
        count = len(indices)
        mode = next((devices[i]["partition"] for i in indices if devices[i]["partition"]), None)
        if mode is None and count > 1:
            mode = {2: "DPX", 3: "TPX", 4: "QPX"}.get(count, "CPX")
        sizes = {devices[i]["vram_bytes"] for i in indices if devices[i]["vram_bytes"]}
        repeated = len(sizes) == 1
        for i in indices:
            devices[i]["partition"] = mode or "SPX"
            devices[i]["partitions_on_gpu"] = count
            if count > 1 and repeated:
                devices[i]["vram_bytes"] = next(iter(sizes)) // count
