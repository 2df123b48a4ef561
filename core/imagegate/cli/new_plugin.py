"""``imagegate new-plugin``: a complete provider plugin package, with tests, to start from."""

from __future__ import annotations

import sys
from pathlib import Path

from ..scaffold import plugin_names, write_plugin


def new_plugin(name: str, directory: str | None) -> int:
    try:
        names = plugin_names(name)
        target = Path(directory or names.dist)
        written = write_plugin(name, target)
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote the plugin package {names.dist} in {target}/ ({len(written)} files):")
    for path in written:
        print(f"  {path.relative_to(target)}")
    print("next:")
    print(f"  cd {target}")
    print('  pip install -e ".[test]"   # imagegate finds the plugin through its entry point')
    print("  pytest                     # it works as written, against a made-up upstream")
    print(f"then make {names.module}/provider.py speak your upstream (its TODOs; docs/plugins.md)")
    return 0
