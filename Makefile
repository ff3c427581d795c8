# The two commands of the README:
#   make up    runs the whole system locally (servers, migrations, demo data, services) until Ctrl-C
#   make test  installs what is missing, starts its own servers and runs the whole test suite
#   make mutate  breaks each guarantee in turn (scripts/mutations/*.mut) and checks a test catches it
SHELL := /bin/bash
export PATH := /opt/swift/usr/bin:$(PATH)

.PHONY: up test mutate bench build down deps servers-test clean

up:
	@scripts/up.sh

test: deps servers-test
	@echo "==> building and running the tests (swift test --no-parallel)"
	@# One test at a time: many tests wait on child processes and Postgres synchronously, and on a
	@# 2-core machine two such waits in parallel stall every other test's async work (the Swift
	@# cooperative pool has one thread per core), which turns timing assertions into flakes.
	TM_ENV_FILE=$(CURDIR)/.tm/test/env swift test --no-parallel

# MUTATIONS="name1 name2" runs only those.
mutate: deps
	@scripts/mutate.sh $(MUTATIONS)

servers-test:
	@scripts/tm-servers.sh up test

bench: deps
	@scripts/bench.sh

build: deps
	swift build

deps:
	@scripts/install-deps.sh

down:
	@scripts/tm-servers.sh down all

clean: down
	rm -rf .build .tm
