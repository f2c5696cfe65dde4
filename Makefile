# The README's two commands: `make run` and `make test`. CMake does the work.
BUILD ?= build
JOBS  ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all build run test asan clean setup fuzz

all: build

setup:
	@scripts/setup.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

# `make run` starts the search service on 127.0.0.1:8080 with SQLite under
# ./data (the defaults; Ctrl-C drains and stops it). MCTX_* variables configure it
# (`build/mctx serve --help`).
run: setup build
	@echo "mctx serve: http://127.0.0.1:8080 (SQLite: ./data/mctx.db; Ctrl-C stops it)"
	@echo "first search, in another terminal:"
	@echo "  curl -s -X POST http://127.0.0.1:8080/api/v1/mcts/search -H 'Content-Type: application/json' -d @examples/first_search.json"
	@echo "then: curl -s http://127.0.0.1:8080/api/v1/searches   and   curl -s http://127.0.0.1:8080/metrics"
	@echo "dashboard: http://127.0.0.1:8080/dashboard"
	$(BUILD)/mctx serve

# The whole suite: the release build's tests, then the same tests built with
# AddressSanitizer and UBSan.
asan:
	cmake -S . -B $(BUILD)/asan -DCMAKE_BUILD_TYPE=Debug -DMCTX_SANITIZE=ON $(CMAKE_FLAGS) >/dev/null
	cmake --build $(BUILD)/asan -j $(JOBS)

test: setup build asan
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) -E '^asan:'
	cd $(BUILD)/asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD)

# libFuzzer targets (fuzz/, docs/RELIABILITY.md): a clang build in build-fuzz
# with -fsanitize=fuzzer,address,undefined, then each target for FUZZ_SECONDS
# (default 600), one at a time, niced. FUZZ_TARGETS picks some.
fuzz:
	FUZZ_SECONDS=$(or $(FUZZ_SECONDS),600) fuzz/run.sh $(FUZZ_TARGETS)
