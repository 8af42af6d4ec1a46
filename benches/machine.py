"""What the bench scripts say about the machine they ran on (imported by them; they run as
`python3 benches/NAME.py`, so this folder is on the import path)."""

import os


def cpu_model():
    """The CPU's model name from /proc/cpuinfo ("unknown" where there is none)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def cpu_line():
    """`CPU: MODEL (N logical CPUs)`, the line every bench prints first."""
    return f"CPU: {cpu_model()} ({os.cpu_count()} logical CPUs)"
