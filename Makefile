# One entry point. `make lab` brings up the local lab and shows the
# distribution per location; `make test` runs every test.
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -euo pipefail -c

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
COLLECTION_LINK := .collections/ansible_collections/edgeops/nginx_lb
SCENARIOS ?= default cluster resilience edge ha sites
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export ANSIBLE_FORCE_COLOR := 0
export PATH := $(BIN):$(PATH)

.PHONY: help venv engine images host-tools lab lab-down test unit unit-core functional lint sanity sanity-pinned \
	molecule clean bench bench-ssh integration matrix matrix-molecule

help:
	@echo "make lab       local lab: systemd container, site.yml, distribution per location"
	@echo "make lab-down  remove the lab container"
	@echo "make test      unit, functional, lint, sanity, molecule ($(SCENARIOS)), integration"
	@echo "make matrix    unit, render and sanity tests on every ansible-core requires_ansible claims"

$(VENV)/.installed: requirements.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt -c constraints.txt
	touch $@

$(COLLECTION_LINK):
	mkdir -p $(dir $(COLLECTION_LINK))
	ln -sfn $(CURDIR) $(COLLECTION_LINK)

venv: $(VENV)/.installed $(COLLECTION_LINK)

engine:
	scripts/setup-docker.sh

images: engine
	scripts/base-image.sh bookworm
	scripts/base-image.sh trixie
	scripts/base-image.sh forky

lab: venv engine
	scripts/base-image.sh bookworm
	scripts/lab.sh up

lab-down:
	scripts/lab.sh down

# The functional tests run the host's own nginx binary (nginx -t, a private
# nginx on loopback); scripts/apt-no-start.sh keeps apt from starting its service.
# The stream module (TCP and UDP streams) is a package of its own on Debian;
# keepalived -t reads back what the ha role writes (test_ha_keepalived_conf).
host-tools:
	command -v nginx >/dev/null 2>&1 || scripts/apt-no-start.sh nginx-light
	test -e /usr/lib/nginx/modules/ngx_stream_module.so || scripts/apt-no-start.sh libnginx-mod-stream
	command -v keepalived >/dev/null 2>&1 || test -x /usr/sbin/keepalived || scripts/apt-no-start.sh keepalived

# Pure: no process, no socket (tests/unit/conftest.py refuses both), seconds.
# PYTEST_ORDER=reverse or shuffle:SEED runs either tier in another order.
unit: venv
	$(BIN)/pytest tests/unit

# The ansible-core versions the collection claims (meta/runtime.yml's
# requires_ansible, newest patch of each minor on PyPI): scripts/core-versions.py.
# Each runs in its own virtualenv, .venv-matrix/MINOR (scripts/core-venv.sh);
# table in .artifacts/matrix.md, logs in .artifacts/matrix/.
CORE_ENDS = $(shell $(PYTHON) scripts/core-versions.py --ends)

# The unit tier on the oldest and the newest ansible-core, side by side.
unit-core: venv
	MATRIX_STAGES=unit MATRIX_PARALLEL=1 scripts/matrix.sh $(CORE_ENDS)

# Loopback: a private nginx, the app server, the modules as child processes,
# ansible-playbook on localhost, the input fuzz test. Two workers (pytest-xdist),
# a test file on one worker (its module fixtures, its fixed loopback ports): the
# tier mostly waits on sockets and child processes, so two halve its wall time.
FUNCTIONAL_WORKERS ?= 2
functional: venv host-tools
	$(BIN)/pytest -n $(FUNCTIONAL_WORKERS) --dist loadfile tests/functional

# ansible-lint; antsibull-docs, the standard check of a collection's docs
# (every module, filter and role argument spec), run from the collection's
# ansible_collections/ path; the changelog fragments.
lint: venv
	$(BIN)/ansible-lint
	(cd $(COLLECTION_LINK) && $(BIN)/antsibull-docs lint-collection-docs --plugin-docs .)
	$(BIN)/antsibull-changelog lint

molecule: venv images
	mkdir -p .artifacts
	for scenario in $(SCENARIOS); do
	  start=$$SECONDS
	  $(BIN)/molecule test -s $$scenario
	  echo "| molecule $$scenario | $$((SECONDS - start)) s |" >>$(STAGE_TIMES)
	done

# ansible-test sanity with the oldest and the newest ansible-core, side by side
# (sanity-pinned: with the one constraints.txt pins).
sanity:
	MATRIX_STAGES=sanity MATRIX_PARALLEL=1 scripts/matrix.sh $(CORE_ENDS)

sanity-pinned:
	scripts/sanity.sh

# The collection as users get it: built and installed from its tarball, it
# converges a container of our own (edgeops-it-lab, removed afterwards);
# ansible-doc, headless chromium refreshing each location, the migration's
# --check --diff. Screenshots, the report and logs in .artifacts/.
integration: venv images
	scripts/install-chromium.sh
	$(BIN)/pytest tests/integration

# Each stage's wall time, in the log and in $(STAGE_TIMES) (molecule: a row
# per scenario too); docs/testing.md has a recent run's.
STAGE_TIMES := $(CURDIR)/.artifacts/stage-times.md
TEST_STAGES := unit unit-core functional lint sanity molecule integration

# The base images (debootstrap where Docker Hub does not answer: minutes on a
# fresh machine) build in the background while the stages before molecule
# run; apt's installs come first, in the foreground, so no two apt-gets meet.
IMAGES_LOG := $(CURDIR)/.artifacts/images.log

test:
	mkdir -p .artifacts
	printf '| stage | wall |\n| --- | --- |\n' >$(STAGE_TIMES)
	images=""
	trap 'test -z "$$images" || kill -- -$$images 2>/dev/null || true
	      echo "==> stage times ($(STAGE_TIMES))"; cat $(STAGE_TIMES)' EXIT
	all=$$SECONDS
	$(MAKE) --no-print-directory venv engine host-tools
	setsid $(MAKE) --no-print-directory images >$(IMAGES_LOG) 2>&1 &
	images=$$!
	echo "| setup (venv, engine, host tools) | $$((SECONDS - all)) s |" >>$(STAGE_TIMES)
	for stage in $(TEST_STAGES); do
	  if [ -n "$$images" ] && { [ $$stage = molecule ] || [ $$stage = integration ]; }; then
	    start=$$SECONDS
	    rc=0; wait $$images || rc=$$?
	    images=""
	    cat $(IMAGES_LOG)
	    echo "| images (waited for) | $$((SECONDS - start)) s |" >>$(STAGE_TIMES)
	    [ $$rc -eq 0 ] || { echo "building the base images failed (rc $$rc)" >&2; exit $$rc; }
	  fi
	  start=$$SECONDS
	  $(MAKE) --no-print-directory $$stage
	  echo "| $$stage | $$((SECONDS - start)) s |" >>$(STAGE_TIMES)
	done
	echo "| make test | $$((SECONDS - all)) s |" >>$(STAGE_TIMES)

# Unit, render (the functional tests that render the role with
# ansible-playbook and check it with this machine's nginx) and sanity on every
# ansible-core minor from requires_ansible's oldest to PyPI's newest; then
# matrix-molecule.
matrix: venv host-tools
	scripts/matrix.sh
	$(MAKE) matrix-molecule

# molecule `default` (converge, idempotence, verify) with the oldest and the
# newest ansible-core: scripts/matrix-molecule.sh.
matrix-molecule: venv images
	scripts/matrix-molecule.sh

# Benchmark: the collection against the tutorial in one container
# (edgeops-bench, removed afterwards); table in benchmarks/results/latest.md.
bench: venv engine
	scripts/base-image.sh bookworm
	$(BIN)/pip install -q -r benchmarks/requirements.txt
	benchmarks/run.sh

# The re-run of site.yml over SSH with host_files/host_info and with Ansible's
# own modules (edgeops-ssh-bench-1, removed afterwards); benchmarks/results/ssh_rerun.md.
bench-ssh: venv engine
	scripts/base-image.sh bookworm
	$(BIN)/pip install -q -r benchmarks/requirements.txt
	benchmarks/run.sh --only ssh

clean: lab-down
	rm -rf $(VENV) .collections
