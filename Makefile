# The two commands a newcomer needs: `make run` and `make test`.
# Both install what is missing first (scripts/setup.sh, idempotent).
.PHONY: setup run test build build-release lint format fuzz bench clean

JOBS ?= $(shell nproc)
DATA_DIR ?= ./data
LISTEN ?= 127.0.0.1:8080
GRPC_LISTEN ?= 127.0.0.1:9090

setup:
	@bash scripts/setup.sh

build-release: setup
	@cmake --preset release >/dev/null
	@cmake --build --preset release -j $(JOBS)

# Starts the monolith on http://$(LISTEN) (gRPC on $(GRPC_LISTEN)) with its SQLite database under $(DATA_DIR).
run: build-release
	./build/release/cmd/office-suite/office-suite serve --listen $(LISTEN) --grpc-listen $(GRPC_LISTEN) --data-dir $(DATA_DIR)

build: setup
	@cmake --preset dev >/dev/null
	@cmake --build --preset dev -j $(JOBS)

# Every test, built with ASan+UBSan; prints ctest's summary.
test: build
	@ctest --preset dev

lint: build
	@bash scripts/lint.sh

format:
	@git ls-files '*.cpp' '*.hpp' | xargs clang-format -i

fuzz: setup
	@bash scripts/fuzz.sh $(FUZZ_SECONDS)

bench: build-release
	@bash bench/run_all.sh

clean:
	rm -rf build
