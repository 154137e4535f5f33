# Token Sweeper: lint and test. `make test` is the one command (CI runs it).
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

# The development Python is 3.11 (python3 on this machine).
PYTHON ?= $(shell command -v python3.11 || echo python3)
VENV := .venv
VPY := $(VENV)/bin/python
# The venv first in PATH: the fakes and entry points start with
# `#!/usr/bin/env python3` and must run on the venv's interpreter.
IN_VENV := PATH="$(CURDIR)/$(VENV)/bin:$$PATH"
# Code that runs on the server, or stands in for cPanel: Python 3.6 (EL8).
PY36_DIRS := plugin hooks bin tests/fakes
SHELL_SCRIPTS := .ci/run $(wildcard tools/*.sh install.sh uninstall.sh tests/contract/*.sh)
# The Ansible controller (ansible-core, ansible-lint) for the collection in ansible/
# is in the development venv (pinned in requirements-dev.txt with everything else).
ANSIBLE_VENV := $(VENV)
# ansible-lint and the tests find the collection through this tree (a symlink to ansible/).
ANSIBLE_COLLECTIONS := build/ansible-collections
FAST := -m "not browser and not bench" --ignore=tests/browser

.PHONY: test preflight venvs matrix-venvs venv lint ruff py36 shellcheck unit suite matrix clean demo bench mutate
.PHONY: ansible-lint dist man conformance

## test: lint, the whole suite on the development Python, then the cPanel matrix
# Every step runs even when an earlier one failed, so one run shows all that
# is wrong; the summary names the failed steps and the exit status is 1.
# The matrix venvs come first: the install tests run install.sh with them.
test: preflight venvs
	@start=$$(date +%s); failed=""; \
	for step in lint suite matrix; do \
	  echo "===== make $$step"; \
	  $(MAKE) --no-print-directory $$step || failed="$$failed $$step"; \
	done; \
	took=$$(( $$(date +%s) - start )); \
	echo "make test: matrix $$(cat build/matrix/summary 2>/dev/null || echo 'did not finish')"; \
	if [ -n "$$failed" ]; then echo "make test: FAILED:$$failed ($$took s)"; exit 1; fi; \
	echo "make test: lint, suite and matrix passed ($$took s)"

## preflight: Chromium and shellcheck are here, or stop at once naming the apt-get command
preflight:
	@tools/preflight.sh

## venvs: .venv and the matrix's .venv-X, built in parallel
venvs:
	@$(MAKE) --no-print-directory -j2 venv matrix-venvs

matrix-venvs:
	@tools/matrix.sh --venvs-only

## venv: build or refresh .venv (only when requirements-dev.txt changed)
venv:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' || \
	  { echo "make: the development Python must be 3.11; $(PYTHON) is not (set PYTHON=...)" >&2; exit 1; }
	@tools/venv.sh $(PYTHON) $(VENV)

## lint: ruff, the Python 3.6 check (vermin), shellcheck; all three always run
lint: venv
	@$(MAKE) --no-print-directory -k ruff py36 shellcheck ansible-lint

ruff: venv
	$(VENV)/bin/ruff check --output-format=concise . $$(tools/pyfiles.sh --scripts-only bin hooks plugin tests tools)

py36: venv
	$(VENV)/bin/vermin -q --no-tips --violations --eval-annotations -t=3.6- \
	  $$(tools/pyfiles.sh $(PY36_DIRS))
	@echo "vermin: $(PY36_DIRS) are Python 3.6 compatible"

shellcheck:
	shellcheck $(SHELL_SCRIPTS)

## ansible-lint: the collection in ansible/, production profile (ansible/.ansible-lint)
ansible-lint: venv
	@mkdir -p $(ANSIBLE_COLLECTIONS)/ansible_collections/tokensweeper
	@ln -sfn $(CURDIR)/ansible $(ANSIBLE_COLLECTIONS)/ansible_collections/tokensweeper/cpanel
	cd ansible && PATH="$(CURDIR)/$(ANSIBLE_VENV)/bin:$$PATH" ANSIBLE_COLLECTIONS_PATH=$(CURDIR)/$(ANSIBLE_COLLECTIONS) \
	  ANSIBLE_HOME=$(CURDIR)/build/ansible-home $(CURDIR)/$(ANSIBLE_VENV)/bin/ansible-lint -q

## dist: build/dist/tokensweeper-VERSION.tar.gz (what install.sh needs) and the collection carrying it
dist: venv
	@tarball=$$(tools/dist.sh) && echo "$$tarball" && \
	  tools/collection.sh "$$tarball" $(ANSIBLE_VENV)/bin/ansible-galaxy

## man: build/man/tokensweeper.8, the man page install.sh writes (view: man -l build/man/tokensweeper.8)
man: venv
	@mkdir -p build/man
	$(VPY) -B plugin/tokensweeper/commands/manpage.py >build/man/tokensweeper.8.tmp
	@mv -f build/man/tokensweeper.8.tmp build/man/tokensweeper.8 && echo build/man/tokensweeper.8

## unit: the fast tests on the development Python (no browser, no benchmarks)
unit: venv
	$(IN_VENV) $(VPY) -m pytest $(FAST)

## suite: every test on the development Python
suite: venv
	$(IN_VENV) $(VPY) -m pytest

## matrix: the suite minus browser tests on pyenv's 3.6.15, 3.9.18, 3.12.1
matrix:
	tools/matrix.sh

## demo: the real WHM page against a seeded fake server at http://127.0.0.1:$(or $(PORT),8087)/cpsess0000000001/cgi/tokensweeper/index.cgi
demo: venv
	$(IN_VENV) $(VPY) tools/demo_server.py --setup .demo --port $(or $(PORT),8087)

## bench: the plugin's costs against their floors, one table + bench/results.json (< 5 min)
bench: venv
	$(IN_VENV) $(VPY) bench/run.py

## mutate: mutmut on the core modules, each against its own tests; a table + build/mutation.json (about 1½ h for all fifteen; not in make test). MODULES="tokens audit" picks some.
# nice: a long background job on a shared 2-core machine.
mutate: venv
	$(IN_VENV) nice -n 10 $(VPY) tools/mutate.py $(MODULES)

## conformance: the contract suite (tests/contract) against cPanel's own Perl: make conformance CPANEL_SOURCE=DIR
# DIR holds cPanel's Perl tree (Cpanel/, Whostmgr/, 3rdparty/perl/536/cpanel-lib/): a cPanel
# server's /usr/local/cpanel, or an extract of the public 11.120 mirror. Not part of make test.
CONFORMANCE_PERL_MODULES := JSON::XS YAML::Syck Class::XSAccessor Sereal::Decoder Sereal::Encoder Net::IP
CONFORMANCE_DEBS := perl libjson-xs-perl libyaml-syck-perl libclass-xsaccessor-perl libsereal-decoder-perl libsereal-encoder-perl libnet-ip-perl
conformance: venv
	@if [ -z "$(CPANEL_SOURCE)" ]; then \
	  echo "make conformance runs tests/contract against cPanel's own Perl code. It needs"; \
	  echo "CPANEL_SOURCE=DIR, DIR holding cPanel's Perl tree (Cpanel/, Whostmgr/,"; \
	  echo "3rdparty/perl/536/cpanel-lib/): a cPanel server's /usr/local/cpanel copied to a"; \
	  echo "machine that is NOT a cPanel server, or an extract of cPanel 11.120's public mirror"; \
	  echo "(GitHub repository asmrdevelop/cpanel):"; \
	  echo "  git clone --bare https://github.com/asmrdevelop/cpanel.git cpanel.git"; \
	  echo "  tests/contract/extract-cpanel.sh cpanel.git /tmp/cpanel-11.120"; \
	  echo "  make conformance CPANEL_SOURCE=/tmp/cpanel-11.120"; \
	  echo "Debian packages: apt-get install $(CONFORMANCE_DEBS)"; \
	  exit 0; \
	fi; \
	test -f "$(CPANEL_SOURCE)/Whostmgr/API/1/Tokens.pm" || \
	  { echo "make conformance: $(CPANEL_SOURCE) holds no Whostmgr/API/1/Tokens.pm" >&2; exit 1; }; \
	for module in $(CONFORMANCE_PERL_MODULES); do \
	  perl -M"$$module" -e 1 2>/dev/null || \
	    { echo "make conformance: Perl lacks $$module: apt-get install $(CONFORMANCE_DEBS)" >&2; exit 1; }; \
	done; \
	TOKENSWEEPER_CONTRACT_CPANEL="$$(cd "$(CPANEL_SOURCE)" && pwd)" $(IN_VENV) $(VPY) -m pytest -p no:cacheprovider tests/contract

clean:
	rm -rf $(VENV) .venv-* build .pytest_cache .ruff_cache .hypothesis test-artifacts
	find . -name __pycache__ -prune -exec rm -rf {} +
