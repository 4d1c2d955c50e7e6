# Consentry: `make dev` runs the platform on embedded defaults, `make test` runs the suite, `make fuzz`
# fuzzes every RPC at length.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
PROTOS := $(shell find proto -name '*.proto')
STAMP  := $(VENV)/.installed
# Debian packages the dev stack runs: stunnel4 is the TLS front of the Kafka broker; the tests open the
# receipt pages in chromium (through Playwright, never a downloaded browser) with a font for Chinese.
DEBIAN := stunnel4 chromium fonts-wqy-microhei
SUDO   := $(if $(filter 0,$(shell id -u)),,sudo)
# checkov, which checks the Kubernetes manifests, in an environment of its own: its many pinned
# dependencies never meet the project's.
CHECKOV := .venv-checkov/bin/checkov

# The API as last released (a buf image): no later proto may break a face system built against it.
# `make release-api` writes the image of the version in pyproject.toml when that version is released.
VERSION      := $(shell sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
RELEASED_API := $(shell ls api-releases/*.json 2>/dev/null | sort -V | tail -n 1)

.PHONY: install system proto lint breaking release-api dev test fuzz bench clean

# The portal's gettext catalogs, compiled from their .po files (services/portal/web/locale).
CATALOGS := $(shell find services -name '*.po')

# The portal's third-party assets (services/portal/web/static/vendor/README.md), fetched and checked.
VENDORED := services/portal/web/static/vendor/htmx.min.js

install: system $(STAMP) $(CATALOGS:.po=.mo) $(VENDORED) $(CHECKOV)

$(CHECKOV):
	test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/pip install --quiet checkov==3.3.30

system:
	@dpkg -s $(DEBIAN) >/dev/null 2>&1 || ($(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $(DEBIAN))

# Generated code must exist before the editable install can map the `consentry` package.
$(STAMP): pyproject.toml $(PROTOS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet grpcio-tools==1.85.1 buf-bin==1.75.0
	$(MAKE) proto
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

%.mo: %.po $(STAMP)
	$(BIN)/pybabel -q compile --statistics -i $< -o $@

$(VENDORED): consentry_dev/vendor.py $(STAMP)
	$(BIN)/python -m consentry_dev.vendor $(dir $@)

proto:
	rm -rf gen && mkdir -p gen
	cd proto && ../$(BIN)/buf lint
	$(BIN)/python -m grpc_tools.protoc -Iproto --python_out=gen --pyi_out=gen --grpc_python_out=gen $(PROTOS:proto/%=%)
	find gen -type d -exec touch {}/__init__.py \;
	rm -f gen/__init__.py

lint: install breaking
	cd proto && ../$(BIN)/buf lint
	$(BIN)/ruff check services tests bench consentry_dev consentry_client

breaking: install
	@test -n "$(RELEASED_API)" || (echo "no released API under api-releases/: nothing to check against" >&2; exit 1)
	cd proto && ../$(BIN)/buf breaking --against ../$(RELEASED_API)

release-api: install
	cd proto && ../$(BIN)/buf build --exclude-source-info -o -#format=json \
		| ../$(BIN)/python -m json.tool --indent 1 --sort-keys > ../api-releases/$(VERSION).json

dev: install
	$(BIN)/consentry dev up

# Two workers, each with its own servers; a test file runs whole on one of them (its module fixtures).
test: install breaking
	$(BIN)/pytest -n 2 --dist loadfile

# The fuzz suite (a bounded run is part of `make test`) with many inputs per RPC; the table of
# status codes per RPC is printed at the end and written to .run/fuzz/report.json.
FUZZ_EXAMPLES ?= 2000
fuzz: install
	CONSENTRY_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest tests/fuzz

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .venv-checkov gen .run $(CATALOGS:.po=.mo) $(VENDORED)
