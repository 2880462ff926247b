"""The local stack: AWS emulated by moto on 127.0.0.1, the real handlers served over HTTP.

Development-only; nothing here is deployed.
"""

import sys
from pathlib import Path

# ``python -m local ...`` from the repository root finds this package but not the shared package or the
# functions, which Lambda puts on the path as the layer and the function code: add them as the Makefile does.
_ROOT = Path(__file__).resolve().parent.parent
for _folder in (_ROOT / "functions", _ROOT / "layers" / "common" / "python"):
    if str(_folder) not in sys.path:
        sys.path.insert(0, str(_folder))
